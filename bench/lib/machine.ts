/** What the numbers were measured on: printed at the top of every results file. */
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { createRequire } from 'node:module'

export interface MachineInfo {
  date: string
  cpu: string
  cores: number
  memoryGb: number
  platform: string
  node: string
  loadAverage: [number, number, number]
  packages: Record<string, string>
}

const packagesOfInterest = [
  'autocannon',
  'tinybench',
  '@trpc/server',
  'graphql',
  'graphql-yoga',
  '@envelop/core',
  'undici',
  'lru-cache',
  'keyv',
  '@keyv/redis',
  'zod',
] as const

function installedVersion(name: string): string {
  const require = createRequire(import.meta.url)
  try {
    const manifest = require(`${name}/package.json`) as { version?: string }
    return manifest.version ?? '?'
  } catch {
    // Some packages do not export their package.json: read it from node_modules directly.
    try {
      const url = new URL(`../../node_modules/${name}/package.json`, import.meta.url)
      return (JSON.parse(readFileSync(url, 'utf8')) as { version?: string }).version ?? '?'
    } catch {
      return 'not installed'
    }
  }
}

export function collectMachineInfo(): MachineInfo {
  const cpus = os.cpus()
  const own = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  const packages: Record<string, string> = { iprisk: own.version }
  for (const name of packagesOfInterest) packages[name] = installedVersion(name)
  const [l1 = 0, l5 = 0, l15 = 0] = os.loadavg()
  return {
    date: new Date().toISOString(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage: [l1, l5, l15],
    packages,
  }
}
