/**
 * A `trustProxy` value compiled once into a predicate `(canonicalAddr, hop) => boolean`, proxy-addr style: a
 * constant for none and all, a comparison for a hop count, a compiled CIDR matcher for a list (itself specialised for
 * one range or many), and a guarded call for a user's function.
 *
 * @module
 */
import { compileCidrList } from '../cidr.js'
import { IpRiskConfigError } from '../errors.js'
import { platformChainOf } from '../platforms/registry.js'
import type { TrustProxy } from './types.js'

/** Trusts no hop. The reader recognises it by identity and skips the trust check. @internal */
export const TRUST_NONE = (): boolean => false
/** Trusts every hop. @internal */
export const TRUST_ALL = (): boolean => true

/**
 * Compile a {@link TrustProxy} value into a predicate `(canonicalAddr, hop) => boolean`, once, at start-up.
 * `hop` 0 is the socket peer, 1 the closest `X-Forwarded-For` entry, and so on (proxy-addr's numbering).
 *
 * A user function is called with canonical addresses (IPv4-mapped already mapped to IPv4); it must return `true`
 * to trust (a merely truthy value does not), and if it throws, the hop is not trusted.
 *
 * @param trust - see {@link TrustProxy}.
 * @param optionName - the option path reported in errors (default `'trustProxy'`).
 * @throws IpRiskConfigError for a negative or fractional hop count, an unparsable range, or another type.
 *
 * @example
 * ```ts
 * const trusted = compileTrust('loopback, 10.0.0.0/8')
 * trusted('10.1.2.3', 0) // true
 * compileTrust(2)('203.0.113.7', 1) // true: hops 0 and 1 are trusted
 * ```
 */
export function compileTrust(trust: TrustProxy, optionName = 'trustProxy'): (addr: string, hop: number) => boolean {
  if (trust === false) return TRUST_NONE
  if (platformChainOf(trust, optionName) !== null) {
    throw new IpRiskConfigError(
      optionName,
      'a platform preset also chooses which headers to read, so it cannot be compiled to an address predicate; give it as trustProxy to createClientIpReader or createRiskResolver',
    )
  }
  if (trust === true) return TRUST_ALL
  if (typeof trust === 'number') {
    if (!Number.isInteger(trust) || trust < 0) {
      throw new IpRiskConfigError(
        optionName,
        `a hop count must be a non-negative integer, got ${String(trust)} (use true to trust every hop)`,
      )
    }
    const hops = trust
    return hops === 0 ? TRUST_NONE : (_addr: string, hop: number): boolean => hop < hops
  }
  if (typeof trust === 'string' || Array.isArray(trust)) {
    return compileCidrList(trust as string | readonly string[], optionName)
  }
  if (typeof trust === 'function') {
    const fn = trust
    return (addr: string, hop: number): boolean => {
      try {
        return fn(addr, hop) === true
      } catch {
        return false
      }
    }
  }
  throw new IpRiskConfigError(
    optionName,
    `must be a boolean, a hop count, an address / CIDR string or list, or a function (addr, hop) => boolean; got ${
      trust === null ? 'null' : typeof trust
    }`,
  )
}
