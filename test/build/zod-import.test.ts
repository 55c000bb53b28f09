/**
 * zod is imported as a namespace (`import * as z from 'zod'`) everywhere in src/: esbuild and the bundlers of Next.js
 * and wrangler tree-shake that form, not `import { z } from 'zod'`, which pulls the whole library into the bundle
 * (the core entry measured 607 KB minified with one such import, 252 KB without: scripts/bundle-check.mjs).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '../..')

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

/** The files importing a value from zod other than as a namespace (type-only imports are erased). */
export function namedZodImports(files: ReadonlyArray<{ path: string; text: string }>): string[] {
  const imports = /^import\s+(type\s+)?(\{[^}]*\}|\*\s+as\s+\w+|\w+(?:\s*,\s*\{[^}]*\})?)\s+from\s+['"]zod['"]/gm
  return files
    .filter(({ text }) => [...text.matchAll(imports)].some((m) => m[1] === undefined && !(m[2] as string).startsWith('*')))
    .map(({ path }) => path)
}

describe('zod stays tree-shakable', () => {
  it('no file in src/ imports zod other than `import * as z from "zod"`', () => {
    const files = sources(join(ROOT, 'src')).map((f) => ({ path: relative(ROOT, f), text: readFileSync(f, 'utf8') }))
    expect(files.length).toBeGreaterThan(50)
    expect(namedZodImports(files)).toStrictEqual([])
  })

  it.each([
    ["import { z } from 'zod'", true],
    ["import { z, ZodError } from 'zod'", true],
    ["import z from 'zod'", true],
    ["import * as z from 'zod'", false],
    ["import type { z } from 'zod'", false],
    ["import {\n  z,\n} from 'zod'", true],
    ["import { x } from './x.js'\nimport * as z from 'zod'", false],
  ] as const)('%s is caught: %s', (line, caught) => {
    expect(namedZodImports([{ path: 'x.ts', text: `${line}\n` }])).toStrictEqual(caught ? ['x.ts'] : [])
  })
})
