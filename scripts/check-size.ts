/**
 * House-size check (issue #16): no file in src/ over 400 lines, no function over 80 lines.
 *
 * Functions are found with the TypeScript compiler's own parser (function declarations, methods, accessors,
 * constructors, arrow functions and function expressions), so the count is of the syntax, not of a regex's guess.
 * A function's length is its line span, first line to last, comments included; nested functions count inside their
 * parent as well as on their own. Prints every breach and exits 1 if there is one; `--all` prints the top lengths.
 *
 * Run: `npx tsx scripts/check-size.ts` (CI runs it from `npm test`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'

export const MAX_FILE_LINES = 400
export const MAX_FUNCTION_LINES = 80

export interface SizeReport {
  readonly files: ReadonlyArray<{ file: string; lines: number }>
  readonly functions: ReadonlyArray<{ file: string; name: string; line: number; lines: number }>
}

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) walk(path, out)
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) out.push(path)
  }
  return out
}

function nameOf(node: ts.Node, source: ts.SourceFile): string {
  const named = node as { name?: ts.Node }
  if (named.name) return named.name.getText(source)
  const parent = node.parent
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText(source)
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText(source)
  if (ts.isConstructorDeclaration(node)) return 'constructor'
  return '(anonymous)'
}

/** Measures every `.ts` file under `root` (default `src`). */
export function measure(root = 'src'): SizeReport {
  const files: Array<{ file: string; lines: number }> = []
  const functions: Array<{ file: string; name: string; line: number; lines: number }> = []
  for (const path of walk(root)) {
    const text = readFileSync(path, 'utf8')
    const file = relative(process.cwd(), path)
    files.push({ file, lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0) })
    const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true)
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && (node as { body?: ts.Node }).body) {
        const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line
        const end = source.getLineAndCharacterOfPosition(node.getEnd()).line
        functions.push({ file, name: nameOf(node, source), line: start + 1, lines: end - start + 1 })
      }
      ts.forEachChild(node, visit)
    }
    visit(source)
  }
  return { files, functions }
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))
if (isMain) {
  const { files, functions } = measure(process.argv.find((a, i) => i > 1 && !a.startsWith('--')) ?? 'src')
  const bigFiles = files.filter((f) => f.lines > MAX_FILE_LINES).sort((a, b) => b.lines - a.lines)
  const longFunctions = functions.filter((f) => f.lines > MAX_FUNCTION_LINES).sort((a, b) => b.lines - a.lines)
  for (const f of bigFiles) console.log(`file over ${MAX_FILE_LINES} lines: ${f.file} (${f.lines})`)
  for (const f of longFunctions) console.log(`function over ${MAX_FUNCTION_LINES} lines: ${f.file}:${f.line} ${f.name} (${f.lines})`)
  if (process.argv.includes('--all')) {
    console.log('\nlongest functions:')
    for (const f of [...functions].sort((a, b) => b.lines - a.lines).slice(0, 15)) console.log(`  ${f.lines}\t${f.file}:${f.line} ${f.name}`)
  }
  const maxFile = Math.max(...files.map((f) => f.lines))
  const maxFunction = Math.max(...functions.map((f) => f.lines))
  console.log(`${files.length} files (longest ${maxFile} lines), ${functions.length} functions (longest ${maxFunction} lines)`)
  if (bigFiles.length > 0 || longFunctions.length > 0) process.exit(1)
}
