/**
 * Runs the Edge host in the Vercel Edge runtime (the `edge-runtime` package: Vercel's edge VM, web APIs only).
 * esbuild bundles it as Vercel does for an Edge function (conditions `edge-light`, `worker`, `browser`; no Node
 * built-ins), then `runServer` serves it on 127.0.0.1:$MATRIX_PORT. A Node built-in the bundle still imports fails
 * the bundle, named: that is the check.
 *
 *   node edge.mjs TOOLS_DIR WORK_DIR      (env: MATRIX_PORT, MATRIX_KEY, MATRIX_LIVE_URL, MATRIX_DEAD_URL)
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const [tools, work] = process.argv.slice(2)
const env = process.env
const here = fileURLToPath(new URL('.', import.meta.url))
const toolRequire = createRequire(join(tools, 'node_modules/'))
const esbuild = toolRequire('esbuild')
const outfile = join(work, 'edge-bundle.js')
const started = performance.now()
try {
  await esbuild.build({
    entryPoints: [join(here, 'edge.ts')],
    outfile,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    conditions: ['edge-light', 'worker', 'browser'],
    target: 'es2022',
    logLevel: 'silent',
    minify: true,
  })
} catch (error) {
  // One line per importing package (or file of this repository) and the modules it could not resolve.
  const byImporter = new Map()
  for (const e of error.errors ?? []) {
    const file = e.location?.file ?? '?'
    const importer = file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1] ?? file.replace(/^(\.\.\/)+/, '')
    const missing = e.text.match(/"([^"]+)"/)?.[1] ?? e.text
    byImporter.set(importer, new Set([...(byImporter.get(importer) ?? []), missing]))
  }
  const lines = [...byImporter].map(([importer, missing]) => `  ${importer}: ${[...missing].sort().join(', ')}`)
  console.error(`edge bundle failed: ${error.errors?.length ?? 0} imports cannot be resolved for edge-light:\n${lines.join('\n')}`)
  process.exit(1)
}
const code = readFileSync(outfile, 'utf8')
console.log(`edge bundle in ${Math.round(performance.now() - started)} ms, ${(code.length / 1024).toFixed(0)} KiB minified`)
const { EdgeRuntime, runServer } = toolRequire('edge-runtime')
const runtime = new EdgeRuntime({
  initialCode: code,
  extend: (context) => Object.assign(context, { MATRIX: { key: env.MATRIX_KEY, liveUrl: env.MATRIX_LIVE_URL, deadUrl: env.MATRIX_DEAD_URL } }),
})
const server = await runServer({ runtime, host: '127.0.0.1', port: Number(env.MATRIX_PORT) })
console.log(`READY ${env.MATRIX_PORT}`)
process.on('SIGTERM', () => server.close().then(() => process.exit(0)))
