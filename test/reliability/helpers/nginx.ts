/**
 * nginx as a non-daemon child process with its own configuration in a temporary prefix, listening on a free loopback
 * port, proxying to the example servers the way the integration guide configures it
 * (`proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './redis.js'

const CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', '/usr/bin/nginx']

/** Path of the nginx binary, or `null`. */
export function nginxPath(): string | null {
  for (const path of CANDIDATES) if (existsSync(path)) return path
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' })
  const found = which.stdout.trim()
  return which.status === 0 && found !== '' ? found : null
}

/** A location proxied by nginx: requests under `path` go to `upstream` (an origin such as `http://127.0.0.1:4000`). */
export interface NginxRoute {
  /** nginx location prefix, e.g. `/trpc/`. */
  path: string
  /** Upstream URL including the path the prefix maps to, e.g. `http://127.0.0.1:4000/` or `http://127.0.0.1:4001/graphql`. */
  upstream: string
}

export interface RunningNginx {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** nginx's own error log (stderr), for diagnostics. */
  readonly log: () => string
  stop(): Promise<void>
}

/** The configuration written for {@link startNginx} (exported for the documentation and for review). */
export function nginxConfig(prefix: string, port: number, routes: readonly NginxRoute[]): string {
  const locations = routes
    .map(
      (r) => `
    location ${r.path} {
      proxy_pass ${r.upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }`,
    )
    .join('\n')
  return `worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    server_name localhost;
${locations}
  }
}
`
}

/** Start nginx in the foreground (`daemon off`) in front of `routes`; resolves once it accepts connections. */
export async function startNginx(routes: readonly NginxRoute[]): Promise<RunningNginx> {
  const binary = nginxPath()
  if (binary === null) throw new Error('nginx is not installed')
  const prefix = mkdtempSync(join(tmpdir(), 'iprisk-nginx-'))
  // Worker processes run as an unprivileged user when the master is root: let them reach their temp directories.
  chmodSync(prefix, 0o755)
  for (const dir of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'logs']) mkdirSync(join(prefix, dir), { mode: 0o777 })
  const port = await freePort()
  const conf = join(prefix, 'nginx.conf')
  writeFileSync(conf, nginxConfig(prefix, port, routes))
  const child: ChildProcess = spawn(
    binary,
    ['-c', conf, '-p', `${prefix}/`, '-g', `daemon off; pid ${prefix}/nginx.pid; error_log stderr;`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let log = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString()
  })
  let exitedFlag = false
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exitedFlag = true
      resolve()
    })
  })
  const kill = (): void => {
    if (!exitedFlag) child.kill('SIGKILL')
  }
  process.once('exit', kill)

  const { connect } = await import('node:net')
  const deadline = Date.now() + 15_000 // start-up on a loaded 2-core machine: a condition with a generous deadline
  let up = false
  while (!up && Date.now() < deadline && !exitedFlag) {
    up = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' })
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (!up) await new Promise((r) => setTimeout(r, 25))
  }
  if (!up) {
    kill()
    await exited
    rmSync(prefix, { recursive: true, force: true })
    throw new Error(`nginx did not start: ${log.slice(0, 1_000)}`)
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log: () => log,
    async stop() {
      if (!exitedFlag) {
        child.kill('SIGQUIT') // graceful shutdown of master and worker
        const timer = setTimeout(kill, 3_000)
        await exited
        clearTimeout(timer)
      }
      process.off('exit', kill)
      rmSync(prefix, { recursive: true, force: true })
    },
  }
}
