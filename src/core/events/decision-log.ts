/**
 * The decision log: events written to the application's logger, allows at `info`, would-blocks at `warn` under a
 * rate limit per (client IP, adapter, path, policy, action, reason).
 *
 * @module
 */

import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import type { Logger } from './options.js'
import type { SecurityEvent } from './security-event.js'

/**
 * The message of every decision log line.
 *
 * @example
 * ```ts
 * // jq filter on a pino log file:  select(.msg == "iprisk decision" and .action == "block")
 * lines.filter((l) => l.msg === DECISION_LOG_MESSAGE)
 * ```
 */
export const DECISION_LOG_MESSAGE = 'iprisk decision'

/**
 * The window of the log rate limit of repeated would-blocks (60 s): for one client IP, adapter, path, policy, action
 * (`block` or `monitor`) and reason, at most {@link DECISION_LOG_BURST} `iprisk decision` lines are written per
 * window, which starts with the first line written for the key. The decisions after those lines are not logged; the
 * first line of the key's next window carries `suppressed`, how many were left out. Allows (thinned by `sampleAllows`
 * instead), hooks and metrics are not rate-limited.
 *
 * @example
 * ```ts
 * // A Tor exit hammering one procedure for an hour: at most 300 log lines, and the metrics count every call.
 * const maxLinesPerHour = (3_600_000 / DECISION_LOG_INTERVAL_MS) * DECISION_LOG_BURST // 300
 * ```
 */
export const DECISION_LOG_INTERVAL_MS = 60_000

/**
 * How many lines one key of the log rate limit may write per {@link DECISION_LOG_INTERVAL_MS} (5): a person retrying
 * by hand sees each attempt; a flood is cut after the fifth.
 *
 * @example
 * ```ts
 * const maxLinesPerMinutePerKey = DECISION_LOG_BURST // 5
 * ```
 */
export const DECISION_LOG_BURST = 5

/**
 * How many keys (client IP, adapter, path, policy, action, reason) the log rate limit remembers; beyond, the least
 * recently used is forgotten (its next would-block is logged again, and a `suppressed` count it held is only in the
 * metrics). Bounds the rate limiter's memory whatever the number of client IPs: a key is at most about 700 bytes
 * (paths are capped at 200 characters), typically under 200.
 *
 * @example
 * ```ts
 * const worstCaseBytes = DECISION_LOG_KEYS * 700 // ~7 MB; typically under 2 MB
 * ```
 */
export const DECISION_LOG_KEYS = 10_000

/** Where the log rate limit of one (client IP, adapter, path, policy, action, reason) stands. */
interface LogWindow {
  /** When the window began: the time of its first line (epoch ms). */
  start: number
  /** Lines written in the window. */
  lines: number
  /** Decisions not logged in the window (after its last line). */
  suppressed: number
}

/**
 * Writes events to the logger: allows at `info`; would-blocks at `warn`, at most {@link DECISION_LOG_BURST} lines
 * per {@link DECISION_LOG_INTERVAL_MS} per (client IP, adapter, path, policy, action, reason), by the clock when
 * written, the first line of a window after suppressed decisions carrying `suppressed` (a copy of the event is made
 * only then). Never throws.
 * @internal
 */
export class DecisionLog {
  readonly #logger: Logger
  readonly #clock: Clock
  /**
   * The rate limit's windows, bounded (least recently used keys are forgotten). Made with the first would-block: an
   * LRU of this size costs milliseconds to allocate, which a resolver that never blocks should not pay at start-up.
   */
  #windows: LRUCache<string, LogWindow> | undefined

  constructor(logger: Logger, clock: Clock) {
    this.#logger = logger
    this.#clock = clock
  }

  /** Write `event` (standing for `event.count` decisions); `wouldBlock` selects the level and the rate limit. */
  write(event: SecurityEvent, wouldBlock: boolean): void {
    try {
      if (!wouldBlock) {
        this.#logger.info(event, DECISION_LOG_MESSAGE)
        return
      }
      const suppressed = this.#admit(event)
      if (suppressed < 0) return
      this.#logger.warn(suppressed === 0 ? event : { ...event, suppressed }, DECISION_LOG_MESSAGE)
    } catch {
      // Logging is best effort; the request must go on.
    }
  }

  /** Count a would-block against its key's window: -1 if it is not to be written, else the `suppressed` it carries. */
  #admit(event: SecurityEvent): number {
    // Identical blocks: same client, same place (adapter, path), same policy and outcome. The IP is canonical and
    // the other fields come from the application's code (policy names, procedure paths, schema coordinates), so a
    // newline cannot make two keys collide by accident.
    const key = `${event.ip ?? ''}\n${event.adapter ?? ''}\n${event.path ?? ''}\n${event.policy ?? '\u0000'}\n${event.action}\n${event.reason}`
    const time = this.#clock.now()
    const windows = (this.#windows ??= new LRUCache<string, LogWindow>({ max: DECISION_LOG_KEYS }))
    const window = windows.get(key)
    if (window === undefined) {
      windows.set(key, { start: time, lines: 1, suppressed: 0 })
      return 0
    }
    if (time >= window.start && time - window.start < DECISION_LOG_INTERVAL_MS) {
      // Inside the window. (A clock that went back opens a new window rather than muting the key until it catches up.)
      if (window.lines >= DECISION_LOG_BURST) {
        window.suppressed += event.count
        return -1
      }
      window.lines++
      return 0
    }
    const suppressed = window.suppressed
    window.start = time
    window.lines = 1
    window.suppressed = 0
    return suppressed
  }
}
