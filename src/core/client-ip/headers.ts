/**
 * Reading a request: its headers (Node, fetch `Headers`, plain objects), its socket peer, and the single-address
 * headers platforms and proxies set (`X-Real-IP`, `CF-Connecting-IP`, `CloudFront-Viewer-Address`, ...). Every read
 * may throw on a hostile request; the reader's one catch (see ip.ts) turns that into "no client IP".
 *
 * @module
 */
import { ipv4ToUint32, isIP } from '../ip-address.js'
import type { RequestLike } from '../types.js'
import { MAX_ADDRESS_CHARS, isPort, parseIp } from './parse.js'
import type { PlatformHeader } from './types.js'

/** A header's value: a string, or Node's array for a header sent more than once. @internal */
export type HeaderValue = string | readonly unknown[]

/**
 * A header of a Node or fetch request (a `Headers`-like `get`, or a plain object, case-insensitively when the object
 * is not Node's lower-cased one). May throw on a hostile request: callers catch. @internal (not exported by `iprisk`)
 */
export function readHeader(req: RequestLike, name: string): HeaderValue | undefined {
  const headers = (req as { headers?: unknown }).headers
  if (headers === null || typeof headers !== 'object') return undefined
  const get = (headers as { get?: unknown }).get
  if (typeof get === 'function') {
    // A `get` that throws is left to the reader's catch: a header that cannot be read makes the client unknown.
    const value: unknown = get.call(headers, name)
    return typeof value === 'string' ? value : undefined
  }
  const record = headers as Record<string, unknown>
  let value = record[name]
  // Node lower-cases header names (and keeps the raw ones in `rawHeaders`); a user's plain object may not.
  if (value === undefined && !Array.isArray((req as { rawHeaders?: unknown }).rawHeaders)) {
    for (const key of Object.keys(record)) {
      if (key.length === name.length && key.toLowerCase() === name) {
        value = record[key]
        break
      }
    }
  }
  return typeof value === 'string' || Array.isArray(value) ? value : undefined
}

/**
 * A header that must hold exactly one address (`X-Real-IP`, `CF-Connecting-IP`). A list is not one address.
 * @internal
 */
export function readSingleAddress(value: HeaderValue): string | null {
  const text = typeof value === 'string' ? value : value.length === 1 ? value[0] : undefined
  if (typeof text !== 'string' || text.length > MAX_ADDRESS_CHARS) return null
  return parseIp(text)
}

/** The socket peer's address as the request states it: `req.socket.remoteAddress`, else `req.remoteAddress`. @internal */
export function socketAddressOf(req: RequestLike): string | undefined {
  const r = req as { socket?: { remoteAddress?: unknown } | null; remoteAddress?: unknown }
  const fromSocket = r.socket?.remoteAddress
  if (typeof fromSocket === 'string') return fromSocket
  return typeof r.remoteAddress === 'string' ? r.remoteAddress : undefined
}

/** Longest `CloudFront-Viewer-Address` read: an address and a port. */
const MAX_ADDRESS_PORT_CHARS = MAX_ADDRESS_CHARS + 8

/**
 * `CloudFront-Viewer-Address`: `198.51.100.10:46532`, and for IPv6 the address and port joined by a colon without
 * brackets (`2001:db8::1:46532`; `[2001:db8::1]:46532` is accepted too). The port is required: without it an IPv6
 * value would be cut in the wrong place.
 */
function readAddressAndPort(value: HeaderValue): string | null {
  const text = typeof value === 'string' ? value : value.length === 1 ? value[0] : undefined
  if (typeof text !== 'string' || text.length > MAX_ADDRESS_PORT_CHARS) return null
  const s = text.trim()
  if (s.charCodeAt(0) === 91 /* [ */) return s.includes(']:') ? parseIp(s) : null
  const colon = s.lastIndexOf(':')
  if (colon === -1 || !isPort(s, colon + 1, false)) return null
  const host = s.slice(0, colon)
  const family = isIP(host)
  // The host must be a bare address: not itself carrying a port (`1.2.3.4:80:443`) or a zone id.
  return family === 4 || (family === 6 && !host.includes('%')) ? parseIp(host) : null
}

/** Cloudflare's Pseudo IPv4 addresses are in the Class E space, 240.0.0.0/4. */
function isPseudoIpv4(canonicalIp: string): boolean {
  return !canonicalIp.includes(':') && ipv4ToUint32(canonicalIp) >= 0xf0000000
}

/** The address a platform header states, or `null` when it is absent or unusable. @internal */
export function readPlatformHeader(req: RequestLike, name: PlatformHeader): string | null {
  const value = readHeader(req, name)
  if (value === undefined) return null
  if (name === 'cloudfront-viewer-address') return readAddressAndPort(value)
  if (name === 'cf-connecting-ipv6') {
    // Cloudflare sets CF-Connecting-IPv6 in its Pseudo IPv4 "Overwrite Headers" mode, where CF-Connecting-IP holds a
    // Class E stand-in for an IPv6 visitor. Otherwise a visitor's own CF-Connecting-IPv6 could pass through: read it
    // only next to a pseudo address.
    const ipv6 = readSingleAddress(value)
    if (ipv6 === null || !ipv6.includes(':')) return null
    const v4 = readHeader(req, 'cf-connecting-ip')
    const pseudo = v4 === undefined ? null : readSingleAddress(v4)
    return pseudo !== null && isPseudoIpv4(pseudo) ? ipv6 : null
  }
  return readSingleAddress(value)
}

/** Whether the request carries `expected.name` with `expected.value` (case-insensitive, trimmed). @internal */
export function hasHeaderValue(req: RequestLike, expected: { readonly name: string; readonly value: string }): boolean {
  const value = readHeader(req, expected.name)
  const text = typeof value === 'string' ? value : value?.length === 1 ? value[0] : undefined
  return typeof text === 'string' && text.trim().toLowerCase() === expected.value.toLowerCase()
}
