/**
 * The reader of scripts/check-docs.ts (`npm run docs:check`, run in CI after the build): how it finds the ```ts blocks
 * of the docs and the hidden `<!-- docs-check ... -->` comment that states what a fragment assumes. The check itself
 * (compiling against dist/, running the `run` blocks) needs the build, so CI runs it as a script, not here.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { blocksOf, unitsOf } from '../../scripts/check-docs.js'

const md = (...lines: string[]) => lines.join('\n')

describe('docs-check: reading the Markdown', () => {
  it('finds ts and typescript blocks (indented fences too), with the line of their first code line', () => {
    const blocks = blocksOf(
      'x.md',
      md('# T', '```ts', 'const a = 1', '```', '```sh', 'npm test', '```', '- item', '   ```typescript', '   let b = 2', '   ```'),
    )
    expect(blocks.map((b) => [b.line, b.code])).toEqual([
      [3, 'const a = 1'],
      [10, 'let b = 2'],
    ])
  })

  it('reads a preamble, an epilogue after `---`, and the directives', () => {
    const [plain, run, cont, skip] = blocksOf(
      'x.md',
      md(
        '<!-- docs-check', 'declare const req: Request', 'function f() {', '---', '}', '-->', '```ts', 'return req', '```',
        '<!-- docs-check: run -->', '```ts', 'run()', '```',
        '<!-- docs-check: continues', 'declare const x: number', '-->', '```ts', 'x', '```',
        '<!-- docs-check: skip written for Deno -->', '```ts', 'Deno.serve()', '```',
      ),
    )
    expect(plain).toMatchObject({ preamble: 'declare const req: Request\nfunction f() {', epilogue: '}', directive: { kind: 'compile' } })
    expect(run).toMatchObject({ preamble: '', directive: { kind: 'run' } })
    expect(cont).toMatchObject({ preamble: 'declare const x: number', directive: { kind: 'continues' } })
    expect(skip).toMatchObject({ directive: { kind: 'skip', reason: 'written for Deno' } })
  })

  it('an ordinary HTML comment before a block is not a directive', () => {
    const [block] = blocksOf('x.md', md('<!-- a note -->', '```ts', 'const a = 1', '```'))
    expect(block).toMatchObject({ preamble: '', directive: { kind: 'compile' } })
  })

  it('makes one module per block, joins `continues` blocks, maps lines back, and refuses a skip without a reason', () => {
    const blocks = blocksOf(
      'docs/x.md',
      md('```ts', 'const a = 1', '```', '<!-- docs-check: continues -->', '```ts', 'const b = a', '```', '<!-- docs-check: skip -->', '```ts', 'bad', '```'),
    )
    const { units, skipped, problems } = unitsOf(blocks)
    expect(units).toHaveLength(1)
    expect(units[0]?.text).toBe('const a = 1\nconst b = a\nexport {}\n')
    expect(units[0]?.origin).toEqual([
      { doc: 'docs/x.md', line: 2 },
      { doc: 'docs/x.md', line: 6 },
    ])
    expect(skipped).toHaveLength(1)
    expect(problems).toEqual(['docs/x.md:10: `docs-check: skip` needs a reason'])
  })
})

describe('docs-check: the repository docs', () => {
  const docs = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  const blocks = docs.flatMap((doc) => blocksOf(doc, readFileSync(doc, 'utf8')))

  it('has ts blocks, few of them skipped, each skip with its reason', () => {
    const skipped = blocks.filter((b) => b.directive.kind === 'skip')
    expect(blocks.length).toBeGreaterThan(50)
    expect(skipped.length).toBeLessThanOrEqual(3)
    expect(unitsOf(blocks).problems).toEqual([])
  })
})
