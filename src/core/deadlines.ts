/**
 * Lookup deadlines. A lookup's provider call is aborted when its whole-lookup budget runs out. An AbortController and
 * a timer per call cost several µs and much GC on the miss path, so calls whose deadlines fall in the same short
 * window share one controller and one timer, fired at the window's start: a call is cut at most `windowMs` early,
 * never late. Hand-rolled because no library batches abort signals. Runs on the injected clock (monotonic time).
 *
 * @module
 * @internal
 */
import type { Clock, TimerHandle } from './clock.js'
import { nodeBuiltin } from './node-builtin.js'
import { DEADLINE } from './provider-contract.js'

/** Node's `events.setMaxListeners`, looked up on first use; `null` where the runtime has none (nothing warns there). */
let setMaxListeners: ((n: number, target: EventTarget) => void) | null | undefined

/** Lift Node's listener-count warning on a shared signal: every call of the window may listen to it. */
function unlimitedListeners(signal: AbortSignal): void {
  setMaxListeners ??= nodeBuiltin<typeof import('node:events')>('node:events')?.setMaxListeners ?? null
  try {
    setMaxListeners?.(0, signal)
  } catch {
    setMaxListeners = null // an emulation that does not take an AbortSignal: only a warning is lost
  }
}

/** Calls whose deadlines fall in one window share an AbortController and a timer. @internal */
export interface DeadlineWindow {
  readonly index: number
  readonly controller: AbortController
  /** Called with {@link DEADLINE} when the window fires (a call already settled ignores it). */
  readonly waiters: Array<(reason: unknown) => void>
  users: number
  timer: TimerHandle
}

/** The open deadline windows of one resolver. @internal */
export class Deadlines {
  readonly #windows = new Map<number, DeadlineWindow>()
  readonly #windowMs: number

  constructor(
    timeoutMs: number,
    private readonly clock: Clock,
  ) {
    this.#windowMs = Math.max(1, Math.min(10, Math.floor(timeoutMs / 20)))
  }

  /** Join the window of a deadline at monotonic time `at`; `leave` it once the call settles. */
  join(at: number): DeadlineWindow {
    const windowMs = this.#windowMs
    const index = Math.floor(at / windowMs)
    let w = this.#windows.get(index)
    if (w === undefined) {
      const controller = new AbortController()
      unlimitedListeners(controller.signal)
      const window: DeadlineWindow = { index, controller, waiters: [], users: 0, timer: undefined }
      window.timer = this.clock.setTimeout(() => this.#fire(window), Math.max(0, index * windowMs - this.clock.monotonic()))
      this.#windows.set(index, window)
      w = window
    }
    w.users++
    return w
  }

  leave(w: DeadlineWindow): void {
    if (--w.users === 0 && !w.controller.signal.aborted) {
      this.clock.clearTimeout(w.timer)
      this.#windows.delete(w.index)
    }
  }

  /** Fire every window now (closing the resolver): their calls are aborted and answered. */
  fireAll(): void {
    for (const w of [...this.#windows.values()]) {
      this.clock.clearTimeout(w.timer)
      this.#fire(w)
    }
  }

  #fire(w: DeadlineWindow): void {
    this.#windows.delete(w.index)
    w.controller.abort()
    for (const waiter of w.waiters) waiter(DEADLINE)
  }
}
