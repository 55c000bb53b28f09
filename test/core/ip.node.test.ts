/**
 * The reader against real Node `IncomingMessage`s: a dual-stack server on `::` (which reports IPv4 clients as
 * `::ffff:a.b.c.d`), requests written byte for byte on loopback sockets.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClientIpReader, type ClientIpOptions } from '../../src/core/ip.js'
import type { ClientIp } from '../../src/core/types.js'

let server: Server
let port: number
let handle: (req: IncomingMessage) => unknown = () => null

beforeAll(async () => {
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(handle(req)))
  })
  server.listen(0, '::')
  await once(server, 'listening')
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  server.close()
  await once(server, 'close')
})

/** Send raw header lines from `host` and return what the server's reader saw. */
async function send(host: '127.0.0.1' | '::1', headerLines: string[], options: ClientIpOptions): Promise<unknown> {
  const read = createClientIpReader(options)
  handle = (req) => ({ result: read(req), remoteAddress: req.socket.remoteAddress })
  const socket = connect({ host, port })
  await once(socket, 'connect')
  socket.end(['GET / HTTP/1.1', 'Host: test', 'Connection: close', ...headerLines, '', ''].join('\r\n'))
  let raw = ''
  socket.setEncoding('utf8')
  for await (const chunk of socket) raw += chunk as string
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as unknown
}

describe('createClientIpReader with a Node IncomingMessage', () => {
  it('an IPv4 client on a dual-stack socket is reported as IPv4', async () => {
    expect(await send('127.0.0.1', [], {})).toEqual({
      remoteAddress: '::ffff:127.0.0.1',
      result: { ip: '127.0.0.1', source: 'socket', kind: 'loopback' } satisfies ClientIp,
    })
  })

  it('an IPv4 trust range matches the IPv4-mapped socket address', async () => {
    const got = await send('127.0.0.1', ['X-Forwarded-For: 203.0.113.7'], { trustProxy: '127.0.0.0/8' })
    expect(got).toMatchObject({ result: { ip: '203.0.113.7', source: 'x-forwarded-for', kind: 'documentation' } })
  })

  it('a forged X-Forwarded-For from an untrusted peer is ignored', async () => {
    const got = await send('127.0.0.1', ['X-Forwarded-For: 203.0.113.7'], { trustProxy: '10.0.0.0/8' })
    expect(got).toMatchObject({ result: { ip: '127.0.0.1', source: 'socket' } })
  })

  it('duplicate X-Forwarded-For lines are one list, in order', async () => {
    const lines = ['X-Forwarded-For: 198.51.100.1', 'x-forwarded-for: 203.0.113.7']
    expect(await send('127.0.0.1', lines, { trustProxy: 1 })).toMatchObject({ result: { ip: '203.0.113.7' } })
    expect(await send('127.0.0.1', lines, { trustProxy: 2 })).toMatchObject({ result: { ip: '198.51.100.1' } })
  })

  it('duplicate X-Real-IP lines are a list, not one address', async () => {
    const lines = ['X-Real-IP: 198.51.100.1', 'X-Real-IP: 203.0.113.7']
    const got = await send('127.0.0.1', lines, { trustProxy: 'loopback', headers: ['x-real-ip'] })
    expect(got).toMatchObject({ result: { ip: '127.0.0.1', source: 'socket' } })
  })

  it('reads Forwarded with a quoted IPv6 node', async () => {
    const got = await send('127.0.0.1', ['Forwarded: for="[2001:db8:cafe::17]:4711";proto=https'], {
      trustProxy: 'loopback',
      headers: ['forwarded'],
    })
    expect(got).toMatchObject({ result: { ip: '2001:db8:cafe::17', source: 'forwarded' } })
  })

  it('an IPv6 loopback client is ::1', async () => {
    expect(await send('::1', [], { trustProxy: false })).toEqual({
      remoteAddress: '::1',
      result: { ip: '::1', source: 'socket', kind: 'loopback' },
    })
  })
})
