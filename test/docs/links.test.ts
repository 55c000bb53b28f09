/**
 * The docs the package ships are true where they point (issue #17 §4: "the shipped docs link to
 * `bench/results/latest.md` and `examples/`, which are not in the tarball").
 *
 * The file list is npm's own: `npm pack --dry-run --json` (the `files` globs of package.json, `.npmignore` rules and
 * npm's always-included files applied exactly as a publish would). Every relative link of every shipped Markdown file
 * must name a shipped file (or a folder holding one), inside the package, and its `#anchor` must be a heading of that
 * file (GitHub's slugs). A path of the source repository that is not shipped (`examples/`) may be named in code, but
 * its paragraph must say it is in the source repository.
 *
 * The Markdown is read by hand (fenced blocks and code spans dropped, inline links, images and reference definitions
 * collected, headings slugged as GitHub does): no Markdown parser is a dependency of this project, and these few
 * rules are all the check needs.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The paths `npm pack` would put in the tarball (relative, `/`-separated). */
function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  const [pack] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>
  if (pack === undefined) throw new Error('npm pack --dry-run printed no package')
  return pack.files.map((f) => f.path)
}

/** The Markdown with fenced code blocks blanked (line numbers kept). */
function withoutFences(markdown: string): string[] {
  const lines = markdown.split('\n')
  let fence: string | null = null
  return lines.map((line) => {
    const m = /^\s{0,3}(`{3,}|~{3,})/.exec(line)
    if (fence === null) {
      if (m !== null) {
        fence = m[1] as string
        return ''
      }
      return line
    }
    if (m !== null && (m[1] as string)[0] === fence[0] && (m[1] as string).length >= fence.length && line.trim() === m[1]) fence = null
    return ''
  })
}

/** A line without its code spans. */
const withoutCodeSpans = (line: string) => line.replace(/(`+)(?:(?!\1).)+?\1/g, '')

/** GitHub's heading anchors of a Markdown file (duplicates get `-1`, `-2`, ...). */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  for (const line of withoutFences(markdown)) {
    const m = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (m === null) continue
    const text = (m[1] as string)
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
      .replace(/<[^>]+>/g, '') // inline HTML
      .replace(/`/g, '')
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    anchors.add(n === 0 ? base : `${base}-${String(n)}`)
  }
  return anchors
}

/** The link targets of a Markdown file, with their line numbers. */
export function linksOf(markdown: string): Array<{ line: number; target: string }> {
  const links: Array<{ line: number; target: string }> = []
  withoutFences(markdown).forEach((raw, i) => {
    const line = withoutCodeSpans(raw)
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ line: i + 1, target: m[1] as string })
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(line)
    if (def !== null) links.push({ line: i + 1, target: def[1] as string })
  })
  return links
}

/** What is wrong with each relative link of `file` (its path in the package), given the shipped files. */
export function brokenLinks(file: string, markdown: string, shipped: ReadonlySet<string>, read: (path: string) => string): string[] {
  const broken: string[] = []
  for (const { line, target } of linksOf(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue // https:, mailto:, ...
    const hash = target.indexOf('#')
    const pathPart = decodeURI(hash === -1 ? target : target.slice(0, hash))
    const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1))
    const at = `${file}:${String(line)} → ${target}`
    const path = pathPart === '' ? file : posix.normalize(posix.join(posix.dirname(file), pathPart))
    if (path.startsWith('../') || path === '..') {
      broken.push(`${at}: outside the package`)
      continue
    }
    const folder = path.replace(/\/$/, '')
    const isFile = shipped.has(path)
    if (!isFile && ![...shipped].some((f) => f.startsWith(`${folder}/`))) {
      broken.push(`${at}: ${path} is not in the package`)
      continue
    }
    if (anchor !== null && anchor !== '' && isFile && path.endsWith('.md') && !anchorsOf(read(path)).has(anchor)) {
      broken.push(`${at}: no heading #${anchor} in ${path}`)
    }
  }
  return broken
}

/** Paragraphs naming a path of the source repository (`examples/...`) that is not shipped, without saying so. */
export function unmarkedRepoPaths(markdown: string, shipped: ReadonlySet<string>): string[] {
  const out: string[] = []
  for (const paragraph of withoutFences(markdown).join('\n').split(/\n\s*\n/)) {
    const paths = [...paragraph.matchAll(/`(?:npx tsx )?(examples\/[^`\s]*)`/g)].map((m) => m[1] as string)
    const missing = paths.filter((p) => !shipped.has(p) && ![...shipped].some((f) => f.startsWith(p.endsWith('/') ? p : `${p}/`)))
    if (missing.length > 0 && !/source repository/i.test(paragraph)) out.push(...missing)
  }
  return out
}

const files = packedFiles()
const shipped = new Set(files)
const markdown = files.filter((f) => f.endsWith('.md'))
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')

describe('the shipped Markdown points only at what is shipped', () => {
  it('the package ships README.md and the docs', () => {
    expect(markdown).toEqual(expect.arrayContaining(['README.md', 'docs/client-ip.md', 'docs/benchmarks.md', 'docs/trpc.md']))
  })

  it.each(markdown)('%s: every relative link names a shipped file and an existing heading', (file) => {
    expect(brokenLinks(file, read(file), shipped, read)).toStrictEqual([])
  })

  it.each(markdown)('%s: every examples/ path it names is shipped or said to be in the source repository', (file) => {
    expect(unmarkedRepoPaths(read(file), shipped)).toStrictEqual([])
  })
})

describe('the link checker itself', () => {
  const pkg = new Set(['README.md', 'docs/a.md', 'docs/b.md', 'bench/results/latest.md'])
  const docs: Record<string, string> = {
    'docs/b.md': '# Title\n\n## Health: `risk.status()` and `risk.ready()`\n\n## Budgets — `test/x.test.ts`\n\n## Same\n\n## Same\n',
  }

  it.each([
    ['[b](b.md)', []],
    ['[b](./b.md#title) [c](b.md#health-riskstatus-and-riskready) [d](b.md#budgets--testxtestts)', []],
    ['[dup](b.md#same-1)', []],
    ['[bench](../bench/results/latest.md) [folder](../bench/)', []],
    ['[web](https://example.com/x.md) [mail](mailto:a@b.c)', []],
    ['`[not a link](nowhere.md)`\n\n```md\n[nor this](nowhere.md)\n```', []],
    ['[x](nowhere.md)', ['docs/a.md:1 → nowhere.md: docs/nowhere.md is not in the package']],
    ['[x](../examples/)', ['docs/a.md:1 → ../examples/: examples/ is not in the package']],
    ['[x](../../up.md)', ['docs/a.md:1 → ../../up.md: outside the package']],
    ['[x](b.md#missing)', ['docs/a.md:1 → b.md#missing: no heading #missing in docs/b.md']],
    ['[x][r]\n\n[r]: gone.md', ['docs/a.md:3 → gone.md: docs/gone.md is not in the package']],
  ] as const)('%j → %j', (text, expected) => {
    expect(brokenLinks('docs/a.md', text, pkg, (p) => docs[p] ?? '')).toStrictEqual(expected)
  })

  it.each([
    ['Run `npx tsx examples/trpc/server.ts`.', ['examples/trpc/server.ts']],
    ['In the source repository, run `npx tsx examples/trpc/server.ts`.', []],
    ['`examples/trpc/` is a runnable API.\n\nThe source repository has it.', ['examples/trpc/']],
  ] as const)('%j → %j', (text, expected) => {
    expect(unmarkedRepoPaths(text, pkg)).toStrictEqual(expected)
  })
})
