// tRPC on the Edge runtime: the same router, the same resolver code.
import { trpcRouteHandler } from '@/lib/trpc'

export const runtime = 'edge'
export const dynamic = 'force-dynamic'

const handler = trpcRouteHandler('/api/edge/trpc', 'edge')
export { handler as GET, handler as POST }
