// tRPC on the Node.js runtime (the default; said explicitly here).
import { trpcRouteHandler } from '@/lib/trpc'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

const handler = trpcRouteHandler('/api/trpc', 'nodejs')
export { handler as GET, handler as POST }
