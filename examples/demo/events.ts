/**
 * The demo's log pipeline: a real pino logger (what an application would pass as the resolver's `logger`) writing JSON
 * lines into memory, so the demo can show them, match them to tour steps and stream later ones to the terminal.
 *
 * @module
 */
import { pino } from 'pino'
import type { Logger, SecurityEvent } from '../../src/core/index.js'

/** One line pino wrote, with its parsed object. */
export interface LogEntry {
  /** The JSON line exactly as a log shipper would receive it (no trailing newline). */
  line: string
  /** `bot_detection` entries are decisions; anything else (a configuration warning) is `null`. */
  event: SecurityEvent | null
  /** The pino message (`iprisk decision`, or the text of a configuration warning). */
  msg: string
}

/** An in-memory sink for the resolver's logger. */
export interface EventLog {
  /** Pass as the resolver's `logger`. */
  readonly logger: Logger
  /** Everything logged so far, oldest first. */
  readonly entries: readonly LogEntry[]
  /** Decision events logged since `entries.length` was `from`. */
  eventsSince(from: number): SecurityEvent[]
  /** Calls `listener` for every entry logged from now on; returns the unsubscribe function. */
  subscribe(listener: (entry: LogEntry) => void): () => void
}

function isSecurityEvent(value: unknown): value is SecurityEvent {
  return typeof value === 'object' && value !== null && (value as { event?: unknown }).event === 'bot_detection'
}

/**
 * Creates the sink. Lines look like `{"level":40,"timestamp":"…","event":"bot_detection","action":"block",…,
 * "msg":"iprisk decision"}`: pino's level and message plus iprisk's security event (pino's own `time`, `pid` and
 * `hostname` are turned off, the event carries its own timestamp).
 *
 * @example
 * ```ts
 * const log = createEventLog()
 * const risk = await createExampleRisk({ logger: log.logger })
 * const mark = log.entries.length
 * // … a request …
 * log.eventsSince(mark) // [{ event: 'bot_detection', action: 'block', reason: 'tor_exit_node', … }]
 * ```
 */
export function createEventLog(): EventLog {
  const entries: LogEntry[] = []
  const listeners = new Set<(entry: LogEntry) => void>()
  const destination = {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) {
        if (line === '') continue
        let parsed: unknown
        try {
          parsed = JSON.parse(line)
        } catch {
          parsed = null
        }
        const msg = typeof (parsed as { msg?: unknown } | null)?.msg === 'string' ? (parsed as { msg: string }).msg : line
        const entry: LogEntry = { line, event: isSecurityEvent(parsed) ? parsed : null, msg }
        entries.push(entry)
        for (const listener of listeners) listener(entry)
      }
    },
  }
  const logger = pino({ base: null, timestamp: false, level: 'info' }, destination)
  return {
    logger,
    entries,
    eventsSince(from) {
      const events: SecurityEvent[] = []
      for (let i = from; i < entries.length; i++) {
        const event = entries[i]?.event
        if (event) events.push(event)
      }
      return events
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}
