/**
 * A context whose request object throws while it is read (a `headers` getter, a Headers-like `get` that throws, a
 * revoked Proxy) never fails a tRPC call with an internal error (issue #15, item 11): the call has no client IP, and
 * the policy applies its fail mode (fail-open serves it, fail-closed refuses it with FORBIDDEN).
 */
import { initTRPC, TRPCError } from '@trpc/server'
import { afterEach, describe, expect, it } from 'vitest'
import { createRiskResolver, type RiskResolver, type SecurityEvent } from '../../src/core/index.js'
import { type FailMode } from '../../src/core/types.js'
import { createMemoryProvider } from '../../src/testing/index.js'
import { createTrpcRisk } from '../../src/trpc/index.js'

const boom = (): never => {
  throw new Error('hostile request')
}
function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

const open: RiskResolver[] = []
afterEach(async () => {
  for (const r of open.splice(0)) await r.close()
})

function setup(failMode: FailMode) {
  const events: SecurityEvent[] = []
  const resolver = createRiskResolver({
    provider: createMemoryProvider({}),
    trustProxy: 'loopback',
    failMode,
    onDecision: (event) => void events.push(event),
  })
  open.push(resolver)
  const t = initTRPC.context<Record<string, unknown>>().create()
  const { withIpRisk, requireHuman } = createTrpcRisk(resolver)
  const router = t.router({
    whoami: t.procedure.use(withIpRisk()).query(({ ctx }) => (ctx as { ipRisk: { ip: string | null } }).ipRisk.ip),
    human: t.procedure.use(requireHuman()).query(() => 'served'),
  })
  return { router, events }
}

const CONTEXTS: [string, Record<string, unknown>][] = [
  ['a `headers` getter that throws', { req: { get headers() { return boom() }, socket: { remoteAddress: '127.0.0.1' } } }],
  ['a Headers-like `get` that throws', { req: { headers: { get: boom, has: boom }, socket: { remoteAddress: '127.0.0.1' } } }],
  ['headers that are a revoked Proxy', { req: { headers: revoked(), socket: { remoteAddress: '127.0.0.1' } } }],
  ['a `socket` getter that throws', { req: { headers: { 'x-forwarded-for': '203.0.113.7' }, get socket() { return boom() } } }],
]

describe('a hostile request object on the tRPC context', () => {
  it.each(CONTEXTS)('%s: withIpRisk() reports no IP instead of failing the call', async (_name, ctx) => {
    const { router } = setup('open')
    await expect(router.createCaller(ctx).whoami()).resolves.toBeNull()
  })

  it.each(CONTEXTS)('%s: fail-open serves a protected call (no IP, failOpen)', async (_name, ctx) => {
    const { router, events } = setup('open')
    await expect(router.createCaller(ctx).human()).resolves.toBe('served')
    await new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
    expect(events.map((e) => [e.ip, e.action, e.fail_open, e.error])).toEqual([[null, 'allow', true, 'no_ip']])
  })

  it.each(CONTEXTS)('%s: fail-closed refuses a protected call with FORBIDDEN, not an internal error', async (_name, ctx) => {
    const { router } = setup('closed')
    const error = await router
      .createCaller(ctx)
      .human()
      .then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(TRPCError)
    expect((error as TRPCError).code).toBe('FORBIDDEN')
  })
})
