/**
 * What every runtime host of the matrix adds around the example app (examples/fetch/app.ts): two instances of it, one
 * pointed at the simulator (`/…`) and one at a closed port (`/dead/…`), and `/__matrix/state`: how many protected
 * procedure / resolver bodies ran, and the warnings and degraded events the resolvers raised. Runtime-neutral: the
 * hosts in this folder only say how the runtime serves HTTP and gives the peer address.
 */
import { createRiskResolver, ipasis } from 'iprisk'
import { createApp, type App, type AppOptions } from '../../../examples/fetch/app.ts'

export interface MatrixConfig {
  apiKey: string
  liveUrl: string
  deadUrl: string
  trustProxy: AppOptions['trustProxy']
}

export type Handler = (request: Request, peerAddress?: string | null) => Promise<Response>

/** The handler, given a way to build the app (the Workers host builds it through the example worker's `appFor`). */
export function matrixHandler(config: MatrixConfig, build: (options: AppOptions) => App = createApp): Handler {
  const state = { served: 0, degraded: [] as string[], warnings: [] as string[] }
  const make = (name: string, baseUrl: string): App =>
    build({
      apiKey: config.apiKey,
      baseUrl,
      trustProxy: config.trustProxy,
      simulator: true,
      onServed: () => state.served++,
      resolver: {
        onDegraded: (event) => {
          state.degraded.push(`${name}:${event.kind}`)
        },
        logger: {
          info() {},
          warn: (_event: object, message?: string) => state.warnings.push(`${name}: ${message ?? ''}`),
          error: (_event: object, message?: string) => state.warnings.push(`${name}: ${message ?? ''}`),
        },
      },
    })
  let live: App | undefined
  let dead: App | undefined
  return async (request, peerAddress) => {
    // Built on the first request: a Workers isolate forbids timers and AbortControllers at module scope.
    live ??= make('live', config.liveUrl)
    dead ??= make('dead', config.deadUrl)
    const url = new URL(request.url)
    if (url.pathname === '/__matrix/state') return Response.json(state)
    if (url.pathname === '/__matrix/redis') return Response.json(redisOutcome(config))
    if (url.pathname.startsWith('/dead/')) {
      url.pathname = url.pathname.slice('/dead'.length)
      return dead.fetch(new Request(url, request), peerAddress)
    }
    return live.fetch(request, peerAddress)
  }
}

/** What `cache: 'redis://…'` does on this runtime: refused at start-up (where it cannot work), or accepted. */
function redisOutcome(config: MatrixConfig): { thrown: string | null; option?: string; message?: string } {
  try {
    const risk = createRiskResolver({ provider: ipasis({ apiKey: config.apiKey, baseUrl: config.liveUrl }), cache: 'redis://127.0.0.1:6379' })
    void risk.close()
    return { thrown: null }
  } catch (error) {
    const e = error as { name?: string; option?: string; message?: string }
    return { thrown: e.name ?? 'unknown', option: e.option, message: e.message }
  }
}
