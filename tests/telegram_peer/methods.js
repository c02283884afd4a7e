// Bot API methods the test peer answers itself: the ones telegram-test-api 4.2.1 lacks (moderation,
// chats, join requests) and the ones whose stock answers PTB cannot parse (getMe, getUpdates, sendMessage,
// deleteMessage). Error texts follow the real Bot API.
'use strict';

const { ApiError, fullPermissions, samePermissions, nowSeconds } = require('./state');

const TAGS = {
  b: 'bold', strong: 'bold', i: 'italic', em: 'italic', u: 'underline', ins: 'underline', s: 'strikethrough',
  strike: 'strikethrough', del: 'strikethrough', code: 'code', pre: 'pre', a: 'a', 'tg-spoiler': 'spoiler',
  blockquote: 'blockquote',
};
const ENTITIES = { lt: '<', gt: '>', amp: '&', quot: '"' };

// Telegram's HTML parse mode: a stray "<" or "&" is refused, as the real server does.
function parseHtml(source) {
  let text = '';
  const entities = [];
  const open = [];
  for (let i = 0; i < source.length;) {
    const ch = source[i];
    if (ch === '<') {
      const m = /^<(\/?)([a-z-]+)((?:\s+[a-z-]+="[^"]*")*)\s*>/i.exec(source.slice(i));
      if (!m || !TAGS[m[2].toLowerCase()]) {
        throw new ApiError(400, `Bad Request: can't parse entities: Unsupported start tag at byte offset ${i}`);
      }
      const tag = m[2].toLowerCase();
      if (m[1]) {
        const top = open.pop();
        if (!top || top.tag !== tag) throw new ApiError(400, `Bad Request: can't parse entities: Unmatched end tag at byte offset ${i}`);
        entities.push(entity(top, text.length));
      } else {
        const href = /href="([^"]*)"/.exec(m[3] || '');
        open.push({ tag, offset: text.length, href: href ? unescape(href[1]) : null });
      }
      i += m[0].length;
    } else if (ch === '&') {
      const m = /^&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);/i.exec(source.slice(i));
      if (!m) throw new ApiError(400, `Bad Request: can't parse entities: Character entity expected at byte offset ${i}`);
      text += unescape(m[0]);
      i += m[0].length;
    } else {
      text += ch;
      i += 1;
    }
  }
  if (open.length) throw new ApiError(400, `Bad Request: can't parse entities: Can't find end tag corresponding to start tag "${open[0].tag}"`);
  return { text, entities };
}

function unescape(s) {
  return s.replace(/&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);/gi, (_all, name) => {
    if (name[0] !== '#') return ENTITIES[name.toLowerCase()];
    return String.fromCodePoint(name[1].toLowerCase() === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10));
  });
}

function entity(top, end) {
  const base = { offset: top.offset, length: end - top.offset };
  if (TAGS[top.tag] !== 'a') return { type: TAGS[top.tag], ...base };
  const user = /^tg:\/\/user\?id=(\d+)$/.exec(top.href || '');
  if (user) return { type: 'text_mention', ...base, user: { id: Number(user[1]), is_bot: false, first_name: user[1] } };
  return { type: 'text_link', ...base, url: top.href };
}

function chatOf(peer, params) {
  const chat = peer.chats.get(Number(params.chat_id));
  if (!chat) throw new ApiError(400, 'Bad Request: chat not found');
  return chat;
}

function targetOf(chat, params) {
  if (chat.isAdmin(params.user_id)) throw new ApiError(400, "Bad Request: can't restrict self or an administrator of the chat");
  return chat.member(params.user_id) || chat.setMember({ id: Number(params.user_id), is_bot: false, first_name: String(params.user_id) }, 'left');
}

// A message from the bot, text or photo: checked, stored, and answered as the Bot API answers.
function deliver(peer, params, token, source, media = {}) {
  const chat = chatOf(peer, params);
  if (!chat.member(peer.bot.id) || ['left', 'kicked'].includes(chat.member(peer.bot.id).status)) {
    throw new ApiError(403, 'Forbidden: bot is not a member of the supergroup chat');
  }
  const parsed = params.parse_mode === 'HTML' ? parseHtml(source) : { text: source, entities: params.entities || [] };
  // The Bot API counts a caption after entity parsing, in UTF-16 code units; 1024 at most.
  if ((media.photo || media.document) && parsed.text.length > 1024) throw new ApiError(400, 'Bad Request: message caption is too long');
  const replyId = params.reply_parameters && Number(params.reply_parameters.message_id);
  const replied = replyId ? chat.messages.get(replyId) : null;
  if (replyId && (!replied || replied.deleted)) throw new ApiError(400, 'Bad Request: message to be replied not found');
  const thread = Number(params.message_thread_id) || (replied && replied.thread) || null;
  // The stock server stores the message and hands out its id; its own answer is what PTB cannot read.
  const stored = peer.server.addBotMessage({ ...params, chat_id: chat.info.id }, token);
  const message = {
    message_id: stored.message_id, date: nowSeconds(), chat: chat.info, from: peer.bot, ...media,
    ...(media.photo ? { caption: parsed.text } : { text: parsed.text }),
    ...(parsed.entities.length ? { [media.photo ? 'caption_entities' : 'entities']: parsed.entities } : {}),
    ...(thread ? { message_thread_id: thread, is_topic_message: true } : {}),
    ...(replyId ? { reply_to_message: { message_id: replyId, date: replied.date, chat: chat.info } } : {}),
  };
  chat.messages.set(message.message_id, { from: peer.bot, date: message.date, thread, deleted: false });
  peer.sent.push({ chat_id: chat.info.id, message_id: message.message_id, text: parsed.text, source,
    entities: parsed.entities, thread, reply_to: replyId || null, at: Date.now(), ...media });
  return message;
}

const RESTRICT_RIGHTS = 'Bad Request: not enough rights to restrict/unrestrict chat member';

const methods = {
  getMe: (peer) => peer.bot,

  getUpdates: (peer, params, token) => peer.takeUpdates(token, params),

  getChat: (peer, params) => chatOf(peer, params).fullInfo(),

  getChatAdministrators: (peer, params) => {
    const chat = chatOf(peer, params);
    return [...chat.members.keys()].filter((id) => chat.isAdmin(id)).map((id) => chat.memberObject(id));
  },

  getChatMember: (peer, params) => chatOf(peer, params).memberObject(params.user_id),

  sendMessage: (peer, params, token) => deliver(peer, params, token, String(params.text)),

  getFile: (peer, params) => {
    const file = peer.files.get(String(params.file_id));
    if (!file) throw new ApiError(400, 'Bad Request: invalid file_id');
    return { file_id: String(params.file_id), file_unique_id: `u${params.file_id}`, file_size: file.bytes.length, file_path: file.path };
  },

  sendPhoto: (peer, params, token) => {
    if (!params.photo || !params.photo.size) throw new ApiError(400, 'Bad Request: there is no photo in the request');
    const photo = [{ file_id: `photo${peer.sent.length}`, file_unique_id: `p${peer.sent.length}`, width: 1, height: 1, file_size: params.photo.size }];
    return deliver(peer, params, token, String(params.caption || ''), { photo });
  },

  sendDocument: (peer, params, token) => {
    if (!params.document || !params.document.size) throw new ApiError(400, 'Bad Request: there is no document in the request');
    const document = { file_id: `doc${peer.sent.length}`, file_unique_id: `d${peer.sent.length}`, file_name: params.document.filename,
      file_size: params.document.size };
    return deliver(peer, params, token, String(params.caption || ''), { document });
  },

  deleteMessage: (peer, params) => {
    const chat = chatOf(peer, params);
    const message = chat.messages.get(Number(params.message_id));
    if (!message || message.deleted) throw new ApiError(400, 'Bad Request: message to delete not found');
    if (message.from.id !== peer.bot.id) chat.requireRight(peer.bot.id, 'can_delete_messages', "Bad Request: message can't be deleted");
    if (nowSeconds() - message.date > 48 * 3600) throw new ApiError(400, "Bad Request: message can't be deleted");
    message.deleted = true;
    return true;
  },

  restrictChatMember: (peer, params) => {
    const chat = chatOf(peer, params);
    chat.requireRight(peer.bot.id, 'can_restrict_members', RESTRICT_RIGHTS);
    const target = targetOf(chat, params);
    const permissions = fullPermissions(params.permissions);
    const until = Number(params.until_date) || 0;
    // Restricting a member to exactly the group's defaults makes them an ordinary member again.
    if (samePermissions(permissions, chat.permissions) && target.status === 'restricted') target.status = 'member';
    else if (!samePermissions(permissions, chat.permissions)) Object.assign(target, { status: 'restricted', permissions, until_date: until });
    return true;
  },

  setChatPermissions: (peer, params) => {
    const chat = chatOf(peer, params);
    chat.requireRight(peer.bot.id, 'can_restrict_members', RESTRICT_RIGHTS);
    const permissions = fullPermissions(params.permissions);
    if (samePermissions(permissions, chat.permissions)) throw new ApiError(400, 'Bad Request: CHAT_NOT_MODIFIED');
    chat.permissions = permissions;
    return true;
  },

  banChatMember: (peer, params) => {
    const chat = chatOf(peer, params);
    chat.requireRight(peer.bot.id, 'can_restrict_members', RESTRICT_RIGHTS);
    const target = targetOf(chat, params);
    const wasIn = !['left', 'kicked'].includes(target.status);
    Object.assign(target, { status: 'kicked', until_date: Number(params.until_date) || 0 });
    if (wasIn) peer.memberUpdate(chat, target.user, 'member', 'kicked');
    return true;
  },

  unbanChatMember: (peer, params) => {
    const chat = chatOf(peer, params);
    chat.requireRight(peer.bot.id, 'can_restrict_members', RESTRICT_RIGHTS);
    const target = targetOf(chat, params);
    const onlyIfBanned = params.only_if_banned === true || params.only_if_banned === 'true';
    // Without only_if_banned, "unban" of a member present in the chat removes them: the real API does that.
    if (target.status === 'kicked' || !onlyIfBanned) target.status = 'left';
    return true;
  },

  approveChatJoinRequest: (peer, params) => decideJoin(peer, params, true),
  declineChatJoinRequest: (peer, params) => decideJoin(peer, params, false),

  setChatMemberTag: (peer, params) => {
    const chat = chatOf(peer, params);
    chat.requireRight(peer.bot.id, 'can_manage_tags', 'Bad Request: not enough rights');
    const target = chat.member(params.user_id);
    if (!target || ['left', 'kicked'].includes(target.status)) throw new ApiError(400, 'Bad Request: user not found');
    if (params.tag && [...params.tag].length > 16) throw new ApiError(400, 'Bad Request: TAG_TOO_LONG');
    target.tag = params.tag || null;
    return true;
  },

  setWebhook: (peer, params, token) => {
    peer.webhooks.set(token, { url: String(params.url), secret: params.secret_token || null });
    peer.flushWebhook(token);
    return true;
  },

  deleteWebhook: (peer, _params, token) => peer.webhooks.delete(token) || true,

  getWebhookInfo: (peer, _params, token) => {
    const hook = peer.webhooks.get(token);
    return { url: hook ? hook.url : '', has_custom_certificate: false, pending_update_count: peer.pending(token).length };
  },
};

function decideJoin(peer, params, approve) {
  const chat = chatOf(peer, params);
  chat.requireRight(peer.bot.id, 'can_invite_users', 'Bad Request: not enough rights');
  const request = chat.requests.get(Number(params.user_id));
  if (!request || request.state !== 'pending') throw new ApiError(400, 'Bad Request: HIDE_REQUESTER_MISSING');
  request.state = approve ? 'approved' : 'declined';
  if (approve) {
    chat.setMember(request.user, 'member');
    // A member let in from a join request shows up twice, as Telegram does: a chat_member update and
    // a "joined" service message. The adapter must report one join.
    peer.memberUpdate(chat, request.user, 'left', 'member');
    peer.userMessage(chat, request.user, { new_chat_members: [request.user] });
  }
  return true;
}

module.exports = { methods, parseHtml };
