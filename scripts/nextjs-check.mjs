#!/usr/bin/env node
/**
 * The Next.js example (examples/nextjs) built and served for real, against the BUILT package (issue #18):
 *
 *   npm run build
 *   node scripts/nextjs-check.mjs [--runtimes nodejs,edge] [--update-lockfile]
 *
 * 1. Install. `npm pack` of this repository (what npm would publish: dist/ included) goes where the example's
 *    `"iprisk": "file:../.."` points, inside a cache directory outside the clone:
 *    `${XDG_CACHE_HOME:-~/.cache}/iprisk-ci/nextjs-<key>/pkg/examples/nextjs`, key = the example's package.json,
 *    package-lock.json and .npmrc, iprisk's own dependencies, Node and npm versions, OS and CPU. A new key runs
 *    `npm ci` there (cold); a known key only replaces node_modules/iprisk with the new pack (warm), exactly what
 *    npm's `install-links` puts there. `@keyv/redis` (an optional peer) is not installed, and the check says so.
 *    `npm ci` does not compare a `file:` package's dependencies with the lockfile, so this script does: when iprisk's
 *    dependencies changed, it stops and asks for `--update-lockfile` (which rewrites examples/nextjs/package-lock.json
 *    with `npm install --package-lock-only`, keeping every other pin).
 * 2. `next build` of the example's sources (copied afresh), then the size of each API route's server code.
 * 3. `next start` on 127.0.0.1, reached through a stand-in for Vercel's edge (below), with the IPASIS simulator
 *    (from dist/testing) as the provider, and over HTTP, on every route (tRPC and Yoga, Node and Edge runtime):
 *    - a clean caller → 200, scored as the address the edge saw, and the procedure / resolver ran;
 *    - a Tor caller → 403 on the query (`riskGate(70)` / `@requireLowRisk(threshold: 70)`) and on the mutation
 *      (`requireHuman()` / `@requireHuman`), and the body did not run (its log line is absent);
 *    - forged forwarding headers (below) do not choose the IP, in either direction;
 *    - then `next start` again with an unreachable provider: calls are allowed (fail-open, the default) AND reported:
 *      each answer says `unavailable` (`network`, then `breaker_open`), and the server log carries iprisk's
 *      `provider_failing` warning for each runtime.
 *
 * What "forged" means here. On Vercel, only Vercel's edge reaches a function. The edge sets `x-forwarded-for`,
 * `x-real-ip` and `x-vercel-forwarded-for` to the address the client connected from, overwriting whatever the client
 * sent, and passes other headers through (Vercel's "Request headers" page). A forged header is therefore either one
 * of those three sent by the client (the edge replaces it), or another IP header the edge passes through
 * (`Forwarded`, `CF-Connecting-IP`, `True-Client-IP`, `X-Client-IP`), which `platforms.vercel()` never reads.
 * `next start` has no Vercel in front, so this script runs a stand-in that does exactly what Vercel documents, and
 * no more: it maps the loopback address a test caller binds (127.0.0.2 = clean, 127.0.0.3 = Tor, 127.0.1.N = the
 * N-th caller of the unreachable-provider phase) to a public-looking documentation address (the edge's view of
 * the client), overwrites the three headers with it, and forwards everything else untouched. The app listens on
 * 127.0.0.1 only and the callers go through the stand-in, as on Vercel; what is under test is the app and iprisk,
 * not the stand-in. One extra request bypasses the stand-in and is printed as `info`: a preset trusted by position
 * believes whatever reaches the app, which is why the app must be reachable only through the platform.
 *
 * Ports 7600–7699 (this check's range); the callers bind 127.0.0.2 and up (Linux answers on all of 127.0.0.0/8). Exit code 0 only when the build and every check passed. Plain JavaScript, no
 * dependency beyond Node and npm; the example's own dependencies are pinned in examples/nextjs/package-lock.json.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { request as httpRequest, createServer } from 'node:http'
import { connect } from 'node:net'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const repo = resolve(fileURLToPath(import.meta.url), '../..')
const exampleDir = join(repo, 'examples/nextjs')
const PORTS = { app: 7601, appDead: 7602, edge: 7610, sim: 7611, dead: 7619 }
const KEY = 'sk_nextjs_check_4f1c'
const CLEAN = '203.0.113.10'
const TOR = '203.0.113.66'
/** What a Tor caller claims to be: clean by the simulator's default profile, and never a caller's real address. */
const FORGED_CLEAN = '203.0.113.77'
/** The stand-in edge's view of each test caller: the loopback address it binds → the client address Vercel states. */
const CALLERS = new Map([['127.0.0.2', CLEAN], ['127.0.0.3', TOR]])
for (let n = 1; n <= 48; n++) CALLERS.set(`127.0.1.${n}`, `203.0.113.${100 + n}`)
const FORGED = (ip) => ({
  'x-forwarded-for': ip,
  'x-real-ip': ip,
  'x-vercel-forwarded-for': ip,
  forwarded: `for=${ip}`,
  'cf-connecting-ip': ip,
  'true-client-ip': ip,
  'x-client-ip': ip,
})

const args = process.argv.slice(2)
const arg = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined)
const runtimes = (arg('--runtimes') ?? 'nodejs,edge').split(',').filter(Boolean)
const updateLockfile = args.includes('--update-lockfile')
const ROUTES = [
  { api: 'trpc', runtime: 'nodejs', path: '/api/trpc' },
  { api: 'graphql', runtime: 'nodejs', path: '/api/graphql' },
  { api: 'trpc', runtime: 'edge', path: '/api/edge/trpc' },
  { api: 'graphql', runtime: 'edge', path: '/api/edge/graphql' },
].filter((r) => runtimes.includes(r.runtime))

const timings = []
const results = []
const started = performance.now()
const cleanups = []
let failed = false

function time(label, ms) {
  timings.push([label, ms])
  console.log(`time ${label}: ${(ms / 1000).toFixed(1)} s`)
}
function expect(name, ok, detail) {
  results.push({ name, ok: Boolean(ok) })
  if (!ok) failed = true
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}`)
}

// `next start` runs in its own process group (so that it can be stopped whole): stop it on Ctrl-C or a CI timeout too.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => {})
    process.exit(130)
  })
}

try {
  const project = await install()
  await build(project)
  await serveAndCheck(project)
} catch (error) {
  failed = true
  console.error(`\nFAIL ${error instanceof Error ? error.message : error}`)
} finally {
  for (const fn of cleanups.reverse()) await fn().catch(() => {})
  time('total', performance.now() - started)
  const passed = results.filter((r) => r.ok).length
  console.log(`\nnextjs-check: ${passed}/${results.length} checks passed${failed ? ', FAILED' : ''} (runtimes: ${runtimes.join(', ')})`)
  process.exitCode = failed ? 1 : 0
}

// ---------------------------------------------------------------------------------------------------------------
// 1. install

async function install() {
  for (const file of ['dist/core/index.js', 'dist/trpc/index.js', 'dist/envelop/index.js', 'dist/testing/index.js']) {
    if (!existsSync(join(repo, file))) throw new Error(`${file} is missing: run \`npm run build\` first (this check uses the built package)`)
  }
  const t0 = performance.now()
  const rootPkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'))
  if (updateLockfile) await rewriteLockfile()
  checkLockfile(rootPkg)
  const npmVersion = (await run('npm', ['--version'], { cwd: repo })).output.trim()
  const hash = createHash('sha256')
  for (const file of ['package.json', 'package-lock.json', '.npmrc']) hash.update(readFileSync(join(exampleDir, file)))
  hash.update(JSON.stringify([rootPkg.name, rootPkg.dependencies, rootPkg.peerDependencies, rootPkg.peerDependenciesMeta]))
  hash.update(`${process.version} npm ${npmVersion} ${process.platform}-${process.arch}`)
  const key = hash.digest('hex').slice(0, 16)
  const cacheRoot = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'iprisk-ci')
  const home = join(cacheRoot, `nextjs-${key}`)
  const pkgDir = join(home, 'pkg')
  const project = join(pkgDir, 'examples/nextjs')
  const stamp = join(project, 'node_modules/.iprisk-ci-installed')

  // The package as npm would publish it.
  const packDir = join(home, 'pack')
  rmSync(packDir, { recursive: true, force: true })
  mkdirSync(packDir, { recursive: true })
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: repo })
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.output}`)
  const tarball = join(packDir, JSON.parse(packed.stdout)[0].filename)
  await replaceWithTarball(pkgDir, tarball, ['examples'])

  const cold = !existsSync(stamp)
  if (cold) {
    // A new key: start from nothing, and drop the installs of other keys (the cache holds one).
    for (const entry of existsSync(cacheRoot) ? readdirSync(cacheRoot) : []) {
      if (entry.startsWith('nextjs-') && entry !== `nextjs-${key}`) rmSync(join(cacheRoot, entry), { recursive: true, force: true })
    }
    rmSync(project, { recursive: true, force: true })
    mkdirSync(project, { recursive: true })
    for (const file of ['package.json', 'package-lock.json', '.npmrc']) cpSync(join(exampleDir, file), join(project, file))
    console.log(`== npm ci in ${project} (cold: key ${key})`)
    const ci = await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: project })
    if (ci.code !== 0) {
      throw new Error(`npm ci failed in the example (examples/nextjs/package-lock.json out of date? regenerate it with \`npm install\` in a copy laid out as ${project}):\n${tail(ci.output, 40)}`)
    }
    writeFileSync(stamp, `${new Date().toISOString()}\n`)
  } else {
    console.log(`== warm install (key ${key}): node_modules/iprisk replaced with the new pack`)
  }
  // npm's install-links copies what `npm pack` ships into node_modules/iprisk; on a warm cache do the same with the
  // new pack (iprisk's own dependencies are part of the key, so they are current).
  await replaceWithTarball(join(project, 'node_modules/iprisk'), tarball, ['node_modules'])
  const installed = JSON.parse(readFileSync(join(project, 'node_modules/iprisk/package.json'), 'utf8'))
  expect('iprisk installed from the pack of this checkout', installed.version === rootPkg.version && existsSync(join(project, 'node_modules/iprisk/dist/core/index.js')), `iprisk ${installed.version}`)
  expect('@keyv/redis is not installed in the example (optional peer)', !existsSync(join(project, 'node_modules/@keyv/redis')))
  time(`install (${cold ? 'cold: npm ci' : 'warm'})`, performance.now() - t0)
  return project
}

/** iprisk's dependencies as the example's lockfile records them must be package.json's (npm ci would not notice). */
function checkLockfile(rootPkg) {
  const lock = JSON.parse(readFileSync(join(exampleDir, 'package-lock.json'), 'utf8'))
  const recorded = lock.packages?.['node_modules/iprisk'] ?? {}
  for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
    const want = JSON.stringify(Object.entries(rootPkg[field] ?? {}).sort())
    const have = JSON.stringify(Object.entries(recorded[field] ?? {}).sort())
    if (want !== have) {
      throw new Error(`examples/nextjs/package-lock.json records iprisk's ${field} as ${have}, package.json has ${want}: run \`node scripts/nextjs-check.mjs --update-lockfile\` and commit the lockfile`)
    }
  }
}

/** `npm install --package-lock-only` in a copy laid out as in the cache (the example two levels under the pack). */
async function rewriteLockfile() {
  const scratch = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'iprisk-ci', 'nextjs-lockfile')
  rmSync(scratch, { recursive: true, force: true })
  const project = join(scratch, 'pkg/examples/nextjs')
  mkdirSync(project, { recursive: true })
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: repo })
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.output}`)
  await replaceWithTarball(join(scratch, 'pkg'), join(scratch, JSON.parse(packed.stdout)[0].filename), ['examples'])
  for (const file of ['package.json', '.npmrc']) cpSync(join(exampleDir, file), join(project, file))
  // npm keeps a `file:` package's record as the lockfile has it: drop iprisk's entries so that npm reads its
  // package.json again (every other pin is kept).
  const lock = JSON.parse(readFileSync(join(exampleDir, 'package-lock.json'), 'utf8'))
  for (const key of Object.keys(lock.packages ?? {})) if (/^node_modules\/iprisk(\/|$)/.test(key)) delete lock.packages[key]
  writeFileSync(join(project, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`)
  const done = await run('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund'], { cwd: project })
  if (done.code !== 0) throw new Error(`npm install --package-lock-only failed:\n${tail(done.output, 40)}`)
  cpSync(join(project, 'package-lock.json'), join(exampleDir, 'package-lock.json'))
  rmSync(scratch, { recursive: true, force: true })
  console.log('== examples/nextjs/package-lock.json rewritten (commit it)')
}

/** Empty `dir` except `keep`, then unpack `tarball` (an npm pack: one `package/` folder) into it. */
async function replaceWithTarball(dir, tarball, keep) {
  mkdirSync(dir, { recursive: true })
  for (const entry of readdirSync(dir)) if (!keep.includes(entry)) rmSync(join(dir, entry), { recursive: true, force: true })
  const tar = await run('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1'], { cwd: dir })
  if (tar.code !== 0) throw new Error(`tar failed: ${tar.output}`)
}

// ---------------------------------------------------------------------------------------------------------------
// 2. build

async function build(project) {
  // The example's sources, afresh (the install above is kept).
  for (const entry of readdirSync(project)) {
    if (!['node_modules', 'package.json', 'package-lock.json', '.npmrc'].includes(entry)) rmSync(join(project, entry), { recursive: true, force: true })
  }
  for (const entry of readdirSync(exampleDir)) {
    if (['node_modules', '.next', 'package.json', 'package-lock.json', '.npmrc', 'next-env.d.ts'].includes(entry)) continue
    cpSync(join(exampleDir, entry), join(project, entry), { recursive: true })
  }
  if (!runtimes.includes('edge')) rmSync(join(project, 'app/api/edge'), { recursive: true, force: true })
  console.log(`\n== next build (${runtimes.join(' + ')} routes)`)
  const t0 = performance.now()
  const built = await run(process.execPath, [join(project, 'node_modules/next/dist/bin/next'), 'build'], {
    cwd: project,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' },
  })
  time('next build', performance.now() - t0)
  console.log(built.output.split('\n').filter((line) => line.trim() !== '').join('\n'))
  expect('next build succeeds (without @keyv/redis)', built.code === 0, `exit ${built.code}`)
  if (built.code !== 0) throw new Error('next build failed: see its output above')
  printSizes(project)
}

/** The server code of each API route: Edge routes from the middleware manifest, Node routes from their trace. */
function printSizes(project) {
  const next = join(project, '.next')
  const rootPkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'))
  const fmt = (files) => {
    const raw = files.reduce((n, f) => n + statSync(f).size, 0)
    const gz = files.reduce((n, f) => n + gzipSync(readFileSync(f)).length, 0)
    const share = packageShare(files)
    const kib = (name) => `${name} ${((share.get(name) ?? 0) / 1024).toFixed(0)}`
    const deps = Object.keys(rootPkg.dependencies ?? {}).filter((name) => share.has(name))
    return `${(raw / 1024).toFixed(0)} KiB (${(gz / 1024).toFixed(0)} KiB gzip) in ${files.length} files; KiB by package ≈ ${kib('iprisk')} + its dependencies: ${deps.map(kib).join(', ') || 'none'}`
  }
  console.log('\n== route sizes (server code, minified)')
  const manifest = JSON.parse(readFileSync(join(next, 'server/middleware-manifest.json'), 'utf8'))
  for (const route of ROUTES) {
    const page = route.api === 'trpc' ? `${route.path}/[trpc]/route` : `${route.path}/route`
    if (route.runtime === 'edge') {
      const fn = manifest.functions?.[page]
      if (!fn) {
        console.log(`${route.path} (edge): not in middleware-manifest.json`)
        continue
      }
      const files = [...(fn.files ?? []), ...(fn.wasm ?? []).map((w) => w.filePath), ...(fn.assets ?? []).map((a) => a.filePath)]
      console.log(`${route.path} (edge): ${fmt(files.map((f) => join(next, f)))}`)
    } else {
      const routeJs = join(next, 'server/app', `${page}.js`)
      const trace = JSON.parse(readFileSync(`${routeJs}.nft.json`, 'utf8'))
      const own = trace.files.filter((f) => !f.includes('node_modules/')).map((f) => resolve(routeJs, '..', f))
      const external = trace.files.filter((f) => f.includes('node_modules/')).length
      console.log(`${route.path} (nodejs): ${fmt([routeJs, ...own])}; plus ${external} node_modules files (Next.js itself) loaded at run time`)
    }
  }
}

/**
 * Bytes of minified code per npm package in `files`, from Turbopack's sectioned source maps: every mapping segment
 * starts a run of generated code that belongs to its source, up to the next segment. Written here (a base64 VLQ
 * decoder is a dozen lines) to keep this script free of dependencies. Unmapped code (runtime glue) is `(unmapped)`.
 */
function packageShare(files) {
  const share = new Map()
  const add = (name, bytes) => share.set(name, (share.get(name) ?? 0) + bytes)
  for (const file of files) {
    if (!existsSync(`${file}.map`)) continue
    const code = readFileSync(file, 'utf8')
    const lineStarts = [0]
    for (let i = code.indexOf('\n'); i !== -1; i = code.indexOf('\n', i + 1)) lineStarts.push(i + 1)
    const map = JSON.parse(readFileSync(`${file}.map`, 'utf8'))
    const sections = map.sections ?? [{ offset: { line: 0, column: 0 }, map }]
    const marks = [] // [position in `code`, package name], in order
    for (const { offset, map: section } of sections) {
      const names = (section.sources ?? []).map((source) => /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(decodeURIComponent(source))?.[1] ?? '(app)')
      let sourceIndex = 0
      ;(section.mappings ?? '').split(';').forEach((line, l) => {
        let column = l === 0 ? offset.column : 0
        const base = lineStarts[offset.line + l] ?? code.length
        for (const segment of line.split(',')) {
          if (segment === '') continue
          const fields = decodeVlq(segment)
          column += fields[0]
          if (fields.length >= 4) {
            sourceIndex += fields[1]
            marks.push([base + column, names[sourceIndex] ?? '(unmapped)'])
          } else marks.push([base + column, '(unmapped)'])
        }
      })
    }
    marks.sort((a, b) => a[0] - b[0])
    if (marks.length === 0) add('(unmapped)', code.length)
    else add('(unmapped)', marks[0][0])
    marks.forEach(([at, name], i) => add(name, (i + 1 < marks.length ? marks[i + 1][0] : code.length) - at))
  }
  return share
}

/** The numbers of one source-map segment (base64 VLQ). */
function decodeVlq(segment) {
  const out = []
  let value = 0
  let shift = 0
  for (const char of segment) {
    const digit = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.indexOf(char)
    value += (digit & 31) << shift
    if (digit & 32) shift += 5
    else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1)
      value = 0
      shift = 0
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// 3. serve and check

async function serveAndCheck(project) {
  const { startIpasisSimulator } = await import(new URL('../dist/testing/index.js', import.meta.url).href)
  const sim = await startIpasisSimulator({ apiKey: KEY, port: PORTS.sim, host: '127.0.0.1', profiles: { [TOR]: 'tor' } })
  cleanups.push(() => sim.close())
  if (await listening(PORTS.dead)) throw new Error(`port ${PORTS.dead} must be free: it plays the unreachable provider`)
  const edge = await startEdgeStandIn()
  cleanups.push(() => new Promise((r) => edge.close(() => r())))

  console.log(`\n== next start, provider = the IPASIS simulator (${sim.url})`)
  let app = await startApp(project, PORTS.app, sim.url)
  for (const route of ROUTES) await checkRoute(app, route)
  expect(`the provider was never asked about the forged address ${FORGED_CLEAN}`, sim.callsFor(FORGED_CLEAN) === 0, `${sim.callsFor(FORGED_CLEAN)} lookups`)
  console.log('\ninfo bypassing the edge stand-in (what Vercel prevents): a forged x-vercel-forwarded-for reaching the app')
  const bypass = await call(ROUTES[0], 'query', { direct: true, port: app.port, from: '127.0.0.2', headers: FORGED(TOR) })
  const believed = bypass.status === 403 ? 'believed' : 'not believed'
  console.log(`info   ${believed}: HTTP ${bypass.status} for a clean caller claiming ${TOR} (platforms.vercel() trusts by position: only Vercel may reach the app)`)
  await app.stop()

  console.log(`\n== next start again, provider unreachable (http://127.0.0.1:${PORTS.dead})`)
  app = await startApp(project, PORTS.appDead, `http://127.0.0.1:${PORTS.dead}`)
  let caller = 0
  for (const runtime of runtimes) {
    const before = countWarnings(app)
    for (const route of ROUTES.filter((r) => r.runtime === runtime)) {
      const answers = []
      for (let i = 0; i < 6; i++) answers.push(await call(route, 'query', { from: `127.0.1.${++caller}`, port: app.port }))
      const statuses = answers.map((a) => a.status).join(',')
      const kinds = [...new Set(answers.map((a) => `${a.data?.status}/${a.data?.error}`))].join(',')
      expect(`${label(route)} unreachable provider: allowed (fail-open) and each answer says unavailable`, answers.every((a) => a.status === 200 && a.data?.status === 'unavailable'), `HTTP ${statuses}; ${kinds}`)
    }
    const warned = await waitFor(() => countWarnings(app) > before, 5000)
    expect(`${runtime}: iprisk warned provider_failing in the server log`, warned, lastWarning(app))
  }
  await app.stop()
}

function label(route) {
  return `${route.api.padEnd(7)} ${route.runtime.padEnd(6)} ${route.path}`
}

async function checkRoute(app, route) {
  const id = (what) => `${route.api}-${route.runtime}-${what}-${Math.random().toString(36).slice(2, 8)}`
  const cleanId = id('clean')
  const clean = await call(route, 'query', { from: '127.0.0.2', port: app.port, id: cleanId })
  const ran = await waitFor(() => app.output().includes(`for request ${cleanId}`), 5000)
  expect(`${label(route)} clean caller → 200, scored as ${CLEAN}, body ran`, clean.status === 200 && clean.data?.ip === CLEAN && clean.data?.status === 'scored' && ran, `HTTP ${clean.status} ip=${clean.data?.ip} status=${clean.data?.status} score=${clean.data?.score} ran=${ran}`)

  const blocked = [
    ['Tor caller, query', await call(route, 'query', { from: '127.0.0.3', port: app.port, id: id('tor-query') })],
    ['Tor caller, mutation', await call(route, 'mutation', { from: '127.0.0.3', port: app.port, id: id('tor-mutation') })],
    ['Tor caller forging every IP header as a clean address', await call(route, 'mutation', { from: '127.0.0.3', port: app.port, id: id('forged'), headers: FORGED(FORGED_CLEAN) })],
  ]
  // A later call that runs its body: once its line is in the log, any line of the blocked calls would be too.
  const sentinelId = id('sentinel')
  const forgedOther = await call(route, 'mutation', { from: '127.0.0.2', port: app.port, id: sentinelId, headers: FORGED(TOR) })
  const sentinelRan = await waitFor(() => app.output().includes(`for request ${sentinelId}`), 5000)
  for (const [what, answer] of blocked) {
    const bodyRan = app.output().includes(`for request ${answer.id}`)
    expect(`${label(route)} ${what} → 403, body did not run`, answer.status === 403 && answer.blocked && sentinelRan && !bodyRan, `HTTP ${answer.status} ${answer.summary} ran=${bodyRan}`)
  }
  expect(`${label(route)} clean caller forging every IP header as Tor → 200, still ${CLEAN}`, forgedOther.status === 200 && forgedOther.data?.ip === CLEAN && sentinelRan, `HTTP ${forgedOther.status} ip=${forgedOther.data?.ip}`)
}

/** One call of `hello` (query) or `signup` (mutation) on a route; `data` is what the procedure / resolver returned. */
async function call(route, kind, { from, port, id = `call-${Math.random().toString(36).slice(2, 8)}`, headers = {}, direct = false }) {
  let method = 'GET'
  let path
  let body
  if (route.api === 'trpc') {
    if (kind === 'query') path = `${route.path}/hello`
    else [method, path, body] = ['POST', `${route.path}/signup`, JSON.stringify({ email: 'ada@example.com' })]
  } else {
    const fields = '{ greeting runtime ip status score error }'
    const query = kind === 'query' ? `{ hello ${fields} }` : `mutation { signup(email: "ada@example.com") ${fields} }`
    ;[method, path, body] = ['POST', route.path, JSON.stringify({ query })]
  }
  const target = direct ? port : PORTS.edge
  const res = await httpCall({ port: target, from, method, path, body, headers: { ...headers, 'x-request-id': id, 'x-app-port': String(port) } })
  let json = null
  try {
    json = JSON.parse(res.body)
  } catch {}
  const data = route.api === 'trpc' ? json?.result?.data : json?.data?.[kind === 'query' ? 'hello' : 'signup']
  const code = route.api === 'trpc' ? json?.error?.data?.code : json?.errors?.[0]?.extensions?.code
  const blocked = route.api === 'trpc' ? code === 'FORBIDDEN' : code === 'IP_RISK_BLOCKED'
  return { id, status: res.status, data, blocked, summary: code ?? (data ? 'data' : res.body.slice(0, 120)) }
}

function httpCall({ port, from, method, path, body, headers }) {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, localAddress: from, method, path, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, timeout: 30_000 },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => (text += chunk))
        res.on('end', () => resolvePromise({ status: res.statusCode, body: text }))
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)))
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * The stand-in for Vercel's edge (see the header comment): the client is the address the caller's socket is mapped
 * to; `x-forwarded-for`, `x-real-ip` and `x-vercel-forwarded-for` are overwritten with it; every other header is passed
 * through as the client sent it. Forwards to the app port named by the caller in `x-app-port` (removed).
 */
function startEdgeStandIn() {
  const server = createServer((req, res) => {
    const client = CALLERS.get(req.socket.remoteAddress ?? '')
    const appPort = Number(req.headers['x-app-port'])
    if (client === undefined || ![PORTS.app, PORTS.appDead].includes(appPort)) {
      res.writeHead(502).end('unknown caller')
      return
    }
    const headers = { ...req.headers }
    delete headers['x-app-port']
    Object.assign(headers, { 'x-forwarded-for': client, 'x-real-ip': client, 'x-vercel-forwarded-for': client, 'x-forwarded-proto': 'https' })
    const upstream = httpRequest({ host: '127.0.0.1', port: appPort, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', (error) => res.writeHead(502).end(`edge stand-in: ${error.message}`))
    req.pipe(upstream)
  })
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject)
    server.listen(PORTS.edge, '127.0.0.1', () => resolvePromise(server))
  })
}

/** `next start` on 127.0.0.1:`port`, with the provider at `baseUrl`; resolves once it answers. */
async function startApp(project, port, baseUrl) {
  const t0 = performance.now()
  let output = ''
  const child = spawn(process.execPath, [join(project, 'node_modules/next/dist/bin/next'), 'start', '-H', '127.0.0.1', '-p', String(port)], {
    cwd: project,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      NEXT_TELEMETRY_DISABLED: '1',
      IPASIS_API_KEY: KEY,
      IPASIS_BASE_URL: baseUrl,
      IPRISK_SCORE_DOCUMENTATION_RANGES: '1',
    },
  })
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  let exited = false
  child.on('exit', () => (exited = true))
  const stop = async () => {
    if (exited) return
    try {
      process.kill(-child.pid, 'SIGTERM')
    } catch {}
    if (!(await waitFor(() => exited, 10_000))) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {}
    }
  }
  cleanups.push(stop)
  const up = await waitFor(async () => exited || (await listening(port)), 60_000)
  if (!up || exited) throw new Error(`next start did not come up on port ${port}:\n${tail(output, 40)}`)
  time(`next start (port ${port})`, performance.now() - t0)
  return { port, output: () => output, stop }
}

function countWarnings(app) {
  return app.output().split('provider_failing').length - 1
}
function lastWarning(app) {
  const line = app.output().split('\n').findLast((l) => l.includes('protection degraded (provider_failing)'))
  return line ? line.trim().slice(0, 160) : 'no warning line'
}

function listening(port) {
  return new Promise((resolvePromise) => {
    const socket = connect(port, '127.0.0.1')
    socket.setTimeout(1000)
    socket.on('connect', () => (socket.destroy(), resolvePromise(true)))
    socket.on('error', () => resolvePromise(false))
    socket.on('timeout', () => (socket.destroy(), resolvePromise(false)))
  })
}

/** Wait until `condition()` holds (real OS work: a server starting, a log line), up to `ms`. */
async function waitFor(condition, ms) {
  const deadline = performance.now() + ms
  for (;;) {
    if (await condition()) return true
    if (performance.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 50))
  }
}

function tail(text, lines) {
  return text.trim().split('\n').slice(-lines).join('\n')
}

function run(cmd, argv, { cwd, env = process.env }) {
  return new Promise((resolvePromise) => {
    let output = ''
    let stdout = ''
    const child = spawn(cmd, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.on('data', (d) => ((output += d), (stdout += d)))
    child.stderr.on('data', (d) => (output += d))
    child.on('error', (error) => resolvePromise({ code: -1, output: `cannot run ${cmd}: ${error.message}`, stdout }))
    child.on('close', (code) => resolvePromise({ code, output, stdout }))
  })
}
