/**
 * The load generator, run in its own process (forked by `load/client.ts`) so that it never shares an event loop
 * with the server under test. It runs autocannon jobs sent over IPC and answers with exact latency statistics.
 */
import autocannon from 'autocannon'
import { Client } from 'undici'
import { SampleBuffer, summarizeLatencies } from '../lib/stats.js'
import { seededRandom } from '../../src/testing/simulator.js'
import { newClientIp } from './ips.js'
import type { FromChild, IpPlan, LoadJob, LoadResult, MixedJob, MixedResult, ToChild } from './protocol.js'

function send(message: FromChild): void {
  process.send?.(message)
}

/** Returns the function that picks the next request's client address, and a counter of distinct clients. */
function ipSource(job: { ips: IpPlan }): { next: () => string; clients: () => number } {
  const plan = job.ips
  let k = 0
  if (plan.kind === 'pool') {
    const ips = plan.ips
    return { next: () => ips[k++ % ips.length]!, clients: () => Math.min(k, ips.length) }
  }
  const { offset, repeat, varyHost } = plan
  return {
    next: () => {
      const n = Math.floor(k / repeat)
      const host = varyHost ? (k % repeat) + 1 : 1
      k++
      return newClientIp(offset + n, host)
    },
    clients: () => Math.ceil(k / repeat),
  }
}

function run(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const ips = ipSource(job)
    const latencies = new SampleBuffer()
    const statusCodes: Record<string, number> = {}
    let errors = 0
    const started = process.hrtime.bigint()
    const instance = autocannon(
      {
        url: job.origin,
        connections: job.connections,
        pipelining: 1,
        duration: job.durationSec,
        // autocannon only notices the end of `duration` at its next sampling tick and keeps sending until then: a
        // short tick makes a run last what was asked (with the default 1 s, 1.2 s would become 2 s).
        sampleInt: 100,
        timeout: 10,
        requests: [
          {
            method: job.method,
            path: job.path,
            headers: job.headers,
            ...(job.body === undefined ? {} : { body: job.body }),
            setupRequest: (req) => {
              req.headers = { ...req.headers, 'x-forwarded-for': ips.next() }
              return req
            },
          },
        ],
      },
      (err) => {
        if (err) {
          reject(err)
          return
        }
        const elapsedSec = Number(process.hrtime.bigint() - started) / 1e9
        const latency = summarizeLatencies(latencies.toArray())
        resolve({
          responses: latency.count,
          statusCodes,
          errors,
          elapsedSec,
          rps: latency.count / elapsedSec,
          latency,
          clientsSent: ips.clients(),
        })
      },
    )
    // autocannon's own histogram keeps whole milliseconds; `responseTime` is the exact hrtime duration.
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      latencies.push(responseTime)
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1
    })
    instance.on('reqError', () => {
      errors++
    })
  })
}

/** See {@link MixedJob}. undici rather than autocannon: autocannon cannot alternate between requests this way. */
async function mixed(job: MixedJob): Promise<MixedResult> {
  const clients = new Map<string, Client>()
  for (const r of job.requests) if (!clients.has(r.origin)) clients.set(r.origin, new Client(r.origin, { pipelining: 1 }))
  const ips = ipSource(job)
  const random = seededRandom(job.seed)
  const samples = job.requests.map(() => new SampleBuffer())
  const statusCodes: Record<string, number> = {}
  let errors = 0
  const one = async (index: number, ip: string): Promise<number> => {
    const r = job.requests[index]!
    const started = process.hrtime.bigint()
    try {
      const res = await clients.get(r.origin)!.request({
        method: r.method,
        path: r.path,
        headers: { ...r.headers, 'x-forwarded-for': ip },
        ...(r.body === undefined ? {} : { body: r.body }),
      })
      await res.body.dump()
      statusCodes[res.statusCode] = (statusCodes[res.statusCode] ?? 0) + 1
    } catch {
      errors++
    }
    return Number(process.hrtime.bigint() - started) / 1e6
  }
  const order = job.requests.map((_, i) => i)
  const t0 = process.hrtime.bigint()
  try {
    for (let cycle = 0; cycle < job.cycles; cycle++) {
      // Fisher–Yates: a fresh order every cycle, so no request always follows the same one.
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1))
        const x = order[i]!
        order[i] = order[j]!
        order[j] = x
      }
      const ip = ips.next()
      for (const index of order) samples[index]!.push(await one(index, ip))
    }
  } finally {
    await Promise.all([...clients.values()].map((c) => c.close()))
  }
  return {
    latency: samples.map((s) => summarizeLatencies(s.toArray())),
    statusCodes,
    errors,
    elapsedSec: Number(process.hrtime.bigint() - t0) / 1e9,
  }
}

process.on('message', (message: ToChild) => {
  if (message.type === 'exit') {
    process.disconnect?.()
    return
  }
  if (message.type === 'mixed') {
    mixed(message.job).then(
      (result) => send({ type: 'mixed', id: message.id, result }),
      (err: unknown) => send({ type: 'error', id: message.id, message: err instanceof Error ? err.message : String(err) }),
    )
    return
  }
  run(message.job).then(
    (result) => send({ type: 'result', id: message.id, result }),
    (err: unknown) => send({ type: 'error', id: message.id, message: err instanceof Error ? err.message : String(err) }),
  )
})

send({ type: 'ready' })
