// Test-only endpoints of the peer: set up chats, let members act (messages, joins, join requests), inject
// raw updates, make a method answer 429, enforce Telegram's flood limits, and read back every call the bot made and every message it sent.
'use strict';

const { nowSeconds } = require('./state');

function testRoutes(app, peer) {
  const chatOr404 = (req, res) => {
    const chat = peer.chats.get(Number(req.body.chat_id || req.params.id));
    if (!chat) res.status(404).json({ ok: false, description: 'no such chat' });
    return chat;
  };

  app.post('/test/chat', (req, res) => {
    res.json({ ok: true, result: peer.addChat(req.body).info });
  });

  // A member posts: refused (403) when Telegram would not let them, as a muted member is.
  app.post('/test/message', (req, res) => {
    const chat = chatOr404(req, res);
    if (!chat) return;
    const { from, chat_id: _chat, ...fields } = req.body;
    const service = fields.new_chat_members || fields.left_chat_member;
    if (!chat.member(from.id) && !service) chat.setMember(from, 'member');
    if (!service && !fields.sender_chat && !chat.mayPost(from.id)) {
      res.status(403).json({ ok: false, description: 'this member may not send messages now' });
      return;
    }
    for (const user of fields.new_chat_members || []) chat.setMember(user, 'member');
    if (fields.left_chat_member) chat.setMember(fields.left_chat_member, 'left');
    res.json({ ok: true, result: peer.userMessage(chat, from, fields) });
  });

  // A file a member is about to send (a photo's bytes, base64): its file_id, for getFile and the download.
  app.post('/test/file', (req, res) => {
    const bytes = Buffer.from(String(req.body.base64 || ''), 'base64');
    const id = `file${peer.files.size + 1}`;
    peer.files.set(id, { bytes, path: `photos/${id}.${req.body.ext || 'jpg'}` });
    res.json({ ok: true, result: { file_id: id, file_unique_id: `u${id}`, file_size: bytes.length } });
  });

  app.post('/test/join_request', (req, res) => {
    const chat = chatOr404(req, res);
    if (!chat) return;
    const { from, bio } = req.body;
    chat.requests.set(Number(from.id), { user: from, state: 'pending' });
    const update = peer.push({ chat_join_request: { chat: chat.info, from, user_chat_id: from.id, date: nowSeconds(),
      ...(bio ? { bio } : {}) } });
    res.json({ ok: true, result: update });
  });

  // A membership change seen only as a chat_member update (an admin added someone, someone left …).
  app.post('/test/chat_member', (req, res) => {
    const chat = chatOr404(req, res);
    if (!chat) return;
    const { user, old_status: oldStatus, new_status: newStatus, rights } = req.body;
    chat.setMember(user, newStatus, rights || {});
    peer.memberUpdate(chat, user, oldStatus, newStatus);
    res.json({ ok: true });
  });

  app.post('/test/update', (req, res) => {
    res.json({ ok: true, result: peer.push(req.body.update) });
  });

  app.post('/test/fail', (req, res) => {
    peer.failures.push({ method: req.body.method, times: Number(req.body.times) || 1, retry_after: Number(req.body.retry_after) || 1 });
    res.json({ ok: true });
  });

  // Answer `method` (for `chat_id` only, when given) after `seconds`: a slow Bot API for one group.
  app.post('/test/slow', (req, res) => {
    peer.slow.push({ method: req.body.method, chat_id: req.body.chat_id, seconds: Number(req.body.seconds) || 1 });
    res.json({ ok: true });
  });

  // Carry out `method` the next `times` times, then cut the connection instead of answering.
  app.post('/test/drop', (req, res) => {
    peer.drops.push({ method: req.body.method, times: Number(req.body.times) || 1 });
    res.json({ ok: true });
  });

  // The peer dies (exit 1) right after its next webhook delivery succeeds, before it records it: a
  // restarted peer delivers that update again, as the Bot API does when it never saw the bot's answer.
  app.post('/test/crash_after_delivery', (_req, res) => {
    peer.crashAfterDelivery = true;
    res.json({ ok: true });
  });

  app.get('/test/last_update_id', (_req, res) => res.json({ ok: true, result: peer.lastUpdateId || 0 }));
  app.get('/test/pending', (_req, res) => res.json({ ok: true, result: peer.updates.map((e) => e.update) }));

  // Enforce Telegram's flood limits from now on ({ per_second, per_chat_per_minute }; {} turns them off).
  app.post('/test/limits', (req, res) => {
    const { per_second: perSecond, per_chat_per_minute: perChat } = req.body;
    peer.limits = perSecond || perChat ? { per_second: Number(perSecond) || 0, per_chat_per_minute: Number(perChat) || 0 } : null;
    peer.posted = [];
    peer.postedIn = new Map();
    res.json({ ok: true, result: peer.limits });
  });

  app.get('/test/calls', (_req, res) => res.json({ ok: true, result: peer.calls }));
  app.get('/test/sent', (_req, res) => res.json({ ok: true, result: peer.sent }));

  app.get('/test/chat/:id', (req, res) => {
    const chat = chatOr404(req, res);
    if (!chat) return;
    const members = {};
    for (const id of chat.members.keys()) members[id] = { ...chat.memberObject(id), tag: chat.member(id).tag };
    const requests = {};
    for (const [id, r] of chat.requests) requests[id] = r.state;
    const messages = {};
    for (const [id, m] of chat.messages) messages[id] = m;
    res.json({ ok: true, result: { chat: chat.info, permissions: chat.permissions, members, requests, messages } });
  });
}

module.exports = { testRoutes };
