/**
 * Just enough of Bun's and Deno's globals for the examples to type-check here (their full types, `@types/bun` and
 * Deno's built-in ones, are what a user of those examples has; they are not dependencies of this repository).
 */
declare const Bun: {
  serve(options: {
    hostname?: string
    port?: number
    fetch(request: Request, server: { requestIP(request: Request): { address: string } | null }): Response | Promise<Response>
  }): { url: URL }
}
declare const Deno: {
  env: { get(name: string): string | undefined }
  serve(
    options: { hostname?: string; port?: number; onListen?(): void },
    handler: (request: Request, info: { remoteAddr: { hostname: string } }) => Response | Promise<Response>,
  ): unknown
}

/** The part of `cloudflare:workers` the Workers example uses (`@cloudflare/workers-types` has the whole module). */
declare module 'cloudflare:workers' {
  export function waitUntil(promise: Promise<unknown>): void
}
