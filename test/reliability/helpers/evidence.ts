/**
 * Evidence collection for the reliability suites: everything the outside world could see (HTTP responses, errors,
 * log lines, security events, console output) is kept as text so that a suite can prove a secret never appears in
 * any of it, and process-level failures (unhandled rejections, uncaught exceptions) are recorded instead of lost.
 */
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import type { Logger, SecurityEvent } from '../../../src/core/index.js'
import type { SecurityEventHook } from '../../../src/core/events.js'
import { seededRandom } from '../../../src/testing/simulator.js'

/**
 * The API key of every reliability suite: distinctive, so that a single grep over the evidence finds any leak.
 * The random tail makes an accidental match with a constant in the code impossible.
 */
export const SECRET_API_KEY = `sk_live_DO_NOT_LEAK_${Math.random().toString(36).slice(2, 12)}`

/** One piece of collected evidence: where it came from and its text. */
export interface EvidenceItem {
  kind: 'response' | 'error' | 'log' | 'event' | 'console'
  label: string
  text: string
}

/** Render an error (message, stack, `cause` chain, own properties) the way a log sink might. */
export function errorText(error: unknown): string {
  const parts: string[] = []
  let current: unknown = error
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (current instanceof Error) {
      parts.push(String(current), current.stack ?? '')
      current = (current as { cause?: unknown }).cause
    } else {
      parts.push(String(current))
      break
    }
  }
  parts.push(inspect(error, { depth: 6, showHidden: true, breakLength: Infinity }))
  try {
    parts.push(JSON.stringify(error))
  } catch {
    // circular: inspect above already has it
  }
  return parts.join('\n')
}

/** Collects everything observable; see {@link createEvidence}. */
export interface Evidence {
  /** Everything collected (only the watched matches with `retain: false`). */
  readonly items: readonly EvidenceItem[]
  /** `onDecision` events (none with `retain: false`). */
  readonly events: readonly SecurityEvent[]
  /** A pino-compatible logger that records every call. */
  readonly logger: Logger
  readonly onDecision: SecurityEventHook
  readonly onBlock: SecurityEventHook
  readonly onHighRisk: SecurityEventHook
  add(kind: EvidenceItem['kind'], label: string, text: string): void
  error(label: string, error: unknown): void
  /** Items whose text contains `needle`. */
  find(needle: string): EvidenceItem[]
  /** Counts of items by kind (to prove the grep ran over real material). */
  counts(): Record<EvidenceItem['kind'], number>
}

/** Options of {@link createEvidence}. */
export interface EvidenceOptions {
  /**
   * `false`: keep only the items that contain one of `watch` (and the counts), so that a long run's memory stays flat
   * (the soak measures the heap). `find` then only answers for watched needles.
   * @default true
   */
  retain?: boolean
  /** Needles checked on arrival when `retain` is false. */
  watch?: readonly string[]
}

/** A fresh evidence collector. */
export function createEvidence(options: EvidenceOptions = {}): Evidence {
  const retain = options.retain ?? true
  const watched = options.watch ?? []
  const items: EvidenceItem[] = []
  const events: SecurityEvent[] = []
  const tally = { response: 0, error: 0, log: 0, event: 0, console: 0 }
  const add = (kind: EvidenceItem['kind'], label: string, text: string): void => {
    tally[kind]++
    if (retain || watched.some((needle) => text.includes(needle) || label.includes(needle))) items.push({ kind, label, text })
  }
  const logCall =
    (level: string) =>
    (obj: object, msg?: string): void => {
      add('log', level, `${msg ?? ''} ${JSON.stringify(obj)} ${inspect(obj, { depth: 6 })}`)
    }
  const hook =
    (name: string): SecurityEventHook =>
    (event) => {
      if (name === 'onDecision' && retain) events.push(event)
      add('event', name, JSON.stringify(event))
    }
  return {
    items,
    events,
    logger: { info: logCall('info'), warn: logCall('warn'), error: logCall('error') },
    onDecision: hook('onDecision'),
    onBlock: hook('onBlock'),
    onHighRisk: hook('onHighRisk'),
    add,
    error(label, error) {
      add('error', label, errorText(error))
    },
    find(needle) {
      return items.filter((item) => item.text.includes(needle) || item.label.includes(needle))
    },
    counts() {
      return { ...tally }
    },
  }
}

/** Records unhandled rejections and uncaught exceptions of this process while installed. */
export interface ProcessWatch {
  readonly failures: readonly string[]
  stop(): void
}

/** Start recording process-level failures (call `stop()` in `afterAll`). */
export function watchProcess(evidence?: Evidence): ProcessWatch {
  const failures: string[] = []
  const onRejection = (reason: unknown): void => {
    failures.push(`unhandledRejection: ${errorText(reason)}`)
    evidence?.error('unhandledRejection', reason)
  }
  const onException = (error: unknown): void => {
    failures.push(`uncaughtException: ${errorText(error)}`)
    evidence?.error('uncaughtException', error)
  }
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  return {
    failures,
    stop() {
      process.off('unhandledRejection', onRejection)
      process.off('uncaughtException', onException)
    },
  }
}

/** Record everything written through `console.*` into the evidence while installed. */
export function captureConsole(evidence: Evidence): () => void {
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const
  const originals = methods.map((m) => console[m])
  methods.forEach((m, i) => {
    const original = originals[i] as (...args: unknown[]) => void
    console[m] = (...args: unknown[]) => {
      evidence.add('console', m, args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 6 }))).join(' '))
      original.apply(console, args)
    }
  })
  return () => {
    methods.forEach((m, i) => {
      console[m] = originals[i] as (typeof console)[typeof m]
    })
  }
}

/** A tiny seeded PRNG (mulberry32), so that "random" fault mixes repeat from run to run: the simulator's own. */
export const seeded: (seed: number) => () => number = seededRandom

/**
 * The closing block of a reliability suite: no unhandled rejection or uncaught exception happened, and the API key
 * (and any other `secrets`) appears in nothing the suite collected, which must hold more than `minResponses`
 * responses (so the search is not vacuous).
 *
 * @example
 * ```ts
 * describeProcessHygiene(watch, evidence, { minResponses: 300 })
 * ```
 */
export function describeProcessHygiene(
  watch: ProcessWatch,
  evidence: Evidence,
  options: { minResponses: number; secrets?: readonly string[] },
): void {
  describe('process hygiene', () => {
    it('no unhandled rejection or uncaught exception happened in this suite', () => {
      expect(watch.failures).toEqual([])
    })

    it('the API key appears in no response, error, log line, security event or console output', () => {
      expect(evidence.counts().response, 'responses were collected').toBeGreaterThan(options.minResponses)
      for (const secret of [SECRET_API_KEY, ...(options.secrets ?? [])]) expect(evidence.find(secret)).toEqual([])
    })
  })
}
