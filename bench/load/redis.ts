/**
 * The benchmark's corner of the shared Redis: every key the benchmark resolvers write starts with
 * {@link benchKeyPrefix}, and {@link flushBenchKeys} deletes exactly those (never `FLUSHDB`: other suites share the
 * server).
 */
import { createClient } from '@keyv/redis'

export const benchRedisUrl = process.env.IPRISK_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const benchKeyPrefix = 'iprisk-bench'

/** Deletes every key under the benchmark prefix; returns how many were deleted. */
export async function flushBenchKeys(url = benchRedisUrl, prefix = benchKeyPrefix): Promise<number> {
  const client = createClient({ url, socket: { connectTimeout: 2_000, reconnectStrategy: false } })
  client.on('error', () => {})
  await client.connect()
  try {
    let deleted = 0
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      if (keys.length > 0) deleted += await client.unlink(keys)
    }
    return deleted
  } finally {
    client.destroy()
  }
}
