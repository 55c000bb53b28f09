// How ipasis() picks its transport now that undici is never imported statically (issue #18): undici's Pool on Node,
// loaded synchronously when ipasis() is called; the runtime's fetch where undici cannot be loaded (a bundle shipped
// without node_modules) or is not a working undici; and never undici on Workers or the Vercel Edge runtime, which
// also define `process.versions.node` with their Node compatibility.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { IpRiskConfigError } from '../../src/core/errors.js'
import { createIpasis } from '../../src/core/provider.js'
import { createTransport, readRuntime, type RuntimeFacts } from '../../src/core/provider-transport.js'
import { simulatorProfiles, startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'

const KEY = 'sk_test_transport_41c7'
const IP = '203.0.113.7'
let sim: IpasisSimulator

beforeAll(async () => {
  sim = await startIpasisSimulator({ apiKey: KEY })
})
afterAll(async () => {
  await sim.close()
})
afterEach(() => {
  vi.unstubAllGlobals()
})

const headers = { authorization: `Bearer ${KEY}` }
const path = `/v1/ip/${IP}`

describe('on Node', () => {
  it('undici is loaded when the transport is created (no wait at the first lookup) and answers', async () => {
    const transport = createTransport(readRuntime(), sim.url, 2, undefined)
    try {
      expect(transport.kind).toBe('undici')
      const response = await transport.request(path, headers, new AbortController().signal)
      expect(response.status).toBe(200)
      expect(JSON.parse(await response.text())).toMatchObject({ risk_score: simulatorProfiles.clean.score })
    } finally {
      await transport.close()
    }
  })

  it.each([
    { name: 'undici cannot be loaded', load: () => undefined },
    // Bun's own undici: a Pool whose request() is missing or resolves to undefined
    { name: 'undici is not a working one', load: () => ({ Pool: class {} as never }) },
  ])('$name → fetch, and lookups still score', async ({ load }) => {
    const transport = createTransport(readRuntime(), sim.url, 2, undefined, load)
    expect(transport.kind).toBe('fetch')
    const response = await transport.request(path, headers, new AbortController().signal)
    expect(response.status).toBe(200)
    await transport.close()
  })

  it('without undici and without fetch → IpRiskConfigError at creation, never a silent allow', () => {
    const facts: RuntimeFacts = { ...readRuntime(), fetch: undefined }
    expect(() => createTransport(facts, sim.url, 2, undefined, () => undefined)).toThrow(IpRiskConfigError)
    expect(() => createTransport(facts, sim.url, 2, undefined, () => undefined)).toThrow(/cannot send requests on Node/)
  })

  it('ipasis() through fetch (undici not loadable) scores like through undici', async () => {
    const facts = readRuntime()
    const provider = createIpasis({ apiKey: KEY, baseUrl: sim.url }, { ...facts, fetch: globalThis.fetch })
    try {
      await expect(provider.lookup(IP, new AbortController().signal)).resolves.toEqual(simulatorProfiles.clean)
    } finally {
      await provider.close?.()
    }
  })
})

describe('runtimes that define process.versions.node but are not Node', () => {
  it('Cloudflare Workers (nodejs_compat) is recognised by navigator.userAgent: fetch, not undici', () => {
    vi.stubGlobal('navigator', { userAgent: 'Cloudflare-Workers' })
    const facts = readRuntime()
    expect(facts).toMatchObject({ name: 'Cloudflare Workers', nodeUndici: false })
    expect(createTransport(facts, sim.url, 2, undefined).kind).toBe('fetch')
  })

  it('the Vercel Edge runtime is recognised by EdgeRuntime: fetch, not undici', () => {
    vi.stubGlobal('EdgeRuntime', 'edge-runtime')
    const facts = readRuntime()
    expect(facts).toMatchObject({ name: 'the edge-runtime runtime', nodeUndici: false })
    expect(createTransport(facts, sim.url, 2, undefined).kind).toBe('fetch')
  })
})
