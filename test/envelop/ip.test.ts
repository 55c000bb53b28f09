/**
 * Where a GraphQL request comes from: the per-request key (shared by a batch), the client IP under the resolver's
 * trust model, and the user agent, for the server contexts the plugin understands.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RequestKernel, userAgentOf } from '../../src/core/kernel.js'
import type { RiskResolver } from '../../src/core/types.js'
import { peerFor, requestKey, requestOf, type GetClientIp } from '../../src/envelop/ip.js'
import { createFixture, type Fixture } from './helpers.js'

/** What the plugin reads of a context: its request key, its client IP (through the kernel) and its user agent. */
function readRequest<T extends object>(context: T, resolver: RiskResolver, getClientIp: GetClientIp<T> | undefined) {
  const kernel = new RequestKernel(resolver, { getClientIp })
  const req = requestOf(context)
  return { key: requestKey(context), client: kernel.clientIp(context, req, peerFor), userAgent: userAgentOf(req) }
}

let fx: Fixture
beforeAll(async () => {
  fx = await createFixture()
})
afterAll(async () => {
  await fx.close()
})

describe('what the plugin reads of a GraphQL context', () => {
  it('Yoga on Node: headers from the fetch Request, the peer from req.socket; keyed by the Request', () => {
    const request = new Request('http://localhost/graphql', {
      headers: { 'x-forwarded-for': '203.0.113.7', 'user-agent': 'ua/1' },
    })
    const context = { request, req: { socket: { remoteAddress: '127.0.0.1' } } }
    const source = readRequest(context, fx.resolver, undefined)
    expect(source).toEqual({
      key: request,
      client: { ip: '203.0.113.7', source: 'x-forwarded-for', kind: 'documentation' },
      userAgent: 'ua/1',
    })
    // Batched operations get their own context objects around the same Request: same key.
    expect(readRequest(Object.create(context) as typeof context, fx.resolver, undefined).key).toBe(request)
  })

  it('a spoofed X-Forwarded-For from an untrusted peer is ignored', () => {
    const request = new Request('http://localhost/', { headers: { 'x-forwarded-for': '203.0.113.7' } })
    const source = readRequest({ request, req: { socket: { remoteAddress: '198.51.100.9' } } }, fx.resolver, undefined)
    expect(source.client).toEqual({ ip: '198.51.100.9', source: 'socket', kind: 'documentation' })
  })

  it('Yoga without a Node server context (no peer): no client IP', () => {
    const request = new Request('http://localhost/', { headers: { 'x-forwarded-for': '203.0.113.7' } })
    expect(readRequest({ request }, fx.resolver, undefined).client).toEqual({ ip: null, source: null, kind: null })
  })

  it('Envelop on a Node server: the IncomingMessage in context.req', () => {
    const req = { headers: { 'user-agent': ['ua/2', 'ua/3'] }, socket: { remoteAddress: '::ffff:198.51.100.4' } }
    expect(readRequest({ req }, fx.resolver, undefined)).toEqual({
      key: req,
      client: { ip: '198.51.100.4', source: 'socket', kind: 'documentation' },
      userAgent: 'ua/2',
    })
  })

  it('a Node-style request in context.request', () => {
    const request = { headers: {}, socket: { remoteAddress: '10.1.2.3' } }
    expect(readRequest({ request }, fx.resolver, undefined)).toMatchObject({
      key: request,
      client: { ip: '10.1.2.3', source: 'socket', kind: 'private' },
      userAgent: null,
    })
  })

  it('an unknown context: keyed by the context itself, no IP', () => {
    const context = { user: 'x' }
    expect(readRequest(context, fx.resolver, undefined)).toEqual({
      key: context,
      client: { ip: null, source: null, kind: null },
      userAgent: null,
    })
  })

  it.each([
    [' 2001:DB8::1 ', { ip: '2001:db8::1', source: 'custom', kind: 'documentation' }],
    ['8.8.8.8', { ip: '8.8.8.8', source: 'custom', kind: 'global' }],
    ['127.1', { ip: null, source: null, kind: null }],
    ['', { ip: null, source: null, kind: null }],
    [null, { ip: null, source: null, kind: null }],
    [undefined, { ip: null, source: null, kind: null }],
  ])('getClientIp returning %j', (value, expected) => {
    const request = new Request('http://localhost/', { headers: { 'x-forwarded-for': '203.0.113.7' } })
    const context = { request, req: { socket: { remoteAddress: '127.0.0.1' } } }
    expect(readRequest(context, fx.resolver, () => value).client).toEqual(expected)
  })

  it('a throwing getClientIp gives no IP instead of failing the request', () => {
    const source = readRequest({}, fx.resolver, () => {
      throw new Error('boom')
    })
    expect(source.client).toEqual({ ip: null, source: null, kind: null })
  })
})
