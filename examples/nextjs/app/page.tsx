const routes = [
  ['tRPC, Node.js runtime', '/api/trpc/hello'],
  ['tRPC, Edge runtime', '/api/edge/trpc/hello'],
  ['GraphQL Yoga, Node.js runtime', '/api/graphql?query={hello{greeting ip status score}}'],
  ['GraphQL Yoga, Edge runtime', '/api/edge/graphql?query={hello{greeting ip status score}}'],
] as const

export default function Home() {
  return (
    <main>
      <h1>iprisk × Next.js</h1>
      <p>Every route scores the caller&apos;s IP (as Vercel states it) and blocks risky callers before the code runs.</p>
      <ul>
        {routes.map(([name, href]) => (
          <li key={href}>
            <a href={href}>{name}</a>
          </li>
        ))}
      </ul>
    </main>
  )
}
