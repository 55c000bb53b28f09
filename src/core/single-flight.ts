/**
 * Single flight: concurrent lookups of one key share one promise, however many requests wait for it. Hand-written (a
 * map of promises): the libraries that do this add a promise layer or a queue on the miss path for nothing.
 *
 * @module
 * @internal
 */

/** One flight per key; a flight leaves the map when it settles. Flights must never reject. @internal */
export class SingleFlight<T> {
  readonly #flights = new Map<string, Promise<T>>()

  /** Flights in the air now. */
  get size(): number {
    return this.#flights.size
  }

  /** The flight of `key`, if one is in the air. */
  get(key: string): Promise<T> | undefined {
    return this.#flights.get(key)
  }

  /**
   * Share `flight` under `key` until it settles. A value answered without waiting is not shared (nothing to wait for)
   * and is wrapped in a resolved promise.
   */
  share(key: string, flight: T | Promise<T>): Promise<T> {
    if (!(flight instanceof Promise)) return Promise.resolve(flight)
    this.#flights.set(key, flight)
    void flight.then(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key)
    })
    return flight
  }

  /** Resolves once every flight in the air now has settled. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#flights.values()])
  }
}
