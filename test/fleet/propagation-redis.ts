/**
 * A private redis-server for the propagation suites, on a fixed port of this suite's range (7300–7399), optionally
 * persisting every write (AOF, `appendfsync always`) into its temporary directory so that a restart keeps the data.
 * The server is a {@link PlainServer} of test/support/redis-servers.ts (only the process started there is ever
 * signalled, by its own pid; the directory is removed by `stop()`).
 */
import { redisPing, redisServerPath } from '../reliability/helpers/redis.js'
import { plainServer, type PlainServer } from '../support/redis-servers.js'

/** A private redis-server of the propagation suites (`kill()` with persistence: every acknowledged write is on disk). */
export type PropagationRedis = PlainServer

/** A private redis-server on `port`, not started. */
export function createPropagationRedis(port: number, options: { persist: boolean }): PropagationRedis {
  const binary = redisServerPath()
  if (binary === null) throw new Error('redis-server is not installed')
  return plainServer(port, { binary, persist: options.persist, ready: () => redisPing(port) })
}

/** Wait until `condition()` holds, polling every `everyMs`; throws `what` after `deadlineMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, deadlineMs = 10_000, everyMs = 5): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
