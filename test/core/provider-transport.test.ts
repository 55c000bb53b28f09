import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import { Agent } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { IpRiskConfigError, ProviderError } from '../../src/core/errors.js'
import { MAX_RETRY_AFTER_MS } from '../../src/core/provider-schema.js'
import { createIpasis, ipasis, type IpasisOptions } from '../../src/core/provider.js'
import { readRuntime, type RuntimeFacts } from '../../src/core/provider-transport.js'
import type { Provider, ProviderErrorKind } from '../../src/core/types.js'
import { createTestClock } from '../../src/testing/clock.js'
import {
  simulatorProfiles,
  startIpasisSimulator,
  type IpasisSimulator,
  type SimulatorFault,
} from '../../src/testing/index.js'

// The same specification, run once through each transport: undici (what Node uses) and the web-standard fetch (what
// Bun, Deno and other runtimes use), forced here on Node by handing createIpasis() the facts of a non-Node runtime.

const KEY = 'sk_test_7c1e0b94aa'
const IP = '203.0.113.7'
const TOR_IP = '203.0.113.66'

let fetchCalls = 0
const countingFetch: typeof fetch = (input, init) => {
  fetchCalls++
  return fetch(input, init)
}

const transports: Array<{ name: string; facts: () => RuntimeFacts; usesFetch: boolean }> = [
  { name: 'undici (Node)', facts: () => readRuntime(), usesFetch: false },
  { name: 'fetch (Bun, Deno, …)', facts: () => ({ name: 'a test runtime', nodeUndici: false, fetch: countingFetch }), usesFetch: true },
]

let sim: IpasisSimulator
const open: Provider[] = []

beforeAll(async () => {
  sim = await startIpasisSimulator({ apiKey: KEY, profiles: { [TOR_IP]: 'tor' } })
})
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close?.()))
  sim.reset()
  sim.setProfile(TOR_IP, 'tor')
})
afterAll(async () => {
  await sim.close()
})

const live = (): AbortSignal => new AbortController().signal

async function providerError(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError)
    return error as ProviderError
  }
  throw new Error('expected the lookup to reject')
}

describe.each(transports)('ipasis() through $name', ({ facts, usesFetch }) => {
  function provider(options: Partial<IpasisOptions> = {}): Provider {
    const p = createIpasis({ apiKey: KEY, baseUrl: sim.url, ...options }, facts())
    open.push(p)
    return p
  }

  it.each([
    { style: 'path', auth: 'bearer' },
    { style: 'path', auth: 'x-api-key' },
    { style: 'query', auth: 'bearer' },
    { style: 'query', auth: 'x-api-key' },
  ] as const)('answers clean and Tor profiles with style $style and auth $auth', async ({ style, auth }) => {
    const before = fetchCalls
    const p = provider({ style, auth })
    await expect(p.lookup(IP, live())).resolves.toEqual(simulatorProfiles.clean)
    await expect(p.lookup(TOR_IP, live())).resolves.toMatchObject({ isTor: true })
    expect(fetchCalls - before, 'the transport under test sent the requests').toBe(usesFetch ? 2 : 0)
  })

  it('keeps a path prefix of baseUrl', async () => {
    const prefixed = await startIpasisSimulator({ apiKey: KEY, basePath: '/ipasis' })
    try {
      const p = provider({ baseUrl: `${prefixed.url}/` })
      await expect(p.lookup(IP, live())).resolves.toEqual(simulatorProfiles.clean)
    } finally {
      await prefixed.close()
    }
  })

  const faults: Array<{ fault: SimulatorFault; kind: ProviderErrorKind; status?: number }> = [
    { fault: 500, kind: 'http_error', status: 500 },
    { fault: 502, kind: 'http_error', status: 502 },
    { fault: 503, kind: 'http_error', status: 503 },
    { fault: 401, kind: 'auth', status: 401 },
    { fault: 403, kind: 'auth', status: 403 },
    { fault: 429, kind: 'rate_limited', status: 429 },
    { fault: 'malformed-json', kind: 'bad_response', status: 200 },
    { fault: 'wrong-schema', kind: 'bad_response', status: 200 },
    { fault: 'oversized', kind: 'bad_response', status: 200 },
    { fault: 'reset', kind: 'network' },
    { fault: 'timeout', kind: 'timeout' },
    { fault: 'slow-body', kind: 'timeout' },
  ]

  it.each(faults)('fault $fault → $kind, and the next lookup answers', async ({ fault, kind, status }) => {
    sim.setFault(fault, { times: 1 })
    const p = provider({ timeoutMs: 150 })
    const error = await providerError(p.lookup(IP, live()))
    expect(error.kind).toBe(kind)
    expect(error.status).toBe(status)
    await expect(p.lookup(IP, live())).resolves.toEqual(simulatorProfiles.clean)
  })

  it('a wrong API key → auth, and the message says to check the apiKey option', async () => {
    const error = await providerError(provider({ apiKey: 'sk_test_WRONG' }).lookup(IP, live()))
    expect(error.kind).toBe('auth')
    expect(error.message).toMatch(/check the `apiKey` option/)
  })

  it('an unknown route (404) → http_error with status', async () => {
    const error = await providerError(provider({ baseUrl: `${sim.url}/nope` }).lookup(IP, live()))
    expect(error).toMatchObject({ kind: 'http_error', status: 404 })
  })

  it('a redirect is not followed (the key would travel with it) → http_error 302', async () => {
    let followed = 0
    const elsewhere = await listen((_req, res) => void (followed++, res.end('{"risk_score":0}')))
    const redirecting = await listen((_req, res) => {
      res.writeHead(302, { location: `${elsewhere.url}/steal` }).end()
    })
    try {
      const error = await providerError(provider({ baseUrl: redirecting.url }).lookup(IP, live()))
      expect(error).toMatchObject({ kind: 'http_error', status: 302 })
      expect(followed).toBe(0)
    } finally {
      await Promise.all([redirecting.close(), elsewhere.close()])
    }
  })

  it('a refused connection → network, with the socket error (ECONNREFUSED) as cause and in the message', async () => {
    const gone = await startIpasisSimulator({ apiKey: KEY })
    await gone.close()
    const error = await providerError(provider({ baseUrl: gone.url }).lookup(IP, live()))
    expect(error.kind).toBe('network')
    expect(error.message).toContain('ECONNREFUSED')
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED')
  })

  it.each([
    { header: '120', expected: 120_000 },
    { header: '0', expected: 0 },
    { header: '99999999', expected: MAX_RETRY_AFTER_MS },
  ])('Retry-After "$header" → rate_limited with retryAfterMs $expected', async ({ header, expected }) => {
    sim.setFault(429, { times: 1, retryAfter: header })
    const error = await providerError(provider().lookup(IP, live()))
    expect(error).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: expected })
  })

  it('Retry-After as an HTTP date 30 s ahead of the provider clock → retryAfterMs 30 000', async () => {
    const clock = createTestClock(Date.UTC(2030, 0, 1, 12, 0, 0))
    sim.setFault(429, { times: 1, retryAfter: new Date(clock.now() + 30_000).toUTCString() })
    const error = await providerError(provider({ clock }).lookup(IP, live()))
    expect(error).toMatchObject({ kind: 'rate_limited', retryAfterMs: 30_000 })
  })

  it('timeoutMs runs on the provider clock, and the message names it', async () => {
    const clock = createTestClock()
    sim.setFault('timeout')
    let settled = false
    const pending = provider({ clock, timeoutMs: 500 }).lookup(IP, live())
    void pending.catch(() => undefined).finally(() => void (settled = true))
    await clock.advanceAsync(499)
    expect(settled, 'not before its time').toBe(false)
    await clock.advanceAsync(1)
    const error = await providerError(pending)
    expect(error.kind).toBe('timeout')
    expect(error.message).toContain('500 ms')
    expect(clock.pendingTimers, 'the timer is cleared').toBe(0)
    expect(clock.pendingTimers, 'the timer is cleared').toBe(0)
  })

  it.each([
    { when: 'waiting for headers', fault: 'timeout' as const, abortAfterMs: 30 },
    { when: 'while the body trickles', fault: 'slow-body' as const, abortAfterMs: 120 },
  ])('the caller aborting $when → aborted (not timeout)', async ({ fault, abortAfterMs }) => {
    sim.setFault(fault, { intervalMs: 50 })
    const controller = new AbortController()
    const pending = provider({ timeoutMs: 10_000 }).lookup(IP, controller.signal)
    setTimeout(() => controller.abort(), abortAfterMs)
    expect((await providerError(pending)).kind).toBe('aborted')
  })

  it('sequential error and success answers reuse keep-alive connections', async () => {
    const p = provider({ connections: 1 })
    for (let i = 0; i < 10; i++) {
      sim.setFault(i % 2 === 0 ? 503 : 429, { times: 1 })
      await providerError(p.lookup(IP, live()))
      await expect(p.lookup(IP, live())).resolves.toEqual(simulatorProfiles.clean)
    }
    expect(sim.calls).toBe(20)
    // undici honours `connections: 1`; the runtime's fetch has its own pool, which may open a second socket while the
    // first is being released (and buffers small bodies itself, so this does not prove error bodies are read).
    if (usesFetch) expect(sim.connections).toBeLessThanOrEqual(3)
    else expect(sim.connections).toBe(1)
  })

  it('close(): later lookups fail with network, and close() is idempotent', async () => {
    const p = provider()
    await p.lookup(IP, live())
    await Promise.all([p.close?.(), p.close?.()])
    expect((await providerError(p.lookup(IP, live()))).kind).toBe('network')
  })

  it('never shows the API key in any error (message, stack, cause, JSON, inspect) nor in the provider', async () => {
    const SECRET = 'sk_live_Q8wErTy5s3cr3t'
    const keyed = await startIpasisSimulator({ apiKey: SECRET })
    const closed = await startIpasisSimulator({ apiKey: SECRET })
    await closed.close()
    const p = provider({ apiKey: SECRET, baseUrl: keyed.url, timeoutMs: 150 })
    const errors: ProviderError[] = []
    try {
      for (const fault of [500, 401, 429, 'malformed-json', 'wrong-schema', 'oversized', 'reset', 'timeout', 'slow-body'] as const) {
        keyed.setFault(fault, { times: 1 })
        errors.push(await providerError(p.lookup(IP, live())))
      }
      errors.push(await providerError(provider({ apiKey: SECRET, baseUrl: closed.url, style: 'query' }).lookup(IP, live())))
      errors.push(await providerError(provider({ apiKey: `${SECRET}x`, baseUrl: keyed.url }).lookup(IP, live())))
    } finally {
      await keyed.close()
    }
    expect(new Set(errors.map((e) => e.kind))).toEqual(
      new Set(['http_error', 'auth', 'rate_limited', 'bad_response', 'network', 'timeout']),
    )
    for (const e of errors) {
      const views = [e.message, String(e.stack), JSON.stringify(e), inspect(e, { showHidden: true, depth: 8 })]
      for (const view of views) expect(view).not.toContain(SECRET)
    }
    expect(inspect(p, { showHidden: true, depth: 8 })).not.toContain(SECRET)
    expect(JSON.stringify(p)).not.toContain(SECRET)
  })
})

describe('choosing the transport, once, when ipasis() is called', () => {
  it('reads this Node as real Node with undici and a fetch', () => {
    const facts = readRuntime()
    expect(facts.name).toBe(`Node ${process.versions.node}`)
    expect(facts.nodeUndici).toBe(true)
    expect(facts.fetch).toBe(globalThis.fetch)
  })

  it('a runtime without `process` (a worker) is not Node: fetch, never undici', () => {
    const saved = globalThis.process
    let facts: RuntimeFacts
    try {
      ;(globalThis as { process?: unknown }).process = undefined
      facts = readRuntime()
    } finally {
      globalThis.process = saved
    }
    expect(facts).toEqual({ name: 'an unknown runtime', nodeUndici: false, fetch: globalThis.fetch })
  })

  it('a runtime with neither Node undici nor fetch → IpRiskConfigError at creation, naming the runtime', () => {
    const broken: RuntimeFacts = { name: 'Bun 0.9.0', nodeUndici: false, fetch: undefined }
    let thrown: unknown
    try {
      createIpasis({ apiKey: KEY, baseUrl: sim.url }, broken)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(IpRiskConfigError)
    expect(thrown).toMatchObject({ option: 'provider' })
    expect((thrown as Error).message).toMatch(/ipasis\(\) cannot send requests on Bun 0\.9\.0: it needs Node's undici or a global fetch/)
    expect((thrown as Error).message).not.toContain(KEY)
  })

  it('a dispatcher outside Node → IpRiskConfigError naming `dispatcher` (it would be the broken undici)', async () => {
    const agent = new Agent()
    try {
      const facts: RuntimeFacts = { name: 'Bun 1.1.30', nodeUndici: false, fetch: countingFetch }
      expect(() => createIpasis({ apiKey: KEY, dispatcher: agent }, facts)).toThrow(
        expect.objectContaining({ option: 'dispatcher', message: expect.stringContaining('Bun 1.1.30') }),
      )
    } finally {
      await agent.close()
    }
  })

  it('a dispatcher on Node keeps working and stays open after close()', async () => {
    const agent = new Agent()
    const before = fetchCalls
    try {
      const p = ipasis({ apiKey: KEY, baseUrl: sim.url, dispatcher: agent })
      await expect(p.lookup(IP, live())).resolves.toEqual(simulatorProfiles.clean)
      await p.close?.()
      expect(agent.closed).toBe(false)
      expect(fetchCalls).toBe(before)
    } finally {
      await agent.close()
    }
  })
})

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
