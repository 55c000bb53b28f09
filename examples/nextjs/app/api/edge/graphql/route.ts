// GraphQL Yoga on the Edge runtime: the same schema, the same resolver code.
import { graphqlRouteHandler } from '@/lib/yoga'

export const runtime = 'edge'
export const dynamic = 'force-dynamic'

const handler = graphqlRouteHandler('/api/edge/graphql', 'edge')
export { handler as GET, handler as POST, handler as OPTIONS }
