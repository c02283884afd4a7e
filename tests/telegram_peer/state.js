// Chat state for the test peer: chats, members with their status and rights, permissions, join requests,
// messages. Shapes follow the Bot API objects, so PTB can parse what the peer answers.
'use strict';

const PERMISSIONS = [
  'can_send_messages', 'can_send_audios', 'can_send_documents', 'can_send_photos', 'can_send_videos',
  'can_send_video_notes', 'can_send_voice_notes', 'can_send_polls', 'can_send_other_messages',
  'can_add_web_page_previews', 'can_change_info', 'can_invite_users', 'can_pin_messages', 'can_manage_topics',
];
const ADMIN_RIGHTS = [
  'can_manage_chat', 'can_delete_messages', 'can_manage_video_chats', 'can_restrict_members',
  'can_promote_members', 'can_change_info', 'can_invite_users', 'can_post_stories', 'can_edit_stories',
  'can_delete_stories', 'can_pin_messages', 'can_manage_topics', 'can_manage_tags',
];

class ApiError extends Error {
  constructor(code, description) {
    super(description);
    this.code = code;
  }
}

// Telegram fills permissions a call leaves out with false.
function fullPermissions(given) {
  const out = {};
  for (const key of PERMISSIONS) out[key] = Boolean(given && given[key]);
  return out;
}

function samePermissions(a, b) {
  return PERMISSIONS.every((key) => Boolean(a[key]) === Boolean(b[key]));
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

class Chat {
  constructor({ id, type = 'supergroup', title = 'Test group', is_forum = false, permissions = {} }) {
    this.info = { id: Number(id), type, title, ...(is_forum ? { is_forum: true } : {}) };
    this.permissions = fullPermissions(permissions);
    this.members = new Map(); // user id -> { user, status, rights, permissions, until_date, tag }
    this.requests = new Map(); // user id -> { user, state: pending | approved | declined }
    this.messages = new Map(); // message id -> { from, date, thread, deleted }
  }

  member(userId) {
    const found = this.members.get(Number(userId));
    if (found && found.status === 'restricted' && found.until_date && found.until_date <= nowSeconds()) {
      found.status = 'member'; // a restriction with an end time lifts itself
    }
    return found;
  }

  setMember(user, status, rights = {}) {
    const entry = { user, status, rights, permissions: null, until_date: 0, tag: null };
    this.members.set(Number(user.id), entry);
    return entry;
  }

  isAdmin(userId) {
    const m = this.member(userId);
    return Boolean(m && (m.status === 'creator' || m.status === 'administrator'));
  }

  // The check Telegram makes before the bot may act: it must be an admin with this right.
  requireRight(botId, right, description) {
    const me = this.member(botId);
    if (!me || !(me.status === 'creator' || (me.status === 'administrator' && me.rights[right]))) {
      throw new ApiError(400, description);
    }
  }

  mayPost(userId) {
    const m = this.member(userId);
    if (!m || m.status === 'left' || m.status === 'kicked') return false;
    if (m.status === 'creator' || m.status === 'administrator') return true;
    if (m.status === 'restricted' && !m.permissions.can_send_messages) return false;
    return this.permissions.can_send_messages;
  }

  memberObject(userId) {
    const m = this.member(userId);
    if (!m) return { status: 'left', user: { id: Number(userId), is_bot: false, first_name: String(userId) } };
    if (m.status === 'creator') return { status: 'creator', user: m.user, is_anonymous: false };
    if (m.status === 'administrator') {
      const rights = {};
      for (const key of ADMIN_RIGHTS) rights[key] = Boolean(m.rights[key]);
      return { status: 'administrator', user: m.user, can_be_edited: false, is_anonymous: false, ...rights };
    }
    if (m.status === 'restricted') {
      return { status: 'restricted', user: m.user, is_member: true, until_date: m.until_date, ...m.permissions };
    }
    if (m.status === 'kicked') return { status: 'kicked', user: m.user, until_date: m.until_date };
    return { status: m.status, user: m.user, ...(m.tag ? { tag: m.tag } : {}) };
  }

  // For the peer's state file: everything a restarted peer needs to come back with the same chat.
  toJSON() {
    return { info: this.info, permissions: this.permissions, members: [...this.members.values()],
      requests: [...this.requests.values()], messages: [...this.messages.entries()] };
  }

  static fromJSON(data) {
    const chat = new Chat({ id: data.info.id });
    Object.assign(chat, { info: data.info, permissions: data.permissions });
    for (const m of data.members) chat.members.set(Number(m.user.id), m);
    for (const r of data.requests) chat.requests.set(Number(r.user.id), r);
    for (const [id, m] of data.messages) chat.messages.set(Number(id), m);
    return chat;
  }

  fullInfo() {
    return {
      ...this.info, permissions: this.permissions, accent_color_id: 0, max_reaction_count: 11,
      accepted_gift_types: { unlimited_gifts: false, limited_gifts: false, unique_gifts: false, premium_subscription: false, gifts_from_channels: false },
    };
  }
}

module.exports = { ApiError, Chat, PERMISSIONS, fullPermissions, samePermissions, nowSeconds };
