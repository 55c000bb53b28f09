/**
 * Resolvers of the Yoga example, typed with the generated types (`npm run codegen`): `context.ipRisk` is typed in
 * every one of them. None of them checks a policy: the plugin enforces the schema's directives before execution.
 * The one exception is the guide's contact form, which soft-rejects suspicious senders itself.
 */
import { waitForIpRisk } from '../../src/envelop/index.js'
import type { Resolvers } from './generated/resolvers-types.js'
import { createExampleStore, type ExampleStore, type UserModel } from './models.js'

/** The contact form's own threshold (the guide: `risk_score >= 70` → "Unable to process your request"). */
export const CONTACT_FORM_THRESHOLD = 70

/**
 * Builds the example's resolvers over a store (a fresh one by default).
 *
 * @example
 * ```ts
 * const { resolvers, store } = createExampleResolvers()
 * const schema = createSchema({ typeDefs: [ipRiskTypeDefs, exampleTypeDefs], resolvers })
 * ```
 */
export function createExampleResolvers(store: ExampleStore = createExampleStore()): {
  resolvers: Resolvers
  store: ExampleStore
} {
  let nextId = store.users.length + 1
  const findUser = (id: string): UserModel | undefined => store.users.find((u) => u.id === id)

  const resolvers: Resolvers = {
    Query: {
      posts: () => store.posts,
      // Every resolver can read the plugin's answer; on a public operation it may still be `pending`.
      myRisk: (_parent, _args, context) => {
        const risk = context.ipRisk
        return {
          ip: risk.ip,
          ipKind: risk.ipKind,
          status: risk.status,
          score: risk.score,
          isVpn: risk.isVpn,
          isProxy: risk.isProxy,
          isTor: risk.isTor,
          isDatacenter: risk.isDatacenter,
          countryCode: risk.countryCode,
          source: risk.source,
        }
      },
      admin: () => ({ area: 'admin' }),
      user: (_parent, { id }) => findUser(id) ?? null,
      node: (_parent, { id }) => findUser(id) ?? store.posts.find((p) => p.id === id) ?? null,
    },
    Node: {
      __resolveType: (node) => ('email' in node ? 'User' : 'Post'),
    },
    Account: {
      __resolveType: () => 'User',
    },
    AdminQuery: {
      users: () => store.users,
      blockedIps: () => 0,
    },
    Mutation: {
      signup: (_parent, { email }) => {
        const user: UserModel = { id: String(nextId++), email, createdAt: new Date().toISOString() }
        store.users.push(user)
        return user
      },
      login: (_parent, { email }) => {
        const user = store.users.find((u) => u.email === email) ?? store.users[0]
        if (user === undefined) throw new Error('no user')
        const session = { token: `session-${String(store.sessions.length + 1)}`, userId: user.id }
        store.sessions.push(session)
        return { token: session.token, user }
      },
      // The guide's ContactFormView: not blocked by a directive, but a suspicious sender gets a polite refusal.
      // waitForIpRisk() gives a verdict even on an IP's first request (context.ipRisk may still be `pending`).
      // A null score (no verdict: upstream down) is accepted: this form fails open on purpose.
      sendContactMessage: async (_parent, { email, message }, context) => {
        const risk = await waitForIpRisk(context)
        if (risk.score !== null && risk.score >= CONTACT_FORM_THRESHOLD) {
          return { accepted: false, message: 'Unable to process your request. Please try again later.' }
        }
        store.contactMessages.push({ email, message })
        return { accepted: true, message: 'Thanks, we will get back to you.' }
      },
    },
    Subscription: {
      countdown: {
        subscribe: async function* (_parent, { from }) {
          for (let i = Math.min(from, 100); i >= 0; i--) yield { countdown: i }
        },
      },
    },
  }
  return { resolvers, store }
}
