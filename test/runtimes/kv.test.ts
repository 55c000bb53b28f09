/**
 * The shared cache where `redis://` cannot work. `workersKvStore` adapts a Workers KV binding to L2: here on a
 * stand-in namespace with KV's documented contract (text values, `expirationTtl` of at least 60 s, `null` for a missing
 * key), for what the adapter itself decides; the runtime matrix runs it on workerd's own local KV (the workerd row,
 * check "kv"). And `redis://` on Workers or the Edge runtime is refused at start-up, naming what works there.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { IpRiskConfigError, createRiskResolver, workersKvStore } from '../../src/core/index.js'
import { createMemoryProvider } from '../../src/testing/memory.js'

/** KV's contract as the adapter sees it: text in, text out, and the TTL it was asked to keep (refusing < 60 s, as KV does). */
function namespace() {
  const values = new Map<string, { text: string; ttl: number | undefined }>()
  return {
    values,
    async get(key: string, type: 'text') {
      expect(type).toBe('text')
      return values.get(key)?.text ?? null
    },
    async put(key: string, text: string, options?: { expirationTtl?: number }) {
      if (typeof text !== 'string') throw new TypeError('KV values here are text')
      if (options?.expirationTtl !== undefined && options.expirationTtl < 60) throw new Error('KV PUT failed: 400 Invalid expiration_ttl of ' + options.expirationTtl)
      values.set(key, { text, ttl: options?.expirationTtl })
    },
    async delete(key: string) {
      values.delete(key)
    },
  }
}

afterEach(() => vi.unstubAllGlobals())

describe('workersKvStore', () => {
  it.each([
    { ttlMs: 1_000, stored: 60 },
    { ttlMs: 60_000, stored: 60 },
    { ttlMs: 60_001, stored: 61 },
    { ttlMs: 86_400_000, stored: 86_400 },
  ])('stores a $ttlMs ms lifetime as expirationTtl $stored s (KV takes 60 s at least)', async ({ ttlMs, stored }) => {
    const kv = namespace()
    await workersKvStore(kv).set('k', { a: 1 }, ttlMs)
    expect(kv.values.get('k')).toEqual({ text: '{"a":1}', ttl: stored })
  })

  it('reads back what it wrote, a missing key as undefined, and forgets a deleted key', async () => {
    const store = workersKvStore(namespace())
    await store.set('k', [1, 'x', null], 120_000)
    await expect(store.get('k')).resolves.toEqual([1, 'x', null])
    await expect(store.get('absent')).resolves.toBeUndefined()
    await store.delete('k')
    await expect(store.get('k')).resolves.toBeUndefined()
  })

  it.each([
    { name: 'not JSON', text: '{oops' },
    { name: 'too long to be a record', text: JSON.stringify('x'.repeat(9_000)) },
  ])('a stored value that is $name reads as a SyntaxError (L2: an invalid record, a miss), not a store failure', async ({ text }) => {
    const kv = namespace()
    kv.values.set('k', { text, ttl: undefined })
    await expect(workersKvStore(kv).get('k')).rejects.toBeInstanceOf(SyntaxError)
  })

  it('is a shared cache: a second resolver (another isolate) reads the first one’s answer instead of asking the provider', async () => {
    const kv = namespace()
    const provider = createMemoryProvider({ '203.0.113.7': 'clean' })
    const options = { provider, cache: workersKvStore(kv), scoreDocumentationRanges: true, logger: { info() {}, warn() {} } }
    const first = createRiskResolver(options)
    const second = createRiskResolver(options)
    try {
      expect((await first.lookup('203.0.113.7')).status).toBe('scored')
      await vi.waitFor(() => expect(kv.values.size).toBeGreaterThan(0)) // L2 writes are fire-and-forget
      const answer = await second.lookup('203.0.113.7')
      expect({ status: answer.status, source: answer.source, calls: provider.calls }).toEqual({ status: 'scored', source: 'l2', calls: 1 })
    } finally {
      await Promise.all([first.close(), second.close()])
    }
  })
})

describe('workersKvStore on Workers: waitUntil', () => {
  it('hands every write and delete to waitUntil, so Workers keeps it alive after the response', async () => {
    const kept: Promise<unknown>[] = []
    const store = workersKvStore(namespace(), { waitUntil: (p) => kept.push(p) })
    await store.set('k', 1, 60_000)
    await store.delete('k')
    expect(kept).toHaveLength(2)
  })

  it.each([
    { name: 'missing on Workers', ua: 'Cloudflare-Workers', waitUntil: undefined, message: "is required on Workers: pass `{ waitUntil }` from 'cloudflare:workers'" },
    { name: 'not a function', ua: 'Node.js/22', waitUntil: 'yes', message: 'must be a function' },
  ])('waitUntil $name → IpRiskConfigError naming workersKvStore.waitUntil', ({ ua, waitUntil, message }) => {
    vi.stubGlobal('navigator', { userAgent: ua })
    let error: unknown
    try {
      workersKvStore(namespace(), { waitUntil } as never)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(IpRiskConfigError)
    expect((error as IpRiskConfigError).option).toBe('workersKvStore.waitUntil')
    expect((error as Error).message).toContain(message)
  })
})

describe('redis:// where it cannot work', () => {
  it.each([
    { name: 'Cloudflare Workers', stub: () => vi.stubGlobal('navigator', { userAgent: 'Cloudflare-Workers' }) },
    { name: 'the Vercel Edge runtime', stub: () => vi.stubGlobal('EdgeRuntime', 'edge-runtime') },
  ])('on $name, createRiskResolver throws IpRiskConfigError naming `cache` and workersKvStore', ({ name, stub }) => {
    stub()
    let error: unknown
    try {
      createRiskResolver({ provider: createMemoryProvider({}), cache: 'redis://127.0.0.1:6379' })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(IpRiskConfigError)
    expect((error as IpRiskConfigError).option).toBe('cache')
    expect((error as Error).message).toContain(`cannot work on ${name}`)
    expect((error as Error).message).toContain('workersKvStore(env.IPRISK_KV)')
  })
})
