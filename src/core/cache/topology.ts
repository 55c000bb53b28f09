/**
 * The one-line form of a shared cache: which Redis deployment a `cache` string names, checked at start-up.
 *
 * | string | deployment |
 * | --- | --- |
 * | `redis://[user:password@]host[:port][/db]`, `rediss://…` | one server (TLS with `rediss`) |
 * | `valkey://…`, `valkeys://…` | the same, for Valkey (same protocol; read as `redis://` / `rediss://`) |
 * | `redis+cluster://[user:password@]host:port,host:port,…` | a Redis Cluster: the nodes to discover it from |
 * | `redis+sentinel://[user:password@]host:port,host:port,…/name[/db]` | a Sentinel set: its sentinels, the master name |
 *
 * `rediss+…`, `valkey+…` and `valkeys+…` work for the cluster and sentinel forms too. A port left out is 6379 (26379
 * for a sentinel). The credentials are those of the data servers (cluster nodes, the sentinel set's master); sentinels
 * are asked without credentials.
 *
 * A URL and not an options object: the same one line as a single server, fits an environment variable
 * (`IPRISK_REDIS_URL`), and needs no new option. The comma-separated host list follows the multi-host URLs of
 * PostgreSQL's libpq and MongoDB; `+cluster` / `+sentinel` in the scheme (like `redis+sentinel://` in Celery and
 * Sidekiq's tooling) keep the topology visible where the URL is configured.
 *
 * Problems are returned as text that never contains the URL (it may hold a password), only positions ("host 2").
 * Hand-written: WHATWG `URL` cannot parse a host list, and no maintained package parses these forms without pulling a
 * Redis client of its own.
 *
 * @internal
 * @module
 */

/** A host and port. @internal */
export interface HostPort {
  host: string
  port: number
}

/** What a `cache` string names. @internal */
export type RedisTarget =
  | { topology: 'single'; url: string; valkey: boolean }
  | { topology: 'cluster'; nodes: HostPort[]; tls: boolean; username?: string; password?: string }
  | { topology: 'sentinel'; sentinels: HostPort[]; name: string; db: number; tls: boolean; username?: string; password?: string }

/** The schemes accepted, for the error naming them. */
const SCHEMES = 'redis:, rediss:, valkey:, valkeys:, redis+cluster:, redis+sentinel: (and rediss+, valkey+, valkeys+)'

/** Hosts in one URL, at most (a cluster is discovered from any one of them). */
export const MAX_URL_HOSTS = 64

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/
const MASTER_NAME = /^[A-Za-z0-9._-]{1,64}$/

/**
 * The deployment `text` names, or a problem (never containing `text`). @internal
 *
 * @example
 * ```ts
 * parseRedisTarget('redis+cluster://10.0.0.1:7000,10.0.0.2:7000')
 * // { topology: 'cluster', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }], tls: false }
 * ```
 */
export function parseRedisTarget(text: string): RedisTarget | { problem: string } {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(text)
  if (m === null) return { problem: 'is not a valid URL (expected redis://[user:password@]host[:port][/db] or rediss://...)' }
  const scheme = (m[1] as string).toLowerCase()
  const rest = m[2] as string
  const base = /^(redis|rediss|valkey|valkeys)(?:\+(cluster|sentinel))?$/.exec(scheme)
  if (base === null) return { problem: `must use one of the schemes ${SCHEMES}, got ${JSON.stringify(`${scheme.slice(0, 20)}:`)}` }
  const tls = base[1] === 'rediss' || base[1] === 'valkeys'
  if (base[2] === undefined) return single(`${tls ? 'rediss' : 'redis'}://${rest}`, (base[1] as string).startsWith('valkey'))
  return multiHost(base[2] as 'cluster' | 'sentinel', rest, tls)
}

function single(url: string, valkey: boolean): RedisTarget | { problem: string } {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return { problem: 'is not a valid URL (expected redis://[user:password@]host[:port][/db] or rediss://...)' }
  }
  if (parsed.hostname === '') return { problem: 'has no host (expected redis://host:port)' }
  const db = parsed.pathname.replace(/^\//, '')
  if (db !== '' && !/^\d{1,5}$/.test(db)) return { problem: 'has a database path that is not a number (expected redis://host:port/0)' }
  return { topology: 'single', url, valkey }
}

function multiHost(kind: 'cluster' | 'sentinel', rest: string, tls: boolean): RedisTarget | { problem: string } {
  const expected = kind === 'cluster' ? 'redis+cluster://host:port,host:port' : 'redis+sentinel://host:26379,host:26379/mymaster'
  if (/[?#]/.test(rest)) return { problem: `has a query or fragment: no option is read from the URL (expected ${expected})` }
  const slash = rest.indexOf('/')
  const authority = slash === -1 ? rest : rest.slice(0, slash)
  const path = slash === -1 ? '' : rest.slice(slash + 1)
  const at = authority.lastIndexOf('@')
  const credentials = at === -1 ? undefined : userInfo(authority.slice(0, at))
  if (credentials === null) return { problem: 'has credentials that are not valid percent-encoding' }
  const hosts = hostList(authority.slice(at + 1), kind === 'cluster' ? 6379 : 26379)
  if (typeof hosts === 'string') return { problem: hosts.replace('$EXPECTED', expected) }
  const auth = credentials ?? {}
  if (kind === 'cluster') {
    if (path !== '') return { problem: 'has a path, but a cluster has only database 0 (expected redis+cluster://host:port,host:port)' }
    return { topology: 'cluster', nodes: hosts, tls, ...auth }
  }
  const [name = '', db = '0', ...extra] = path.split('/')
  if (name === '') return { problem: 'names no master (expected redis+sentinel://host:26379,host:26379/mymaster[/db])' }
  if (!MASTER_NAME.test(name)) return { problem: 'has a master name that is not 1 to 64 letters, digits, dots, dashes or underscores' }
  if (extra.length > 0 || !/^\d{1,5}$/.test(db)) {
    return { problem: 'has a database path that is not a number (expected redis+sentinel://host:26379/mymaster/0)' }
  }
  return { topology: 'sentinel', sentinels: hosts, name, db: Number(db), tls, ...auth }
}

/** `user:password` percent-decoded, or `null` when the encoding is broken. */
function userInfo(text: string): { username?: string; password?: string } | null {
  const colon = text.indexOf(':')
  try {
    const username = decodeURIComponent(colon === -1 ? text : text.slice(0, colon))
    const password = colon === -1 ? undefined : decodeURIComponent(text.slice(colon + 1))
    return { ...(username === '' ? {} : { username }), ...(password === undefined || password === '' ? {} : { password }) }
  } catch {
    return null
  }
}

/** `host[:port],…`, or a problem (with `$EXPECTED` where the expected form goes). */
function hostList(text: string, defaultPort: number): HostPort[] | string {
  if (text === '') return 'lists no host (expected $EXPECTED)'
  const parts = text.split(',')
  if (parts.length > MAX_URL_HOSTS) return `lists more than ${MAX_URL_HOSTS} hosts`
  const hosts: HostPort[] = []
  for (const [i, part] of parts.entries()) {
    const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(part)
    const host = m?.[1] ?? ''
    const bare = host.startsWith('[') ? host.slice(1, -1) : host
    if (m === null || !(host.startsWith('[') ? IPV6.test(bare) && bare.includes(':') : HOST_NAME.test(host))) {
      return `host ${i + 1} is not a host name, an IPv4 address or a bracketed IPv6 address (expected $EXPECTED)`
    }
    const port = m[2] === undefined ? defaultPort : Number(m[2])
    if (port < 1 || port > 65_535) return `host ${i + 1} has a port that is not a number from 1 to 65535`
    hosts.push({ host: bare, port })
  }
  return hosts
}
