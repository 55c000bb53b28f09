/**
 * The self-check's window warnings over real HTTP (issue #17, "every self-check warning has a test over real HTTP with
 * the platform's header shape and a forged variant"):
 *
 * - `no_verdict`: a node:http app behind nginx on the same host (`trustProxy: 'loopback'`, nginx appending to
 *   `X-Forwarded-For`), each request from its own loopback address (127.0.0.x). When nginx itself sits behind a cloud
 *   load balancer it does not trust, the header's last hop is the load balancer's private address and no client is ever
 *   scored; clients that forge global addresses into the header cannot make that look healthy, and a global peer that
 *   forges private addresses cannot raise a false alarm;
 * - `provider_failing`: the IPASIS simulator failing every call (401, a reset connection, 503, a wrong schema) for
 *   distinct clients, and one success in between that prevents the warning.
 *
 * The self-check's window runs on an injected clock (`createRiskResolver({ clock: createTestClock() })`): the requests are real,
 * the minute is moved by the test, never slept. The helpers are small copies of those of self-check.test.ts.
 */
import { once } from 'node:events'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createRiskResolver,
  ipasis,
  policies,
  type DegradedEvent,
  type Logger,
  type RiskResolverOptions,
  type RiskResolver,
} from '../../src/core/index.js'
import { createTestClock } from '../../src/testing/clock.js'
import { startIpasisSimulator, type IpasisSimulator, type SimulatorFault } from '../../src/testing/index.js'
import { afterHooks } from './helpers.js'

const KEY = 'sim-key-0123456789'
const START = Date.UTC(2026, 11, 7, 12, 0, 0)
const START_ISO = '2026-12-07T12:00:00.000Z'

let sim: IpasisSimulator
beforeAll(async () => {
  sim = await startIpasisSimulator({ apiKey: KEY, defaultProfile: 'clean' })
})
afterAll(async () => {
  await sim.close()
})

// ---------------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------------

/** A resolver on the simulator with a recording logger and `onDegraded`, and a self-check clock the test moves. */
function watched(options: Partial<RiskResolverOptions> = {}) {
  const lines: Array<{ obj: object; msg: string | undefined }> = []
  const logger: Logger = { info: () => undefined, warn: (obj, msg) => void lines.push({ obj, msg }) }
  const hooked: DegradedEvent[] = []
  const clock = createTestClock(START)
  const risk = createRiskResolver({
    provider: ipasis({ apiKey: KEY, baseUrl: sim.url }),
    trustProxy: 'loopback',
    logger,
    onDegraded: (event) => void hooked.push(event),
    breaker: false,
    blocklist: false,
    clock,
    ...options,
  })
  return {
    risk,
    hooked,
    degradedLines: () => lines.filter((l) => (l.obj as { event?: string }).event === 'degraded'),
    advance(ms: number) {
      clock.advance(ms)
    },
  }
}

interface App {
  url: string
  close(): Promise<void>
}

/** A node:http app gated by `policies.human`; `peerAddress` stands for a platform that hands the peer over. */
async function serveApp(risk: RiskResolver, peerAddress?: string): Promise<App> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const answer = await risk.fromRequest(req, peerAddress === undefined ? undefined : { peerAddress })
      const decision = risk.check(answer, policies.human)
      risk.report(decision, { adapter: 'http', path: req.url ?? '/', request: req })
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ ip: answer.ip, status: answer.status, action: decision.action, reason: decision.reason }))
    })()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

interface Seen {
  ip: string | null
  status: string
  action: 'allow' | 'block'
  reason: string
}

/** One GET from the loopback address `from` (127.0.0.x: a distinct peer per client, as each nginx worker would be). */
function get(url: string, from: string, headers: Record<string, string>): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false, localAddress: from }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve(JSON.parse(body) as Seen))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Client `i` (0-based) of a run: its loopback peer address. */
const peer = (i: number) => `127.0.0.${String(2 + (i % 250))}`

/** Send `n` requests, client `i` with `headersOf(i)`, one at a time; returns what the app saw. */
async function traffic(app: App, n: number, headersOf: (i: number) => Record<string, string>, first = 0): Promise<Seen[]> {
  const seen: Seen[] = []
  for (let i = first; i < first + n; i++) seen.push(await get(app.url, peer(i), headersOf(i)))
  return seen
}

// ---------------------------------------------------------------------------------------------------------------------
// (c) no_verdict
// ---------------------------------------------------------------------------------------------------------------------

/** What nginx on this host sends: the client's own header (if any) with the address nginx saw appended. */
const viaNginx = (hop: string, forged?: string) => ({ 'x-forwarded-for': forged === undefined ? hop : `${forged}, ${hop}` })
/** A client's global address (the simulator's default profile: clean). */
const globalClient = (i: number) => `8.8.${String(10 + Math.floor(i / 200))}.${String(1 + (i % 200))}`
/** The private address of the cloud load balancer's node that forwarded client `i` to nginx. */
const lbNode = (i: number) => `10.0.3.${String(1 + (i % 200))}`

const trustProxyMessage = (without: number, total: number, nonGlobal: number) =>
  `iprisk: protection degraded (no_verdict): over the last minute ${String(without)} of ${String(total)} gated decisions (${String(Math.round((without / total) * 100))}%) were made without a verdict (no client IP: 0, non-global IP: ${String(nonGlobal)}, unavailable or pending: 0); they were decided by the fail mode. Fix: most clients have a non-global address: behind a load balancer or proxy set \`trustProxy\` to its platform preset or its addresses (\`'private'\`, \`'loopback'\`); see docs/client-ip.md`

const noVerdictEvent = (message: string, share: number, sample: number, option = 'trustProxy', docs = 'docs/client-ip.md') => ({
  timestamp: START_ISO,
  event: 'degraded',
  kind: 'no_verdict',
  option,
  docs,
  message,
  peer_kind: null,
  header: null,
  adapter: null,
  share,
  sample,
  error: null,
})

interface NoVerdictCase {
  name: string
  /** Client `i`'s header as it reaches the app (from nginx on 127.0.0.x). */
  headers: (i: number) => Record<string, string>
  requests: number
  /** What client `i` is seen as. */
  seenAs: (i: number) => { ip: string; status: 'scored' | 'skipped' }
  /** The one warning's (withoutVerdict, total at the warning, share), or null for none. */
  warning: { without: number; total: number; share: number } | null
}

const noVerdictCases: NoVerdictCase[] = [
  {
    name: 'nginx behind a cloud load balancer it does not trust: every client is seen as a load balancer node (10.0.3.x)',
    headers: (i) => viaNginx(lbNode(i)),
    requests: 25,
    seenAs: (i) => ({ ip: lbNode(i), status: 'skipped' }),
    warning: { without: 20, total: 20, share: 1 },
  },
  {
    name: 'forged: the same clients put global addresses in their own X-Forwarded-For; the load balancer hop is still read',
    headers: (i) => viaNginx(lbNode(i), `${globalClient(i)}, 1.1.1.1`),
    requests: 25,
    seenAs: (i) => ({ ip: lbNode(i), status: 'skipped' }),
    warning: { without: 20, total: 20, share: 1 },
  },
  {
    name: 'healthy: nginx facing the clients, X-Forwarded-For carries their global addresses',
    headers: (i) => viaNginx(globalClient(i)),
    requests: 25,
    seenAs: (i) => ({ ip: globalClient(i), status: 'scored' }),
    warning: null,
  },
  {
    name: 'healthy: clients forging private addresses before nginx appends their global one',
    headers: (i) => viaNginx(globalClient(i), `10.1.2.3, ${lbNode(i)}`),
    requests: 25,
    seenAs: (i) => ({ ip: globalClient(i), status: 'scored' }),
    warning: null,
  },
  {
    name: '9 clients facing nginx, then 11 behind the untrusted load balancer: more than half of 20, one warning',
    headers: (i) => viaNginx(i < 9 ? globalClient(i) : lbNode(i)),
    requests: 20,
    seenAs: (i) => (i < 9 ? { ip: globalClient(i), status: 'scored' } : { ip: lbNode(i), status: 'skipped' }),
    warning: { without: 11, total: 20, share: 0.55 },
  },
  {
    name: '10 clients facing nginx, then 10 behind the untrusted load balancer: exactly half, no warning',
    headers: (i) => viaNginx(i < 10 ? globalClient(i) : lbNode(i)),
    requests: 20,
    seenAs: (i) => (i < 10 ? { ip: globalClient(i), status: 'scored' } : { ip: lbNode(i), status: 'skipped' }),
    warning: null,
  },
  {
    name: '19 requests all behind the untrusted load balancer: below the minimum sample of 20, no warning',
    headers: (i) => viaNginx(lbNode(i)),
    requests: 19,
    seenAs: (i) => ({ ip: lbNode(i), status: 'skipped' }),
    warning: null,
  },
]

describe('no_verdict over HTTP: more than half of at least 20 gated decisions of the last minute had no verdict', () => {
  it.each(noVerdictCases)('$name', async ({ headers, requests, seenAs, warning }) => {
    const w = watched()
    const app = await serveApp(w.risk)
    try {
      const seen = await traffic(app, requests, headers)
      expect(seen).toStrictEqual(
        Array.from({ length: requests }, (_, i) => {
          const as = seenAs(i)
          return as.status === 'scored'
            ? { ip: as.ip, status: 'scored', action: 'allow', reason: 'clean' }
            : { ip: as.ip, status: 'skipped', action: 'allow', reason: 'non_global_ip' }
        }),
      )
      await afterHooks()
      if (warning === null) {
        expect(w.hooked).toStrictEqual([])
        expect(w.degradedLines()).toStrictEqual([])
        expect(w.risk.status()).toMatchObject({ protected: true, problems: [], warnings: [] })
        return
      }
      const nonGlobal = warning.without
      const event = noVerdictEvent(trustProxyMessage(warning.without, warning.total, nonGlobal), warning.share, warning.total)
      // One warning however many requests follow in the episode, on the hook and the log line.
      expect(w.hooked).toStrictEqual([event])
      expect(w.degradedLines()).toStrictEqual([{ obj: event, msg: event.message }])
      expect(w.risk.status()).toMatchObject({ protected: false, problems: ['no_verdict'], warnings: ['no_verdict'] })
    } finally {
      await app.close()
      await w.risk.close()
    }
  })

  it('a global peer (a client reaching the app directly) forging private addresses in X-Forwarded-For raises no false alarm', async () => {
    const w = watched()
    const app = await serveApp(w.risk, '8.8.4.4') // the platform hands the socket's peer over: not a trusted proxy
    try {
      const seen = await traffic(app, 25, (i) => ({ 'x-forwarded-for': `${lbNode(i)}, 127.0.0.1` }))
      expect(new Set(seen.map((s) => JSON.stringify(s)))).toStrictEqual(
        new Set([JSON.stringify({ ip: '8.8.4.4', status: 'scored', action: 'allow', reason: 'clean' })]),
      )
      await afterHooks()
      expect(w.hooked).toStrictEqual([])
      expect(w.risk.status()).toMatchObject({ protected: true, decisions: { total: 25, withoutVerdict: 0 } })
    } finally {
      await app.close()
      await w.risk.close()
    }
  })

  it('a new episode a minute after recovery warns again; forged global addresses during the episode change nothing', async () => {
    const w = watched()
    const app = await serveApp(w.risk)
    try {
      await traffic(app, 20, (i) => viaNginx(lbNode(i)))
      expect(w.hooked.map((e) => e.kind)).toStrictEqual(['no_verdict'])
      // The operator fixes the chain (a full window of scored clients): protected again.
      w.advance(61_000)
      await traffic(app, 20, (i) => viaNginx(globalClient(i)), 100)
      expect(w.risk.status().protected).toBe(true)
      // The load balancer is put back in front, untrusted; clients forge global addresses: a second warning.
      w.advance(61_000)
      await traffic(app, 20, (i) => viaNginx(lbNode(i), globalClient(i)), 200)
      await afterHooks()
      expect(w.hooked.map((e) => [e.kind, e.share, e.sample])).toStrictEqual([
        ['no_verdict', 1, 20],
        ['no_verdict', 1, 20],
      ])
    } finally {
      await app.close()
      await w.risk.close()
    }
  })

  it('the provider failing behind a trusted chain: the warning names the provider and the last error', async () => {
    const faulty = await startIpasisSimulator({ apiKey: KEY })
    faulty.setFault(503)
    const w = watched({ provider: ipasis({ apiKey: KEY, baseUrl: faulty.url }) })
    const app = await serveApp(w.risk)
    try {
      const seen = await traffic(app, 22, (i) => viaNginx(globalClient(i)))
      expect(seen.map((s) => [s.status, s.action, s.reason])).toStrictEqual(
        Array.from({ length: 22 }, () => ['unavailable', 'allow', 'lookup_unavailable']),
      )
      await afterHooks()
      const noVerdict = w.hooked.filter((e) => e.kind === 'no_verdict')
      expect(noVerdict).toStrictEqual([
        noVerdictEvent(
          "iprisk: protection degraded (no_verdict): over the last minute 20 of 20 gated decisions (100%) were made without a verdict (no client IP: 0, non-global IP: 0, unavailable or pending: 20); they were decided by the fail mode. Fix: most lookups were unavailable or pending (last provider error: http_error): check the provider's key and reach (`await risk.ready()`), `budget` and `breaker`; see docs/resolver.md",
          1,
          20,
          'provider',
          'docs/resolver.md',
        ),
      ])
      // The failing provider is also reported on its own (at its fifth failed call), once.
      expect(w.hooked.map((e) => e.kind)).toStrictEqual(['provider_failing', 'no_verdict'])
    } finally {
      await app.close()
      await w.risk.close()
      await faulty.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// (d) provider_failing
// ---------------------------------------------------------------------------------------------------------------------

const HINTS = {
  auth: 'the provider rejects the API key: check `apiKey` (e.g. IPASIS_API_KEY) and its plan',
  network: 'the provider cannot be reached: check `baseUrl` (IPASIS_BASE_URL), DNS and the egress firewall',
  http_error: 'the provider answers HTTP errors: check its status page',
  bad_response: "the provider answers data iprisk cannot read: check that `baseUrl` points at the provider's API",
} as const

describe('provider_failing over HTTP: the simulator fails every call for 5 distinct clients', () => {
  it.each([
    [401, 'auth', 'provider.apiKey'],
    ['reset', 'network', 'provider'],
    [503, 'http_error', 'provider'],
    ['wrong-schema', 'bad_response', 'provider'],
  ] as const)('simulator fault %s: the fifth client raises one warning naming %s (option %s)', async (fault: SimulatorFault, kind, option) => {
    const faulty = await startIpasisSimulator({ apiKey: KEY })
    faulty.setFault(fault)
    const w = watched({ provider: ipasis({ apiKey: KEY, baseUrl: faulty.url }) })
    const app = await serveApp(w.risk)
    try {
      const seen = await traffic(app, 4, (i) => viaNginx(globalClient(i)))
      expect(seen.map((s) => [s.ip, s.status])).toStrictEqual([0, 1, 2, 3].map((i) => [globalClient(i), 'unavailable']))
      await afterHooks()
      expect(w.hooked).toStrictEqual([])
      await traffic(app, 6, (i) => viaNginx(globalClient(i)), 4)
      await afterHooks()
      const event = {
        timestamp: START_ISO,
        event: 'degraded',
        kind: 'provider_failing',
        option,
        docs: 'docs/resolver.md',
        message: `iprisk: protection degraded (provider_failing): all 5 calls to the provider \`ipasis\` over the last minute failed (last: ${kind}); every lookup falls back to the fail mode. Fix: ${HINTS[kind]}; \`await risk.ready()\` at start-up reports this before the first request`,
        peer_kind: null,
        header: null,
        adapter: null,
        share: null,
        sample: 5,
        error: kind,
      }
      expect(w.hooked).toStrictEqual([event])
      expect(w.degradedLines()).toStrictEqual([{ obj: event, msg: event.message }])
      expect(faulty.callsFor(globalClient(4))).toBe(1)
      expect(w.risk.status()).toMatchObject({
        protected: false,
        problems: ['provider_failing'],
        provider: { name: 'ipasis', calls: 10, failures: 10, lastError: { kind, at: START_ISO } },
      })
      expect(JSON.stringify(w.hooked)).not.toContain(KEY)
    } finally {
      await app.close()
      await w.risk.close()
      await faulty.close()
    }
  })

  it('one successful call among the failures prevents the warning, until it leaves the window', async () => {
    const faulty = await startIpasisSimulator({ apiKey: KEY })
    const w = watched({ provider: ipasis({ apiKey: KEY, baseUrl: faulty.url }) })
    const app = await serveApp(w.risk)
    try {
      faulty.setFault(401, { times: 3 })
      await traffic(app, 4, (i) => viaNginx(globalClient(i))) // three fail, the fourth is scored
      faulty.setFault(401)
      const seen = await traffic(app, 6, (i) => viaNginx(globalClient(i)), 4)
      expect(seen.map((s) => s.status)).toStrictEqual(Array.from({ length: 6 }, () => 'unavailable'))
      await afterHooks()
      expect(w.hooked).toStrictEqual([])
      expect(w.risk.status()).toMatchObject({ protected: true, provider: { calls: 10, failures: 9 } })
      // A minute later the success is out of the window: five failed clients are the whole picture.
      w.advance(60_000)
      await traffic(app, 5, (i) => viaNginx(globalClient(i)), 20)
      await afterHooks()
      expect(w.hooked.map((e) => [e.kind, e.error, e.sample])).toStrictEqual([['provider_failing', 'auth', 5]])
    } finally {
      await app.close()
      await w.risk.close()
      await faulty.close()
    }
  })

  it('forged: clients that cannot be scored (private addresses in X-Forwarded-For) make no provider call and hide nothing', async () => {
    const faulty = await startIpasisSimulator({ apiKey: KEY })
    faulty.setFault('reset')
    const w = watched({ provider: ipasis({ apiKey: KEY, baseUrl: faulty.url }) })
    const app = await serveApp(w.risk)
    try {
      // Interleaved: a failing global client, then a client forging a private address (skipped, no call).
      await traffic(app, 10, (i) => viaNginx(i % 2 === 0 ? globalClient(i) : '192.168.1.1'))
      await afterHooks()
      expect(w.hooked.map((e) => [e.kind, e.error, e.sample])).toStrictEqual([['provider_failing', 'network', 5]])
      expect(faulty.calls).toBe(5)
    } finally {
      await app.close()
      await w.risk.close()
      await faulty.close()
    }
  })
})
