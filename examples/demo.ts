/**
 * `npm start`: the iprisk demo. Starts a local IPASIS simulator (or uses the real API when `IPASIS_API_KEY` is set),
 * the example tRPC and GraphQL servers, plays a scripted tour of requests from clean, VPN, proxy, Tor, datacenter and
 * high-risk addresses, and prints the decisions and the security events. `npm start -- --once` exits after the tour
 * (CI smoke test: exit code 1 if a step did not get its expected decision). See docs/demo.md.
 *
 * The pieces live in `examples/demo/`: `tour.ts` (the steps and their expectations, `runTour`), `servers.ts`,
 * `report.ts` (what is printed), `cli.ts` (`runDemo`).
 *
 * @module
 */
import { pathToFileURL } from 'node:url'
import { runDemo } from './demo/cli.js'

export { runDemo } from './demo/cli.js'
export { runTour, tourSteps, type TourResult, type TourRow, type TourStep } from './demo/tour.js'
export { startDemoServers, type DemoServers } from './demo/servers.js'

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const code = await runDemo({ argv: process.argv.slice(2) })
  process.exitCode = code
  // Everything was closed; if a stray handle still keeps the process alive, say so instead of hanging CI.
  setTimeout(() => {
    process.stderr.write('iprisk demo: something still holds the event loop 5 s after shutdown; exiting.\n')
    process.exit(code === 0 ? 1 : code)
  }, 5_000).unref()
}
