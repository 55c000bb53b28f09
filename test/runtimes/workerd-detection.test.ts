/**
 * workerd (Cloudflare Workers, wrangler dev, miniflare) with `nodejs_compat` defines `process.versions.node` and
 * `setImmediate`, yet it is not Node: its undici `Pool` cannot connect (every IPASIS lookup ended `network`), and a
 * `setImmediate` / `setTimeout` callback a request schedules is dropped once its response is sent (no `onDegraded`,
 * `onDecision`, ... ever ran). It says what it is in `navigator.userAgent` ('Cloudflare-Workers'). These tests stand
 * that global up on Node; the runtime matrix (scripts/runtime-matrix, workerd row) runs the real thing.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'

afterEach(() => {
  vi.unstubAllGlobals()
  vi.resetModules()
})

describe('on Cloudflare Workers (navigator.userAgent Cloudflare-Workers)', () => {
  it.each([
    { ua: 'Cloudflare-Workers', name: 'Cloudflare Workers', nodeUndici: false },
    { ua: 'Node.js/22', name: `Node ${process.versions.node}`, nodeUndici: true },
  ])('readRuntime() with userAgent $ua → $name, undici Pool: $nodeUndici', async ({ ua, name, nodeUndici }) => {
    vi.stubGlobal('navigator', { userAgent: ua })
    const { readRuntime, createTransport } = await import('../../src/core/provider-transport.js')
    const facts = readRuntime()
    expect({ name: facts.name, nodeUndici: facts.nodeUndici }).toEqual({ name, nodeUndici })
    const transport = createTransport(facts, 'http://127.0.0.1:9', 1, undefined)
    expect(transport.kind).toBe(nodeUndici ? 'undici' : 'fetch')
    await transport.close()
  })

  it.each([
    { ua: 'Cloudflare-Workers', first: 'microtask', scheduler: 'queueMicrotask' },
    { ua: 'Node.js/22', first: 'promise job', scheduler: 'setImmediate' },
  ])('hooks are scheduled with $scheduler (userAgent $ua)', async ({ ua, first }) => {
    vi.stubGlobal('navigator', { userAgent: ua })
    const { later } = await import('../../src/core/events/turn-batch.js')
    const order: string[] = []
    // A queueMicrotask callback runs before a promise job queued after it; setImmediate runs after both.
    later(() => order.push('microtask'))
    await Promise.resolve().then(() => order.push('promise job'))
    await new Promise((resolve) => setImmediate(resolve))
    expect(order[0]).toBe(first)
    expect(order).toHaveLength(2)
  })
})
