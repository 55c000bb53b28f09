/**
 * docs/observability.md names what the code does: every option it lists is accepted by `createRiskResolver` (whose
 * options are strict, so a misspelt name would be refused), its event table lists exactly the fields of an event, its
 * metrics table exactly the instruments, every Prometheus series in its queries is one the exporter produces from
 * them, and the log messages it quotes are the ones emitted.
 */
import { readFileSync } from 'node:fs'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { describe, expect, it } from 'vitest'
import {
  IpRiskConfigError,
  createRiskResolver,
  metricNames,
  policies,
  type IpRisk,
  type RiskResolverOptions,
} from '../../src/core/index.js'
import { DECISION_LOG_MESSAGE, securityEvent } from '../../src/core/events.js'
import { createMemoryProvider } from '../../src/testing/index.js'

const doc = readFileSync(new URL('../../docs/observability.md', import.meta.url), 'utf8')
const lines = doc.split('\n')

/** The first cell of every body row of the first table after `heading`, with code spans unwrapped and split on commas. */
function firstColumn(heading: string): string[] {
  const start = lines.indexOf(heading)
  expect(start, `heading ${heading}`).toBeGreaterThanOrEqual(0)
  let i = start + 1
  while (i < lines.length && !(lines[i] ?? '').startsWith('|')) i++
  const rows: string[] = []
  for (i += 2; i < lines.length && (lines[i] ?? '').startsWith('|'); i++) rows.push(lines[i] as string)
  return rows.flatMap((row) =>
    (row.split('|')[1] ?? '')
      .split(',')
      .map((cell) => cell.trim().replace(/^`|`$/g, ''))
      .filter((cell) => cell !== ''),
  )
}

/** A valid value for each observability option (the resolver checks them). */
const validValues: Record<string, unknown> = {
  logger: { info: () => undefined, warn: () => undefined },
  sampleAllows: 0.5,
  onDecision: () => undefined,
  onBlock: () => undefined,
  onHighRisk: () => undefined,
  onDegraded: () => undefined,
  highRiskScore: 90,
  meterProvider: new MeterProvider(),
}

describe('docs/observability.md', () => {
  it('lists every observability option of createRiskResolver, each accepted under that name', async () => {
    const documented = firstColumn('## Options')
    expect(documented.sort()).toStrictEqual(Object.keys(validValues).sort())
    for (const name of documented) {
      const resolver = createRiskResolver({ provider: createMemoryProvider({}), [name]: validValues[name] } as RiskResolverOptions)
      await resolver.close()
    }
    // The check above could not pass for a misspelt name: unknown options are refused.
    expect(() => createRiskResolver({ provider: createMemoryProvider({}), sampleAllow: 1 } as RiskResolverOptions)).toThrow(
      IpRiskConfigError,
    )
  })

  it('lists exactly the fields of a security event', () => {
    const risk: IpRisk = {
      ip: '203.0.113.7', ipKind: 'global', status: 'scored', error: null, listed: null, source: 'upstream', lookupMs: 3,
      score: 92, isVpn: false, isProxy: false, isTor: true, isDatacenter: false, countryCode: 'DE', asn: 24940, isp: 'Hetzner',
    }
    const event = securityEvent(createRiskResolver({ provider: createMemoryProvider({}) }).check(risk, policies.human))
    expect(firstColumn('## Security events').sort()).toStrictEqual(Object.keys(event).sort())
  })

  it('lists exactly the instruments, under their registered names', () => {
    expect(firstColumn('## Metrics').sort()).toStrictEqual(Object.values(metricNames).sort())
  })

  it('queries only series the Prometheus exporter produces from those instruments', () => {
    // The exporter replaces dots with underscores, adds _total to counters, and splits a histogram into _bucket,
    // _count and _sum.
    const prom = (name: string) => name.replace(/\./g, '_')
    const counters = [metricNames.decisions, metricNames.cacheLookups, metricNames.upstreamErrors, metricNames.budgetRejections, metricNames.hookErrors]
    const series = new Set([
      ...counters.map((name) => `${prom(name)}_total`),
      ...['_bucket', '_count', '_sum'].map((suffix) => prom(metricNames.upstreamDuration) + suffix),
      prom(metricNames.breakerState),
    ])
    const used = [...doc.matchAll(/\biprisk_[a-z_]+/g)].map((m) => m[0])
    expect(used.length).toBeGreaterThanOrEqual(6)
    expect(used.filter((name) => !series.has(name))).toStrictEqual([])
  })

  it('quotes the log messages iprisk emits', () => {
    expect(DECISION_LOG_MESSAGE).toBe('iprisk decision')
    expect(doc).toContain('`iprisk decision`')
    expect(doc).toContain("'iprisk <hook> hook failed'")
    expect(doc).toContain('iprisk: configuration problem with `<option>`: ')
  })

  it('documents the Prometheus set-up, the webhook alert and the rotating log file', () => {
    expect(doc).toContain("from '@opentelemetry/exporter-prometheus'")
    expect(doc).toContain('new MeterProvider({ readers: [exporter] })')
    expect(doc).toMatch(/createRiskResolver\(\{\n  provider: ipasis\(\{ apiKey: [^\n]+\n  meterProvider,\n\}\)/)
    expect(doc).toContain('### Recipe: webhook alert')
    expect(doc).toContain('### Recipe: rotating security log file')
  })
})
