#!/usr/bin/env node
/**
 * Runtime smoke test of the BUILT package (dist/): does `ipasis()` really score on Node, Bun and Deno, and does an
 * unreachable API show up as `unavailable` plus a warning instead of a silent allow (issue #18)?
 *
 *   npm run build
 *   node scripts/runtime-smoke.mjs [--bun /path/to/bun] [--deno /path/to/deno]
 *
 * The Node process starts the IPASIS simulator (from dist/testing) on 127.0.0.1, then runs this same file with
 * `--check` in each runtime (Node always; Bun and Deno when their binary is given or on PATH as `bun` / `deno`), which
 * builds `createRiskResolver({ provider: ipasis({ apiKey, baseUrl }), scoreDocumentationRanges: true })` and checks:
 *
 *   1. a clean-profile address answers `scored`, not Tor;
 *   2. a Tor-profile address answers `scored` with `isTor: true`, and the default policy blocks it;
 *   3. with an unreachable baseUrl: every lookup is `unavailable` (error `network`, then `breaker_open` once the
 *      breaker opened after 5 failures), the decision says
 *      `failOpen: true` / `lookup_unavailable`, a `provider_failing` degraded event is raised, `status().protected` is
 *      false, and `ready()` rejects with an `IpRiskProbeError`.
 *
 * Plain JavaScript so every runtime runs it as is. `.ci/run` runs it after the build, with Bun and Deno from the npm
 * registry at pinned versions. Exit code 0 only when every check passed everywhere.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const KEY = 'sk_smoke_5e1f0a'
const CLEAN_IP = '203.0.113.10'
const TOR_IP = '203.0.113.66'
const DEAD_IPS = ['203.0.113.20', '203.0.113.21', '203.0.113.22', '203.0.113.23', '203.0.113.24', '203.0.113.25']
const distUrl = (path) => new URL(`../dist/${path}`, import.meta.url).href

if (process.argv.includes('--check')) await check()
else await orchestrate()

/** Runs inside the runtime under test. Prints one line per check and a final `RESULT <json>` line. */
async function check() {
  const { createRiskResolver, ipasis, IpRiskProbeError } = await import(distUrl('core/index.js'))
  const env = (name) => process.env[name] ?? ''
  const results = []
  const expect = (name, ok, detail) => {
    results.push({ name, ok: Boolean(ok), detail })
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`)
  }

  const quiet = { debug() {}, info() {}, warn() {}, error() {} }
  // Internal modules of dist/, read for information only: which transport ipasis() picks here, and what the old
  // behaviour (undici's Pool whatever the runtime) gives on this runtime.
  const { readRuntime } = await import(distUrl('core/provider-transport.js'))
  const { createIpasis } = await import(distUrl('core/provider.js'))
  const facts = readRuntime()
  console.log(`info runtime ${facts.name}: transport ${facts.nodeUndici ? 'undici Pool' : 'fetch'}`)
  const forced = createIpasis({ apiKey: KEY, baseUrl: env('SMOKE_URL') }, { ...facts, nodeUndici: true })
  const old = await forced.lookup(CLEAN_IP, AbortSignal.timeout(2000)).then(
    (data) => `score ${data.score}`,
    (error) => `${error.name} ${error.kind ?? ''}: ${error.message}`,
  )
  const closed = await Promise.resolve()
    .then(() => forced.close())
    .then(() => 'closed', (error) => `close() failed: ${error.message}`)
  console.log(`info undici Pool forced (the behaviour before this fix): lookup → ${old}; ${closed}`)
  const risk = createRiskResolver({
    provider: ipasis({ apiKey: KEY, baseUrl: env('SMOKE_URL') }),
    scoreDocumentationRanges: true,
    logger: quiet,
  })
  try {
    const clean = await risk.lookup(CLEAN_IP)
    expect('clean profile → scored', clean.status === 'scored' && clean.isTor === false, `status=${clean.status} score=${clean.score} error=${clean.error}`)
    const tor = await risk.lookup(TOR_IP)
    const torDecision = risk.check(tor)
    expect('Tor profile → scored, isTor: true, blocked', tor.status === 'scored' && tor.isTor === true && torDecision.action === 'block', `status=${tor.status} isTor=${tor.isTor} action=${torDecision.action} reason=${torDecision.reason}`)
  } finally {
    await risk.close()
  }

  const degraded = []
  const warnings = []
  const dead = createRiskResolver({
    provider: ipasis({ apiKey: KEY, baseUrl: env('SMOKE_DEAD_URL'), timeoutMs: 1000 }),
    scoreDocumentationRanges: true,
    onDegraded: (event) => degraded.push(event.kind),
    logger: { ...quiet, warn: (...args) => warnings.push(args.map(String).join(' ')) },
  })
  try {
    const answers = []
    for (const ip of DEAD_IPS) answers.push(await dead.lookup(ip))
    const kinds = [...new Set(answers.map((a) => `${a.status}/${a.error}`))]
    // The breaker (default: open after 5 failures) answers the 6th lookup itself: still unavailable, never scored.
    const expected = 'unavailable/network,unavailable/breaker_open'
    expect('unreachable baseUrl → unavailable (network, then breaker_open)', kinds.join(',') === expected, kinds.join(','))
    const decision = dead.check(answers[0])
    expect('… decided fail-open, and says so', decision.action === 'allow' && decision.failOpen === true && decision.reason === 'lookup_unavailable', `action=${decision.action} failOpen=${decision.failOpen} reason=${decision.reason}`)
    await new Promise((resolve) => setTimeout(resolve, 50)) // hooks run after the current turn
    const status = dead.status()
    expect('… reported: provider_failing degraded event, status().protected false', degraded.includes('provider_failing') && status.protected === false, `onDegraded=[${degraded}] protected=${status.protected} problems=[${status.problems}] warn lines=${warnings.length}`)
    const probe = await dead.ready({ timeoutMs: 2000 }).then(() => null, (error) => error)
    expect('… ready() rejects with IpRiskProbeError', probe instanceof IpRiskProbeError, probe ? `${probe.name} kind=${probe.kind}` : 'resolved')
  } finally {
    await dead.close()
  }
  console.log(`RESULT ${JSON.stringify(results)}`)
  process.exitCode = results.every((r) => r.ok) ? 0 : 1
}

/** Runs on Node: simulator up, then every runtime in turn. */
async function orchestrate() {
  const { startIpasisSimulator } = await import(distUrl('testing/index.js'))
  const sim = await startIpasisSimulator({ apiKey: KEY, profiles: { [TOR_IP]: 'tor' } })
  const gone = await startIpasisSimulator({ apiKey: KEY })
  await gone.close() // its port now refuses connections
  const self = fileURLToPath(import.meta.url)
  const arg = (name) => {
    const i = process.argv.indexOf(name)
    return i === -1 ? undefined : process.argv[i + 1]
  }
  const runtimes = [
    { name: 'node', cmd: process.execPath, args: [self, '--check'] },
    { name: 'bun', cmd: arg('--bun') ?? 'bun', args: [self, '--check'] },
    { name: 'deno', cmd: arg('--deno') ?? 'deno', args: ['run', '--allow-net=127.0.0.1', '--allow-read', '--allow-env', self, '--check'] },
  ]
  let failed = false
  try {
    for (const runtime of runtimes) {
      const started = performance.now()
      const { code, output } = await run(runtime.cmd, runtime.args, { ...process.env, SMOKE_URL: sim.url, SMOKE_DEAD_URL: gone.url })
      const ms = Math.round(performance.now() - started)
      const version = (await run(runtime.cmd, ['--version'], process.env)).output.split('\n')[0]
      console.log(`\n== ${runtime.name} (${version || 'not found'}) exit ${code} in ${ms} ms`)
      console.log(output.split('\n').filter((l) => l !== '' && !l.startsWith('RESULT ')).join('\n'))
      if (code !== 0) failed = true
    }
  } finally {
    await sim.close()
  }
  process.exitCode = failed ? 1 : 0
}

function run(cmd, args, env) {
  return new Promise((resolve) => {
    let output = ''
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    child.on('error', (error) => resolve({ code: -1, output: `cannot run ${cmd}: ${error.message}` }))
    child.on('close', (code) => resolve({ code, output: output.trim() }))
  })
}
