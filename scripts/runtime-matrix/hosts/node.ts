/** Node host: `node:http`, the peer from the socket. Bundled by the matrix (Node 20 cannot run TypeScript). */
import { createServer } from 'node:http'
import { Readable } from 'node:stream'
import { matrixHandler } from './common.ts'

const env = process.env
const handler = matrixHandler({
  apiKey: env.MATRIX_KEY!,
  liveUrl: env.MATRIX_LIVE_URL!,
  deadUrl: env.MATRIX_DEAD_URL!,
  trustProxy: env.MATRIX_TRUST_PROXY!,
})
const server = createServer(async (req, res) => {
  const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : (Readable.toWeb(req) as ReadableStream)
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value)
  }
  const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url}`, {
    method: req.method,
    headers,
    body,
    ...(body ? { duplex: 'half' } : {}),
  } as RequestInit)
  const response = await handler(request, req.socket.remoteAddress)
  res.writeHead(response.status, Object.fromEntries(response.headers))
  res.end(Buffer.from(await response.arrayBuffer()))
})
server.listen(Number(env.MATRIX_PORT), '127.0.0.1', () => console.log(`READY ${env.MATRIX_PORT}`))
