/**
 * The Redis side of the fleet lease (lease.ts): its key, its token, and the two Lua scripts it runs. Each script
 * touches one IP key's answer, block and lease keys, which the fleet key scheme puts in one hash slot
 * (`<prefix>:2:{<ipKey>}:…`), so one script is one round trip on a single server, a Sentinel set or a cluster.
 *
 * Scripts rather than `SET … NX PX` plus reads: the lease is taken only if no fresh answer landed since the caller's
 * L2 read (an instance that finished meanwhile must not cause a second upstream call), and a value at the lease key
 * that no instance wrote (no expiry, the wrong type, not a token) must not stall every lookup of that IP: both need
 * the read and the write in one atomic step. Hand-written: no maintained library offers a lease with these checks
 * (redlock and its kin lock resources, they do not read an answer first).
 *
 * @internal
 * @module
 */

/** The fleet lease key of an IP key and provider: `<prefix>:2:{<ipKey>}:lease:<provider>` (the answer's slot). */
export function leaseCacheKey(prefix: string, providerName: string, ipKey: string): string {
  return `${prefix}:2:{${ipKey}}:lease:${providerName}`
}

/** What a lease token looks like: 32 lowercase hex characters (128 random bits). */
export const TOKEN_PATTERN = /^[0-9a-f]{32}$/

/** A new lease token (Web Crypto: the same on every runtime). */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}

/** What {@link TAKE_SCRIPT} found: a fresh answer or block (no lease taken), the lease taken by another, or by us. */
export const TAKE = { found: 1, taken: 2, held: 3 } as const

/**
 * Answer or lease, atomically. KEYS: answer, block, lease. ARGV: token, lease ms, now (epoch ms, the caller's clock),
 * longest lease ms an instance writes, and the digest of values to look past ('' for none: the caller found those
 * "fresh" values invalid, and waits for different ones), longest value read (a longer one, or one of the wrong type,
 * is no answer: it is never parsed here, nor sent back). A value at the lease key that is not a lease (not a token,
 * no expiry or a longer one than any instance writes, the wrong type) is replaced. Returns `{state, answer text or '',
 * block text, digest of both}` for a found answer, `{state}` otherwise, state one of {@link TAKE}. A record's
 * freshness is read leniently here (a garbage value is "not fresh"); the caller checks what it gets strictly
 * (l2-codec.ts), as it does every L2 value.
 */
export const TAKE_SCRIPT = `
local function text(key)
  local v = redis.pcall('GET', key)
  if type(v) == 'string' and string.len(v) <= tonumber(ARGV[6]) then return v end
  return ''
end
local function stamp(s, field)
  if s == '' then return 0 end
  local ok, entry = pcall(cjson.decode, s)
  if not ok or type(entry) ~= 'table' or type(entry.value) ~= 'table' then return 0 end
  local t = entry.value[field]
  if type(t) ~= 'number' then return 0 end
  return t
end
local answer = text(KEYS[1])
local block = text(KEYS[2])
local now = tonumber(ARGV[3])
local digest = redis.sha1hex(string.len(answer) .. ':' .. answer .. block)
if digest ~= ARGV[5] and (stamp(answer, 'f') > now or stamp(block, 'u') > now) then return {1, answer, block, digest} end
local lease = redis.pcall('GET', KEYS[3])
if type(lease) == 'string' then
  local ttl = redis.call('PTTL', KEYS[3])
  if string.len(lease) == 32 and string.match(lease, '^[0-9a-f]+$') and ttl > 0 and ttl <= tonumber(ARGV[4]) then
    return {2}
  end
end
if type(lease) == 'table' then redis.call('DEL', KEYS[3]) end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
return {3}
`

/**
 * Publish and release, atomically. KEYS: answer, block, lease. ARGV: token, answer text ('' for none), answer ms,
 * block text ('' for none), block ms. Writes what is given, then deletes the lease only if it still holds our token
 * (an expired lease another instance took is theirs). Returns 1 when our lease was released, else 0.
 */
export const RELEASE_SCRIPT = `
if ARGV[2] ~= '' then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5]) end
if redis.pcall('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
  return 1
end
return 0
`

/**
 * Keep a lease alive. KEYS: lease. ARGV: token, lease ms. Extends the lease only if it still holds our token; returns
 * 1 when extended, 0 when the lease is no longer ours (expired, or taken by another after it expired).
 */
export const RENEW_SCRIPT = `
if redis.pcall('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`
