/** Listening helpers shared by the benchmark's own servers. */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface BenchServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string
  close(): Promise<void>
}

export async function listen(server: Server, host = '127.0.0.1'): Promise<BenchServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  return {
    url: `http://${address.address}:${String(address.port)}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      }),
  }
}
