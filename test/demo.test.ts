/**
 * The demo (`npm start`): its tour gets every expected decision over real HTTP, the burst makes one upstream call,
 * a different answer is caught as a failure, live mode does not check, and the output fits a 100-column terminal
 * without colours when it is not one.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createRiskResolver, ipasis, type RiskResolverOptions } from '../src/core/index.js'
import { startIpasisSimulator } from '../src/testing/index.js'
import { parseArgs, runDemo, type Output } from '../examples/demo/cli.js'
import { clip, colorEnabled, createStyle, fit, renderTable } from '../examples/demo/format.js'
import { MAX_WIDTH, tourTableWidth } from '../examples/demo/report.js'
import {
  demoAddresses,
  describeRedisUrl,
  DEMO_CACHE_PREFIX,
  startDemoServers,
  VISITOR_IP,
  type DemoServers,
} from '../examples/demo/servers.js'
import { runTour, tourSteps, type TourResult } from '../examples/demo/tour.js'
import { createExampleRisk, demoClients, type ExampleRisk } from '../examples/shared/setup.js'

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[/

/** Collects what the demo writes. */
function collector(isTTY: boolean): Output & { text(): string } {
  let text = ''
  return {
    isTTY,
    write(chunk: string) {
      text += chunk
      return true
    },
    text: () => text,
  }
}

/** Poll `condition` until it holds; the deadline is generous, for a loaded 2-core machine (the hooks allow 60 s). */
async function until(condition: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The example set-up, but the simulator answers "clean" for the Tor address. */
async function torLooksClean(overrides: Partial<RiskResolverOptions>, env: NodeJS.ProcessEnv): Promise<ExampleRisk> {
  const risk = await createExampleRisk(overrides, env)
  risk.simulator?.setProfile(demoClients.tor, 'clean')
  return risk
}

/** What `IPASIS_API_KEY` gives (no simulator handle: live mode), served by a local simulator answering "clean" for all. */
async function liveLike(overrides: Partial<RiskResolverOptions>): Promise<ExampleRisk> {
  const sim = await startIpasisSimulator({ apiKey: 'live-secret-key' })
  const resolver = createRiskResolver({
    provider: ipasis({ apiKey: 'live-secret-key', baseUrl: sim.url }),
    trustProxy: 'loopback',
    scoreDocumentationRanges: true,
    ...overrides,
  })
  return {
    resolver,
    simulator: null,
    async close() {
      await resolver.close()
      await sim.close()
    },
  }
}

describe('the tour against the simulator (what `npm start` and CI run)', () => {
  const BURST = 40
  let servers: DemoServers
  let result: TourResult

  beforeAll(async () => {
    servers = await startDemoServers({ env: {} })
    result = await runTour({ servers, burst: BURST })
  })
  afterAll(async () => {
    await servers.close()
  })

  test('runs every step, in order, in simulator mode with expectations checked', () => {
    expect(result.mode).toBe('simulator')
    expect(result.checked).toBe(true)
    expect(result.rows.map((r) => r.operation)).toEqual(tourSteps.map((s) => s.operation))
    expect(result.ok).toBe(true)
  })

  test.each(tourSteps.map((step, i) => ({ i, step, label: `${step.who} ${step.api} ${step.operation}` })))(
    'step $i: $label → $step.expect.action $step.expect.reason',
    ({ i, step }) => {
      const row = result.rows[i]
      expect(row?.problem).toBeNull()
      expect(row?.matched).toBe(true)
      expect(row?.decision).toBe(step.expect.action)
      expect(row?.reason).toBe(step.expect.reason)
      if (step.expect.cached !== undefined) expect(row?.cached).toBe(step.expect.cached)
    },
  )

  test('the tour shows every outcome: allows, blocks for each flag, the blocklist, cache hits and misses', () => {
    const reasons = new Set(result.rows.map((r) => r.reason))
    for (const reason of ['clean', 'vpn_detected', 'tor_exit_node', 'datacenter_ip', 'risk_score_exceeded', 'blocklisted', 'non_global_ip', null]) {
      expect(reasons).toContain(reason)
    }
    expect(result.rows.some((r) => r.cached === true)).toBe(true)
    expect(result.rows.some((r) => r.cached === false)).toBe(true)
    expect(result.rows.find((r) => r.ip === VISITOR_IP)?.status).toBe('pending')
  })

  test.each([...Object.keys(demoClients), 'visitor'])(
    'the %s address is looked up upstream once for the whole tour (both APIs share one cache)',
    (role) => {
      const ip = role === 'visitor' ? VISITOR_IP : demoClients[role as keyof typeof demoClients]
      expect(servers.risk.simulator?.callsFor(ip)).toBe(1)
    },
  )

  test('runTour leaves servers it was given running', async () => {
    const response = await fetch(servers.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ posts { id } }' }),
    })
    expect(response.status).toBe(200)
  })

  test('the burst: every concurrent request answered, one upstream call for the new address', () => {
    expect(result.burst).toMatchObject({ requests: BURST, allowed: BURST, blocked: 0, failed: 0, upstreamCalls: 1, matched: true })
    expect(result.burst?.ip).toMatch(/^2001:db8:/)
  })

  test('security events are the guide-style JSON lines, one per decision, and never carry the API key', () => {
    expect(result.eventLines.length).toBe(result.events.length)
    expect(result.events.length).toBeGreaterThanOrEqual(result.rows.filter((r) => r.reason !== null).length)
    for (const line of result.eventLines) {
      const parsed = JSON.parse(line) as Record<string, unknown>
      expect(parsed).toMatchObject({ event: 'bot_detection', msg: 'iprisk decision' })
      for (const key of ['timestamp', 'action', 'reason', 'ip', 'path', 'method', 'risk_score', 'is_vpn', 'is_tor', 'cached', 'lookup_ms']) {
        expect(parsed).toHaveProperty(key)
      }
      expect(line).not.toContain('demo-key')
    }
    const torBlock = result.events.find((e) => e.ip === demoClients.tor && e.adapter === 'trpc' && e.reason === 'tor_exit_node')
    expect(torBlock).toMatchObject({ action: 'block', path: 'signup', method: 'mutation', risk_score: 92, is_tor: true })
    expect(result.warnings).toEqual([])
  })
})

describe('expectations catch a different answer', () => {
  test('when the simulator says the Tor exit node is clean, its steps fail and `--once` exits 1', async () => {
    const out = collector(false)
    const code = await runDemo({ argv: ['--once'], env: {}, stdout: out, createRisk: torLooksClean, burst: 0 })
    expect(code).toBe(1)
    const text = out.text()
    expect(text).toMatch(/step \d+ \(tor, orders \(score < 70\)\): expected block, got allow/)
    expect(text).toMatch(/step \d+ \(tor, signup @requireHuman\): expected block, got allow/)
    expect(text).toMatch(/3 of 18 steps did not get their expected decision/)
  })
})

describe('live mode (IPASIS_API_KEY: a resolver without the simulator)', () => {
  test('runs the tour without checking decisions, says so, and never prints the key', async () => {
    const out = collector(false)
    const code = await runDemo({ argv: ['--once'], env: {}, stdout: out, createRisk: liveLike, burst: 4 })
    const text = out.text()
    expect(code).toBe(0)
    expect(text).toContain('the expected decisions are shown, not checked')
    expect(text).toMatch(/Live mode: 19 steps ran; decisions were not checked/)
    expect(text).toContain('upstream calls are not counted against the real service')
    expect(text).not.toContain('live-secret-key')
    // The Tor address is clean here: a check would have failed.
    expect(text).toMatch(/tor +tRPC +signup \(human only\) +allow/)
    expect(text).not.toMatch(/\bFAIL\b/)
  })

  test.each([
    { name: 'simulator mode ignores IPRISK_DEMO_IPS', mode: 'simulator' as const, spec: 'tor=192.0.2.99', role: 'tor' as const, ip: demoClients.tor },
    { name: 'live mode plays the given address', mode: 'live' as const, spec: 'tor=192.0.2.99', role: 'tor' as const, ip: '192.0.2.99' },
    { name: 'live mode accepts several, IPv6, with spaces', mode: 'live' as const, spec: ' clean=2001:db8::5 , visitor=192.0.2.7', role: 'clean' as const, ip: '2001:db8::5' },
    { name: 'live mode keeps the roles not given', mode: 'live' as const, spec: 'tor=192.0.2.99', role: 'vpn' as const, ip: demoClients.vpn },
    { name: 'local is always the loopback peer', mode: 'live' as const, spec: '', role: 'local' as const, ip: null },
  ])('IPRISK_DEMO_IPS: $name', ({ mode, spec, role, ip }) => {
    expect(demoAddresses({ IPRISK_DEMO_IPS: spec }, mode)[role]).toBe(ip)
  })

  test.each([
    { spec: 'exit=192.0.2.1', message: /unknown role "exit"/ },
    { spec: 'local=192.0.2.1', message: /unknown role "local"/ },
    { spec: 'tor=not-an-ip', message: /"not-an-ip" \(for tor\) is not an IP address/ },
    { spec: 'tor', message: /"" \(for tor\) is not an IP address/ },
  ])('IPRISK_DEMO_IPS=$spec is refused with a clear error', ({ spec, message }) => {
    expect(() => demoAddresses({ IPRISK_DEMO_IPS: spec }, 'live')).toThrow(message)
  })

  test.each([
    { url: 'redis://:secret@cache.internal:6380/2', shown: 'redis://cache.internal:6380' },
    { url: 'rediss://user:pw@127.0.0.1', shown: 'rediss://127.0.0.1' },
    { url: 'not a url', shown: '(REDIS_URL, unparsable)' },
  ])('REDIS_URL $url is shown without credentials as $shown', ({ url, shown }) => {
    expect(describeRedisUrl(url)).toBe(shown)
  })
})

describe('with REDIS_URL (real Redis on 127.0.0.1:6379)', () => {
  test('the tour still gets every expected decision and the burst one upstream call, under the demo prefix', async () => {
    const result = await runTour({ env: { REDIS_URL: 'redis://127.0.0.1:6379' }, burst: 20 })
    expect(result.rows.filter((r) => r.matched !== true).map((r) => r.problem)).toEqual([])
    expect(result.burst).toMatchObject({ allowed: 20, upstreamCalls: 1 })
    expect(result.warnings).toEqual([])
    expect(result.ok).toBe(true)
    expect(DEMO_CACHE_PREFIX).not.toBe('iprisk')
  })
})

describe('the running demo', () => {
  const out = collector(false)
  const stop = new AbortController()
  let finished: Promise<number>

  beforeAll(async () => {
    finished = runDemo({ argv: [], env: {}, stdout: out, signal: stop.signal, handleSignals: false, burst: 0 })
    await until(() => out.text().includes('Press Ctrl-C to stop.'))
  }, 60_000)
  afterAll(async () => {
    stop.abort()
    await finished
  })

  test('prints no colour codes when stdout is not a terminal', () => {
    expect(out.text()).not.toMatch(ANSI)
  })

  test('fits a 100-column terminal, except the JSON event lines', () => {
    const long = out
      .text()
      .split('\n')
      .filter((line) => line.length > MAX_WIDTH && !line.startsWith('{'))
    expect(long).toEqual([])
    expect(tourTableWidth(true)).toBeLessThanOrEqual(MAX_WIDTH)
  })

  test('keeps serving, streams new security events, and closes everything when stopped', async () => {
    const trpcUrl = /tRPC API +(\S+)/.exec(out.text())?.[1]
    expect(trpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const response = await fetch(`${trpcUrl ?? ''}/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': demoClients.tor },
      body: JSON.stringify({ email: 'a@example.com' }),
    })
    expect(response.status).toBe(403)
    await until(() => out.text().split('\n').some((l) => l.includes('"reason":"tor_exit_node"') && l.includes('"user_agent":"node"')))

    stop.abort()
    expect(await finished).toBe(0)
    expect(out.text()).toContain('Stopping the servers')
    await expect(fetch(`${trpcUrl ?? ''}/hello`)).rejects.toThrow()
  }, 60_000)
})

describe('command line and terminal output', () => {
  test.each([
    { argv: [], once: false, help: false },
    { argv: ['--once'], once: true, help: false },
    { argv: ['--help'], once: false, help: true },
    { argv: ['-h', '--once'], once: true, help: true },
  ])('parseArgs($argv)', ({ argv, once, help }) => {
    expect(parseArgs(argv)).toEqual({ once, help })
  })

  test('an unknown argument exits 2 with the usage, before starting anything', async () => {
    const out = collector(false)
    const err = collector(false)
    expect(await runDemo({ argv: ['--nope'], stdout: out, stderr: err })).toBe(2)
    expect(err.text()).toContain('unknown argument "--nope"')
    expect(err.text()).toContain('Usage: npm start')
    expect(out.text()).toBe('')
  })

  test('--help prints the usage and exits 0', async () => {
    const out = collector(false)
    expect(await runDemo({ argv: ['--help'], stdout: out })).toBe(0)
    expect(out.text()).toContain('--once')
  })

  test.each([
    { name: 'a terminal', tty: true, env: {}, colors: true },
    { name: 'a pipe or file', tty: false, env: {}, colors: false },
    { name: 'a terminal with NO_COLOR=1', tty: true, env: { NO_COLOR: '1' }, colors: false },
    { name: 'a terminal with an empty NO_COLOR', tty: true, env: { NO_COLOR: '' }, colors: true },
    { name: 'a dumb terminal', tty: true, env: { TERM: 'dumb' }, colors: false },
  ])('colours on $name: $colors', ({ tty, env, colors }) => {
    expect(colorEnabled({ isTTY: tty }, env)).toBe(colors)
    expect(ANSI.test(createStyle(colorEnabled({ isTTY: tty }, env)).red('block'))).toBe(colors)
  })

  test.each([
    { text: 'short', width: 8, align: 'left' as const, out: 'short   ' },
    { text: 'short', width: 8, align: 'right' as const, out: '   short' },
    { text: 'much too long', width: 8, align: 'left' as const, out: 'much to…' },
    { text: 'exact', width: 5, align: 'left' as const, out: 'exact' },
  ])('fit($text, $width, $align) = "$out"', ({ text, width, align, out }) => {
    expect(fit(text, width, align)).toBe(out)
    expect(clip(text, width).length).toBeLessThanOrEqual(width)
  })

  test('colours do not move the columns', () => {
    const columns = [
      { header: 'a', width: 6, text: (r: { a: string; b: string }) => r.a, paint: (_: unknown, t: string, s: ReturnType<typeof createStyle>) => s.red(t) },
      { header: 'b', width: 3, align: 'right' as const, text: (r: { a: string; b: string }) => r.b },
    ]
    const rows = [{ a: 'block', b: '92' }]
    const plain = renderTable(columns, rows, createStyle(false))
    const colored = renderTable(columns, rows, createStyle(true))
    // eslint-disable-next-line no-control-regex
    expect(colored.map((l) => l.replace(/\u001b\[\d+m/g, ''))).toEqual(plain)
    expect(plain).toEqual(['a         b', '------  ---', 'block    92'])
  })
})
