/**
 * What the demo prints: the header (mode, URLs, who is who), the tour table, the burst, the security events and the
 * verdict. Pure functions of the results, so the test can check the text without a terminal.
 *
 * @module
 */
import { simulatorProfiles } from '../../src/testing/index.js'
import { renderTable, tableWidth, type Column, type Style } from './format.js'
import type { DemoRole, DemoServers } from './servers.js'
import type { BurstResult, TourResult, TourRow } from './tour.js'

/** The demo's output must stay readable in a terminal this wide. */
export const MAX_WIDTH = 100

const ROLE_LABEL: Readonly<Record<DemoRole, string>> = {
  clean: 'clean',
  vpn: 'vpn',
  proxy: 'proxy',
  tor: 'tor',
  datacenter: 'datacenter',
  highRisk: 'high-risk',
  visitor: 'visitor',
  local: 'local',
}

/** What each role is, for the legend (simulator mode): the simulator's documented profiles. */
const ROLE_STORY: Readonly<Record<DemoRole, string>> = {
  clean: `home broadband, score ${String(simulatorProfiles.clean.score)}`,
  vpn: `commercial VPN, score ${String(simulatorProfiles.vpn.score)}`,
  proxy: `open proxy, score ${String(simulatorProfiles.proxy.score)}`,
  tor: `Tor exit node, score ${String(simulatorProfiles.tor.score)}`,
  datacenter: `cloud server, score ${String(simulatorProfiles.datacenter.score)}`,
  highRisk: `known abuser, score ${String(simulatorProfiles['high-risk'].score)}`,
  visitor: 'first-time visitor, never scored yet',
  local: 'this machine, no X-Forwarded-For',
}

function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)
}

function reasonText(row: TourRow): string {
  if (row.decision === 'error') return 'request failed'
  if (row.reason !== null) return row.reason
  return row.status === 'pending' ? 'no policy (pending)' : 'no policy'
}

/** The table's columns: 92 characters wide (98 with the check column). */
export const tourColumns: readonly Column<TourRow>[] = [
  { header: 'who', width: 10, text: (r) => ROLE_LABEL[r.who] },
  { header: 'api', width: 7, text: (r) => r.api },
  { header: 'operation', width: 22, text: (r) => r.operation },
  {
    header: 'action',
    width: 6,
    text: (r) => r.decision,
    paint: (r, text, s) => (r.decision === 'allow' ? s.green(text) : s.red(text)),
  },
  {
    header: 'reason',
    width: 19,
    text: reasonText,
    paint: (r, text, s) => (r.reason === null ? s.dim(text) : text),
  },
  { header: 'score', width: 5, align: 'right', text: (r) => (r.score === null ? '-' : String(r.score)) },
  {
    header: 'cache',
    width: 5,
    text: (r) => (r.cached === null ? '-' : r.cached ? 'hit' : 'miss'),
    paint: (r, text, s) => (r.cached === true ? s.cyan(text) : s.dim(text)),
  },
  { header: 'ms', width: 4, align: 'right', text: (r) => formatMs(r.latencyMs) },
]

/**
 * Lines introducing the demo: mode, URLs and the cast. Printed as soon as the servers are up, before the tour.
 *
 * @example
 * ```ts
 * console.log(renderHeader(servers, createStyle(false)).join('\n'))
 * ```
 */
export function renderHeader(servers: DemoServers, style: Style): string[] {
  const lines = [style.bold('iprisk demo: IP risk scoring for tRPC and GraphQL APIs'), '']
  if (servers.mode === 'simulator') {
    lines.push(`Mode: local IPASIS simulator (no IPASIS_API_KEY set), cache ${servers.cache}.`)
  } else {
    lines.push(
      `Mode: the real IPASIS API (IPASIS_API_KEY is set), cache ${servers.cache}.`,
      style.yellow('Real scores differ from the simulator\'s: the expected decisions are shown, not checked.'),
    )
  }
  lines.push('')
  if (servers.simulatorUrl !== null) lines.push(`  IPASIS simulator  ${servers.simulatorUrl}`)
  lines.push(`  tRPC API          ${servers.trpcUrl}`, `  GraphQL API       ${servers.graphqlUrl}`, '')
  lines.push(
    'Requests come from these clients. The servers trust X-Forwarded-For from loopback only, and this',
    'script, on 127.0.0.1, plays the reverse proxy that sets it:',
  )
  for (const [role, ip] of Object.entries(servers.addresses) as [DemoRole, string | null][]) {
    const story = servers.mode === 'simulator' || role === 'local' ? `  ${style.dim(ROLE_STORY[role])}` : ''
    lines.push(`  ${ROLE_LABEL[role].padEnd(10)}  ${(ip ?? '127.0.0.1').padEnd(15)}${story}`)
  }
  if (servers.mode === 'live') {
    lines.push(
      style.dim('  Documentation addresses (203.0.113.0/24, ...) are never sent to a real provider; to score real ones'),
      style.dim('  set IPRISK_DEMO_IPS, e.g. IPRISK_DEMO_IPS="tor=185.220.101.1,clean=<your own IP>".'),
    )
  }
  return lines
}

/**
 * The tour table (with an `ok?` column when expectations are checked), a line per mismatch under it, and a legend.
 *
 * @example
 * ```ts
 * renderRows(result, createStyle(false))[0] // 'who         api      operation  …'
 * ```
 */
export function renderRows(result: TourResult, style: Style): string[] {
  const columns = result.checked
    ? [...tourColumns, checkColumn]
    : tourColumns
  const lines = renderTable(columns, result.rows, style)
  for (const row of result.rows) {
    if (row.problem !== null) {
      lines.push(style.red(`  step ${String(row.step)} (${ROLE_LABEL[row.who]}, ${row.operation}): ${row.problem}`))
    }
  }
  lines.push(
    style.dim('action/reason: the policy decision (no policy: a public operation, the risk is only annotated).'),
    style.dim('cache: hit = answered from the cache, no IPASIS call; - = nothing to look up (loopback).'),
    style.dim('ms: the round trip as the client measured it (the first request includes start-up work).'),
  )
  return lines
}

/** Simulator mode only: did the step get its expected decision? */
const checkColumn: Column<TourRow> = {
  header: 'ok?',
  width: 4,
  text: (r) => (r.matched ? 'ok' : 'FAIL'),
  paint: (r, text, s) => (r.matched ? s.green(text) : s.bold(s.red(text))),
}

/**
 * The burst's summary: how many requests were answered and how many upstream calls they made.
 *
 * @example
 * ```ts
 * renderBurst(result.burst, createStyle(false))[1] // '  200 allowed, 0 blocked, 0 failed; the IPASIS simulator received 1 lookup.'
 * ```
 */
export function renderBurst(burst: BurstResult, style: Style): string[] {
  const calls =
    burst.upstreamCalls === null
      ? 'upstream calls are not counted against the real service'
      : `the IPASIS simulator received ${String(burst.upstreamCalls)} lookup${burst.upstreamCalls === 1 ? '' : 's'}`
  const lines = [
    `${String(burst.requests)} concurrent requests (half tRPC, half GraphQL) from a never-seen address, ${burst.ip}:`,
    `  ${String(burst.allowed)} allowed, ${String(burst.blocked)} blocked, ${String(burst.failed)} failed; ${calls}.`,
  ]
  if (burst.upstreamCalls === 1) {
    lines.push(style.dim('  Concurrent lookups of one address share a single upstream call, across both APIs.'))
  }
  if (burst.problem !== null) lines.push(style.red(`  ${burst.matched === false ? 'FAIL: ' : ''}${burst.problem}`))
  return lines
}

/**
 * The security events as JSON lines (exactly what the logger wrote), then any warning iprisk logged.
 *
 * @example
 * ```ts
 * renderEvents(result, createStyle(false)).filter((l) => l.startsWith('{')).length === result.events.length
 * ```
 */
export function renderEvents(result: TourResult, style: Style): string[] {
  const lines = [
    style.bold('Security events'),
    style.dim(`pino JSON lines, one per policy decision (the guide's security log): ${String(result.eventLines.length)} from the tour`),
    ...result.eventLines,
  ]
  if (result.warnings.length > 0) {
    lines.push('', style.yellow('Warnings logged by iprisk:'), ...result.warnings.map((w) => `  ${w}`))
  }
  return lines
}

/**
 * Everything printed after the tour: the table, the burst, the security events and the verdict (the header is
 * printed before the tour, by {@link renderHeader}).
 *
 * @example
 * ```ts
 * const style = createStyle(false)
 * console.log([...renderHeader(servers, style), ...renderReport(result, style)].join('\n'))
 * ```
 */
export function renderReport(result: TourResult, style: Style): string[] {
  const lines = [style.bold('Tour'), ...renderRows(result, style)]
  if (result.burst !== null) lines.push('', style.bold('Burst'), ...renderBurst(result.burst, style))
  lines.push('', ...renderEvents(result, style), '', renderVerdict(result, style))
  return lines
}

/**
 * One line: did every step match (or, in live mode, did every request complete)?
 *
 * @example
 * ```ts
 * renderVerdict(result, createStyle(false)) // 'All 19 steps got their expected decisions.'
 * ```
 */
export function renderVerdict(result: TourResult, style: Style): string {
  const steps = result.rows.length + (result.burst === null ? 0 : 1)
  if (!result.checked) {
    return result.ok
      ? style.yellow(`Live mode: ${String(steps)} steps ran; decisions were not checked (real scores differ).`)
      : style.red('Live mode: some requests failed (see above).')
  }
  const failed = result.rows.filter((r) => r.matched !== true).length + (result.burst?.matched === false ? 1 : 0)
  return result.ok
    ? style.green(`All ${String(steps)} steps got their expected decisions.`)
    : style.red(`${String(failed)} of ${String(steps)} steps did not get their expected decision.`)
}

/**
 * How to poke the running servers (curl commands with their real ports), and how to stop them.
 *
 * @example
 * ```ts
 * console.log(renderRunning(servers, createStyle(false)).join('\n'))
 * ```
 */
export function renderRunning(servers: DemoServers, style: Style): string[] {
  const tor = servers.addresses.tor ?? '203.0.113.40'
  const vpn = servers.addresses.vpn ?? '203.0.113.20'
  const trpcSignup = `${servers.trpcUrl}/signup`
  const gqlBody = JSON.stringify({ query: '{ admin { users { email } } }' })
  return [
    style.bold('The servers keep running. Try them (new security events are printed below):'),
    `  curl -s ${trpcSignup} -H 'x-forwarded-for: ${tor}' \\`,
    `    -H 'content-type: application/json' -d '{"email":"a@example.com"}'`,
    `  curl -s ${servers.graphqlUrl} -H 'x-forwarded-for: ${vpn}' \\`,
    `    -H 'content-type: application/json' -d '${gqlBody}'`,
    style.dim('Press Ctrl-C to stop.'),
  ]
}

/**
 * The width of the tour table, with or without the `ok?` column (the test asserts it fits {@link MAX_WIDTH}).
 *
 * @example
 * ```ts
 * tourTableWidth(true) // 98
 * ```
 */
export function tourTableWidth(checked: boolean): number {
  return tableWidth(checked ? [...tourColumns, checkColumn] : tourColumns)
}
