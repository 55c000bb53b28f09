// The README's quick starts run as written against `iprisk simulate`, and its "Try it without an API key" section says
// what really happens: the two ```ts blocks are saved as files (the only changes: `iprisk` imports mapped to src/ and
// the ports), started with the environment the README gives, and called with the README's own curl lines, whose
// output must match the README's comment under each. Real processes, real sockets, real curl.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')
const STARTUP_MS = 45_000

/** The body of a section: from its `## ` heading to the next one. */
function section(heading: string): string {
  const start = README.indexOf(`\n## ${heading}`)
  if (start < 0) throw new Error(`README.md has no section "## ${heading}"`)
  const end = README.indexOf('\n## ', start + 1)
  return README.slice(start, end < 0 ? undefined : end)
}

function blocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] as string)
}

function onlyBlock(heading: string, lang: string): string {
  const found = blocks(section(heading), lang)
  if (found.length !== 1) throw new Error(`"## ${heading}" should hold one \`\`\`${lang} block, found ${found.length}`)
  return found[0] as string
}

/** The README's code with the package's imports pointed at the sources, and its port replaced. */
function runnable(code: string, readmePort: number, port: number): string {
  const imports: Record<string, string> = {
    iprisk: 'src/core/index.ts',
    'iprisk/trpc': 'src/trpc/index.ts',
    'iprisk/envelop': 'src/envelop/index.ts',
  }
  let mapped = code.replace(/from '(iprisk(?:\/[a-z]+)?)'/g, (_, specifier: string) => {
    const target = imports[specifier]
    if (target === undefined) throw new Error(`unmapped import ${specifier}`)
    return `from ${JSON.stringify(join(ROOT, target))}`
  })
  const listen = `.listen(${readmePort})`
  expect(mapped.split(listen)).toHaveLength(2) // exactly one, so the replacement cannot silently miss
  mapped = mapped.replace(listen, `.listen(${port})`)
  return mapped
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** A child's output inside an error message, its stack lines disguised: vitest would parse them as this test's frames. */
function quoted(output: string): string {
  return output.replace(/^(\s*)at /gm, '$1· at ')
}

interface Child {
  proc: ChildProcessWithoutNullStreams
  stdout: () => string
  stderr: () => string
}

const children: Child[] = []

function start(args: string[], env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, ...env } })
  let out = ''
  let err = ''
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const child = { proc, stdout: () => out, stderr: () => err }
  children.push(child)
  return child
}

async function until<T>(what: string, child: Child, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + STARTUP_MS
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (child.proc.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${what} did not start; stdout: ${quoted(child.stdout())} stderr: ${quoted(child.stderr())}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function sh(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', command], { timeout: 10_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command}\n${stderr || error.message}`)) : resolve(stdout),
    )
  })
}

/** Each `curl` line of a ```sh block, with the `# ...` comment line under it: the output it promises. */
function curlExamples(block: string): Array<{ command: string; expected: string }> {
  const lines = block.split('\n')
  const out: Array<{ command: string; expected: string }> = []
  lines.forEach((line, i) => {
    if (!line.startsWith('curl ')) return
    const next = lines[i + 1] ?? ''
    if (!next.startsWith('# ')) throw new Error(`README: no "# expected output" line under ${line}`)
    out.push({ command: line, expected: next.slice(2) })
  })
  return out
}

const tryIt = section('Try it without an API key')
const [serverBlock, graphqlCurlBlock, ...moreShell] = blocks(tryIt, 'sh')

let simUrl: string
let trpcPort: number
let yogaPort: number
let dir: string
let trpc: Child
let yoga: Child

beforeAll(async () => {
  expect(serverBlock, 'the shell block of "Try it without an API key"').toBeDefined()
  expect(graphqlCurlBlock, 'its GraphQL curl block').toBeDefined()
  expect(moreShell).toEqual([])

  // Terminal 1: `npx iprisk simulate` (the package's bin is src/cli/iprisk.ts, built); port 0 instead of 8420, which
  // may be taken on a test machine.
  expect(serverBlock).toMatch(/^npx iprisk simulate$/m)
  const sim = start(['src/cli/iprisk.ts', 'simulate', '--port', '0', '--quiet'], {})
  // Terminal 2: the environment the README gives, with the simulator's real URL.
  const envLine = /^((?:[A-Z_]+=\S+ )+)npx tsx server\.ts$/m.exec(serverBlock as string)?.[1]
  expect(envLine, 'README: the line that starts server.ts with its environment').toBeDefined()
  const readmeEnv = Object.fromEntries(
    (envLine as string)
      .trim()
      .split(/\s+/)
      .map((pair) => pair.split('=') as [string, string]),
  )
  expect(readmeEnv).toEqual({ IPASIS_BASE_URL: 'http://127.0.0.1:8420', IPASIS_API_KEY: 'dev', NODE_ENV: 'development' })

  dir = mkdtempSync(join(tmpdir(), 'iprisk-readme-'))
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir') // the app's dependencies
  ;[trpcPort, yogaPort] = await Promise.all([freePort(), freePort()])
  writeFileSync(join(dir, 'trpc-server.ts'), runnable(onlyBlock('Quick start: tRPC', 'ts'), 3000, trpcPort))
  writeFileSync(join(dir, 'yoga-server.ts'), runnable(onlyBlock('Quick start: GraphQL (Yoga / Envelop)', 'ts'), 4000, yogaPort))

  simUrl = await until('iprisk simulate', sim, async () => /listening on (http:\/\/\S+)/.exec(sim.stdout())?.[1])
  const env = { ...readmeEnv, IPASIS_BASE_URL: simUrl }
  trpc = start([join(dir, 'trpc-server.ts')], env)
  yoga = start([join(dir, 'yoga-server.ts')], env)
  const answers = (port: number) => async () => ((await fetch(`http://127.0.0.1:${port}/`)).status > 0 ? true : undefined)
  await Promise.all([until('the tRPC quick start', trpc, answers(trpcPort)), until('the GraphQL quick start', yoga, answers(yogaPort))])
}, 2 * STARTUP_MS)

afterAll(async () => {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.proc.exitCode !== null || c.proc.signalCode !== null) return resolve()
          c.proc.once('exit', () => resolve())
          c.proc.kill('SIGTERM')
        }),
    ),
  )
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

function withPorts(command: string): string {
  return command.replace('http://127.0.0.1:3000/', `http://127.0.0.1:${trpcPort}/`).replace('http://127.0.0.1:4000/', `http://127.0.0.1:${yogaPort}/`)
}

function expectOutput(actual: string, expected: string): void {
  if (expected.endsWith('…')) expect(actual.startsWith(expected.slice(0, -1)), `${actual}\nshould start with\n${expected}`).toBe(true)
  else expect(actual.trim()).toBe(expected)
}

describe('README: Try it without an API key', () => {
  const trpcExamples = curlExamples(serverBlock ?? '')
  const graphqlExamples = curlExamples(graphqlCurlBlock ?? '')

  it('shows an allow and a block for each quick start', () => {
    expect(trpcExamples.map((e) => /--interface 127\.0\.0\.40/.test(e.command))).toEqual([false, true])
    expect(graphqlExamples.map((e) => /--interface 127\.0\.0\.40/.test(e.command))).toEqual([false, true])
  })

  it.each(trpcExamples.map((e, i) => ({ ...e, n: i + 1 })))('tRPC curl #$n prints what the README says', async ({ command, expected }) => {
    expectOutput(await sh(withPorts(command)), expected)
  })

  it.each(graphqlExamples.map((e, i) => ({ ...e, n: i + 1 })))('GraphQL curl #$n prints what the README says', async ({ command, expected }) => {
    expectOutput(await sh(withPorts(command)), expected)
  })

  it("links to sections that exist (GitHub's heading anchors)", () => {
    const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')
    const links = [...tryIt.matchAll(/\]\((docs\/[\w.-]+\.md)#([\w-]+)\)/g)].map((m) => ({ file: m[1] as string, anchor: m[2] as string }))
    expect(links.map((l) => `${l.file}#${l.anchor}`)).toEqual(['docs/testing.md#npx-iprisk-simulate', 'docs/provider.md#ipasis_base_url'])
    for (const { file, anchor } of links) {
      const headings = [...readFileSync(join(ROOT, file), 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] as string))
      expect(headings, file).toContain(anchor)
    }
  })

  it('each server warned once at start-up that development scoring is on', () => {
    for (const server of [trpc, yoga]) {
      expect(server.stderr().match(/development scoring is on/g)).toHaveLength(1)
    }
  })
})
