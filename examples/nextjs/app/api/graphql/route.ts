// GraphQL Yoga on the Node.js runtime (the default; said explicitly here).
import { graphqlRouteHandler } from '@/lib/yoga'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

const handler = graphqlRouteHandler('/api/graphql', 'nodejs')
export { handler as GET, handler as POST, handler as OPTIONS }
