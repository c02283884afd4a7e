// The Telegram peer of Qunbot's end-to-end tests: telegram-test-api 4.2.1 (pinned in package.json) with
// our route in front of its own. Handlers must be in the library's exported route array before
// `new TelegramServer()`: routes added to its web server afterwards are never reached.
//
//   node peer.js PORT         (tokens the server accepts: PEER_TOKENS, comma separated)
//
// With PEER_STATE=<file>, chats, unconfirmed updates, webhooks and id counters are written to the file
// after every request and read back at start, so a peer killed and started again on the same port
// comes back as a real Bot API server does. A confirmation (getUpdates with a higher offset) is written
// when that request ends, so a peer killed during a long poll delivers those updates again.
//
// Prints {"ready": PORT} on standard output once listening. Test-only endpoints live under /test/.
'use strict';

const EventEmitter = require('events');
const fs = require('fs');
const routeList = require('telegram-test-api/lib/routes/index').routes;
const TelegramServer = require('telegram-test-api');
const { ApiError, Chat, nowSeconds } = require('./state');
const { methods } = require('./methods');
const { testRoutes } = require('./endpoints');

// Stock routes that still answer well enough for PTB; every other method PTB calls is ours.
const STOCK = new Set(['editMessageText', 'editMessageReplyMarkup', 'answerCallbackQuery']);
// Updates Telegram leaves out unless a bot asks for them in allowed_updates.
const OPT_IN = new Set(['chat_member', 'message_reaction', 'message_reaction_count']);
const TEXT_PARAMS = new Set(['text', 'caption', 'tag', 'secret_token', 'url', 'title', 'description']);
// Methods that post a message, which Telegram's flood limits count (sendChatAction is not a message).
const POSTS = /^(send(?!ChatAction)|copyMessage|forwardMessage)/;

class Peer extends EventEmitter {
  constructor(tokens) {
    super();
    this.tokens = new Set(tokens);
    this.bot = { id: 666000, is_bot: true, first_name: 'Qunbot Test', username: 'QunbotTestBot',
      can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false };
    this.chats = new Map();
    this.updates = []; // { token, update } in update_id order
    this.confirming = new Set(); // updates confirmed by a getUpdates that has not ended yet
    this.allowed = new Map(); // token -> the allowed_updates the bot asked for last
    this.webhooks = new Map(); // token -> { url, secret }
    this.calls = []; // every Bot API call: { method, params, at, answer }
    this.sent = []; // every message the bot delivered
    this.files = new Map(); // file_id -> { bytes, path }: what members sent (/test/file), for getFile
    this.failures = []; // { method, times, retry_after }: calls answered with 429
    this.slow = []; // { method, chat_id, seconds }: calls answered only after a while
    this.drops = []; // { method, times }: calls carried out, then the connection is cut before the answer
    this.crashAfterDelivery = false; // die right after a webhook delivery, before recording it
    // Telegram's flood limits, when a test turns them on (/test/limits): { per_second, per_chat_per_minute }.
    this.limits = null;
    this.posted = []; // times of accepted posts, all chats (the last second's)
    this.postedIn = new Map(); // chat id -> times of accepted posts (the last minute's)
    this.server = null;
    this.stateFile = process.env.PEER_STATE || '';
  }

  // ----------------------------------------------------------------- the state file

  save() {
    if (!this.stateFile || !this.server) return;
    const state = { updateId: this.server.updateId, messageId: this.server.messageId, updates: [...this.confirming, ...this.updates]
        .sort((a, b) => a.update.update_id - b.update.update_id),
      allowed: [...this.allowed], webhooks: [...this.webhooks], chats: [...this.chats.values()] };
    fs.writeFileSync(`${this.stateFile}.tmp`, JSON.stringify(state));
    fs.renameSync(`${this.stateFile}.tmp`, this.stateFile); // never a half-written file, even when killed
  }

  load() {
    if (!this.stateFile || !fs.existsSync(this.stateFile)) return;
    const state = JSON.parse(fs.readFileSync(this.stateFile, 'utf8'));
    Object.assign(this.server, { updateId: state.updateId, messageId: state.messageId });
    this.updates = state.updates;
    this.allowed = new Map(state.allowed);
    this.webhooks = new Map(state.webhooks);
    for (const data of state.chats) this.chats.set(Number(data.info.id), Chat.fromJSON(data));
    for (const token of this.webhooks.keys()) this.flushWebhook(token);
  }

  addChat(spec) {
    const chat = new Chat(spec);
    for (const m of spec.members || []) chat.setMember(m.user, m.status, m.rights || {});
    this.chats.set(chat.info.id, chat);
    return chat;
  }

  // ----------------------------------------------------------------- updates

  push(update, token = this.defaultToken()) {
    const entry = { token, update: { update_id: this.server.updateId++, ...update } };
    this.lastUpdateId = entry.update.update_id;
    this.updates.push(entry);
    this.emit(`update:${token}`);
    if (this.webhooks.has(token)) this.flushWebhook(token);
    return entry.update;
  }

  defaultToken() {
    return this.tokens.values().next().value;
  }

  pending(token) {
    const allowed = this.allowed.get(token);
    const wanted = (u) => {
      const type = Object.keys(u).find((k) => k !== 'update_id');
      return allowed && allowed.length ? allowed.includes(type) : !OPT_IN.has(type);
    };
    this.updates = this.updates.filter((e) => e.token !== token || wanted(e.update));
    return this.updates.filter((e) => e.token === token).map((e) => e.update);
  }

  // getUpdates as the Bot API does it: confirm below offset, hold the request up to `timeout` seconds.
  async takeUpdates(token, params) {
    const offset = Number(params.offset) || 0;
    if (Array.isArray(params.allowed_updates)) this.allowed.set(token, params.allowed_updates);
    const gone = this.updates.filter((e) => e.token === token && e.update.update_id < offset);
    this.updates = this.updates.filter((e) => !gone.includes(e));
    gone.forEach((e) => this.confirming.add(e)); // in the state file until this request ends
    const timeout = Math.min(Number(params.timeout) || 0, 50);
    if (!this.pending(token).length && timeout > 0) {
      await new Promise((resolve) => {
        const timer = setTimeout(done, timeout * 1000);
        function done() { clearTimeout(timer); resolve(); }
        this.once(`update:${token}`, done);
      });
    }
    gone.forEach((e) => this.confirming.delete(e));
    return this.pending(token).slice(0, Number(params.limit) || 100);
  }

  async flushWebhook(token) {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.webhooks.has(token) && this.pending(token).length) {
        const hook = this.webhooks.get(token);
        const update = this.pending(token)[0];
        const headers = { 'content-type': 'application/json',
          ...(hook.secret ? { 'x-telegram-bot-api-secret-token': hook.secret } : {}) };
        const ok = await fetch(hook.url, { method: 'POST', headers, body: JSON.stringify(update) })
          .then((r) => r.ok, () => false);
        if (ok && this.crashAfterDelivery) process.exit(1); // delivered, never recorded as such
        if (ok) {
          this.updates = this.updates.filter((e) => e.update !== update);
          this.save();
        }
        else await new Promise((r) => setTimeout(r, 300)); // the bot's server is not up yet: retry
      }
    } finally {
      this.flushing = false;
    }
  }

  userMessage(chat, from, fields) {
    const message = { message_id: this.server.messageId++, date: nowSeconds(), chat: chat.info, from, ...fields };
    chat.messages.set(message.message_id, { from, date: message.date, thread: fields.message_thread_id || null, deleted: false });
    this.push({ message });
    return message;
  }

  memberUpdate(chat, user, oldStatus, newStatus) {
    const shape = (status) => ({ status, user, ...(status === 'kicked' ? { until_date: 0 } : {}) });
    this.push({ chat_member: { chat: chat.info, from: this.bot, date: nowSeconds(),
      old_chat_member: shape(oldStatus), new_chat_member: chat.memberObject(user.id).status === newStatus ? chat.memberObject(user.id) : shape(newStatus) } });
  }

  // ----------------------------------------------------------------- flood limits

  // Seconds the bot must wait before this post is allowed (0: allowed, and counted). Telegram's documented
  // limits: about 30 messages a second over all chats, 20 a minute in one group. Windows slide, so
  // "30 a second" means no 31 posts within any second, as Telegram counts them.
  floodWait(chatId, now = Date.now()) {
    if (!this.limits) return 0;
    const { per_second: perSecond, per_chat_per_minute: perChat } = this.limits;
    this.posted = this.posted.filter((t) => t > now - 1000);
    const inChat = (this.postedIn.get(String(chatId)) || []).filter((t) => t > now - 60000);
    this.postedIn.set(String(chatId), inChat);
    if (perSecond && this.posted.length >= perSecond) return Math.ceil((this.posted[0] + 1000 - now) / 1000);
    if (perChat && inChat.length >= perChat) return Math.ceil((inChat[0] + 60000 - now) / 1000);
    this.posted.push(now);
    inChat.push(now);
    return 0;
  }

  // ----------------------------------------------------------------- the Bot API route

  async answer(req, res, next) {
    const { token, method } = req.params;
    if (STOCK.has(method)) return next();
    const form = req.is('multipart/form-data') ? await readMultipart(req) : {};
    const params = parseParams({ ...req.query, ...req.body, ...form });
    const call = { method, params, at: Date.now(), answer: 200 };
    this.calls.push(call);
    const reply = (status, body) => { call.answer = status; res.status(status).json(body); };
    if (!this.tokens.has(token)) return reply(401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const failure = this.failures.find((f) => f.method === method && f.times > 0);
    if (failure) {
      failure.times -= 1;
      return reply(429, { ok: false, error_code: 429, description: `Too Many Requests: retry after ${failure.retry_after}`,
        parameters: { retry_after: failure.retry_after } });
    }
    const wait = POSTS.test(method) ? this.floodWait(params.chat_id, call.at) : 0;
    if (wait > 0) {
      return reply(429, { ok: false, error_code: 429, description: `Too Many Requests: retry after ${wait}`,
        parameters: { retry_after: wait } });
    }
    if (!methods[method]) return reply(404, { ok: false, error_code: 404, description: 'Not Found' });
    const slow = this.slow.find((f) => f.method === method && (f.chat_id === undefined || Number(f.chat_id) === Number(params.chat_id)));
    if (slow) await new Promise((resolve) => setTimeout(resolve, slow.seconds * 1000));
    try {
      const result = await methods[method](this, params, token);
      const drop = this.drops.find((f) => f.method === method && f.times > 0);
      if (drop) { // done, but the answer never leaves: the bot cannot know whether it happened
        drop.times -= 1;
        call.answer = 'dropped';
        return req.socket.destroy();
      }
      reply(200, { ok: true, result });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      reply(err.code, { ok: false, error_code: err.code, description: err.message });
    }
  }
}

// PTB posts form fields; objects and lists arrive as JSON text.
function parseParams(raw) {
  const out = {};
  for (const [key, value] of Object.entries(raw)) {
    const text = typeof value === 'string' && !TEXT_PARAMS.has(key);
    out[key] = text && /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  return out;
}

// Uploads (sendPhoto) come as multipart/form-data, which the stock server does not parse: fields become
// text, files become { filename, size }.
async function readMultipart(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const boundary = /boundary="?([^";]+)"?/.exec(req.headers['content-type'])[1];
  const fields = {};
  for (const part of body.toString('latin1').split(`--${boundary}`)) {
    const split = part.indexOf('\r\n\r\n');
    const name = /name="([^"]+)"/.exec(part.slice(0, split));
    if (split < 0 || !name) continue;
    const value = Buffer.from(part.slice(split + 4, part.length - 2), 'latin1');
    const filename = /filename="([^"]*)"/.exec(part.slice(0, split));
    fields[name[1]] = filename ? { filename: filename[1], size: value.length } : value.toString('utf8');
  }
  return fields;
}

async function main() {
  const port = Number(process.argv[2]);
  const peer = new Peer((process.env.PEER_TOKENS || '').split(',').filter(Boolean));
  routeList.unshift((app, server) => {
    peer.server = server;
    peer.load();
    app.use((req, res, next) => { res.on('finish', () => peer.save()); next(); });
    app.all('/bot:token/:method', (req, res, next) => peer.answer(req, res, next).catch(next));
    // Downloads, as https://api.telegram.org/file/bot<token>/<file_path> serves them.
    app.get('/file/bot:token/*', (req, res) => {
      const file = [...peer.files.values()].find((f) => f.path === req.params[0]);
      if (!peer.tokens.has(req.params.token) || !file) { res.status(404).json({ ok: false, error_code: 404, description: 'Not Found' }); return; }
      res.type('application/octet-stream').send(file.bytes);
    });
    testRoutes(app, peer);
  });
  const server = new TelegramServer({ port, host: '127.0.0.1' });
  await server.start();
  process.stdout.write(`${JSON.stringify({ ready: port })}\n`);
  const stop = () => server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main().catch((err) => { console.error(err); process.exit(1); });

module.exports = { Peer };
