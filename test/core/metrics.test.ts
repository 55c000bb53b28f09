import { DataPointType, MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics'
import { createNoopMeter } from '@opentelemetry/api'
import { describe, expect, it, vi } from 'vitest'
import { createMetrics, metricNames, type Metrics } from '../../src/core/metrics.js'

/** A pull reader: `collect()` returns what the instruments hold (cumulative). */
class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

function setup(): { metrics: Metrics; read: () => Promise<MetricData[]> } {
  const reader = new TestReader()
  const provider = new MeterProvider({ readers: [reader] })
  const metrics = createMetrics(provider)
  return {
    metrics,
    async read() {
      const { resourceMetrics } = await reader.collect()
      return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)
    },
  }
}

function find(all: MetricData[], name: string): MetricData | undefined {
  return all.find((m) => m.descriptor.name === name)
}

/** `{ 'attr=value,…': value }` for a counter or gauge; sorted attribute keys. */
function values(all: MetricData[], name: string): Record<string, number> {
  const metric = find(all, name)
  const out: Record<string, number> = {}
  if (metric === undefined) return out
  for (const point of metric.dataPoints) {
    const key = Object.entries(point.attributes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(',')
    out[key] = point.value as number
  }
  return out
}

/** `{ outcome: { count, sum } }` for the upstream histogram. */
function histogram(all: MetricData[]): Record<string, { count: number; sum: number }> {
  const metric = find(all, metricNames.upstreamDuration)
  const out: Record<string, { count: number; sum: number }> = {}
  if (metric === undefined) return out
  expect(metric.dataPointType).toBe(DataPointType.HISTOGRAM)
  for (const point of metric.dataPoints) {
    const value = point.value as { count: number; sum?: number }
    out[String(point.attributes.outcome)] = { count: value.count, sum: value.sum ?? Number.NaN }
  }
  return out
}

describe('createMetrics', () => {
  it('registers the documented instrument names', () => {
    expect(metricNames).toStrictEqual({
      decisions: 'iprisk.decisions',
      cacheLookups: 'iprisk.cache.lookups',
      upstreamDuration: 'iprisk.upstream.duration',
      upstreamErrors: 'iprisk.upstream.errors',
      breakerState: 'iprisk.breaker.state',
      budgetRejections: 'iprisk.budget.rejections',
      hookErrors: 'iprisk.hook.errors',
      l2Errors: 'iprisk.cache.l2_errors',
      degraded: 'iprisk.degraded',
    })
  })

  it('counts decisions by action and reason', async () => {
    const { metrics, read } = setup()
    metrics.decision('block', 'tor_exit_node')
    metrics.decision('block', 'tor_exit_node')
    metrics.decision('allow', 'clean')
    metrics.decision('monitor', 'risk_score_exceeded')
    expect(values(await read(), 'iprisk.decisions')).toStrictEqual({
      'action=block,reason=tor_exit_node': 2,
      'action=allow,reason=clean': 1,
      'action=monitor,reason=risk_score_exceeded': 1,
    })
  })

  it('counts a value outside the types instead of dropping it', async () => {
    const { metrics, read } = setup()
    metrics.decision('deny' as never, 'weird' as never)
    metrics.cache('l3' as never)
    expect(values(await read(), 'iprisk.decisions')).toStrictEqual({ 'action=deny,reason=weird': 1 })
    expect(values(await read(), 'iprisk.cache.lookups')).toStrictEqual({ 'tier=l3': 1 })
  })

  it('counts cache lookups by tier', async () => {
    const { metrics, read } = setup()
    for (const tier of ['l1', 'l1', 'l1', 'l2', 'stale', 'miss', 'miss'] as const) metrics.cache(tier)
    expect(values(await read(), 'iprisk.cache.lookups')).toStrictEqual({
      'tier=l1': 3,
      'tier=l2': 1,
      'tier=stale': 1,
      'tier=miss': 2,
    })
  })

  it('records upstream latency by outcome and counts every non-ok outcome as an error', async () => {
    const { metrics, read } = setup()
    metrics.upstream(40, 'ok')
    metrics.upstream(60, 'ok')
    metrics.upstream(150, 'timeout')
    metrics.upstream(12, 'http_error')
    metrics.upstream(0, 'breaker_open')
    metrics.upstream(0, 'budget_exceeded')
    const all = await read()
    expect(histogram(all)).toStrictEqual({
      ok: { count: 2, sum: 100 },
      timeout: { count: 1, sum: 150 },
      http_error: { count: 1, sum: 12 },
    })
    expect(values(all, 'iprisk.upstream.errors')).toStrictEqual({
      'kind=timeout': 1,
      'kind=http_error': 1,
      'kind=breaker_open': 1,
      'kind=budget_exceeded': 1,
    })
  })

  it.each([
    { name: 'negative', duration: -1 },
    { name: 'NaN', duration: Number.NaN },
    { name: 'infinite', duration: Number.POSITIVE_INFINITY },
  ])('ignores a $name duration but still counts the error', async ({ duration }) => {
    const { metrics, read } = setup()
    metrics.upstream(duration, 'network')
    const all = await read()
    expect(histogram(all)).toStrictEqual({})
    expect(values(all, 'iprisk.upstream.errors')).toStrictEqual({ 'kind=network': 1 })
  })

  it('uses millisecond buckets suited to provider latency', async () => {
    const { metrics, read } = setup()
    metrics.upstream(30, 'ok')
    const metric = find(await read(), metricNames.upstreamDuration)
    expect(metric?.descriptor.unit).toBe('ms')
    const point = metric?.dataPoints[0]?.value as { buckets: { boundaries: number[]; counts: number[] } }
    expect(point.buckets.boundaries).toStrictEqual([1, 2.5, 5, 10, 25, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000])
    // 30 ms falls in the (25, 50] bucket, the sixth.
    expect(point.buckets.counts[5]).toBe(1)
  })

  it('reports the breaker as closed until told otherwise', async () => {
    const { read } = setup()
    expect(values(await read(), 'iprisk.breaker.state')).toStrictEqual({
      'state=closed': 1,
      'state=open': 0,
      'state=half_open': 0,
    })
  })

  it.each(['open', 'half_open', 'closed'] as const)('reports the breaker state %s as 1 and the others as 0', async (state) => {
    const { metrics, read } = setup()
    metrics.breakerState(state === 'closed' ? 'open' : 'closed')
    metrics.breakerState(state)
    const expected = { 'state=closed': 0, 'state=open': 0, 'state=half_open': 0, [`state=${state}`]: 1 }
    expect(values(await read(), 'iprisk.breaker.state')).toStrictEqual(expected)
  })

  it('ignores an unknown breaker state', async () => {
    const { metrics, read } = setup()
    metrics.breakerState('open')
    metrics.breakerState('melted' as never)
    expect(values(await read(), 'iprisk.breaker.state')['state=open']).toBe(1)
  })

  it('stops observing the breaker after close()', async () => {
    const { metrics, read } = setup()
    metrics.close()
    expect(values(await read(), 'iprisk.breaker.state')).toStrictEqual({})
    expect(() => metrics.cache('l1')).not.toThrow()
  })

  it('counts budget rejections by kind', async () => {
    const { metrics, read } = setup()
    metrics.budgetRejected('in_flight')
    metrics.budgetRejected('per_minute')
    metrics.budgetRejected('per_minute')
    expect(values(await read(), 'iprisk.budget.rejections')).toStrictEqual({
      'kind=in_flight': 1,
      'kind=per_minute': 2,
    })
  })

  it('counts hook errors by hook', async () => {
    const { metrics, read } = setup()
    metrics.hookError('onBlock')
    metrics.hookError('onHighRisk')
    metrics.hookError('onBlock')
    expect(values(await read(), 'iprisk.hook.errors')).toStrictEqual({ 'hook=onBlock': 2, 'hook=onHighRisk': 1 })
  })

  it('two metrics objects on separate providers do not share counts', async () => {
    const a = setup()
    const b = setup()
    a.metrics.cache('l1')
    expect(values(await a.read(), 'iprisk.cache.lookups')).toStrictEqual({ 'tier=l1': 1 })
    expect(values(await b.read(), 'iprisk.cache.lookups')).toStrictEqual({})
  })

  it('works without a meter provider (global no-op unless an SDK is registered)', () => {
    const metrics = createMetrics()
    expect(() => {
      metrics.decision('allow', 'clean')
      metrics.cache('miss')
      metrics.upstream(10, 'ok')
      metrics.breakerState('open')
      metrics.budgetRejected('in_flight')
      metrics.hookError('onDecision')
      metrics.close()
    }).not.toThrow()
  })

  it("on OpenTelemetry's no-op meter, creates no instrument and records into one shared empty function", () => {
    const noop = createNoopMeter()
    const created = [
      vi.spyOn(noop, 'createCounter'),
      vi.spyOn(noop, 'createHistogram'),
      vi.spyOn(noop, 'createObservableGauge'),
    ]
    try {
      for (const metrics of [createMetrics(), createMetrics({ getMeter: () => noop })]) {
        const recorders = [
          metrics.decision,
          metrics.cache,
          metrics.upstream,
          metrics.breakerState,
          metrics.budgetRejected,
          metrics.hookError,
          metrics.l2Error,
          metrics.close,
        ]
        expect(new Set(recorders).size).toBe(1)
        expect(() => {
          metrics.decision('nonsense' as 'allow', 'nonsense' as 'clean')
          metrics.upstream(Number.NaN, 'ok')
          metrics.close()
        }).not.toThrow()
      }
      for (const spy of created) expect(spy).not.toHaveBeenCalled()
    } finally {
      for (const spy of created) spy.mockRestore()
    }
  })

  it('on any other meter, creates the instruments (a provider that is not the no-op one is never skipped)', () => {
    const reader = new TestReader()
    const meter = new MeterProvider({ readers: [reader] }).getMeter('iprisk')
    const createCounter = vi.spyOn(meter, 'createCounter')
    createMetrics({ getMeter: () => meter })
    expect(createCounter.mock.calls.map(([name]) => name)).toContain(metricNames.decisions)
  })
})
