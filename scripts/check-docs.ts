/**
 * Every TypeScript code block of README.md and docs/*.md compiles against the BUILT package, and the runnable ones
 * run (issue #16). Run after `npm run build`: `npm run docs:check`.
 *
 * Each ```ts block becomes a module in tmp/docs-check/. There, `iprisk`, `iprisk/trpc`, ... resolve to this package
 * itself (Node's self-reference through package.json `exports`), so the blocks see exactly what a user installing the
 * package sees: dist/ and its .d.ts, not src/. One TypeScript program checks them all (strict, NodeNext).
 *
 * A block that is a fragment says what it assumes in an HTML comment on the line just before its fence (hidden on
 * GitHub and npm), `<!-- docs-check` followed by at most one directive, then optional lines of TypeScript:
 *
 *   <!-- docs-check
 *   import { createRiskResolver } from 'iprisk'
 *   declare const req: import('node:http').IncomingMessage
 *   -->                                   the preamble: prepended to the block (declare what the prose assumes);
 *                                         lines after a line `---` are appended to the block instead (e.g. the `}`
 *                                         closing a function the preamble opened around a block that `return`s)
 *
 *   <!-- docs-check: continues -->        the block goes on from the previous ```ts block of the same file (one
 *                                         module); a preamble line may follow the directive, as above
 *   <!-- docs-check: run -->              also run it (node + tsx, from tmp/docs-check/, with a dummy IPASIS_API_KEY
 *                                         and IPASIS_BASE_URL pointing at a closed local port); it must finish within
 *                                         RUN_TIMEOUT_MS and close what it opens (the process is ended once its top
 *                                         level has settled, so a listening server does not hang the check)
 *   <!-- docs-check: skip REASON -->      not compiled: a block that cannot be a module (e.g. written for another
 *                                         runtime); REASON is required, and such blocks stay rare
 *
 * Which blocks run: those marked `run`: the complete programs that start no server of their own on a fixed port (they
 * may start the IPASIS simulator on a free port). Blocks that start a server on a fixed port are compiled only; the
 * README's quick starts are run for real by test/cli/readme-quickstart.test.ts.
 *
 * The Markdown is read by hand (a fence is ``` or ~~~ at the start of a line, up to three spaces in): no Markdown parser
 * is a dependency of this project, and a fenced block is all the check needs.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const OUT = join(ROOT, 'tmp', 'docs-check')
const RUN_TIMEOUT_MS = 60_000
const TS_LANGS = new Set(['ts', 'typescript'])

/** One ```ts block of a Markdown file. */
export interface DocBlock {
  /** Markdown file, relative to the repository (`docs/trpc.md`). */
  doc: string
  /** 1-based line of the block's first code line. */
  line: number
  code: string
  /** Hidden code from the `<!-- docs-check` comment before the fence: before the block, and after it (`---`). */
  preamble: string
  epilogue: string
  directive: { kind: 'compile' } | { kind: 'run' } | { kind: 'continues' } | { kind: 'skip'; reason: string }
}

const DIRECTIVE = /^<!--\s*docs-check(?::\s*(run|continues|skip)\b\s*(.*?))?\s*(-->)?\s*$/

/** The directive comment that ends on line `end` (0-based, exclusive), if any. */
function directiveBefore(lines: string[], end: number): Pick<DocBlock, 'preamble' | 'epilogue' | 'directive'> {
  const none = { preamble: '', epilogue: '', directive: { kind: 'compile' as const } }
  const last = end - 1
  if (last < 0 || !/-->\s*$/.test(lines[last] as string)) return none
  let start = last
  while (start >= 0 && !(lines[start] as string).trimStart().startsWith('<!--')) start--
  if (start < 0) return none
  const m = DIRECTIVE.exec((lines[start] as string).trim())
  if (m === null) return none
  const [, kind, rest = ''] = m
  const hidden = start === last ? [] : lines.slice(start + 1, last)
  const split = hidden.indexOf('---')
  const preamble = (split < 0 ? hidden : hidden.slice(0, split)).join('\n')
  const epilogue = split < 0 ? '' : hidden.slice(split + 1).join('\n')
  if (kind === 'skip') {
    const reason = rest.replace(/-->\s*$/, '').replace(/^[—–-]\s*/, '').trim()
    return { preamble, epilogue, directive: { kind: 'skip', reason } }
  }
  if (kind === 'run' || kind === 'continues') return { preamble, epilogue, directive: { kind } }
  return { preamble, epilogue, directive: { kind: 'compile' } }
}

/** The ```ts blocks of one Markdown file. */
export function blocksOf(doc: string, markdown: string): DocBlock[] {
  const lines = markdown.split('\n')
  const blocks: DocBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^( {0,3})(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i] as string)
    if (open === null) continue
    const [, indent = '', fence = '', lang = ''] = open
    let j = i + 1
    const isClose = (line: string) => line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === ''
    while (j < lines.length && !isClose(lines[j] as string)) j++
    if (TS_LANGS.has(lang)) {
      const code = lines
        .slice(i + 1, j)
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
        .join('\n')
      blocks.push({ doc, line: i + 2, code, ...directiveBefore(lines, i) })
    }
    i = j
  }
  return blocks
}

/** A module made of one block (or a block and those that continue it), with its line map. */
interface Unit {
  file: string
  run: boolean
  /** For each line of the file: where it comes from. */
  origin: Array<{ doc: string; line: number } | null>
  text: string
}

export function unitsOf(blocks: DocBlock[]): { units: Unit[]; skipped: DocBlock[]; problems: string[] } {
  const units: Unit[] = []
  const skipped: DocBlock[] = []
  const problems: string[] = []
  let previous: Unit | null = null
  for (const block of blocks) {
    const where = `${block.doc}:${block.line}`
    if (block.directive.kind === 'skip') {
      if (block.directive.reason === '') problems.push(`${where}: \`docs-check: skip\` needs a reason`)
      skipped.push(block)
      previous = null
      continue
    }
    let unit: Unit
    if (block.directive.kind === 'continues') {
      if (previous === null || !previous.file.startsWith(slug(block.doc))) {
        problems.push(`${where}: \`docs-check: continues\` but no compiled block before it in ${block.doc}`)
        continue
      }
      unit = previous
    } else {
      unit = { file: `${slug(block.doc)}-${block.line}.ts`, run: false, origin: [], text: '' }
      units.push(unit)
    }
    if (block.directive.kind === 'run') unit.run = true
    const add = (text: string, firstLine: number | null) => {
      if (text === '') return
      text.split('\n').forEach((l, k) => {
        unit.text += l + '\n'
        unit.origin.push(firstLine === null ? null : { doc: block.doc, line: firstLine + k })
      })
    }
    add(block.preamble, null)
    add(block.code, block.line)
    add(block.epilogue, null)
    previous = unit
  }
  for (const unit of units) unit.text += 'export {}\n' // every block is a module (no shared globals)
  return { units, skipped, problems }
}

const slug = (doc: string) => doc.replace(/\.md$/, '').replace(/[^\w]+/g, '-')

function compile(units: Unit[]): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  }
  const files = units.map((u) => join(OUT, u.file))
  const program = ts.createProgram(files, options)
  const byFile = new Map(units.map((u) => [join(OUT, u.file), u]))
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    const unit = d.file === undefined ? undefined : byFile.get(d.file.fileName)
    if (d.file === undefined || d.start === undefined || unit === undefined) return `TS${d.code}: ${text}`
    const { line } = d.file.getLineAndCharacterOfPosition(d.start)
    const origin = unit.origin[line]
    const where = origin ? `${origin.doc}:${origin.line}` : `${relative(ROOT, d.file.fileName)}:${line + 1} (preamble)`
    return `${where}: TS${d.code}: ${text}`
  })
}

function run(unit: Unit): string | null {
  const runner = join(OUT, unit.file.replace(/\.ts$/, '.run.mjs'))
  // The block's top level, then exit: a block may leave a server or timer behind; its failure is a thrown error.
  writeFileSync(runner, `await import(${JSON.stringify('./' + unit.file)})\nprocess.exit(0)\n`)
  const result = spawnSync(process.execPath, ['--import', 'tsx', runner], {
    cwd: OUT,
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
    // A dummy key, and an upstream on this machine that refuses connections: a block never reaches the real IPASIS.
    env: { ...process.env, NODE_ENV: 'test', IPASIS_API_KEY: 'docs-check', IPASIS_BASE_URL: 'http://127.0.0.1:9' },
  })
  if (result.status === 0) return null
  const first = unit.origin.find((o) => o !== null)
  const why = result.error !== undefined ? String(result.error) : `exit ${result.status ?? result.signal}`
  return `${first ? `${first.doc}:${first.line}` : unit.file}: running failed (${why})\n${result.stderr.slice(-2000)}`
}

function main(): number {
  if (!existsSync(join(ROOT, 'dist', 'core', 'index.d.ts'))) {
    console.error('docs-check: dist/ is missing: run `npm run build` first (the blocks are checked against the built package)')
    return 1
  }
  const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)]
  const blocks = docs.flatMap((doc) => blocksOf(doc, readFileSync(join(ROOT, doc), 'utf8')))
  const { units, skipped, problems } = unitsOf(blocks)
  rmSync(OUT, { recursive: true, force: true })
  mkdirSync(OUT, { recursive: true })
  for (const unit of units) writeFileSync(join(OUT, unit.file), unit.text)
  problems.push(...compile(units))
  const runnable = units.filter((u) => u.run)
  if (problems.length === 0) {
    for (const unit of runnable) {
      const failure = run(unit)
      if (failure !== null) problems.push(failure)
    }
  }
  for (const p of problems) console.error(p)
  console.log(
    `docs-check: ${blocks.length} ts blocks in ${docs.length} files: ${units.length} modules compiled, ` +
      `${runnable.length} run, ${skipped.length} skipped${skipped.map((b) => `\n  skipped ${b.doc}:${b.line}: ${(b.directive as { reason: string }).reason}`).join('')}`,
  )
  if (problems.length > 0) console.error(`docs-check: ${problems.length} problem(s)`)
  return problems.length > 0 ? 1 : 0
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main()
