/**
 * The one-line forms of a shared cache, checked at start-up by `createRiskResolver`: what each URL means
 * (parseRedisTarget), and the exact IpRiskConfigError for each mistake, never echoing the URL (it may hold a password).
 * No server is needed: the resolver is closed before any connection matters.
 */
import { describe, expect, it } from 'vitest'
import { needsNewGeneration } from '../../src/core/cache/topology-client.js'
import { parseRedisTarget } from '../../src/core/cache/topology.js'
import { IpRiskConfigError } from '../../src/core/errors.js'
import { createRiskResolver } from '../../src/core/resolver.js'
import { createMemoryProvider } from '../../src/testing/index.js'

const provider = createMemoryProvider({})

describe('one-line topologies: what a cache URL means', () => {
  it.each([
    ['redis://127.0.0.1:6379', { topology: 'single', url: 'redis://127.0.0.1:6379', valkey: false }],
    ['rediss://u:p@cache.internal:6380/3', { topology: 'single', url: 'rediss://u:p@cache.internal:6380/3', valkey: false }],
    ['valkey://10.0.0.5:6379/2', { topology: 'single', url: 'redis://10.0.0.5:6379/2', valkey: true }],
    ['valkeys://10.0.0.5', { topology: 'single', url: 'rediss://10.0.0.5', valkey: true }],
    [
      'redis+cluster://10.0.0.1:7000,10.0.0.2,[2001:db8::1]:7002',
      { topology: 'cluster', tls: false, nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 6379 }, { host: '2001:db8::1', port: 7002 }] },
    ],
    [
      'rediss+cluster://app:s%40cret@node-1.internal:7000/',
      { topology: 'cluster', tls: true, username: 'app', password: 's@cret', nodes: [{ host: 'node-1.internal', port: 7000 }] },
    ],
    ['valkey+cluster://h:7000', { topology: 'cluster', tls: false, nodes: [{ host: 'h', port: 7000 }] }],
    [
      'redis+sentinel://:pw@s1:26380,s2/mymaster',
      { topology: 'sentinel', tls: false, password: 'pw', name: 'mymaster', db: 0, sentinels: [{ host: 's1', port: 26380 }, { host: 's2', port: 26379 }] },
    ],
    ['redis+sentinel://s1/cache.main/4', { topology: 'sentinel', tls: false, name: 'cache.main', db: 4, sentinels: [{ host: 's1', port: 26379 }] }],
  ])('%s', (url, target) => {
    expect(parseRedisTarget(url)).toEqual(target)
  })

  it('a valid cluster or sentinel URL starts a resolver (the connection is made in the background)', async () => {
    for (const cache of ['redis+cluster://127.0.0.1:1,127.0.0.1:2', 'redis+sentinel://127.0.0.1:1/mymaster', 'valkey://127.0.0.1:1']) {
      const r = createRiskResolver({ provider, cache })
      await r.close()
    }
  })
})

describe('one-line topologies: start-up errors', () => {
  const SECRET = 'hunter2-secret'
  it.each([
    ['http://127.0.0.1:6379', 'must use one of the schemes redis:, rediss:, valkey:, valkeys:, redis+cluster:, redis+sentinel: (and rediss+, valkey+, valkeys+), got "http:"'],
    ['redis+galaxy://h:1', 'must use one of the schemes redis:, rediss:, valkey:, valkeys:, redis+cluster:, redis+sentinel: (and rediss+, valkey+, valkeys+), got "redis+galaxy:"'],
    ['127.0.0.1:6379', 'is not a valid URL (expected redis://[user:password@]host[:port][/db] or rediss://...)'],
    [`valkey://:${SECRET}@127.0.0.1:99999`, 'is not a valid URL (expected redis://[user:password@]host[:port][/db] or rediss://...)'],
    ['valkey://127.0.0.1/x', 'has a database path that is not a number (expected redis://host:port/0)'],
    [`redis+cluster://:${SECRET}@`, 'lists no host (expected redis+cluster://host:port,host:port)'],
    [`redis+cluster://:${SECRET}@h1:7000,,h3`, 'host 2 is not a host name, an IPv4 address or a bracketed IPv6 address (expected redis+cluster://host:port,host:port)'],
    ['redis+cluster://h1:7000,h2:0', 'host 2 has a port that is not a number from 1 to 65535'],
    ['redis+cluster://h1:70000', 'host 1 has a port that is not a number from 1 to 65535'],
    ['redis+cluster://2001:db8::1:7000', 'host 1 is not a host name, an IPv4 address or a bracketed IPv6 address (expected redis+cluster://host:port,host:port)'],
    ['redis+cluster://h1:7000/2', 'has a path, but a cluster has only database 0 (expected redis+cluster://host:port,host:port)'],
    [`redis+cluster://:${SECRET}@h1?tls=1`, 'has a query or fragment: no option is read from the URL (expected redis+cluster://host:port,host:port)'],
    [`redis+cluster://:%E0%A4%A@h1`, 'has credentials that are not valid percent-encoding'],
    [`redis+sentinel://:${SECRET}@s1,s2`, 'names no master (expected redis+sentinel://host:26379,host:26379/mymaster[/db])'],
    ['redis+sentinel://s1/my master', 'has a master name that is not 1 to 64 letters, digits, dots, dashes or underscores'],
    ['redis+sentinel://s1/mymaster/zero', 'has a database path that is not a number (expected redis+sentinel://host:26379/mymaster/0)'],
    ['redis+sentinel://s1/mymaster/0/1', 'has a database path that is not a number (expected redis+sentinel://host:26379/mymaster/0)'],
    [`redis+cluster://${Array.from({ length: 65 }, (_, i) => `h${i}`).join(',')}`, 'lists more than 64 hosts'],
  ])('%s: IpRiskConfigError, the URL never echoed', (url, problem) => {
    for (const [cache, option] of [
      [url, 'cache'],
      [{ l2: url }, 'cache.l2'],
    ] as const) {
      let error: unknown
      try {
        createRiskResolver({ provider, cache })
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(IpRiskConfigError)
      expect(error).toMatchObject({ option, problem, message: `iprisk: invalid option \`${option}\`: ${problem}` })
      expect(String((error as Error).message)).not.toContain(SECRET)
    }
  })
})

describe('one-line topologies: which failed command replaces the connection', () => {
  class ErrorReply extends Error {}
  it.each([
    [new Error('Socket closed unexpectedly'), true],
    [new Error('The client is closed'), true],
    [new Error('connect ECONNREFUSED 127.0.0.1:7000'), true],
    [new ErrorReply('READONLY You can\'t write against a read only replica.'), true],
    [new ErrorReply('LOADING Redis is loading the dataset in memory'), true],
    [new ErrorReply('MOVED 3999 127.0.0.1:7002'), false],
    [new ErrorReply('CLUSTERDOWN The cluster is down'), false],
    [new Error('ERR unknown command'), false],
    [new Error('NOAUTH Authentication required.'), false],
    [new Error('The queue is full'), false],
  ])('%s: %s', (error, replace) => {
    expect(needsNewGeneration(error)).toBe(replace)
  })
})
