/**
 * Which external programs a suite needs, and what to do when one is missing: skip with a clear message on a
 * developer's machine, fail in CI (`.ci/run` sets `IPRISK_REQUIRE_REDIS=1` and `IPRISK_REQUIRE_NGINX=1`).
 */
import { nginxPath } from './nginx.js'
import { redisServerPath } from './redis.js'

export interface ServiceCheck {
  /** True when the suite must be skipped (missing and not required). */
  skip: boolean
  /** Set when the program is missing: why, and what to install. */
  missing: string | null
  /** True when missing although required: the suite must fail. */
  mustFail: boolean
}

function check(name: string, present: boolean, requireVar: string, install: string): ServiceCheck {
  if (present) return { skip: false, missing: null, mustFail: false }
  const required = process.env[requireVar] === '1'
  const missing = `${name} is not installed (${install})`
  if (!required) {
    console.warn(`[iprisk reliability] SKIPPED: ${missing}; set ${requireVar}=1 to make this a failure.`)
  }
  return { skip: !required, missing, mustFail: required }
}

/** redis-server, for the suites that start their own Redis processes. */
export function redisService(): ServiceCheck {
  return check('redis-server', redisServerPath() !== null, 'IPRISK_REQUIRE_REDIS', 'apt-get install redis-server')
}

/** nginx, for the reverse-proxy end-to-end suite. */
export function nginxService(): ServiceCheck {
  return check('nginx', nginxPath() !== null, 'IPRISK_REQUIRE_NGINX', 'apt-get install nginx')
}
