#!/usr/bin/env node
/**
 * The runtime matrix (issue #18, "proven in CI"): the example app (examples/fetch/app.ts: a tRPC fetch-adapter router
 * and a Yoga server on one resolver), built on the BUILT package (dist/, as `iprisk` through a link that stands for
 * `npm install iprisk`), served by each runtime and checked over HTTP against the IPASIS simulator (checks.mjs).
 *
 *   npm run build
 *   node scripts/runtime-matrix/run.mjs --tools DIR [--bun PATH] [--deno PATH] [--node NAME=PATH ...] [--only a,b]
 *     [--known-failing a,b]
 *
 * `scripts/ci-runtimes.sh` installs the pinned runtimes into cache dirs and calls this. `--tools` is the dir where
 * wrangler (with workerd, miniflare, esbuild) and edge-runtime are installed (and bun, deno unless given). `--node name=path` adds a Node
 * binary (a name ending in `*` is informational: outside the supported range, it cannot fail the run).
 * `--known-failing` lists runtimes whose failure is expected today (printed, not fatal); a runtime listed there that
 * passes fails the run, so the list is shortened as soon as it can be.
 *
 * Ports 7500–7599. Prints a table (runtime × check) and the seconds each runtime took; exit 0 when every runtime that
 * counts passed.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, lstatSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KEY, TOR_IP, exampleChecks, runChecks } from './checks.mjs'

const here = fileURLToPath(new URL('.', import.meta.url))
const root = resolve(here, '../..')
const args = process.argv.slice(2)
const many = (name) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []))
const one = (name) => many(name)[0]
const list = (name) => (one(name) ?? '').split(',').filter(Boolean)
const tools = resolve(one('--tools') ?? '')
const only = list('--only')
const knownFailing = new Set(list('--known-failing'))
const bin = (name) => one(`--${name}`) ?? join(tools, 'node_modules/.bin', name)
const toolRequire = createRequire(join(tools, 'node_modules/'))

/** `npm install iprisk` for the examples: node_modules/iprisk → this package (its exports point into dist/). */
function linkPackage() {
  for (const dir of ['examples/fetch', 'examples/workers']) {
    const link = join(root, dir, 'node_modules/iprisk')
    try {
      lstatSync(link)
    } catch {
      mkdirSync(join(root, dir, 'node_modules'), { recursive: true })
      symlinkSync(root, link, 'dir')
    }
  }
}

const work = mkdtempSync(join(tmpdir(), 'iprisk-matrix-'))

/** esbuild (the one wrangler pins) bundles a host with the example app for runtimes that need one file. */
async function bundle(entry, outfile, options) {
  const esbuild = toolRequire('esbuild')
  await esbuild.build({ entryPoints: [join(here, entry)], outfile, bundle: true, logLevel: 'error', ...options })
  return outfile
}

function runtimes() {
  const nodes = many('--node').map((spec) => {
    const [label, path] = spec.split('=')
    return { name: label.replace(/\*$/, ''), informational: label.endsWith('*'), mode: 'peer', trust: '127.0.0.2',
      prepare: () => bundle('hosts/node.ts', join(work, 'node-host.mjs'), { platform: 'node', format: 'esm', target: 'node20',
        banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } }),
      command: (file) => [path, [file]], version: [path, ['--version']] }
  })
  return [
    ...nodes,
    { name: 'bun', mode: 'peer', trust: '127.0.0.2', command: () => [bin('bun'), [join(here, 'hosts/bun.ts')]], version: [bin('bun'), ['--version']],
      example: { cwd: join(root, 'examples/bun'), command: () => [bin('bun'), ['run', 'server.ts']], ready: /iprisk Bun example on/ } },
    { name: 'deno', mode: 'peer', trust: '127.0.0.2',
      command: () => [bin('deno'), ['run', '--quiet', '--node-modules-dir=manual', '--allow-net=127.0.0.1', '--allow-env', '--allow-read', '--allow-sys', join(here, 'hosts/deno.ts')]],
      version: [bin('deno'), ['--version']],
      example: { cwd: join(root, 'examples/deno'), command: () => [bin('deno'), ['run', '--node-modules-dir=manual', '--allow-net=127.0.0.1', '--allow-env', '--allow-read', '--allow-sys', 'server.ts']], ready: /Listening on/ } },
    { name: 'workerd', mode: 'workerd', examplePrefix: '/example', command: () => [process.execPath, [join(here, 'hosts/workerd.mjs'), tools, work]],
      version: [bin('wrangler'), ['--version']] },
    { name: 'edge-runtime', mode: 'edge', command: () => [process.execPath, [join(here, 'hosts/edge.mjs'), tools, work]],
      version: [process.execPath, ['-p', `require(${JSON.stringify(join(tools, 'node_modules/edge-runtime/package.json'))}).version`]] },
  ].filter((r) => only.length === 0 || only.includes(r.name))
}

/** Starts `cmd`, resolves once it prints `READY` (or `ready`), or rejects with its output when it exits or 90 s pass. */
function start(cmd, argv, env, { cwd, ready = /^READY /m } = {}) {
  return new Promise((resolveStart, reject) => {
    const child = spawn(cmd, argv, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    let started = false
    const timer = setTimeout(() => reject(new Error(`not ready in 90 s:\n${output.slice(-3000)}`)), 90_000)
    const onData = (d) => {
      output += d
      if (!started && ready.test(output)) {
        started = true
        clearTimeout(timer)
        resolveStart({ child, output: () => output })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', (e) => reject(e))
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`exited ${code} before it was ready:\n${output.slice(-3000)}`))
    })
  })
}

/** The example's own entry on this runtime, started as its README says (against the simulator), and its checks. */
async function runExample(rt, port, sim) {
  const env = { ...process.env, IPASIS_API_KEY: KEY, IPASIS_BASE_URL: sim.url, IPRISK_SIMULATOR: '1', PORT: String(port), HOST: '127.0.0.1' }
  const [cmd, argv] = rt.example.command()
  const example = await start(cmd, argv, env, { cwd: rt.example.cwd, ready: rt.example.ready })
  try {
    return await exampleChecks(port)
  } finally {
    await stop(example.child)
  }
}

function stop(child) {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done()
    child.once('exit', () => done())
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), 5_000).unref()
  })
}

function version([cmd, argv]) {
  return new Promise((done) => {
    let out = ''
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'ignore'] })
    child.stdout.on('data', (d) => (out += d))
    child.on('error', () => done('not found'))
    child.on('close', () => done(out.trim().split('\n')[0].replace(/ \(.*$/, '').replace(/^deno /, '') || 'not found'))
  })
}

async function main() {
  linkPackage()
  const { startIpasisSimulator } = await import(new URL('../../dist/testing/index.js', import.meta.url).href)
  // 127.0.0.40: a Tor exit, as under `npx iprisk simulate` (the examples' READMEs use it).
  const sim = await startIpasisSimulator({ apiKey: KEY, profiles: { [TOR_IP]: 'tor', '127.0.0.40': 'tor' } })
  const gone = await startIpasisSimulator({ apiKey: KEY })
  await gone.close() // its port now refuses connections
  const rows = []
  let port = 7500
  try {
    for (const rt of runtimes()) {
      const started = performance.now()
      const row = { name: rt.name, mode: rt.mode, hasExample: Boolean(rt.example || rt.examplePrefix), informational: rt.informational, version: await version(rt.version), results: [], error: '' }
      rows.push(row)
      let host
      try {
        const file = rt.prepare ? await rt.prepare() : undefined
        const [cmd, argv] = rt.command(file)
        port += 1
        const env = { ...process.env, MATRIX_PORT: String(port), MATRIX_KEY: KEY, MATRIX_LIVE_URL: sim.url, MATRIX_DEAD_URL: gone.url, MATRIX_TRUST_PROXY: rt.trust ?? '' }
        host = await start(cmd, argv, env)
        row.results = await runChecks(port, rt.mode, sim)
        // What the host said about itself: bundle sizes, start-up time.
        row.notes = host.output().split('\n').filter((l) => /^(edge bundle|wrangler dev ready)/.test(l))
        if (rt.examplePrefix) row.results.push(...(await exampleChecks(port, rt.examplePrefix))) // the host serves it
        if (rt.example) {
          await stop(host.child) // one runtime process at a time
          host = undefined
          port += 1
          row.results.push(...(await runExample(rt, port, sim)))
        }
      } catch (error) {
        row.error = String(error?.message ?? error)
      } finally {
        if (host) await stop(host.child)
      }
      row.seconds = (performance.now() - started) / 1000
      print(row)
    }
  } finally {
    await sim.close()
    rmSync(work, { recursive: true, force: true })
  }
  return summarize(rows)
}

function print(row) {
  console.log(`\n== ${row.name} (${row.version})${row.informational ? ' [outside the supported range: informational]' : ''} in ${row.seconds.toFixed(1)} s`)
  for (const note of row.notes ?? []) console.log(`info ${note}`)
  if (row.error) console.log(`FAIL could not run: ${row.error}`)
  for (const r of row.results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.app} ${r.check}: ${r.detail}`)
}

function summarize(rows) {
  const checks = ['trpc clean', 'trpc tor', 'trpc forged', 'yoga clean', 'yoga tor', 'yoga forged', 'both unreachable', 'redis refused', 'kv shared', 'example readme']
  console.log(`\n| runtime | ${checks.join(' | ')} | s |`)
  console.log(`|---|${checks.map(() => '---').join('|')}|---|`)
  let failed = false
  for (const row of rows) {
    const cell = (c) => {
      const r = row.results.find((x) => `${x.app} ${x.check}` === c)
      if (c === 'kv shared' && row.mode !== 'workerd') return '–'
      if (c === 'redis refused' && row.mode === 'peer') return '–'
      if (c === 'example readme' && !row.hasExample) return '–'
      return r ? (r.ok ? 'pass' : 'FAIL') : 'FAIL'
    }
    const passed = !row.error && checks.every((c) => cell(c) === 'pass' || cell(c) === '–')
    const note = row.informational ? ' (informational)' : knownFailing.has(row.name) ? ' (known failing)' : ''
    console.log(`| ${row.name} ${row.version}${note} | ${checks.map(cell).join(' | ')} | ${row.seconds.toFixed(1)} |`)
    if (row.informational) continue
    if (knownFailing.has(row.name)) {
      if (passed) {
        console.log(`${row.name} passes: remove it from --known-failing`)
        failed = true
      }
    } else if (!passed) failed = true
  }
  return failed ? 1 : 0
}

process.exitCode = await main()
