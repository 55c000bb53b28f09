/**
 * The scripted check every runtime of the matrix answers, over real HTTP to the host it runs (hosts/*): for the tRPC
 * app (fetch adapter) and the Yoga app of examples/fetch/app.ts,
 *
 *   clean     a clean caller: `whoami` says scored, not Tor, the right IP; `signup` (requireHuman) answers 200 and its
 *             body ran;
 *   tor       a Tor caller: `signup` answers 403 and its body did NOT run (the host counts bodies that ran);
 *   forged    forwarding headers a client wrote, from where the runtime lets a client write them, name a Tor address:
 *             they are ignored (`whoami` reports the address the runtime vouches for, `signup` is not blocked);
 *   unreachable  the same app pointed at a closed port: the lookups answer `unavailable`, `/healthz` says 503 with
 *             `provider_failing`, and the resolver raised a `provider_failing` degraded event and a warning.
 *
 * How a caller is made depends on how the runtime learns the client address (`mode`):
 *   peer     (Node, Bun, Deno) the socket peer; the app trusts 127.0.0.2 as its proxy (a stand-in nginx): clean and
 *            Tor callers come through it (from 127.0.0.2, `X-Forwarded-For`), the forger connects from 127.0.0.1;
 *   workerd  (Cloudflare Workers) no peer: Cloudflare's `CF-Connecting-IP`, which the edge overwrites and miniflare
 *            sets from the socket when absent (the forger sends none, so it is 127.0.0.1);
 *   edge     (Vercel Edge) no peer: `x-vercel-forwarded-for`, which Vercel overwrites; the forger adds the headers
 *            Vercel passes through untouched (`CF-Connecting-IP`, `True-Client-IP`, `Fly-Client-IP`, `Forwarded`).
 */
import { request as httpRequest } from 'node:http'

export const KEY = 'sk_matrix_7c21d4'
export const CLEAN_IP = '203.0.113.10'
export const TOR_IP = '203.0.113.66'
const KV_IP = '203.0.113.11'
const DEAD_IPS = ['203.0.113.20', '203.0.113.21', '203.0.113.22', '203.0.113.23', '203.0.113.24', '203.0.113.25', '203.0.113.26']

/** One HTTP request with node:http (it can choose the local address). Resolves `{ status, json, text }`. */
export function send(port, { method = 'GET', path, headers = {}, body, from = '127.0.0.1' }) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, localAddress: from, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d) => (text += d))
        res.on('end', () => {
          let json
          try {
            json = JSON.parse(text)
          } catch {}
          resolve({ status: res.statusCode, json, text })
        })
      },
    )
    req.setTimeout(20_000, () => req.destroy(new Error(`no answer to ${method} ${path} in 20 s`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** The request options that make a caller with address `ip` reach the app in this mode. */
function callerVia(mode, ip) {
  if (mode === 'peer') return { from: '127.0.0.2', headers: { 'x-forwarded-for': ip } }
  if (mode === 'workerd') return { headers: { 'cf-connecting-ip': ip } }
  return { headers: { 'x-vercel-forwarded-for': ip, 'x-real-ip': ip, 'x-forwarded-for': ip } }
}

/** The forger of this mode, and the address the app must see instead of the Tor address it claims. */
function forger(mode) {
  const lies = { 'x-real-ip': TOR_IP, 'true-client-ip': TOR_IP, 'fly-client-ip': TOR_IP, forwarded: `for=${TOR_IP}` }
  if (mode === 'peer') return { expectIp: '127.0.0.1', from: '127.0.0.1', headers: { ...lies, 'x-forwarded-for': TOR_IP, 'cf-connecting-ip': TOR_IP } }
  if (mode === 'workerd') return { expectIp: '127.0.0.1', headers: { ...lies, 'x-forwarded-for': TOR_IP, 'x-vercel-forwarded-for': TOR_IP } }
  return { expectIp: CLEAN_IP, headers: { ...callerVia('edge', CLEAN_IP).headers, ...lies, 'cf-connecting-ip': TOR_IP } }
}

const apps = {
  trpc: {
    whoami: (prefix) => ({ path: `${prefix}/trpc/whoami` }),
    signup: (prefix) => ({ method: 'POST', path: `${prefix}/trpc/signup`, body: '' }),
    caller: (res) => res.json?.result?.data,
  },
  yoga: {
    whoami: (prefix) => ({ method: 'POST', path: `${prefix}/graphql`, body: JSON.stringify({ query: '{ whoami { ip status isTor } }' }) }),
    signup: (prefix) => ({ method: 'POST', path: `${prefix}/graphql`, body: JSON.stringify({ query: 'mutation { signup(email: "a@example.com") }' }) }),
    caller: (res) => res.json?.data?.whoami,
  },
}

/** Runs every check against the host on `port`; returns `[{ app, check, ok, detail }]`. */
export async function runChecks(port, mode, sim) {
  const results = []
  const served = async () => (await send(port, { path: '/__matrix/state' })).json
  const call = (app, kind, via, prefix = '') => {
    const base = apps[app][kind](prefix)
    return send(port, { ...base, ...via, headers: { ...via.headers } })
  }
  for (const app of Object.keys(apps)) {
    const record = (check, ok, detail) => results.push({ app, check, ok: Boolean(ok), detail })
    const attempt = async (check, fn) => {
      try {
        await fn((ok, detail) => record(check, ok, detail))
      } catch (error) {
        record(check, false, `threw ${error?.message ?? error}`)
      }
    }
    await attempt('clean', async (done) => {
      const who = apps[app].caller(await call(app, 'whoami', callerVia(mode, CLEAN_IP)))
      const before = (await served()).served
      const signup = await call(app, 'signup', callerVia(mode, CLEAN_IP))
      const after = (await served()).served
      done(
        who?.ip === CLEAN_IP && who?.status === 'scored' && who?.isTor === false && signup.status === 200 && after === before + 1,
        `whoami ${JSON.stringify(who)}; signup ${signup.status}; bodies run ${after - before}`,
      )
    })
    await attempt('tor', async (done) => {
      const before = (await served()).served
      const signup = await call(app, 'signup', callerVia(mode, TOR_IP))
      const after = (await served()).served
      done(signup.status === 403 && after === before, `signup ${signup.status}; bodies run ${after - before}`)
    })
    await attempt('forged', async (done) => {
      const f = forger(mode)
      const who = apps[app].caller(await call(app, 'whoami', f))
      const signup = await call(app, 'signup', f)
      done(who?.ip === f.expectIp && signup.status === 200, `whoami ip ${who?.ip} (want ${f.expectIp}); signup ${signup.status}`)
    })
  }
  // One unreachable provider serves both apps (one resolver, as in the example): tRPC and Yoga callers in turn.
  await attempt2(results, 'both', 'unreachable', async (done) => {
    // tRPC's whoami waits for the lookup (withIpRisk's default) and says what it got; Yoga's whoami is ungated (it
    // does not wait), so Yoga's caller is its gated signup, allowed by the default fail-open mode, and reported below.
    const statuses = []
    for (const [i, ip] of DEAD_IPS.entries()) {
      if (i % 2 === 0) statuses.push(apps.trpc.caller(await call('trpc', 'whoami', callerVia(mode, ip), '/dead'))?.status)
      else statuses.push(`signup ${(await call('yoga', 'signup', callerVia(mode, ip), '/dead')).status}`)
    }
    const health = await send(port, { path: '/dead/healthz' })
    const state = await served()
    const degraded = state.degraded.includes('dead:provider_failing')
    const warned = state.warnings.some((w) => w.startsWith('dead:') && w.includes('provider_failing'))
    done(
      statuses.every((s) => s === 'unavailable' || s === 'signup 200') && health.status === 503 && health.json?.problems?.includes('provider_failing') && degraded && warned,
      `trpc whoami / yoga signup: [${[...new Set(statuses)]}]; /healthz ${health.status} ${JSON.stringify(health.json?.problems)}; degraded events [${state.degraded}]; warning ${warned}`,
    )
  })
  if (mode !== 'peer') {
    // No TCP for node-redis here: `cache: 'redis://…'` must be refused at start-up, naming what works instead.
    await attempt2(results, 'redis', 'refused', async (done) => {
      const r = (await send(port, { path: '/__matrix/redis' })).json
      done(
        r?.thrown === 'IpRiskConfigError' && r.option === 'cache' && /cannot work on/.test(r.message) && /workersKvStore/.test(r.message),
        `${r?.thrown ?? 'accepted'}: ${r?.message ?? ''}`.slice(0, 200),
      )
    })
  }
  if (mode === 'workerd' && sim) {
    // The shared cache on Workers: two resolvers on one KV namespace (workerd's local KV). The first asks the provider
    // and writes KV; the second, with its own empty L1, must answer from KV without asking the provider.
    await attempt2(results, 'kv', 'shared', async (done) => {
      const ip = KV_IP
      const before = sim.callsFor(ip)
      const a = apps.trpc.caller(await call('trpc', 'whoami', callerVia(mode, ip), '/kv-a'))
      const afterA = sim.callsFor(ip)
      // The write goes on after A's response (through waitUntil): wait until the namespace holds it, then ask B.
      let keys = []
      for (let i = 0; i < 100 && !keys.some((k) => k.includes(ip)); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100))
        keys = (await send(port, { path: '/__matrix/kv-keys' })).json ?? []
      }
      const b = apps.trpc.caller(await call('trpc', 'whoami', callerVia(mode, ip), '/kv-b'))
      const afterB = sim.callsFor(ip)
      done(
        a?.status === 'scored' && b?.status === 'scored' && afterA === before + 1 && afterB === afterA,
        `kv-a ${a?.status} (provider calls +${afterA - before}); KV keys [${keys}]; kv-b ${b?.status} (provider calls +${afterB - afterA})`,
      )
    })
  }
  return results
}

async function attempt2(results, app, check, fn) {
  try {
    await fn((ok, detail) => results.push({ app, check, ok: Boolean(ok), detail }))
  } catch (error) {
    results.push({ app, check, ok: false, detail: `threw ${error?.message ?? error}` })
  }
}

/**
 * The example's own entry (examples/bun/server.ts, examples/deno/server.ts, the Workers example's default export),
 * driven as its README does: with `IPRISK_SIMULATOR=1`, a caller on 127.0.0.1 is scored clean and one on 127.0.0.40
 * (a Tor exit in the simulator) is blocked, by the address it really connects from.
 */
export async function exampleChecks(port, prefix = '') {
  const results = []
  await attempt2(results, 'example', 'readme', async (done) => {
    const who = apps.trpc.caller(await send(port, { ...apps.trpc.whoami(prefix) }))
    const clean = await send(port, { ...apps.trpc.signup(prefix) })
    const tor = await send(port, { ...apps.trpc.signup(prefix), from: '127.0.0.40' })
    const torYoga = await send(port, { ...apps.yoga.signup(prefix), from: '127.0.0.40' })
    done(
      who?.ip === '127.0.0.1' && who?.status === 'scored' && clean.status === 200 && tor.status === 403 && torYoga.status === 403,
      `whoami ${JSON.stringify(who)}; signup from 127.0.0.1 ${clean.status}, from 127.0.0.40 (Tor): tRPC ${tor.status}, Yoga ${torYoga.status}`,
    )
  })
  return results
}
