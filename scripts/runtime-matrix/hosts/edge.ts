/**
 * Vercel Edge host: the example app as an Edge function (`addEventListener('fetch')`, no peer address). On Vercel the
 * client is `x-vercel-forwarded-for`, which Vercel's proxy overwrites: `platforms.vercel()`, trusted by position.
 * The bindings come in as globals the runner (edge.mjs) defines, as Vercel exposes environment variables.
 */
import { platforms } from 'iprisk'
import { matrixHandler } from './common.ts'

declare const MATRIX: { key: string; liveUrl: string; deadUrl: string }
declare function addEventListener(type: 'fetch', listener: (event: { request: Request; respondWith(r: Promise<Response>): void }) => void): void

let handler: ReturnType<typeof matrixHandler> | undefined
addEventListener('fetch', (event) => {
  handler ??= matrixHandler({ apiKey: MATRIX.key, liveUrl: MATRIX.liveUrl, deadUrl: MATRIX.deadUrl, trustProxy: platforms.vercel() })
  event.respondWith(handler(event.request))
})
