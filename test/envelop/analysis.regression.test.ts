/**
 * Issue #15, items 1 and 4, through the public API.
 *
 * 1. A fragment spread twice under different type scopes (`... on Post { ...F } ...F`) was expanded only for the
 *    first, narrower scope: the fields it selects on the other runtime types escaped the analysis. The general proof
 *    is the oracle (analysis.oracle.test.ts); here are the reported shapes, on the suites' schema and over real HTTP
 *    on the Yoga example.
 * 4. A deep document overflowed the recursive walk: Yoga answered 500 on every such request, and nothing was cached.
 *    The walk now uses an explicit stack: the answer is the plain server's, and a repeated document is not re-walked.
 */
import { buildSchema, execute, Kind, parse, validate, type DocumentNode, type FieldNode, type SelectionSetNode } from 'graphql'
import { createSchema, createYoga } from 'graphql-yoga'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compilePolicy } from '../../src/core/policy.js'
import { activeSelections, ANALYSIS_BUDGET, analysisRuns, analyzeOperation } from '../../src/envelop/analysis.js'
import { ipRiskTypeDefs, readSchemaProtection } from '../../src/envelop/directives.js'
import { exampleTypeDefs, startYogaExample, type RunningYogaExample } from '../../examples/graphql/server.js'
import { createExampleResolvers } from '../../examples/graphql/resolvers.js'
import { blockedBody, createFixture, createTestYoga, gql, ips, testTypeDefs, type Fixture } from './helpers.js'

const schema = buildSchema(`${ipRiskTypeDefs}\n${testTypeDefs}`)
const protection = readSchemaProtection(schema, (p, option) => compilePolicy(p, option), undefined)
const paths = (query: string, limits?: Parameters<typeof analyzeOperation>[3]) =>
  analyzeOperation(protection, parse(query), undefined, limits).selections.map((s) => `${s.path.join('.')} ${s.coordinate}`)

/** The issue's shapes on the suites' schema: Node = User | Post, SearchResult = Post | User, Account guards User. */
const fragmentTricks: [name: string, query: string, escaped: string][] = [
  [
    'interface: the fragment spread under `... on Post`, then again on Node',
    '{ node(id: "u1") { ... on Post { ...F } ...F } } fragment F on Node { id ... on User { email name } }',
    'node.email User.email',
  ],
  [
    'interface, the other order: the wide spread first still covers the narrow one',
    '{ node(id: "u1") { ...F ... on Post { ...F } } } fragment F on Node { ... on User { email } }',
    'node.email User.email',
  ],
  [
    'union: a @requireHuman field through `... on User { ...N } ...N`',
    '{ search { ... on User { ...N } ...N } } fragment N on SearchResult { ... on Post { secret } }',
    'search.secret Post.secret',
  ],
  [
    'the narrow spread two inline fragments deep',
    '{ node(id: "u1") { ... { ... on Post { ...F } } ...F } } fragment F on Node { ... on User { email } }',
    'node.email User.email',
  ],
  [
    'the narrow spread inside another fragment',
    '{ node(id: "u1") { ...P ...F } } fragment P on Post { ...F } fragment F on Node { ... on User { email } }',
    'node.email User.email',
  ],
]

describe('issue #15 item 1: a fragment is analysed for every type scope it is spread under', () => {
  it.each(fragmentTricks)('%s', (_name, query, escaped) => {
    expect(paths(query)).toContain(escaped)
  })

  it.each(fragmentTricks)('the fallback walks (over budget) keep it too: %s', (_name, query, escaped) => {
    const field = escaped.split(' ')[1] as string
    for (const limits of [{ precise: 0 }, { precise: 0, conservative: 0 }]) {
      const analysis = analyzeOperation(protection, parse(query), undefined, limits)
      expect(analysis.conservative).toBe(true)
      expect(analysis.selections.map((s) => s.coordinate)).toContain(field)
    }
  })

  it.each([
    ['the first @skip decides, as graphql-js reads it', '{ human @skip(if: false) @skip(if: true) }', ['human Query.human']],
    ['the first @include decides', '{ human @include(if: true) @include(if: false) }', ['human Query.human']],
    ['the last `if` argument decides', '{ human @skip(if: true, if: false) }', ['human Query.human']],
    ['the last definition of a fragment name is the one executed', '{ ...F } fragment F on Query { me } fragment F on Query { human }', ['human Query.human']],
  ])('a document run without validation (plain Envelop may): %s', (_name, query, expected) => {
    expect(validate(schema, parse(query))).not.toEqual([]) // invalid indeed
    expect(paths(query)).toEqual(expected)
    const ran: string[] = []
    const result = execute({
      schema,
      document: parse(query),
      rootValue: {},
      fieldResolver: (_s, _a, _c, info) => (ran.push(info.fieldName), 'x'),
    })
    expect(result).toEqual({ data: { [ran[0] ?? 'none']: 'x' } })
    expect(ran).toEqual(['human']) // what graphql-js executes is what the analysis reports
  })

  it('a spread repeated under the same scope and conditions is still walked once (bounded work)', () => {
    expect(paths('{ node(id: "u1") { ... on User { ...F } ... on User { ...F } } } fragment F on User { email }')).toEqual([
      'node.email User.email',
    ])
  })

  it('variables: the second spread is kept with its own conditions', () => {
    const query =
      'query($narrow: Boolean!, $wide: Boolean!) { node(id: "u1") { ... on Post @include(if: $narrow) { ...F } ...F @include(if: $wide) } } fragment F on Node { ... on User { email } }'
    const analysis = analyzeOperation(protection, parse(query), undefined)
    expect(activeSelections(analysis, { narrow: true, wide: true }).map((s) => s.path.join('.'))).toEqual(['node.email'])
    expect(activeSelections(analysis, { narrow: true, wide: false })).toEqual([])
  })
})

let fx: Fixture
beforeAll(async () => {
  fx = await createFixture()
})
afterAll(async () => {
  await fx.close()
})

describe('issue #15 item 1 through the plugin: the blocked caller is refused and no resolver runs', () => {
  it.each([
    [fragmentTricks[0]?.[1] as string, ['node', 'id'], 'risk_score_exceeded'],
    [fragmentTricks[2]?.[1] as string, ['search', 'secret'], 'tor_exit_node'],
    [fragmentTricks[3]?.[1] as string, ['node', 'email'], 'risk_score_exceeded'],
  ])('tor: %s', async (query, path, reason) => {
    const { yoga, calls } = createTestYoga(fx.resolver)
    const res = await gql(yoga, ips.tor, { query })
    expect(res.status).toBe(403)
    expect(res.body).toEqual(blockedBody(path, reason))
    expect(calls.size).toBe(0)
  })
})

describe('issue #15 item 1 over real HTTP on the Yoga example (Account @requireLowRisk(threshold: 80) guards User)', () => {
  let server: RunningYogaExample
  beforeAll(async () => {
    server = await startYogaExample({ resolver: fx.resolver })
  })
  afterAll(async () => {
    await server.close()
  })
  const post = async (ip: string, query: string) => {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
      body: JSON.stringify({ query }),
    })
    return { status: res.status, body: await res.json() }
  }

  it.each([
    ['the direct read', '{ node(id: "1") { ... on User { email } } }', ['node', 'email']],
    [
      'the fragment trick of the report',
      '{ node(id:"1") { ... on Post { ...F } ...F } } fragment F on Node { id ... on User { email createdAt } }',
      ['node', 'id'],
    ],
    [
      'the narrow spread two inline fragments deep',
      '{ node(id:"1") { ... { ... on Post { ...F } } ...F } } fragment F on Node { ... on User { email createdAt } }',
      ['node', 'email'],
    ],
  ])('tor gets 403 for %s', async (_name, query, path) => {
    const res = await post(ips.tor, query)
    expect(res.status).toBe(403)
    expect(res.body).toEqual(blockedBody(path, 'risk_score_exceeded'))
  })

  it('a caller under the threshold still reads it (proxy: 60 < 80)', async () => {
    const res = await post(
      ips.proxy,
      '{ node(id:"1") { ... on Post { ...F } ...F } } fragment F on Node { id ... on User { email createdAt } }',
    )
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ data: { node: { id: '1', email: 'ada@example.com', createdAt: expect.any(String) } } })
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Item 4: deep documents
// ---------------------------------------------------------------------------------------------------------------------

/** The shape: `depth` nested `... on Query @include(if: $v)` around `inner`. */
function nestedInline(depth: number, inner: string): string {
  return `query Deep($v: Boolean!) { ${'... on Query @include(if: $v) { '.repeat(depth)}${inner}${' }'.repeat(depth)} }`
}
/** `depth` fragments, each spreading the next under `@include(if: $v)`: flat for the parser, deep for a walk. */
function chainedFragments(depth: number, inner: string): string {
  let doc = 'query Chain($v: Boolean!) { ...F0 @include(if: $v) }\n'
  for (let i = 0; i < depth; i++) doc += `fragment F${String(i)} on Query { ...F${String(i + 1)} @include(if: $v) }\n`
  return `${doc}fragment F${String(depth)} on Query { ${inner} }`
}

function field(name: string, selectionSet?: SelectionSetNode): FieldNode {
  return { kind: Kind.FIELD, name: { kind: Kind.NAME, value: name }, selectionSet }
}

/** A DocumentNode no parser would produce (100,000 levels): the walk must not depend on the engine's stack. */
function astNestedInline(depth: number): DocumentNode {
  let selectionSet: SelectionSetNode = { kind: Kind.SELECTION_SET, selections: [field('human')] }
  for (let i = 0; i < depth; i++) {
    selectionSet = { kind: Kind.SELECTION_SET, selections: [{ kind: Kind.INLINE_FRAGMENT, selectionSet }] }
  }
  return { kind: Kind.DOCUMENT, definitions: [{ kind: Kind.OPERATION_DEFINITION, operation: 'query' as never, selectionSet }] }
}

describe('issue #15 item 4: the analysis never recurses and its work is bounded', () => {
  it('100,000 nested inline fragments: analysed (past the budget, conservatively) and the protected field kept', () => {
    const analysis = analyzeOperation(protection, astNestedInline(100_000), undefined)
    expect(analysis.conservative).toBe(true)
    expect(analysis.selections.map((s) => s.path.join('.'))).toEqual(['human'])
    expect(analysis.introspectionOnly).toBe(false)
  })

  it('50,000 nested protected fields: each reported once, in O(1) (paths are built when read, not per field)', () => {
    // Eagerly built, the paths of this document would hold 50,000² / 2 keys (over a billion): the walk must not.
    const recursive = buildSchema(`${ipRiskTypeDefs}\ntype Query { me: Person } type Person @requireHuman { next: Person name: String }`)
    const guarded = readSchemaProtection(recursive, (p, option) => compilePolicy(p, option), undefined)
    let selectionSet: SelectionSetNode = { kind: Kind.SELECTION_SET, selections: [field('name')] }
    for (let i = 0; i < 50_000; i++) selectionSet = { kind: Kind.SELECTION_SET, selections: [field('next', selectionSet)] }
    selectionSet = { kind: Kind.SELECTION_SET, selections: [field('me', selectionSet)] }
    const document: DocumentNode = {
      kind: Kind.DOCUMENT,
      definitions: [{ kind: Kind.OPERATION_DEFINITION, operation: 'query' as never, selectionSet }],
    }
    const analysis = analyzeOperation(guarded, document, undefined)
    expect(analysis.selections).toHaveLength(50_001) // next × 50,000, then name
    expect(analysis.selections[0]?.path).toEqual(['me', 'next'])
    const deepest = analysis.selections[50_000]?.path
    expect(deepest).toHaveLength(50_002)
    expect(deepest?.at(-1)).toBe('name')
  })

  it(`a chain of fragments under distinct variables costs its copies too: past ${String(ANALYSIS_BUDGET)}, conservative`, () => {
    const depth = 400 // 400 distinct conditions copied at each level: ~80,000 > the budget
    const vars = Array.from({ length: depth }, (_, i) => `$v${String(i)}: Boolean!`).join(', ')
    let doc = `query(${vars}) { ...F0 }\n`
    for (let i = 0; i < depth; i++) doc += `fragment F${String(i)} on Query { ...F${String(i + 1)} @include(if: $v${String(i)}) }\n`
    doc += `fragment F${String(depth)} on Query { human }`
    const analysis = analyzeOperation(protection, parse(doc), undefined)
    expect(analysis.conservative).toBe(true)
    expect(activeSelections(analysis, {}).map((s) => s.path.join('.'))).toEqual(['human'])
  })
})

describe('issue #15 item 4 over real HTTP: a deep document gets the plain server\'s answer, and is walked once', () => {
  let server: RunningYogaExample
  /** The same example without the plugin: the reference answer. */
  const plain = createYoga({
    schema: createSchema({ typeDefs: [...exampleTypeDefs], resolvers: createExampleResolvers().resolvers as never }),
    logging: false,
  })
  beforeAll(async () => {
    server = await startYogaExample({ resolver: fx.resolver })
  })
  afterAll(async () => {
    await server.close()
  })
  const body = (query: string) => JSON.stringify({ query, variables: { v: true } })
  const send = async (ip: string, query: string) => {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
      body: body(query),
    })
    return { status: res.status, body: await res.json() }
  }
  const reference = async (query: string) => {
    const res = await plain.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(query),
    })
    return { status: res.status, body: await res.json() }
  }

  it.each([
    ['2,500 chained fragment spreads', chainedFragments(2_500, 'posts { title }')],
    ['1,500 nested `... on Query @include(if: $v)`', nestedInline(1_500, 'posts { title }')],
  ])('%s: 200 with the plain server\'s data; the second identical request is not re-walked', async (_name, query) => {
    const expected = await reference(query)
    expect(expected.status).toBe(200)
    const before = analysisRuns()
    const first = await send(ips.clean, query)
    const second = await send(ips.clean, query)
    expect(first).toEqual(expected)
    expect(second).toEqual(expected)
    expect(analysisRuns() - before).toBe(1)
  }, 60_000)

  it.each([
    ['2,500 chained fragment spreads', chainedFragments(2_500, 'admin { blockedIps }')],
    ['1,500 nested inline fragments', nestedInline(1_500, 'admin { blockedIps }')],
  ])('%s around a protected field: the depth does not hide it (vpn: 403)', async (_name, query) => {
    const res = await send(ips.vpn, query)
    expect(res.status).toBe(403)
    expect(res.body).toEqual(blockedBody(['admin', 'blockedIps'], 'vpn_detected'))
  }, 60_000)
})
