// Test harness: a Wechaty puppet-service gateway (wechaty-puppet-service's PuppetServer) over
// wechaty-puppet-mock, on loopback with TLS disabled and a fixed token, plus a small HTTP control API.
//
//   node gateway.js <grpc port> <control port> <world.json>     (token: GATEWAY_TOKEN)
//
// world.json: {"self": {"id", "name"}, "contacts": [{"id", "name"}], "rooms": [{"id", "topic", "ownerId",
// "memberIds": []}]}. The mock logs in as `self` when the client calls Start, so a restarted gateway
// comes back with the same world.
//
// The stock mock only logs room removal, topic, alias and announcement calls and drops the mention
// list of a sent text: this harness records every call the bot makes (GET /calls) and imitates the
// effect of a removal (the member leaves, with the room-leave event a real room would emit).
//
// Failures on demand: POST /slow makes one room's calls of a method answer late; POST /crash_after makes
// the process die right after it carried out the next call of a method, before answering it; /say with
// an `id` delivers a message again (as a provider re-syncing after a restart does). With GATEWAY_JOURNAL
// set, every recorded call is also appended to that file, so calls survive a killed process.
//
// Pictures: /say with type "Image" and `image` (base64 of the picture's bytes) makes a picture message; the
// stock mock answers messageImage with a QR-code box for every message, this harness with the picture,
// in the box named by `box`: "stream" (the server turns it into a Uuid box served by Download), "base64"
// (passed through when small), "url" (served by GET /file/<message id>), "refuse" (messageImage fails) or
// "hang" (messageImage never answers).
import fs from 'node:fs'
import http from 'node:http'
import { Readable } from 'node:stream'

import { FileBox } from 'file-box'

import * as PUPPET from 'wechaty-puppet'
import { PuppetServer } from 'wechaty-puppet-service'
import { PuppetMock, mock } from 'wechaty-puppet-mock'

const [grpcPort, controlPort, worldFile] = process.argv.slice(2)
const world = JSON.parse(fs.readFileSync(worldFile, 'utf8'))
const calls = []
const inert = new Set() // methods that answer ok and do nothing, as the stock mock's do
const slow = [] // { method, room, ms }: calls about that room answered late
const crashAfter = new Set() // methods whose next call ends the process once carried out
const pictures = new Map() // message id -> { data: Buffer, box }

function record (method, args) {
  const call = { method, args, at: Date.now() }
  calls.push(call)
  if (process.env.GATEWAY_JOURNAL) fs.appendFileSync(process.env.GATEWAY_JOURNAL, JSON.stringify(call) + '\n')
}

async function lateFor (method, room) {
  const rule = slow.find(r => r.method === method && r.room === room)
  if (rule) await new Promise(resolve => setTimeout(resolve, rule.ms))
}

function crashIfAsked (method) {
  if (crashAfter.has(method)) process.exit(1) // carried out, never answered
}

class RecordingPuppet extends PuppetMock {
  async messageSendText (conversationId, text, mentionIdList) {
    await lateFor('messageSendText', conversationId)
    const id = await super.messageSendText(conversationId, text) // recorded once sent: a refusal sends nothing
    record('messageSendText', { conversationId, text, mentionIdList: mentionIdList || [] })
    crashIfAsked('messageSendText')
    return id
  }

  async roomPayload (roomId) {
    if (slow.some(r => r.method === 'roomPayload' && r.room === roomId)) record('roomPayload', { roomId }) // a late one begins
    await lateFor('roomPayload', roomId)
    return super.roomPayload(roomId)
  }

  async roomDel (roomId, contactId) {
    record('roomDel', { roomId, contactId })
    if (inert.has('roomDel')) return
    const room = this.mocker.RoomMock.load(roomId)
    if (room.payload.ownerId !== this.currentUserId) {
      throw new Error('only the room owner can remove members')
    }
    if (room.payload.memberIdList.includes(contactId)) {
      room.remove(this.mocker.ContactMock.load(contactId)).by(this.mocker.ContactMock.load(this.currentUserId))
    }
  }

  async roomTopic (roomId, topic) {
    if (topic !== undefined) record('roomTopic', { roomId, topic })
    return super.roomTopic(roomId, topic)
  }

  async roomAnnounce (roomId, text) {
    if (text !== undefined) record('roomAnnounce', { roomId, text })
    return super.roomAnnounce(roomId, text)
  }

  async contactAlias (contactId, alias) {
    if (alias !== undefined) record('contactAlias', { contactId, alias })
    return super.contactAlias(contactId, alias)
  }

  async messageImage (messageId, imageType) {
    record('messageImage', { messageId, imageType })
    const picture = pictures.get(messageId)
    if (!picture) return super.messageImage(messageId, imageType)
    const name = `${messageId}.png`
    switch (picture.box) {
      case 'stream': return FileBox.fromStream(Readable.from([picture.data]), name)
      case 'base64': return FileBox.fromBase64(picture.data.toString('base64'), name)
      case 'url': return FileBox.fromUrl(`http://127.0.0.1:${controlPort}/file/${encodeURIComponent(messageId)}`, { name })
      case 'refuse': throw new Error('the picture has expired on the server')
      case 'hang': return new Promise(() => {})
      default: throw new Error(`no box ${picture.box}`)
    }
  }

  async messageRecall (messageId) {
    record('messageRecall', { messageId })
    return super.messageRecall(messageId)
  }
}

const mocker = new mock.Mocker()
const contact = c => mocker.createContact({ id: c.id, name: c.name, type: PUPPET.types.Contact.Individual })
const self = contact(world.self)
for (const c of world.contacts) contact(c)
for (const r of world.rooms) {
  mocker.createRoom({ id: r.id, topic: r.topic, ownerId: r.ownerId, adminIdList: [], memberIdList: [world.self.id, ...r.memberIds] })
}
mocker.use(m => { m.login(self); return () => {} })

const puppet = new RecordingPuppet({ mocker })
let streamsOpened = 0 // the server's stream manager subscribes to 'message' once per client event stream
puppet.on('newListener', event => { if (event === 'message') streamsOpened++ })
const server = new PuppetServer({ endpoint: `127.0.0.1:${grpcPort}`, puppet, token: process.env.GATEWAY_TOKEN, tls: { disable: true } })

// A message of any puppet type from a member (the mock's own say() only makes text and files).
function speak ({ room, from, text = '', type = 'Text', mentions = [], to, id, timestamp, image, box = 'stream' }) {
  const payload = { id: id || `msg-${calls.length}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
    talkerId: from, timestamp: timestamp || Date.now(), type: PUPPET.types.Message[type], text }
  if (image) pictures.set(payload.id, { data: Buffer.from(image, 'base64'), box })
  if (room) Object.assign(payload, { roomId: room, mentionIdList: mentions })
  else payload.listenerId = to || world.self.id
  mocker.MessageMock.create(payload)
  puppet.emit('message', { messageId: payload.id })
  return { id: payload.id }
}

const load = {
  room: id => mocker.RoomMock.load(id),
  contact: id => mocker.ContactMock.load(id),
}

const routes = {
  'GET /calls': () => calls,
  'POST /say': body => speak(body),
  'POST /join': ({ room, members, inviter }) => { load.room(room).add(...members.map(load.contact)).by(load.contact(inviter)); return {} },
  'POST /leave': ({ room, members, remover }) => { load.room(room).remove(...members.map(load.contact)).by(load.contact(remover || members[0])); return {} },
  'POST /topic': ({ room, topic, by }) => { load.room(room).topic(topic).by(load.contact(by)); return {} },
  'POST /inert': ({ method }) => { inert.add(method); return {} },
  'POST /slow': ({ method, room, ms }) => { slow.push({ method, room, ms }); return {} },
  'POST /crash_after': ({ method }) => { crashAfter.add(method); return {} },
  // A raw puppet event, as a provider might send it (malformed ones included).
  'POST /emit': ({ event, payload }) => { puppet.emit(event, payload); return {} },
  'GET /room': (_, query) => mocker.roomPayload(query.get('id')),
  // How many client event streams were opened, while one is attached (0 when none is).
  'GET /streaming': () => puppet.listenerCount('message') > 0 ? streamsOpened : 0,
}

const control = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url.startsWith('/file/')) { // a Url box's picture
    const picture = pictures.get(decodeURIComponent(req.url.slice('/file/'.length)))
    if (!picture) return res.writeHead(404).end()
    return res.writeHead(200, { 'content-type': 'image/png', 'content-length': picture.data.length }).end(picture.data)
  }
  let raw = ''
  req.on('data', chunk => { raw += chunk })
  req.on('end', () => {
    const url = new URL(req.url, 'http://x')
    const route = routes[`${req.method} ${url.pathname}`]
    try {
      if (!route) throw new Error(`no route ${req.method} ${url.pathname}`)
      const result = route(raw ? JSON.parse(raw) : {}, url.searchParams)
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result }))
    } catch (e) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(e.message || e) }))
    }
  })
})

await server.start()
control.listen(Number(controlPort), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ ready: Number(grpcPort) }) + '\n')
})
