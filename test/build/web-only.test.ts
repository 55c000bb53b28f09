// Every entry point on a runtime with only web-standard APIs (issue #18): the four entries, bundled as wrangler would
// (workerd conditions, @keyv/redis absent, tRPC / graphql / Envelop bundled in), evaluated in a fresh V8 context that
// has fetch, URL, AbortController, timers, crypto and streams, but no `process`, `Buffer`, `require` or Node built-in.
// While the bundle evaluates, timers, AbortController, random values and fetch throw, as Cloudflare Workers forbid them
// at global scope ("Disallowed operation called within global scope"). Then, in that context: ipasis() scores through
// fetch against the local simulator, an unreachable API is reported (never silently allowed), a tRPC gate and an
// Envelop directive block a Tor caller, and startIpasisSimulator() says it needs node:http.
//
// The real runtimes (workerd, the Vercel Edge runtime, Bun, Deno) run in CI (scripts/runtime-smoke.mjs and the runtime
// matrix); this is the cheap guard that `npm test` runs on every change.
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import vm from 'node:vm'
import * as esbuild from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startIpasisSimulator, type IpasisSimulator } from '../../src/testing/index.js'
import { absentPlugin, TARGETS } from '../../scripts/bundle-check.mjs'

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const KEY = 'sk_test_webonly_3b9d'
const CLEAN_IP = '203.0.113.10'
const TOR_IP = '203.0.113.66'

const ENTRY = `
export * as core from './src/core/index.ts'
export * as trpc from './src/trpc/index.ts'
export * as envelop from './src/envelop/index.ts'
export * as testing from './src/testing/index.ts'
export { initTRPC } from '@trpc/server'
export { envelop as createEnvelop, useEngine, useSchema } from '@envelop/core'
export * as graphql from 'graphql'
`

/** The bundle's exports, typed loosely: this test drives them as an application would. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any

let atGlobalScope = true
const disallowed = (what: string): Error =>
  new Error(`Disallowed operation called within global scope: ${what} (what Cloudflare Workers refuse at import)`)

/** A host function that throws while the bundle evaluates, and works afterwards. */
function guarded<F extends (...args: never[]) => unknown>(name: string, fn: F): F {
  return function (this: unknown, ...args: Parameters<F>) {
    if (atGlobalScope) throw disallowed(name)
    return fn.apply(this, args)
  } as F
}

class GuardedAbortController extends AbortController {
  constructor() {
    if (atGlobalScope) throw disallowed('new AbortController()')
    super()
  }
}

function webOnlyContext(): vm.Context {
  const g = globalThis
  const crypto = {
    subtle: g.crypto.subtle,
    getRandomValues: guarded('crypto.getRandomValues', g.crypto.getRandomValues.bind(g.crypto)),
    randomUUID: guarded('crypto.randomUUID', g.crypto.randomUUID.bind(g.crypto)),
  }
  const context = vm.createContext({
    console,
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    Headers,
    Request,
    Response,
    FormData,
    Blob,
    ReadableStream,
    WritableStream,
    TransformStream,
    EventTarget,
    Event,
    DOMException,
    AbortSignal,
    AbortController: GuardedAbortController,
    atob,
    btoa,
    structuredClone,
    queueMicrotask,
    performance,
    crypto,
    fetch: guarded('fetch', g.fetch),
    setTimeout: guarded('setTimeout', setTimeout),
    clearTimeout,
    setInterval: guarded('setInterval', setInterval),
    clearInterval,
    __atGlobalScope: () => atGlobalScope,
  })
  vm.runInContext(
    `(() => { const random = Math.random; Math.random = function () {
       if (__atGlobalScope()) throw new Error('Disallowed operation called within global scope: Math.random')
       return random() } })()`,
    context,
  )
  return context
}

let lib: Loose
let context: vm.Context
let sim: IpasisSimulator
let deadUrl: string

beforeAll(async () => {
  const built = await esbuild.build({
    stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'ts' },
    ...TARGETS.workerd,
    bundle: true,
    format: 'iife',
    globalName: '__iprisk',
    write: false,
    logLevel: 'silent',
    plugins: [absentPlugin],
  })
  context = webOnlyContext()
  expect(vm.runInContext('typeof process + typeof Buffer + typeof require', context)).toBe('undefinedundefinedundefined')
  atGlobalScope = true
  try {
    vm.runInContext(built.outputFiles[0]!.text, context, { filename: 'worker-bundle.js' })
  } finally {
    atGlobalScope = false
  }
  lib = context.__iprisk
  sim = await startIpasisSimulator({ apiKey: KEY, profiles: { [TOR_IP]: 'tor' } })
  const gone = await startIpasisSimulator({ apiKey: KEY })
  deadUrl = gone.url
  await gone.close() // its port now refuses connections
})
afterAll(async () => {
  await sim?.close()
})

/** Wait until `condition` holds (hooks run after the current turn), with a generous deadline. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} }
const viaLoopback = (ip: string) => ({ headers: { 'x-forwarded-for': ip }, socket: { remoteAddress: '127.0.0.1' } })
/** A resolver of the bundle that knows TOR_IP as a Tor exit, behind a proxy on loopback. */
const torResolver = (): Loose =>
  lib.core.createRiskResolver({
    provider: lib.testing.createMemoryProvider({ [TOR_IP]: 'tor' }),
    trustProxy: 'loopback',
    scoreDocumentationRanges: true,
    logger: quiet,
  })

describe('on a runtime with only web-standard APIs', () => {
  it('all four entries evaluate without timers, AbortController, random values or fetch at global scope', () => {
    expect(Object.keys(lib.core)).toContain('createRiskResolver')
    expect(Object.keys(lib.trpc)).toContain('createTrpcRisk')
    expect(Object.keys(lib.envelop)).toContain('useIpRisk')
    expect(Object.keys(lib.testing)).toContain('createMemoryProvider')
  })

  it('ipasis() scores through fetch: clean is scored, Tor is blocked', async () => {
    const risk = lib.core.createRiskResolver({
      provider: lib.core.ipasis({ apiKey: KEY, baseUrl: sim.url }),
      scoreDocumentationRanges: true,
      logger: quiet,
    })
    try {
      const clean = await risk.lookup(CLEAN_IP)
      expect(clean).toMatchObject({ status: 'scored', isTor: false })
      const tor = await risk.lookup(TOR_IP)
      expect(tor).toMatchObject({ status: 'scored', isTor: true })
      expect(risk.check(tor).action).toBe('block')
      expect(sim.callsFor(TOR_IP)).toBe(1)
    } finally {
      await risk.close()
    }
  })

  it('an unreachable API is reported: unavailable, a provider_failing event, status().protected false', async () => {
    const degraded: string[] = []
    const risk = lib.core.createRiskResolver({
      provider: lib.core.ipasis({ apiKey: KEY, baseUrl: deadUrl, timeoutMs: 1_000 }),
      scoreDocumentationRanges: true,
      onDegraded: (event: { kind: string }) => degraded.push(event.kind),
      logger: quiet,
    })
    try {
      const answers = []
      for (const ip of ['203.0.113.20', '203.0.113.21', '203.0.113.22', '203.0.113.23', '203.0.113.24']) {
        answers.push(await risk.lookup(ip))
      }
      expect(answers.map((a) => `${a.status}/${a.error}`)).toContain('unavailable/network')
      expect(answers.every((a) => a.status === 'unavailable')).toBe(true)
      expect(risk.check(answers[0]!)).toMatchObject({ action: 'allow', failOpen: true, reason: 'lookup_unavailable' })
      await until(() => degraded.includes('provider_failing'), 'a provider_failing degraded event')
      expect(risk.status().protected).toBe(false)
    } finally {
      await risk.close()
    }
  })

  it('a tRPC gate blocks a Tor caller and lets a clean one through', async () => {
    const risk = torResolver()
    try {
      const t = lib.initTRPC.context().create()
      const { riskGate } = lib.trpc.createTrpcRisk(risk)
      const router = t.router({ secret: t.procedure.use(riskGate(70)).query(() => 'ok') })
      const call = (ip: string) => t.createCallerFactory(router)({ req: viaLoopback(ip) }).secret()
      await expect(call(CLEAN_IP)).resolves.toBe('ok')
      await expect(call(TOR_IP)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    } finally {
      await risk.close()
    }
  })

  it('an Envelop directive blocks a Tor caller and lets a clean one through', async () => {
    const risk = torResolver()
    try {
      const { graphql } = lib
      const schema = graphql.buildSchema(
        `${lib.envelop.ipRiskTypeDefs}\ntype Query { secret: String @requireLowRisk(threshold: 40) }`,
      )
      const getEnveloped = lib.createEnvelop({
        plugins: [lib.useEngine(graphql), lib.useSchema(schema), lib.envelop.useIpRisk({ resolver: risk })],
      })
      const run = async (ip: string) => {
        const { parse, contextFactory, execute, schema: s } = getEnveloped({ req: viaLoopback(ip) })
        const document = parse('{ secret }')
        return execute({ schema: s, document, rootValue: { secret: 'ok' }, contextValue: await contextFactory() })
      }
      expect(await run(CLEAN_IP)).toEqual({ data: { secret: 'ok' } })
      const blocked = await run(TOR_IP)
      expect(blocked.data?.secret ?? null).toBeNull()
      expect(blocked.errors?.[0]?.extensions?.code).toBe(lib.envelop.IP_RISK_BLOCKED)
    } finally {
      await risk.close()
    }
  })

  it('startIpasisSimulator() refuses with a clear error: it needs node:http', async () => {
    await expect(lib.testing.startIpasisSimulator()).rejects.toThrow(/needs node:http/)
  })
})
