/**
 * The fleet-wide per-minute budget in Redis (`budget.fleet`): its keys, the Lua script that spends one token
 * atomically, and the check of what the script answers.
 *
 * Why a script of our own and not `rate-limiter-flexible` (RateLimiterRedis + insuranceLimiter), which the house
 * prefers in general:
 *
 * - **same meaning as `maxPerMinute`**: the per-process budget is a token bucket (bursts up to the budget, refilled
 *   over a minute) shared fairly between source networks (budget.ts). rate-limiter-flexible's Redis limiters are
 *   fixed windows started by the first call (up to 2× the quota across a window edge) and have no per-network share
 *   with a newcomer reserve. The script applies budget.ts's rule (a cap per network, a reserve for networks that
 *   spent nothing lately) to the fleet's buckets in one atomic step, reading two keys.
 * - **one clock**: the script reads Redis `TIME`, so the window is decided by one clock for the whole fleet, whatever
 *   the instances' clocks say (an instance whose clock runs ahead cannot refill the bucket early). Effects
 *   replication (the default since Redis 5, the only mode in 7 and Valkey) makes `TIME` in a script safe.
 * - **the fallback on the injected clock**: rate-limiter-flexible's insurance limiter is a memory limiter on
 *   `Date.now()` that waits for Redis however slow it is; ours is budget.ts's bucket on the resolver's clock, taken at
 *   once when Redis errs, exceeds its small time budget, or failed within the last few seconds (fleet/budget.ts). Tests
 *   move that clock; no sleeps.
 * - **any topology**: it goes through the {@link RedisLink} (routed by key), so it runs the same on a single server,
 *   Sentinel, Valkey and a Redis Cluster. Both keys carry the hash tag `{fleet}`, so they live in one slot and the
 *   script may touch both (Redis Cluster refuses a script whose keys span slots).
 * - **cost**: one `EVALSHA` round trip per provider call (a cache miss that passed the local budgets), never on a
 *   cache hit; `EVAL` with the source once per Redis server that has not cached the script (`NOSCRIPT`: after a
 *   restart or a failover).
 *
 * Values read from Redis are checked in the script: a budget key that is not a hash, or holds tokens that are not a
 * number from 0 to the largest budget, or a time that is not a number or lies more than a window ahead, is replaced
 * by an *empty* bucket refilling from now (never a full one: garbage cannot unlock calls) and reported. The reply is
 * checked here ({@link parseReply}); anything else is a failure (the local fallback applies).
 *
 * @internal
 * @module
 */

/** The window of `perMinute`. */
export const WINDOW_MS = 60_000

/** The largest budget a stored token count may hold (the options' maximum); beyond is garbage. */
export const MAX_TOKENS = 10_000_000

/** The fleet bucket of `provider`: `<prefix>:2:{fleet}:budget:<provider>`. @internal */
export function fleetBudgetKey(prefix: string, provider: string): string {
  return `${prefix}:2:{fleet}:budget:${provider}`
}

/** The bucket of one source network (`a.b.c.0/24`, `2001:db8::/48`), in the fleet bucket's slot. @internal */
export function networkBudgetKey(prefix: string, provider: string, network: string): string {
  return `${fleetBudgetKey(prefix, provider)}:net:${network}`
}

/**
 * KEYS[1]: the fleet bucket; KEYS[2] (optional): the network's bucket.
 * ARGV: perMinute, network cap, reserve, window (ms).
 * Returns { granted (1/0), refusal (0 none, 1 fleet empty, 2 network share), invalid (number of keys replaced) }.
 */
export const TAKE_SCRIPT = `local function bucket(key, cap, now, window)
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'none' then return cap, 0 end
  if kind == 'hash' then
    local v = redis.call('HMGET', key, 't', 'a')
    local t, a = tonumber(v[1]), tonumber(v[2])
    if t ~= nil and a ~= nil and t == t and a == a and t >= 0 and t <= ${MAX_TOKENS} and a >= 0 and a <= now + window then
      if a > now then a = now end
      return math.min(cap, t + (now - a) * cap / window), 0
    end
  end
  redis.call('DEL', key)
  return 0, 1
end
local function save(key, tokens, now, window)
  redis.call('HSET', key, 't', tostring(tokens), 'a', tostring(now))
  redis.call('PEXPIRE', key, window)
end
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cap, netCap, reserve, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local g, bad = bucket(KEYS[1], cap, now, window)
if g < 1 then
  save(KEYS[1], g, now, window)
  return {0, 1, bad}
end
if KEYS[2] ~= nil then
  local own, badNet = bucket(KEYS[2], netCap, now, window)
  bad = bad + badNet
  if own < 1 or (own < netCap and g < 1 + reserve) then
    if badNet > 0 then save(KEYS[2], own, now, window) end
    save(KEYS[1], g, now, window)
    return {0, 2, bad}
  end
  save(KEYS[2], own - 1, now, window)
end
save(KEYS[1], g - 1, now, window)
return {1, 0, bad}
`

/** SHA-1 of {@link TAKE_SCRIPT} (checked by the tests), for `EVALSHA` without hashing at run time. */
export const TAKE_SCRIPT_SHA = '874ba08e1b790e034bd081752c3a2c672b3c211d'

/** What the script decided. @internal */
export interface TakeReply {
  granted: boolean
  /** Why not: the fleet bucket is empty, or the network's share is spent. */
  refusal: 'fleet' | 'network' | undefined
  /** How many keys held a value the script replaced (garbage, another program's value). */
  invalid: number
}

/** The script's reply, or `undefined` when it is not one (a failure: the local fallback applies). @internal */
export function parseReply(reply: unknown): TakeReply | undefined {
  if (!Array.isArray(reply) || reply.length !== 3) return undefined
  const [granted, refusal, invalid] = reply as unknown[]
  if (granted !== 0 && granted !== 1) return undefined
  if (refusal !== 0 && refusal !== 1 && refusal !== 2) return undefined
  if (invalid !== 0 && invalid !== 1 && invalid !== 2) return undefined
  if ((granted === 1) !== (refusal === 0)) return undefined
  return { granted: granted === 1, refusal: refusal === 1 ? 'fleet' : refusal === 2 ? 'network' : undefined, invalid }
}

/** True for Redis's "script not cached" error. */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT')
}
