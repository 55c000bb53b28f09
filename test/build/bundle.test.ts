// The esbuild part of the bundle check (scripts/bundle-check.mjs, issue #18), on src/ so `npm test` catches a
// regression before any build: every entry point bundles for Node, Vercel Edge (`edge-light`) and workerd without
// @keyv/redis installed, and the edge bundles import no `node:*` module and contain no undici. CI also runs the script
// on dist/ through the package's `exports`, and wrangler's own bundle (scripts/ci-bundles.sh).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { bundleEntry, checkBundles, ENTRIES, type BundleResult } from '../../scripts/bundle-check.mjs'

const results: BundleResult[] = await checkBundles({ from: 'src' })

describe('every entry point bundles without @keyv/redis, and without Node built-ins on the edge', () => {
  it.each(results.map((r) => ({ ...r, label: `${r.entry} for ${r.target}` })))('$label', (r) => {
    expect(r.problems).toEqual([])
    expect(r.minBytes).toBeGreaterThan(0)
  })

  it('covers every entry for node, edge-light and workerd', () => {
    expect(results.map((r) => `${r.entry} ${r.target}`).sort()).toEqual(
      ENTRIES.flatMap((e) => ['node', 'edge-light', 'workerd'].map((t) => `${e.name} ${t}`)).sort(),
    )
  })

  it('the core and tRPC bundles import nothing at all: no graphql, no Node built-in, no undici', () => {
    for (const r of results.filter((x) => x.entry === 'iprisk' || x.entry === 'iprisk/trpc')) {
      const imports = (r.imports ?? []).filter((i) => r.target !== 'node' || !i.startsWith('node:'))
      expect(imports.filter((i) => i !== '@trpc/server'), `${r.entry} ${r.target}`).toEqual([])
    }
  })
})

// The check must be able to fail: the mistakes it exists for, in small fixture entries.
describe('the check catches', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iprisk-bundle-fixture-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const fixture = (name: string, code: string) => {
    const src = join(dir, `${name}.mjs`)
    writeFileSync(src, code)
    return { name, src }
  }

  it('a static node:* import in an edge bundle (and accepts it for node)', async () => {
    const entry = fixture('net', "import { isIP } from 'node:net'\nexport const family = isIP('203.0.113.7')\n")
    // on the neutral platform esbuild cannot resolve it: a build error that names it
    for (const target of ['edge-light', 'workerd'] as const) {
      expect((await bundleEntry(entry, target, { from: 'src' })).problems.join('\n')).toMatch(/node:net/)
    }
    expect((await bundleEntry(entry, 'node', { from: 'src' })).problems).toEqual([])
  })

  it('a bare Node built-in name too', async () => {
    const entry = fixture('events', "import { EventEmitter } from 'events'\nexport const e = new EventEmitter()\n")
    expect((await bundleEntry(entry, 'workerd', { from: 'src' })).problems.join('\n')).toMatch(/"events"|imports events/)
  })

  it('undici bundled into an edge bundle', async () => {
    const entry = fixture('undici', "import { Pool } from 'undici'\nexport const P = Pool\n")
    const { problems } = await bundleEntry(entry, 'edge-light', { from: 'src' })
    expect(problems.join('\n')).toMatch(/undici|node:/)
  })

  it('a literal import of @keyv/redis, even a dynamic one (as if it were not installed)', async () => {
    const entry = fixture('redis', "export const load = () => import('@keyv/redis')\n")
    for (const target of ['node', 'edge-light'] as const) {
      const { problems } = await bundleEntry(entry, target, { from: 'src' })
      expect(problems.join('\n')).toMatch(/Could not resolve "@keyv\/redis"/)
    }
  })

  it('an import that does not resolve at all', async () => {
    const entry = fixture('missing', "export * from 'iprisk-no-such-package'\n")
    expect((await bundleEntry(entry, 'node', { from: 'src' })).problems.join('\n')).toMatch(/Could not resolve/)
  })
})
