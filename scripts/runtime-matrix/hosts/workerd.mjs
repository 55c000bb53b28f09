/**
 * Runs the Workers host on workerd with `wrangler dev` (local mode: wrangler bundles the Worker as for a deployment,
 * and runs it in workerd through miniflare). The config mirrors examples/workers/wrangler.toml (compatibility date
 * and flags), with the host as `main` and the bindings as `--var`s. Prints `READY <port>` when wrangler says it is
 * ready, and stops wrangler (its process group) on SIGTERM.
 *
 * Miniflare's entry sets `CF-Connecting-IP` from the socket when the request has none, as Cloudflare's edge does (the
 * edge also overwrites one the visitor sent; locally it is kept, so the matrix plays the edge for the clean and Tor
 * callers).
 *
 *   node workerd.mjs TOOLS_DIR WORK_DIR      (env: MATRIX_PORT, MATRIX_KEY, MATRIX_LIVE_URL, MATRIX_DEAD_URL)
 */
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const [tools, work] = process.argv.slice(2)
const env = process.env
const here = fileURLToPath(new URL('.', import.meta.url))
const example = readFileSync(join(here, '../../../examples/workers/wrangler.toml'), 'utf8')
const lines = example.split('\n').filter((l) => /^compatibility_(date|flags) = /.test(l))
const config = join(work, 'wrangler.toml')
// A KV namespace for the shared-cache check (wrangler dev keeps it locally, in workerd's own KV simulation).
const kv = ['[[kv_namespaces]]', 'binding = "IPRISK_KV"', 'id = "iprisk-matrix-local"']
writeFileSync(config, [`name = "iprisk-matrix"`, `main = "${join(here, 'worker.ts')}"`, ...lines, ...kv, ''].join('\n'))
const vars = { IPASIS_API_KEY: env.MATRIX_KEY, MATRIX_LIVE_URL: env.MATRIX_LIVE_URL, MATRIX_DEAD_URL: env.MATRIX_DEAD_URL }
const wrangler = spawn(
  join(tools, 'node_modules/.bin/wrangler'),
  ['dev', '--config', config, '--ip', '127.0.0.1', '--port', env.MATRIX_PORT, '--inspector-port', String(Number(env.MATRIX_PORT) + 50),
    '--show-interactive-dev-session=false', '--persist-to', join(work, 'wrangler-state'), ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`])],
  { env: { ...env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: '1', NO_COLOR: '1', WRANGLER_LOG_PATH: join(work, 'wrangler-logs') }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
)
let ready = false
const started = performance.now()
const onData = (d) => {
  process.stdout.write(d)
  if (!ready && /Ready on http/.test(String(d))) {
    ready = true
    console.log(`\nwrangler dev ready in ${Math.round(performance.now() - started)} ms\nREADY ${env.MATRIX_PORT}`)
  }
}
wrangler.stdout.on('data', onData)
wrangler.stderr.on('data', onData)
wrangler.on('exit', (code) => process.exit(code ?? 1))
const stop = () => {
  try {
    process.kill(-wrangler.pid, 'SIGTERM')
  } catch {}
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
