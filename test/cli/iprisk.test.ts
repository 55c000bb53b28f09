// `npx iprisk simulate`: the command line as a child process (what a developer runs), and its argument parsing as a
// table. The executable is started with `node --import tsx` so that signals reach it directly (npx would sit between).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { parseCommandLine, UsageError } from '../../src/cli/main.js'
import { localProfileFor } from '../../src/cli/simulate.js'
import { simulatorProfiles } from '../../src/testing/index.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = 'src/cli/iprisk.ts'
const USAGE_FIRST_LINE = 'Usage: iprisk simulate [--port N] [--host ADDRESS] [--quiet]'

/** A child's output inside an error message, its stack lines disguised: vitest would parse them as this test's frames. */
function quoted(output: string): string {
  return output.replace(/^(\s*)at /gm, '$1· at ')
}

interface Child {
  proc: ChildProcessWithoutNullStreams
  stdout: () => string
  stderr: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const children: Child[] = []
afterAll(() => {
  for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL')
})

function cli(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'development' },
  })
  let out = ''
  let err = ''
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  )
  const child = { proc, stdout: () => out, stderr: () => err, exited }
  children.push(child)
  return child
}

/** How long a child (`node --import tsx`, compiling the CLI) may take to start on a loaded 2-core machine. */
const CHILD_STARTUP_MS = 45_000

/** Wait for the "listening on <url>" line; fail with what the process printed if it exits first. */
async function urlOf(child: Child): Promise<string> {
  const deadline = Date.now() + CHILD_STARTUP_MS
  for (;;) {
    const match = /listening on (http:\/\/\S+)/.exec(child.stdout())
    if (match) return match[1] as string
    if (child.proc.exitCode !== null || Date.now() > deadline) {
      throw new Error(`no URL printed; stdout: ${quoted(child.stdout())} stderr: ${quoted(child.stderr())}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { headers })
  return { status: res.status, body: await res.json() }
}

describe('iprisk simulate (child process)', { timeout: 2 * CHILD_STARTUP_MS }, () => {
  it('serves the documented profiles to any API key on loopback, prints how to use it, and stops cleanly on SIGTERM', async () => {
    const child = cli(['simulate', '--port', '0'])
    const url = await urlOf(child)
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

    const bearer = { authorization: 'Bearer whatever-key-the-app-has' }
    expect(await getJson(`${url}/v1/ip/127.0.0.40`, bearer)).toEqual({
      status: 200,
      body: { risk_score: 92, is_vpn: false, is_proxy: false, is_tor: true, is_datacenter: false, country_code: 'DE', asn: 24940, isp: 'Hetzner Online GmbH' },
    })
    expect(await getJson(`${url}/v1/lookup?ip=203.0.113.20`, { 'x-api-key': 'another-key' })).toMatchObject({
      status: 200,
      body: { ip: '203.0.113.20', risk_score: 45, privacy: { vpn: true } },
    })
    expect(await getJson(`${url}/v1/ip/127.0.0.40`)).toEqual({ status: 401, body: { error: 'invalid_api_key' } })

    const out = child.stdout()
    expect(out).toContain(`IPASIS_BASE_URL=${url} IPASIS_API_KEY=dev node server.js`)
    expect(out).toContain(`ipasis({ apiKey: 'dev', baseUrl: '${url}' })`)
    expect(out).toContain('development: { scoreLocalAddresses: true }')
    expect(out).toContain('curl --interface 127.0.0.40 http://127.0.0.1:3000/')
    // The profile table: one row per profile, with its score and flags.
    expect(out).toMatch(/^ {2}127\.0\.0\.1 +clean +5 +- +::1 and every other address$/m)
    expect(out).toMatch(/^ {2}127\.0\.0\.20 +vpn +45 +is_vpn +203\.0\.113\.20, 2001:db8::20$/m)
    expect(out).toMatch(/^ {2}127\.0\.0\.30 +proxy +60 +is_proxy +203\.0\.113\.30, 2001:db8::30$/m)
    expect(out).toMatch(/^ {2}127\.0\.0\.40 +tor +92 +is_tor +203\.0\.113\.40, 2001:db8::40$/m)
    expect(out).toMatch(/^ {2}127\.0\.0\.50 +datacenter +55 +is_datacenter +203\.0\.113\.50, 2001:db8::50$/m)
    expect(out).toMatch(/^ {2}127\.0\.0\.60 +high-risk +97 +- +203\.0\.113\.60, 2001:db8::60$/m)
    // Each answered lookup is printed (a missing key is refused before any profile is chosen).
    expect(out).toContain('lookup 127.0.0.40 → tor\nlookup 203.0.113.20 → vpn\n')
    expect(out.match(/^lookup /gm)).toHaveLength(2)

    child.proc.kill('SIGTERM')
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.stdout()).toMatch(/iprisk simulate: SIGTERM, stopping\n$/)
    expect(child.stderr()).toBe('')
    await expect(fetch(`${url}/v1/ip/127.0.0.1`)).rejects.toThrow() // the port is closed
  })

  it('stops cleanly on SIGINT (Ctrl-C); --quiet prints no lookups', async () => {
    const child = cli(['simulate', '--port=0', '--host', '127.0.0.1', '--quiet'])
    const url = await urlOf(child)
    expect((await getJson(`${url}/v1/ip/127.0.0.1`, { authorization: 'Bearer k' })).status).toBe(200)
    child.proc.kill('SIGINT')
    expect(await child.exited).toEqual({ code: 0, signal: null })
    expect(child.stdout()).not.toMatch(/^lookup /m)
  })

  it('a bad flag: exit code 2, the mistake and the usage text on stderr, nothing started', async () => {
    const child = cli(['simulate', '--prot', '8420'])
    expect(await child.exited).toEqual({ code: 2, signal: null })
    expect(child.stderr()).toMatch(new RegExp(`^iprisk: unknown option --prot\\n\\n${escape(USAGE_FIRST_LINE)}\\n`))
    expect(child.stdout()).toBe('')
  })

  it('a port in use: exit code 1 and a message saying what to do', async () => {
    const busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
    const { port } = busy.address() as AddressInfo
    try {
      const child = cli(['simulate', '--port', String(port)])
      expect(await child.exited).toEqual({ code: 1, signal: null })
      expect(child.stderr()).toBe(`iprisk simulate: cannot start: port ${port} is in use; pass --port N (0 picks a free port)\n`)
    } finally {
      busy.close()
    }
  })

})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

describe('the command line (parsed in process)', () => {
  it.each([
    { argv: ['simulate'], parsed: { help: false, port: 8420, host: '127.0.0.1', quiet: false } },
    { argv: ['simulate', '--port', '0'], parsed: { help: false, port: 0, host: '127.0.0.1', quiet: false } },
    { argv: ['simulate', '--port=65535', '--host', '::1', '--quiet'], parsed: { help: false, port: 65535, host: '::1', quiet: true } },
    { argv: ['simulate', '--host', 'localhost'], parsed: { help: false, port: 8420, host: 'localhost', quiet: false } },
    { argv: ['--help'], parsed: { help: true } },
    { argv: ['-h'], parsed: { help: true } },
    { argv: ['help'], parsed: { help: true } },
  ])('$argv', ({ argv, parsed }) => {
    expect(parseCommandLine(argv)).toEqual(parsed)
  })

  it.each([
    { argv: [], message: 'missing command (the only one is `simulate`)' },
    { argv: ['simulte'], message: 'unknown command "simulte" (the only one is `simulate`)' },
    { argv: ['simulate', 'now'], message: 'unexpected argument "now"' },
    { argv: ['simulate', '--prot', '1'], message: 'unknown option --prot' },
    { argv: ['simulate', '-p', '1'], message: 'unknown option -p' },
    { argv: ['simulate', '--port'], message: 'option --port needs a value' },
    { argv: ['simulate', '--port', '-1'], message: 'option --port needs a value' },
    { argv: ['simulate', '--port=-1'], message: '--port must be an integer from 0 to 65535, got "-1"' },
    { argv: ['simulate', '--port', '65536'], message: '--port must be an integer from 0 to 65535, got "65536"' },
    { argv: ['simulate', '--port', '80.5'], message: '--port must be an integer from 0 to 65535, got "80.5"' },
    { argv: ['simulate', '--port', ''], message: '--port must be an integer from 0 to 65535, got ""' },
    { argv: ['simulate', '--host', 'example.com'], message: '--host must be an IP address or localhost, got "example.com"' },
    { argv: ['simulate', '--quiet=yes'], message: 'option --quiet takes no value' },
  ])('$argv: UsageError "$message"', ({ argv, message }) => {
    let error: unknown
    try {
      parseCommandLine(argv)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(UsageError)
    expect((error as Error).message).toBe(message)
  })
})

describe('the development profiles', () => {
  it.each([
    ['127.0.0.1', 'clean'],
    ['127.0.0.20', 'vpn'],
    ['127.0.0.30', 'proxy'],
    ['127.0.0.40', 'tor'],
    ['127.0.0.50', 'datacenter'],
    ['127.0.0.60', 'high-risk'],
    ['127.9.8.40', 'tor'],
    ['::1', 'clean'],
    ['192.0.2.30', 'proxy'],
    ['198.51.100.50', 'datacenter'],
    ['203.0.113.60', 'high-risk'],
    ['2001:db8::40', 'tor'],
    ['203.0.113.10', 'clean'],
    ['127.0.0.140', 'clean'],
    ['8.8.8.40', 'clean'], // a global address keeps the default
    ['10.0.0.40', 'clean'], // private: not a development address
  ])('%s → %s', (ip, profile) => {
    expect(localProfileFor(ip)).toBe(profile)
  })

  it('every profile the table names is a documented simulator profile', () => {
    for (const ip of ['127.0.0.20', '127.0.0.30', '127.0.0.40', '127.0.0.50', '127.0.0.60']) {
      expect(Object.keys(simulatorProfiles)).toContain(localProfileFor(ip))
    }
  })
})

describe('the package', () => {
  it('declares the executable, built from src/cli/iprisk.ts, which starts with a node shebang', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { bin?: unknown }
    expect(pkg.bin).toEqual({ iprisk: './dist/cli/iprisk.js' })
    expect(readFileSync(new URL(`../../${CLI}`, import.meta.url), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node')
  })
})
