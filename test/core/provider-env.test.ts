// IPASIS_BASE_URL: ipasis() reads its base URL from the environment when the `baseUrl` option is not given, validated
// exactly like the option. Lookups go over real HTTP to two simulators (which one answered tells where the provider
// went); the default origin is checked through an undici MockAgent, so nothing ever leaves this machine.
import { MockAgent } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { IpRiskConfigError } from '../../src/core/errors.js'
import { createIpasis, ipasis, type IpasisOptions } from '../../src/core/provider.js'
import { readRuntime } from '../../src/core/provider-transport.js'
import type { Provider } from '../../src/core/types.js'
import { simulatorProfiles, startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'

const KEY = 'sk_test_env_7d1e'
const IP = '203.0.113.7'
const ENV = 'IPASIS_BASE_URL'

let fromEnv: IpasisSimulator
let fromOption: IpasisSimulator
const open: Provider[] = []

beforeAll(async () => {
  ;[fromEnv, fromOption] = await Promise.all([
    startIpasisSimulator({ apiKey: KEY, profiles: { [IP]: 'vpn' } }),
    startIpasisSimulator({ apiKey: KEY, profiles: { [IP]: 'tor' } }),
  ])
})
afterEach(async () => {
  vi.unstubAllEnvs()
  await Promise.all(open.splice(0).map((p) => p.close?.()))
  fromEnv.reset()
  fromOption.reset()
})
afterAll(async () => {
  await Promise.all([fromEnv.close(), fromOption.close()])
})

function provider(options: Partial<IpasisOptions> = {}): Provider {
  const p = ipasis({ apiKey: KEY, timeoutMs: 2_000, ...options })
  open.push(p)
  return p
}

const live = (): AbortSignal => new AbortController().signal

/**
 * Check that a provider built without `baseUrl` (by `build`, given a dispatcher) sends its requests to the default
 * origin, seen by a MockAgent (no network).
 */
async function originOf(build = (dispatcher: MockAgent) => ipasis({ apiKey: KEY, dispatcher })): Promise<string> {
  const agent = new MockAgent()
  agent.disableNetConnect()
  agent.get('https://api.ipasis.com').intercept({ path: `/v1/ip/${IP}`, method: 'GET' }).reply(200, { risk_score: 5 })
  try {
    const p = build(agent)
    await expect(p.lookup(IP, live())).resolves.toMatchObject({ score: 5 })
    agent.assertNoPendingInterceptors()
    return 'https://api.ipasis.com'
  } finally {
    await agent.close()
  }
}

describe('IPASIS_BASE_URL', () => {
  it('is used when the baseUrl option is not given', async () => {
    vi.stubEnv(ENV, fromEnv.url)
    await expect(provider().lookup(IP, live())).resolves.toEqual(simulatorProfiles.vpn)
    expect(fromEnv.callsFor(IP)).toBe(1)
  })

  it('loses to the baseUrl option, which is then the only URL read (a bad variable is ignored)', async () => {
    for (const value of [fromEnv.url, 'ftp://not-used.example']) {
      vi.stubEnv(ENV, value)
      await expect(provider({ baseUrl: fromOption.url }).lookup(IP, live())).resolves.toEqual(simulatorProfiles.tor)
    }
    expect(fromOption.callsFor(IP)).toBe(2)
    expect(fromEnv.calls).toBe(0)
  })

  it('keeps a path prefix and tolerates a trailing slash, like the option', async () => {
    const prefixed = await startIpasisSimulator({ apiKey: KEY, basePath: '/ipasis', profiles: { [IP]: 'proxy' } })
    try {
      for (const value of [prefixed.url, `${prefixed.url}/`]) {
        vi.stubEnv(ENV, value)
        await expect(provider().lookup(IP, live())).resolves.toEqual(simulatorProfiles.proxy)
      }
      expect(prefixed.requests.map((r) => r.url)).toEqual([`/ipasis/v1/ip/${IP}`, `/ipasis/v1/ip/${IP}`])
    } finally {
      await prefixed.close()
    }
  })

  it('is read once, when ipasis() is called', async () => {
    vi.stubEnv(ENV, fromEnv.url)
    const p = provider()
    vi.stubEnv(ENV, fromOption.url)
    await p.lookup(IP, live())
    expect([fromEnv.calls, fromOption.calls]).toEqual([1, 0])
  })

  it.each([
    { name: 'unset', value: undefined },
    { name: 'empty', value: '' },
  ])('$name: the default https://api.ipasis.com is used', async ({ value }) => {
    vi.stubEnv(ENV, value)
    await expect(originOf()).resolves.toBe('https://api.ipasis.com')
  })

  it('is ignored, not a crash, where process does not exist or reading the environment throws', async () => {
    const saved = globalThis.process
    const env = process.env
    const deniedEnv = new Proxy({} as NodeJS.ProcessEnv, {
      get() {
        throw new Error('PermissionDenied: requires env access')
      },
    })
    // The runtime is read before `process` goes: this test is about the environment, and without `process` ipasis()
    // would (rightly) refuse a dispatcher as not Node's (test/core/provider-transport.test.ts).
    const node = readRuntime()
    const builtWith = (replace: () => void) => (dispatcher: MockAgent) => {
      try {
        replace()
        return createIpasis({ apiKey: KEY, dispatcher }, node)
      } finally {
        globalThis.process = saved
        process.env = env
      }
    }
    await expect(
      originOf(builtWith(() => ((globalThis as { process?: unknown }).process = undefined))),
    ).resolves.toBe('https://api.ipasis.com')
    await expect(originOf(builtWith(() => (process.env = deniedEnv)))).resolves.toBe('https://api.ipasis.com')
  })

  // The same checks and messages as the `baseUrl` option (test/core/provider.test.ts), naming the variable instead.
  it.each([
    { name: 'a relative URL', value: 'api.ipasis.com', message: 'is not a valid absolute URL' },
    { name: 'a non-http scheme', value: 'ftp://api.ipasis.com', message: 'must use http: or https:' },
    {
      name: 'credentials',
      value: `https://u:${KEY}@x.test`,
      message: 'must not contain credentials; pass the key as `apiKey`',
    },
    { name: 'a query', value: 'https://x.test/?a=1', message: 'must not contain a query string or fragment' },
    { name: 'an empty query', value: 'https://x.test/?', message: 'must not contain a query string or fragment' },
    { name: 'a fragment', value: 'https://x.test/#f', message: 'must not contain a query string or fragment' },
    { name: 'whitespace only', value: ' ', message: 'is not a valid absolute URL' },
  ])('refuses $name with an IpRiskConfigError naming IPASIS_BASE_URL, without echoing the value', ({ value, message }) => {
    vi.stubEnv(ENV, value)
    let error: unknown
    try {
      provider()
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(IpRiskConfigError)
    expect((error as IpRiskConfigError).option).toBe('IPASIS_BASE_URL')
    expect((error as IpRiskConfigError).message).toBe(`iprisk: invalid option \`IPASIS_BASE_URL\`: ${message}`)
    expect((error as Error).message).not.toContain(KEY)
  })

  it('the same bad value as the option names the option instead', () => {
    vi.stubEnv(ENV, undefined)
    expect(() => provider({ baseUrl: 'ftp://api.ipasis.com' })).toThrow(
      new IpRiskConfigError('baseUrl', 'must use http: or https:'),
    )
  })
})
