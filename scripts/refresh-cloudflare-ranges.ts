/**
 * Refresh the Cloudflare ranges bundled with `platforms.cloudflare()` (src/core/platform-ranges.ts) from Cloudflare's
 * published lists. Run it by hand, with network access, when the test "the bundled Cloudflare ranges are fresh" fails
 * (or whenever Cloudflare announces a change), then review the diff and commit:
 *
 *   npx tsx scripts/refresh-cloudflare-ranges.ts
 *
 * It fetches https://www.cloudflare.com/ips-v4 and https://www.cloudflare.com/ips-v6 (one CIDR range per line),
 * refuses anything that is not a range of the right family (or an empty list), and rewrites the whole data module
 * with today's date. Nothing else in the repository reads the network.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { compileCidrList } from '../src/core/cidr.js'
import type { PublishedRanges } from '../src/core/platform-ranges.js'

const SOURCES = { ipv4: 'https://www.cloudflare.com/ips-v4', ipv6: 'https://www.cloudflare.com/ips-v6' } as const

/** Where the data module lives, relative to this script. */
export const RANGES_MODULE = fileURLToPath(new URL('../src/core/platform-ranges.ts', import.meta.url))

/**
 * The ranges of one published list: one CIDR range per line, blank lines ignored. Throws (naming the line) on anything
 * else, so a changed format or an error page never becomes the trusted list.
 */
export function parseRangeList(text: string, family: 4 | 6): string[] {
  const ranges: string[] = []
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim()
    if (line === '') continue
    const slash = line.indexOf('/')
    if (slash === -1 || isIP(line.slice(0, slash)) !== family) {
      throw new Error(`line ${index + 1} is not an IPv${family} CIDR range: ${JSON.stringify(line.slice(0, 80))}`)
    }
    compileCidrList(line, `ips-v${family} line ${index + 1}`) // throws on a bad prefix length
    ranges.push(line)
  }
  if (ranges.length === 0) throw new Error(`the IPv${family} list is empty`)
  return ranges
}

/** A single-quoted TypeScript string literal. */
const quote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

/** Split text at spaces into lines of at most `width` characters (the last space stays at the end of its line). */
function lines(text: string, width: number): string[] {
  const out: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + word.length + 1 > width) {
      out.push(`${line} `)
      line = word
    } else line = line === '' ? word : `${line} ${word}`
  }
  out.push(line)
  return out
}

/** A long string as literals joined with `+`, at most ~100 characters each. */
const wrapped = (text: string, indent: string): string => lines(text, 100).map(quote).join(` +\n${indent}`)

/** A paragraph of a doc comment. */
const comment = (text: string): string => lines(text, 116).map((line) => ` * ${line.trimEnd()}`).join('\n')

/** The whole text of src/core/platform-ranges.ts for these ranges (the module is generated from this template). */
export function renderRangesModule(ranges: PublishedRanges): string {
  const list = (items: readonly string[]): string => items.map((item) => `    ${quote(item)},\n`).join('')
  return `/**
 * Address ranges bundled with the platform presets (see platforms.ts).
 *
 * Only Cloudflare's ranges are bundled: Cloudflare publishes one short, stable list for every customer. Other
 * platforms either publish long lists that change weekly (CloudFront, Azure Front Door, Fastly), per-customer lists
 * (Akamai Site Shield), or none at all; their presets take the ranges as an argument instead.
 *
 * This file is written by \`scripts/refresh-cloudflare-ranges.ts\` (run it by hand, with network access, to refresh the
 * list; \`npm test\` fails once \`takenOn\` is more than {@link CLOUDFLARE_RANGES_MAX_AGE_DAYS} days old).
 *
 * @module
 */

/** A dated copy of a platform's published address ranges. */
export interface PublishedRanges {
  /** Where the list is published. */
  readonly source: readonly string[]
  /** The day the copy was taken, \`YYYY-MM-DD\` (UTC). */
  readonly takenOn: string
  /** How the copy was taken. */
  readonly provenance: string
  readonly ipv4: readonly string[]
  readonly ipv6: readonly string[]
}

/**
 * How old (in days) the bundled Cloudflare list may get before the test suite fails and asks for a refresh with
 * \`scripts/refresh-cloudflare-ranges.ts\`. Cloudflare changes its list rarely and announces changes in advance; a
 * stale list fails safe (a new edge address is not trusted, so its requests are scored as the edge), but it should
 * not stay stale.
 */
export const CLOUDFLARE_RANGES_MAX_AGE_DAYS = 180

/**
 * Cloudflare's edge ranges, as published at ${ranges.source.join(' and ')}.
 *
${comment(`Taken on ${ranges.takenOn}. ${ranges.provenance}`)}
 */
export const CLOUDFLARE_IP_RANGES: PublishedRanges = Object.freeze({
  source: Object.freeze([${ranges.source.map(quote).join(', ')}]),
  takenOn: ${quote(ranges.takenOn)},
  provenance:
    ${wrapped(ranges.provenance, '    ')},
  ipv4: Object.freeze([
${list(ranges.ipv4)}  ]),
  ipv6: Object.freeze([
${list(ranges.ipv6)}  ]),
})
`
}

/** Ranges in `after` and not in `before`, and the reverse: what a refresh changes. */
export function diffRanges(
  before: readonly string[],
  after: readonly string[],
): { added: string[]; removed: string[] } {
  return { added: after.filter((r) => !before.includes(r)), removed: before.filter((r) => !after.includes(r)) }
}

async function fetchList(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(15_000) })
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`)
  return response.text()
}

async function main(): Promise<void> {
  const [v4Text, v6Text] = await Promise.all([fetchList(SOURCES.ipv4), fetchList(SOURCES.ipv6)])
  const takenOn = new Date().toISOString().slice(0, 10)
  const fresh: PublishedRanges = {
    source: [SOURCES.ipv4, SOURCES.ipv6],
    takenOn,
    provenance: `Fetched from the two published lists by scripts/refresh-cloudflare-ranges.ts on ${takenOn}.`,
    ipv4: parseRangeList(v4Text, 4),
    ipv6: parseRangeList(v6Text, 6),
  }
  const { CLOUDFLARE_IP_RANGES: current } = await import('../src/core/platform-ranges.js')
  const before = await readFile(RANGES_MODULE, 'utf8')
  const rendered = renderRangesModule(fresh)
  await writeFile(RANGES_MODULE, rendered)
  const changes = diffRanges([...current.ipv4, ...current.ipv6], [...fresh.ipv4, ...fresh.ipv6])
  const outcome = before === rendered ? 'unchanged' : 'rewritten'
  console.log(`${RANGES_MODULE}: ${outcome} (taken on ${takenOn})`)
  console.log(`added: ${changes.added.join(', ') || 'none'}; removed: ${changes.removed.join(', ') || 'none'}`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exitCode = 1
  })
}
