#!/usr/bin/env node
/**
 * Bundle check (issue #18): every entry point of the package bundles with esbuild for Node and for edge runtimes
 * WITHOUT the optional `@keyv/redis` installed, and the edge bundles contain no `node:*` module and no undici.
 *
 *   npm run build
 *   node scripts/bundle-check.mjs            # bundles dist/ through the package's own `exports`
 *   node scripts/bundle-check.mjs --src      # bundles src/*.ts directly (what test/build/bundle.test.ts runs)
 *
 * Targets (esbuild, ESM, minified):
 *   node        --platform=node
 *   edge-light  --platform=neutral --conditions=edge-light,browser,module,import,require   (the list Vercel's own
 *               builder uses for Edge Functions; `browser` matters: lru-cache's condition-less build probes
 *               `import('node:diagnostics_channel')` at module scope, its browser build does not)
 *   workerd     --platform=neutral --conditions=workerd,worker,browser   (what wrangler asks for)
 *
 * `@keyv/redis` is made unresolvable by a resolver plugin (as if it were not installed: esbuild reports
 * `Could not resolve` for any import of it a bundler can see), so a static or literal dynamic import fails the check.
 * The framework peers the entries are written for (`@trpc/server`, `graphql`, `@envelop/core`, `graphql-yoga`,
 * `@graphql-tools/utils`) are `external`: the application bundles its own framework, and their runtime support is
 * theirs to claim. Nothing else is external.
 *
 *   node scripts/bundle-check.mjs --wrangler /path/to/wrangler   # also wrangler's own bundle (CI: scripts/ci-bundles.sh)
 *
 * The wrangler part builds a tiny worker importing `iprisk`, `iprisk/trpc` and `iprisk/envelop` with
 * `wrangler deploy --dry-run --minify --outdir`, once without and once with the `nodejs_compat` flag (both supported:
 * the core needs no Node API, and uses none of workerd's Node emulation when it is on). The application is a temporary
 * directory whose node_modules holds a COPY of the package (package.json + dist/) and links to its dependencies and
 * the framework peers only, so `@keyv/redis` is really not installed there.
 *
 * Fails (exit 1) on any build error (an unresolved import), on any `node:*` / Node built-in / undici import left in an
 * edge bundle, or on any undici file inside an edge bundle. Prints the minified and gzip size of each bundle; the core
 * entry's is the number to watch.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))

/** The package's entry points: the specifier an application imports, and the source file behind it. */
export const ENTRIES = [
  { name: 'iprisk', src: 'src/core/index.ts' },
  { name: 'iprisk/trpc', src: 'src/trpc/index.ts' },
  { name: 'iprisk/envelop', src: 'src/envelop/index.ts' },
  { name: 'iprisk/testing', src: 'src/testing/index.ts' },
]

/** Peers an application brings (and bundles) itself. */
export const FRAMEWORK_PEERS = ['@trpc/server', 'graphql', '@envelop/core', 'graphql-yoga', '@graphql-tools/utils']

/** Optional peers that must never be needed at build time. */
export const ABSENT = ['@keyv/redis']

export const TARGETS = {
  node: { platform: 'node', target: 'node22' },
  'edge-light': {
    platform: 'neutral',
    conditions: ['edge-light', 'browser', 'module', 'import', 'require'],
    mainFields: ['browser', 'module', 'main'],
  },
  workerd: { platform: 'neutral', conditions: ['workerd', 'worker', 'browser'], mainFields: ['browser', 'module', 'main'] },
}

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))

/** Makes the optional peers unresolvable, as if they were not installed. */
export const absentPlugin = {
  name: 'absent-optional-peers',
  setup(build) {
    const filter = new RegExp(`^(${ABSENT.map((p) => p.replace(/[/.]/g, '\\$&')).join('|')})(/|$)`)
    build.onResolve({ filter }, (args) => ({
      errors: [{ text: `Could not resolve "${args.path}" (not installed: an optional peer the bundle must not need)` }],
    }))
  },
}

/**
 * A temporary application directory whose `node_modules/iprisk` is this package, so `import 'iprisk/trpc'` goes
 * through the package's `exports` as in a real application.
 */
function stageApp() {
  const dir = mkdtempSync(join(tmpdir(), 'iprisk-bundle-'))
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(ROOT, join(dir, 'node_modules', 'iprisk'), 'dir')
  return dir
}

/** What an edge bundle must not import. */
export function forbiddenOnEdge(path) {
  return NODE_BUILTINS.has(path) || path.startsWith('node:') || path === 'undici' || path.startsWith('undici/')
}

/**
 * Bundle one entry for one target. Returns sizes and problems (never throws on a bundling failure: it is reported).
 * @param {{ name: string, src: string }} entry
 * @param {keyof typeof TARGETS} target
 * @param {{ from: 'dist' | 'src', app?: string }} options
 */
export async function bundleEntry(entry, target, { from, app }) {
  const problems = []
  const entryOptions =
    from === 'src'
      ? { entryPoints: [resolve(ROOT, entry.src)], nodePaths: [join(ROOT, 'node_modules')] }
      : { stdin: { contents: `export * from '${entry.name}'`, resolveDir: app, loader: 'js' } }
  let result
  try {
    result = await esbuild.build({
      ...entryOptions,
      ...TARGETS[target],
      bundle: true,
      minify: true,
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      external: FRAMEWORK_PEERS,
      plugins: [absentPlugin],
    })
  } catch (error) {
    for (const e of error.errors ?? [{ text: String(error) }]) {
      const at = e.location ? ` (${e.location.file}:${e.location.line})` : ''
      problems.push(`${e.text}${at}`)
    }
    return { entry: entry.name, target, problems }
  }
  const code = result.outputFiles[0].contents
  const output = Object.values(result.metafile.outputs)[0]
  const imports = [...new Set(output.imports.map((i) => i.path))]
  if (target !== 'node') {
    for (const path of imports) if (forbiddenOnEdge(path)) problems.push(`imports ${path}`)
    for (const file of Object.keys(output.inputs)) {
      if (/node_modules\/undici\//.test(file)) {
        problems.push(`contains undici (${file})`)
        break
      }
    }
  }
  for (const path of imports) {
    if (!FRAMEWORK_PEERS.some((p) => path === p || path.startsWith(`${p}/`)) && !forbiddenOnEdge(path)) {
      problems.push(`leaves the import ${path} unbundled`)
    }
  }
  return {
    entry: entry.name,
    target,
    problems,
    imports,
    minBytes: code.length,
    gzipBytes: gzipSync(code).length,
    warnings: result.warnings.length,
  }
}

/** Bundle every entry for every target. */
export async function checkBundles({ from = 'dist', targets = Object.keys(TARGETS) } = {}) {
  const app = from === 'dist' ? stageApp() : undefined
  try {
    const results = []
    for (const entry of ENTRIES) for (const target of targets) results.push(await bundleEntry(entry, target, { from, app }))
    return results
  } finally {
    if (app) rmSync(app, { recursive: true, force: true })
  }
}

const WORKER = `import { createRiskResolver, ipasis } from 'iprisk'
import { createTrpcRisk } from 'iprisk/trpc'
import { useIpRisk } from 'iprisk/envelop'

let risk
export default {
  async fetch(request, env) {
    risk ??= createRiskResolver({ provider: ipasis({ apiKey: env.IPASIS_API_KEY }), trustProxy: 'cloudflare' })
    const { riskGate } = createTrpcRisk(risk)
    const plugin = useIpRisk({ resolver: risk })
    const answer = await risk.fromRequest(request)
    return Response.json({ status: answer.status, gate: typeof riskGate(70), plugin: typeof plugin })
  },
}
`

/** A temporary worker project: a copy of the package, links to its dependencies and framework peers, no @keyv/redis. */
function stageWorker(dir) {
  const modules = join(dir, 'node_modules')
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  mkdirSync(join(modules, 'iprisk'), { recursive: true })
  cpSync(join(ROOT, 'package.json'), join(modules, 'iprisk', 'package.json'))
  cpSync(join(ROOT, 'dist'), join(modules, 'iprisk', 'dist'), { recursive: true })
  for (const name of new Set([...Object.keys(pkg.dependencies ?? {}), ...FRAMEWORK_PEERS])) {
    if (ABSENT.includes(name)) continue
    mkdirSync(dirname(join(modules, name)), { recursive: true })
    symlinkSync(join(ROOT, 'node_modules', name), join(modules, name), 'dir')
  }
  writeFileSync(join(dir, 'worker.mjs'), WORKER)
}

/**
 * wrangler's bundle of the worker, with and without `nodejs_compat`. Returns one result per flag set.
 * @param {string} wrangler path of the wrangler binary
 */
export function checkWrangler(wrangler) {
  const dir = mkdtempSync(join(tmpdir(), 'iprisk-wrangler-'))
  const results = []
  try {
    stageWorker(dir)
    for (const flags of [[], ['nodejs_compat']]) {
      const label = flags.length === 0 ? 'workerd (wrangler)' : 'workerd (wrangler, nodejs_compat)'
      const config = { name: 'iprisk-bundle-check', main: 'worker.mjs', compatibility_date: '2025-09-01', compatibility_flags: flags }
      writeFileSync(join(dir, 'wrangler.json'), JSON.stringify(config, null, 2))
      const out = join(dir, `out-${flags.length}`)
      const run = spawnSync(wrangler, ['deploy', '--dry-run', '--minify', '--outdir', out, '--config', 'wrangler.json'], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', NO_COLOR: '1' },
      })
      const problems = []
      if (run.status !== 0) problems.push(`wrangler exited ${run.status}: ${(run.stderr || run.stdout).trim().split('\n').slice(-15).join('\n')}`)
      let code = ''
      let imports = []
      if (run.status === 0) {
        const files = readdirSync(out).filter((f) => f.endsWith('.js'))
        code = files.map((f) => readFileSync(join(out, f), 'utf8')).join('\n')
        if (/node_modules\/undici\/|undici\/lib\//.test(code)) problems.push('contains undici')
        if (/@keyv\/redis/.test(code) && /from\s*["']@keyv\/redis["']/.test(code)) problems.push('imports @keyv/redis statically')
        const nodeImports = [...new Set([...code.matchAll(/(?:from|import)\s*\(?\s*["'](node:[\w/]+)["']/g)].map((m) => m[1]))]
        // With nodejs_compat, wrangler's own polyfills (unenv, for the `process` global) import workerd's node:*
        // modules; without it, any node:* import would have failed the build already.
        if (nodeImports.length > 0 && flags.length === 0) problems.push(`imports ${nodeImports.join(' ')}`)
        imports = nodeImports
      }
      results.push({
        entry: 'iprisk + /trpc + /envelop',
        target: label,
        problems,
        imports,
        minBytes: code.length || undefined,
        gzipBytes: code ? gzipSync(code).length : undefined,
      })
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return results
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`

async function main() {
  const from = process.argv.includes('--src') ? 'src' : 'dist'
  const results = await checkBundles({ from })
  const w = process.argv.indexOf('--wrangler')
  if (w !== -1) results.push(...checkWrangler(process.argv[w + 1]))
  let failed = 0
  console.log(`bundle check (${from === 'src' ? 'src/' : 'dist/ through the package exports'}), @keyv/redis absent`)
  for (const r of results) {
    const size = r.minBytes === undefined ? '' : `${kb(r.minBytes).padStart(10)} min ${kb(r.gzipBytes).padStart(9)} gzip`
    const state = r.problems.length === 0 ? 'ok  ' : 'FAIL'
    console.log(`${state} ${r.entry.padEnd(16)} ${r.target.padEnd(11)}${size}  imports: ${(r.imports ?? []).join(' ') || '-'}`)
    for (const p of r.problems) console.log(`       ${p}`)
    if (r.problems.length > 0) failed++
  }
  const core = results.filter((r) => r.entry === 'iprisk' && r.minBytes !== undefined)
  for (const r of core) console.log(`core entry (iprisk), ${r.target}: ${r.minBytes} bytes minified, ${r.gzipBytes} gzip`)
  if (failed > 0) {
    console.error(`${failed} bundle(s) failed`)
    process.exitCode = 1
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
