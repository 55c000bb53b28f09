/**
 * The load generator, run in its own process (forked by `load/client.ts`) so that it never shares an event loop
 * with the server under test. It runs autocannon jobs sent over IPC and answers with exact latency statistics.
 */
import autocannon from 'autocannon'
import { Client } from 'undici'
import { SampleBuffer, summarizeLatencies } from '../lib/stats.js'
import { newClientIp } from './ips.js'
import type { FromChild, InterleaveJob, InterleaveResult, IpPlan, LoadJob, LoadResult, ToChild } from './protocol.js'

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

/** See {@link InterleaveJob}. undici rather than autocannon: autocannon cannot alternate between two servers. */
async function interleave(job: InterleaveJob): Promise<InterleaveResult> {
  const clients = job.origins.map((origin) => new Client(origin, { pipelining: 1 }))
  const ips = ipSource(job)
  const samples = [new SampleBuffer(), new SampleBuffer()]
  const statusCodes: Record<string, number> = {}
  let errors = 0
  let diffSum = 0
  const one = async (side: number, ip: string): Promise<number> => {
    const started = process.hrtime.bigint()
    try {
      const res = await clients[side]!.request({
        method: job.method,
        path: job.path,
        headers: { ...job.headers, 'x-forwarded-for': ip },
        ...(job.body === undefined ? {} : { body: job.body }),
      })
      await res.body.dump()
      statusCodes[res.statusCode] = (statusCodes[res.statusCode] ?? 0) + 1
    } catch {
      errors++
    }
    return Number(process.hrtime.bigint() - started) / 1e6
  }
  const t0 = process.hrtime.bigint()
  try {
    for (let i = 0; i < job.warmup + job.requests; i++) {
      // Same client address on both sides; A B then B A, so neither side always goes first.
      const ip = ips.next()
      const first = i % 2
      const x = await one(first, ip)
      const y = await one(1 - first, ip)
      if (i < job.warmup) continue
      const a = first === 0 ? x : y
      const b = first === 0 ? y : x
      samples[0]!.push(a)
      samples[1]!.push(b)
      diffSum += b - a
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()))
  }
  return {
    a: summarizeLatencies(samples[0]!.toArray()),
    b: summarizeLatencies(samples[1]!.toArray()),
    meanDiff: diffSum / job.requests,
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
  if (message.type === 'interleave') {
    interleave(message.job).then(
      (result) => send({ type: 'interleaved', id: message.id, result }),
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
