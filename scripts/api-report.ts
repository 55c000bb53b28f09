/**
 * The API report of every entry point in package.json `exports` (`etc/iprisk.api.md`, `etc/iprisk-trpc.api.md`, ...),
 * made by API Extractor from the built declarations (`dist/**\/*.d.ts`), so that a change to the public surface is a
 * visible diff in review (issue #16).
 *
 *   npx tsx scripts/api-report.ts           write the reports (after `npm run build`; `npm run api:update` does both)
 *   npx tsx scripts/api-report.ts --check   fail if a report differs from the committed one (CI: `npm run api:check`)
 *
 * One TypeScript program serves every entry point (API Extractor's `CompilerState` with all of them as entry points),
 * so the check costs one compilation of the declarations (a few seconds), not one per entry point.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CompilerState, Extractor, ExtractorConfig, ExtractorLogLevel } from '@microsoft/api-extractor'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

interface EntryPoint {
  /** The `exports` key, e.g. `./trpc`. */
  subpath: string
  /** The built declaration file, absolute. */
  types: string
  /** The report's base name: `iprisk`, `iprisk-trpc`, ... */
  reportName: string
}

/** Every entry point of package.json `exports` that has types (`./package.json` has none). */
export function entryPoints(root = ROOT): EntryPoint[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    name: string
    exports: Record<string, string | { types?: string }>
  }
  return Object.entries(pkg.exports).flatMap(([subpath, target]) => {
    if (typeof target !== 'object' || target.types === undefined) return []
    const suffix = subpath === '.' ? '' : '-' + subpath.replace(/^\.\//, '').replaceAll('/', '-')
    return [{ subpath, types: join(root, target.types), reportName: pkg.name + suffix }]
  })
}

function configFor(entry: EntryPoint): ExtractorConfig {
  const configPath = join(ROOT, 'api-extractor.json')
  const base = ExtractorConfig.loadFile(configPath)
  return ExtractorConfig.prepare({
    configObject: {
      ...base,
      mainEntryPointFilePath: entry.types,
      apiReport: { ...base.apiReport, enabled: true, reportFileName: entry.reportName },
    },
    configObjectFullPath: configPath,
    packageJsonFullPath: join(ROOT, 'package.json'),
  })
}

function main(): number {
  const check = process.argv.includes('--check')
  const entries = entryPoints()
  const missing = entries.filter((e) => !existsSync(e.types))
  if (missing.length > 0) {
    console.error(`api-report: ${missing.map((e) => e.types).join(', ')} missing: run \`npm run build\` first`)
    return 1
  }
  const configs = entries.map(configFor)
  const compilerState = CompilerState.create(configs[0] as ExtractorConfig, {
    additionalEntryPoints: entries.map((e) => e.types),
  })
  const changed: string[] = []
  let failed = false
  for (const [i, config] of configs.entries()) {
    const entry = entries[i] as EntryPoint
    const result = Extractor.invoke(config, {
      localBuild: !check,
      compilerState,
      messageCallback: (message) => {
        // Keep the output to what matters: errors and warnings, not the progress lines.
        if (message.logLevel === ExtractorLogLevel.Info || message.logLevel === ExtractorLogLevel.Verbose) {
          message.handled = true
        }
      },
    })
    if (result.apiReportChanged) {
      changed.push(`etc/${entry.reportName}.api.md (${entry.subpath})`)
      // In CI, show what changed (committed report → new one).
      if (check) spawnSync('diff', ['-u', config.reportFilePath, config.reportTempFilePath], { stdio: 'inherit' })
    }
    if (!result.succeeded) failed = true
  }
  if (check && changed.length > 0) {
    console.error(
      `\napi-report: the public surface changed: ${changed.join(', ')}.\n` +
        'If the change is intended, run `npm run api:update` and commit etc/*.api.md ' +
        '(the new report is in tmp/api-report/; diff it against etc/ to see what changed).',
    )
    return 1
  }
  if (failed) return 1
  console.log(
    check
      ? `api-report: ${entries.length} reports match the committed ones`
      : `api-report: ${entries.length} reports written to etc/${changed.length > 0 ? ` (changed: ${changed.join(', ')})` : ' (unchanged)'}`,
  )
  return 0
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main()
