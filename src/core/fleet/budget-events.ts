/**
 * The `degraded` events of the fleet budget (`budget.fleet`, fleet/budget.ts): the instance spends from its local
 * fallback because Redis cannot answer, or the fleet's quota is spent. Same shape as the self-check's events
 * (self-check/warnings.ts); the cause is named in the message (a class of failure, never a host, key or password).
 *
 * @internal
 * @module
 */
import type { DegradedEvent, DegradedKind } from '../self-check/vocabulary.js'
import { degradedEvent } from '../self-check/warnings.js'

/** Why Redis could not answer: `timeout`, `no_link` (no Redis connection), `bad_reply`, `error:<code>`. @internal */
export type FallbackCause = 'timeout' | 'no_link' | 'bad_reply' | `error:${string}`

const DOCS = 'docs/fleet.md'

function event(kind: DegradedKind, t: number, message: string): DegradedEvent {
  return degradedEvent(kind, t, { option: 'budget.fleet', docs: DOCS, message })
}

const CAUSES: Record<string, string> = {
  timeout: 'Redis did not answer within `budget.fleet.timeoutMs`',
  no_link: 'there is no Redis connection (the shared cache is not Redis, or not connected yet)',
  bad_reply: 'Redis answered something that is not the budget script’s reply',
}

/** The instance spends from its local fallback budget. @internal */
export function fallbackEvent(
  t: number,
  cause: FallbackCause,
  settings: { fallbackPerMinute: number; perMinute: number },
  provider: string,
): DegradedEvent {
  const why = CAUSES[cause] ?? `Redis failed (${cause.slice('error:'.length)})`
  const local =
    settings.fallbackPerMinute === 0
      ? 'refuses every provider call (`fallbackPerMinute: 0`): lookups answer `unavailable` / `budget_exceeded`'
      : `spends at most ${settings.fallbackPerMinute} provider calls per minute of its own (\`fallbackPerMinute\`)`
  return event(
    'fleet_budget_fallback',
    t,
    `the fleet budget of \`${provider}\` (${settings.perMinute} calls per minute) cannot be read: ${why} [cause: ${cause}]. This instance ${local}, and asks Redis again every few seconds; it returns to the fleet budget when Redis answers. Fix: check Redis's reach and load; see ${DOCS}`,
  )
}

/** The fleet's quota is spent: lookups are refused until it refills. @internal */
export function exhaustedEvent(t: number, perMinute: number, provider: string): DegradedEvent {
  return event(
    'fleet_budget_exhausted',
    t,
    `the fleet budget of \`${provider}\` (\`budget.fleet.perMinute\`: ${perMinute} calls per minute for all instances) is spent: new lookups answer \`unavailable\` / \`budget_exceeded\` (the fail mode applies) until it refills. Fix: raise \`budget.fleet.perMinute\` if this traffic is legitimate, else it is being drained (IP rotation); see ${DOCS}`,
  )
}
