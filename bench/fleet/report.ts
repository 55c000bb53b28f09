/** The fleet benchmark's results as Markdown (bench/results/fleet.md and stdout). */
import type { MachineInfo } from '../lib/machine.js'
import type { L2CostRow, PropagationRow, QuotaRow, SingleFlightRow } from './scenarios.js'
import type { Counts } from './protocol.js'

export interface Variant<T> {
  /** `before` (options of today's main) or the feature turned on. */
  label: string
  rows: T[]
}

export interface FleetReport {
  command: string
  machine: MachineInfo
  loadAfter: [number, number, number]
  durationSec: number
  from: string
  latencyMs: number
  redis: string
  features: { name: string; title: string; state: string }[]
  singleFlight: Variant<SingleFlightRow>[]
  quota: Variant<QuotaRow>[]
  propagation: Variant<PropagationRow>[]
  l2: (L2CostRow | { topology: string; skipped: string })[]
  notes: string[]
}

const f = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : '–')
const counts = (c: Counts): string =>
  Object.entries(c)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')

export function renderFleetReport(r: FleetReport): string {
  const m = r.machine
  const out: string[] = []
  out.push('# Fleet benchmark (issue 19)', '')
  out.push(`Command: \`${r.command}\` — ${f(r.durationSec, 0)} s, ${m.date}.`, '')
  out.push(
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.platform}, Node ${m.node}; load average ` +
      `${m.loadAverage.map((l) => l.toFixed(2)).join(' / ')} at the start, ${r.loadAfter.map((l) => l.toFixed(2)).join(' / ')} ` +
      `at the end. Every instance is a separate Node process (iprisk from \`${r.from}/\`), the IPASIS simulator ` +
      `(${r.latencyMs} ms per answer) and the orchestrator share the machine with them; ${r.redis}.`,
    '',
  )
  out.push('| Feature | This run |', '|---|---|')
  for (const x of r.features) out.push(`| ${x.title} | ${x.state} |`)
  out.push('')

  out.push(
    '## (a) Upstream calls per new IP',
    '',
    'Every instance gets the same new IP at the same moment (a barrier: all ready, then one wall-clock start time ' +
      'for all, met by spinning the last 2 ms; "start spread" is how far apart the instances actually began). IPs go ' +
      'out in batches; each IP is a new IPv6 /48.',
    '',
    '| Variant | Instances | New IPs | Upstream calls per IP, mean | max | IPs costing 1 call | Start spread, ms | Answers by source |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
  )
  for (const v of r.singleFlight) {
    for (const row of v.rows) {
      out.push(
        `| ${v.label} | ${row.n} | ${row.ips} | ${f(row.meanCalls, 2)} | ${row.maxCalls} | ${row.oneCall} | ${f(row.spreadMs, 1)} | ${counts(row.sources)} |`,
      )
    }
  }
  out.push('')

  const q = r.quota[0]?.rows[0]?.quota ?? 0
  out.push(
    `## (b) A per-minute quota of Q = ${q}`,
    '',
    'Every instance is offered 2×Q new IPs at once (4 lookups at a time each). A quota honoured fleet-wide allows ' +
      'Q plus the refill of the window (Q/60 per second); today each process has its own bucket, so the fleet may ' +
      'spend N×Q.',
    '',
    '| Variant | Instances | IPs offered | Upstream calls | Calls / Q | Fleet allowance (Q + refill) | Window, s | Refused (budget_exceeded) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  )
  for (const v of r.quota) {
    for (const row of v.rows) {
      out.push(
        `| ${v.label} | ${row.n} | ${row.offered} | ${row.calls} | ${f(row.calls / row.quota, 2)} | ${f(row.fleetAllowance, 1)} | ${f(row.windowSec, 2)} | ${row.budgetExceeded} |`,
      )
    }
  }
  out.push('')

  const deadline = r.propagation[0]?.rows[0]?.deadlineMs ?? 0
  out.push(
    '## (c) Block propagation',
    '',
    `Each IP is known (a fresh answer in L1) on every instance; \`block(ip)\` is called on instance 0 and every other ` +
      `instance is polled each millisecond (\`peek\`, then \`lookup\` when L1 has nothing) until it denies the IP ` +
      `(\`listed: 'blocklist'\`), until a deadline (${deadline} ms; two TTLs + 1 s for the short-TTL rows). Latency: from the \`block()\` call to the last instance ` +
      'denying (wall clock, the same machine). Without propagation an instance holding a fresh answer denies only once ' +
      'its L1 copy expires (`cache.ttlSeconds`, 300 s by default). Once every instance enforces a block, `unblock()` ' +
      'is called on instance 0 and the others are watched until they let the IP through again.',
    '',
    '| Variant | Instances | Blocks | Enforced by all within the deadline | within 100 ms | p50, ms | p99, ms | max, ms | `block()` call p50, ms | Unblocks: lifted by all | unblock p50 / p99, ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  )
  for (const v of r.propagation) {
    for (const row of v.rows) {
      out.push(
        `| ${v.label} | ${row.n} | ${row.blocks} | ${row.seenAll} (${row.deadlineMs} ms) | ${row.within100} | ${f(row.p50)} | ${f(row.p99)} | ${f(row.max)} | ${f(row.blockCallMs, 2)} | ${row.unblockSeenAll} of ${row.unblocks} | ${f(row.unblockP50)} / ${f(row.unblockP99)} |`,
      )
    }
  }
  out.push('')

  out.push(
    '## (d) The cost of an L2 hit',
    '',
    'Instance 1 scores new IPs; instance 0, which never saw them, looks each up (an L1 miss answered from L2), ' +
      'interleaved with a bare `GET` of the same answer key on a client of its own to the same Redis. Microseconds, ' +
      'measured in one process; the ratio of the medians is what to compare across machines. ' +
      'Commands per hit: counted by the servers (`INFO commandstats` on every node, before and after), less the bare GETs. ' +
      'Both instances read with `cache.l2TimeoutMs: 1000` (not 50), so that a stall of a loaded machine is measured, not ' +
      'turned into a miss.',
    '',
    '| Redis, configuration | Samples | L2-hit lookup p50 / p99, µs | Bare GET p50 / p99, µs | Lookup / GET (medians) | Redis commands per L2 hit | Answers by source |',
    '|---|---:|---:|---:|---:|---|---|',
  )
  for (const row of r.l2) {
    if ('skipped' in row) out.push(`| ${row.topology} | – | – | – | – | – | skipped: ${row.skipped} |`)
    else {
      const perHit = Object.entries(row.commands)
        .filter(([, v]) => v >= 0.005)
        .map(([k, v]) => `${k.toUpperCase()} ${v.toFixed(2)}`)
        .join(', ')
      out.push(
        `| ${row.topology} | ${row.samples} | ${f(row.lookupP50, 0)} / ${f(row.lookupP99, 0)} | ${f(row.getP50, 0)} / ${f(row.getP99, 0)} | ${f(row.ratio, 2)} | ${perHit || '–'} | ${counts(row.sources)} |`,
      )
    }
  }
  out.push('')
  if (r.notes.length > 0) {
    out.push('## Notes', '')
    for (const n of r.notes) out.push(`- ${n}`)
    out.push('')
  }
  return out.join('\n')
}
