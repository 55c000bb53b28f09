/**
 * The public surface of `iprisk` stays small and documented (issue #16: "`iprisk` exports at most 30 names, each
 * documented"). The names are read the way a user's compiler sees them: the TypeScript checker's exports of
 * src/core/index.ts (values and types alike, re-exports followed to their declaration). The full surface, with the
 * types reached through these names, is in etc/iprisk.api.md (checked by `npm run api:check`).
 */
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const MAX_NAMES = 30

interface ExportedName {
  name: string
  kind: 'value' | 'type'
  documentation: string
}

const CORE = fileURLToPath(new URL('../../src/core/index.ts', import.meta.url))
const TESTING = fileURLToPath(new URL('../../src/testing/index.ts', import.meta.url))

/** One program for both entry points (creating it is the slow part). */
const program = ts.createProgram([CORE, TESTING], {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  skipLibCheck: true,
  noEmit: true,
  types: ['node'],
})

/** What a module exports, as the compiler sees it. */
function exportsOf(file: string): ExportedName[] {
  const checker = program.getTypeChecker()
  const source = program.getSourceFile(file)
  if (source === undefined) throw new Error(`${file} is not in the program`)
  const moduleSymbol = checker.getSymbolAtLocation(source)
  if (moduleSymbol === undefined) throw new Error(`${file} is not a module`)
  return checker.getExportsOfModule(moduleSymbol).map((exported) => {
    const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
    return {
      name: exported.name,
      kind: target.flags & ts.SymbolFlags.Value ? 'value' : 'type',
      documentation: ts.displayPartsToString(target.getDocumentationComment(checker)).trim(),
    }
  })
}

describe('the public surface of iprisk', () => {
  const names = exportsOf(CORE)

  it(`exports at most ${MAX_NAMES} names (values and types)`, () => {
    expect(names.length, names.map((n) => n.name).join(', ')).toBeGreaterThan(0)
    expect(names.length, names.map((n) => n.name).join(', ')).toBeLessThanOrEqual(MAX_NAMES)
  })

  it('documents every exported name with TSDoc', () => {
    const undocumented = names.filter((n) => n.documentation === '').map((n) => n.name)
    expect(undocumented).toEqual([])
  })

  it('exports at run time exactly the values the compiler sees (no stray re-export)', async () => {
    const runtime = Object.keys(await import('../../src/core/index.js')).sort()
    const values = names.filter((n) => n.kind === 'value').map((n) => n.name).sort()
    expect(runtime).toEqual(values)
  })

  it('exports the Clock type; the test clock stays in iprisk/testing', () => {
    expect(names).toContainEqual(expect.objectContaining({ name: 'Clock', kind: 'type' }))
    expect(names.map((n) => n.name)).not.toContain('createTestClock')
    const testing = exportsOf(TESTING).map((n) => n.name)
    expect(testing).toEqual(expect.arrayContaining(['createTestClock', 'TestClock']))
  })
})
