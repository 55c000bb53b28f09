/**
 * Which operation of a document the plugin enforces, and how much it keeps per document (issue #15, items 2 and 3).
 *
 * The plugin must enforce the operation graphql-js will execute, chosen by graphql-js's own rules (no name: the only
 * operation; a name, `""` included: the operation of that name), whatever `operationName` the earlier requests on the
 * same cached document sent; a request that selects no single operation is enforced as all of the document's
 * operations, never as "nothing to protect". Its analyses are bounded per document by the operations the document
 * defines, whatever names requests send.
 */
import type { Plugin } from '@envelop/core'
import { envelop, useEngine, useSchema } from '@envelop/core'
import fc from 'fast-check'
import * as graphql from 'graphql'
import { buildSchema, parse, type DocumentNode, type ExecutionResult } from 'graphql'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSchema, createYoga } from 'graphql-yoga'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startYogaExample, type RunningYogaExample } from '../../examples/graphql/server.js'
import { compilePolicy } from '../../src/core/policy.js'
import { analysisRuns, OperationAnalyzer } from '../../src/envelop/analysis.js'
import { ipRiskTypeDefs, readSchemaProtection } from '../../src/envelop/directives.js'
import { useIpRisk } from '../../src/envelop/index.js'
import { blockedBody, createFixture, ips, spyResolvers, testTypeDefs, type Calls, type Fixture } from './helpers.js'

let fx: Fixture
beforeAll(async () => {
  fx = await createFixture()
})
afterAll(async () => {
  await fx.close()
})

/** A parse cache as simple as can be: the same source gives the same DocumentNode (what the plugin caches by). */
function useSameDocument(documents: Set<DocumentNode>): Plugin {
  const bySource = new Map<string, DocumentNode>()
  return {
    onParse({ params, setParsedDocument }) {
      const source = String(params.source)
      const hit = bySource.get(source)
      if (hit !== undefined) {
        setParsedDocument(hit)
        return
      }
      return ({ result }) => {
        if (result !== null && typeof result === 'object' && !(result instanceof Error)) {
          bySource.set(source, result as DocumentNode)
          documents.add(result as DocumentNode)
        }
      }
    },
  }
}

/** Plain Envelop on graphql-js (no Yoga): `useEngine(graphql)`, the test schema, a parse cache and the plugin. */
function plainEnvelop() {
  const calls: Calls = new Map()
  const documents = new Set<DocumentNode>()
  const schema = createSchema({ typeDefs: [ipRiskTypeDefs, testTypeDefs], resolvers: spyResolvers(calls) })
  const getEnveloped = envelop({
    plugins: [useEngine(graphql), useSchema(schema), useSameDocument(documents), useIpRisk({ resolver: fx.resolver })],
  })
  const run = async (ip: string, source: string, operationName?: string | null): Promise<ExecutionResult> => {
    const { parse, validate, contextFactory, execute, schema: s } = getEnveloped({
      req: { headers: { 'x-forwarded-for': ip }, socket: { remoteAddress: '127.0.0.1' } },
    })
    const document = parse(source)
    expect(validate(s, document)).toEqual([])
    return (await execute({ schema: s, document, operationName, contextValue: await contextFactory() })) as ExecutionResult
  }
  return { run, calls, documents }
}

const ADMIN = '{ admin { users { email } } }'
/** AdminQuery is `@requireLowRisk(threshold: 40)` in the test schema: a Tor exit (score 92) is over it. */
const blockedAdmin = { code: 'IP_RISK_BLOCKED', reason: 'risk_score_exceeded', http: { status: 403 } }
const unknownEmpty = 'Unknown operation named "".'

describe('plain Envelop + graphql-js + a parse cache: operationName "" cannot unlock the next request', () => {
  it('a blocked caller: "" then no operationName on the same document, both blocked, no resolver runs', async () => {
    const { run, calls, documents } = plainEnvelop()
    const first = await run(ips.tor, ADMIN, '')
    expect(first.data).toBeUndefined()
    expect(first.errors?.map((e) => e.extensions)).toEqual([blockedAdmin])
    const second = await run(ips.tor, ADMIN)
    expect(second.data).toBeUndefined()
    expect(second.errors?.map((e) => [e.message, e.path, e.extensions])).toEqual([['Request blocked', ['admin', 'users'], blockedAdmin]])
    expect(documents.size).toBe(1) // both requests ran on one DocumentNode
    expect(calls.size).toBe(0)
  })

  it.each([
    [null, ''],
    [undefined, ''],
    ['', null],
    ['Nope', undefined],
    ['Nope', ''],
  ] as const)('a blocked caller: %j then %j, both blocked', async (firstName, secondName) => {
    const { run, calls } = plainEnvelop()
    for (const name of [firstName, secondName]) {
      const result = await run(ips.tor, ADMIN, name)
      expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['IP_RISK_BLOCKED'])
    }
    expect(calls.size).toBe(0)
  })

  it('an allowed caller gets graphql-js\'s own answers: "Unknown operation" for "", the data without a name', async () => {
    const { run, calls } = plainEnvelop()
    const first = await run(ips.clean, ADMIN, '')
    expect(first.errors?.map((e) => [e.message, e.extensions])).toEqual([[unknownEmpty, {}]])
    expect(await run(ips.clean, ADMIN)).toEqual({ data: { admin: { users: [{ email: 'ada@example.com' }] } } })
    expect(calls.get('AdminQuery.users')).toBe(1)
  })

  it('a request that selects no single operation is enforced as all of them (several operations, no name)', async () => {
    const { run, calls } = plainEnvelop()
    // Invalid for graphql-js (it needs a name), but another engine could pick either: both are enforced.
    const source = 'query Feed { posts { id } } query Admin { admin { count } }'
    const blocked = await run(ips.tor, source)
    expect(blocked.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['admin', 'count'], 'IP_RISK_BLOCKED']])
    const allowed = await run(ips.clean, source)
    expect(allowed.errors?.map((e) => e.message)).toEqual(['Must provide operation name if query contains multiple operations.'])
    expect(await run(ips.tor, source, 'Feed')).toEqual({ data: { posts: [{ id: 'p1' }] } })
    expect(calls.get('AdminQuery.count')).toBeUndefined()
  })
})

describe('over HTTP with Yoga', () => {
  /** POSTs `body` to `url` as `ip` (X-Forwarded-For from the loopback peer, which the resolver trusts). */
  async function post(url: string, ip: string, body: Record<string, unknown>) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: await res.json() }
  }

  describe('the Yoga example: Yoga itself refuses a request whose operation it cannot determine', () => {
    let server: RunningYogaExample
    beforeAll(async () => {
      server = await startYogaExample({ resolver: fx.resolver })
    })
    afterAll(async () => {
      await server.close()
    })
    const unresolved = {
      status: 400,
      body: {
        errors: [{ message: 'Could not determine what operation to execute.', extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } }],
      },
    }

    it.each([
      ['tor', { status: 403, body: blockedBody(['admin', 'users'], 'tor_exit_node') }],
      ['clean', { status: 200, body: { data: { admin: { users: expect.any(Array) } } } }],
    ] as const)('%s: operationName "" (400, before execution), then none on the same cached document', async (profile, then) => {
      expect(await post(server.url, ips[profile], { query: ADMIN, operationName: '' })).toEqual(unresolved)
      expect(await post(server.url, ips[profile], { query: ADMIN })).toEqual(then)
    })
  })

  describe('Yoga without document validation: a name defined twice', () => {
    // A set-up that skips validation (e.g. for documents it trusts) lets `query A {…} query A {…}` through. Yoga's
    // executor runs the LAST operation named A; graphql-js's getOperationAST (and Yoga's own check) returns the first.
    const source = 'query A { posts { id } } query A { admin { users { email } } }'
    const calls: Calls = new Map()
    let server: Server
    let url: string
    beforeAll(async () => {
      const skipValidation: Plugin = { onValidate: ({ setResult }) => setResult([]) }
      const yoga = createYoga({
        schema: createSchema({ typeDefs: [ipRiskTypeDefs, testTypeDefs], resolvers: spyResolvers(calls) }),
        plugins: [skipValidation, useIpRisk({ resolver: fx.resolver })],
        logging: false,
      })
      server = createServer(yoga)
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/graphql`
    })
    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })

    it('a Tor caller is blocked: both operations named A are enforced, the executed one included', async () => {
      const res = await post(url, ips.tor, { query: source, operationName: 'A' })
      expect(res).toEqual({ status: 403, body: blockedBody(['admin', 'users'], 'risk_score_exceeded') })
      expect(calls.size).toBe(0)
    })

    it('a clean caller gets what the executor runs: the second operation', async () => {
      const res = await post(url, ips.clean, { query: source, operationName: 'A' })
      expect(res).toEqual({ status: 200, body: { data: { admin: { users: [{ email: 'ada@example.com' }] } } } })
    })
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// The analysed operation against graphql-js's execution (the oracle)
// ---------------------------------------------------------------------------------------------------------------------

/** Every root field protected; operation `i` selects `q<i>` or `m<i>`, so a field tells which operation it is. */
const OPS = 5
const fields = (prefix: string) => Array.from({ length: OPS }, (_, i) => `${prefix}${String(i)}: String @requireHuman`).join(' ')
const oracleSchema = buildSchema(`${ipRiskTypeDefs}\ntype Query { ${fields('q')} } type Mutation { ${fields('m')} }`)
const oracleProtection = readSchemaProtection(oracleSchema, (p, option) => compilePolicy(p, option), undefined)

interface OperationSpec {
  readonly type: 'query' | 'mutation'
  readonly name: string | null
}

function documentOf(specs: readonly OperationSpec[]): string {
  return specs
    .map((spec, i) => `${spec.type}${spec.name === null ? '' : ` ${spec.name}`} { ${spec.type === 'query' ? 'q' : 'm'}${String(i)} ...F }`)
    .concat(['fragment F on Query { __typename }'])
    .join('\n')
}

/** The operations graphql-js's `execute` runs (by the resolvers that ran): none or one. */
function executedBy(document: DocumentNode, operationName: string | null | undefined): number[] {
  const ran = new Set<number>()
  const rootValue: Record<string, () => string> = {}
  for (let i = 0; i < OPS; i++) {
    rootValue[`q${String(i)}`] = () => (ran.add(i), 'q')
    rootValue[`m${String(i)}`] = () => (ran.add(i), 'm')
  }
  // The fragment spread on Query inside a mutation is invalid; execution (no validation) skips it.
  const result = graphql.execute({ schema: oracleSchema, document, operationName, rootValue })
  expect(result).not.toBeInstanceOf(Promise) // synchronous resolvers: `ran` is complete here
  return [...ran]
}

/** The operations an analysis covers, by the protected fields it lists. */
const analysed = (analysis: { selections: readonly { coordinate: string }[] }) =>
  analysis.selections.map((s) => Number(s.coordinate.replace(/^\w+\.[qm]/, '')))

/**
 * What the plugin must enforce: the operation graphql-js runs when the name selects exactly one; every operation
 * when it selects none (graphql-js errors) or when the name is defined twice (graphql-js's `execute` runs the last,
 * `getOperationAST` the first: neither alone is safe).
 */
function expected(specs: readonly OperationSpec[], operationName: string | null | undefined, ran: number[]): number[] {
  const all = specs.map((_, i) => i)
  if (ran.length === 0) return all
  const duplicated = operationName != null && specs.filter((s) => s.name === operationName).length > 1
  return duplicated ? all : ran
}

const operationSpec = fc.record({
  type: fc.constantFrom('query' as const, 'mutation' as const),
  name: fc.constantFrom(null, 'A', 'B', 'C'),
})
const operationName = fc.oneof(
  fc.constantFrom(undefined, null, '', 'A', 'B', 'C', 'D', 'a', ' A', 'A ', '__proto__', 'constructor'),
  fc.string({ maxLength: 3 }),
)

describe('the analysed operation is the one graphql-js executes', () => {
  it.each([
    ['one anonymous operation, no name', [null], undefined, [0]],
    ['one anonymous operation, null', [null], null, [0]],
    ['one anonymous operation, "" (graphql-js: Unknown operation)', [null], '', [0]],
    ['one named operation, no name', ['A'], undefined, [0]],
    ['one named operation, its name', ['A'], 'A', [0]],
    ['one named operation, another name', ['A'], 'B', [0]],
    ['two operations, no name (graphql-js: Must provide operation name)', ['A', 'B'], undefined, [0, 1]],
    ['two operations, the second by name', ['A', 'B'], 'B', [1]],
    ['two operations, ""', ['A', 'B'], '', [0, 1]],
    ['a name defined twice (execute runs the last, getOperationAST returns the first)', ['A', 'B', 'A'], 'A', [0, 1, 2]],
    ['an anonymous operation beside a named one, no name', [null, 'A'], undefined, [0, 1]],
    ['an anonymous operation beside a named one, the name', [null, 'A'], 'A', [1]],
    ['no operation at all', [], undefined, []],
  ] as const)('%s → operations %j', (_case, names, name, want) => {
    const specs = names.map((n) => ({ type: 'query' as const, name: n }))
    const document = parse(documentOf(specs))
    const analysis = new OperationAnalyzer(oracleProtection).analyze(document, name)
    expect(analysed(analysis)).toEqual(want)
    expect(analysed(analysis)).toEqual(expected(specs, name, executedBy(document, name)))
  })

  it('a name defined twice: the case where getOperationAST and execute disagree, both covered', () => {
    const document = parse('query A { q0 } query A { q1 }')
    expect(graphql.getOperationAST(document, 'A')?.selectionSet.selections[0]).toMatchObject({ name: { value: 'q0' } })
    expect(executedBy(document, 'A')).toEqual([1])
    expect(analysed(new OperationAnalyzer(oracleProtection).analyze(document, 'A'))).toEqual([0, 1])
  })

  it('property: any document and any sequence of operation names on it (one cached analyzer) agree with execution', () => {
    fc.assert(
      fc.property(
        fc.array(operationSpec, { minLength: 0, maxLength: OPS }),
        fc.array(operationName, { minLength: 1, maxLength: 6 }),
        (specs, names) => {
          const document = parse(documentOf(specs))
          const analyzer = new OperationAnalyzer(oracleProtection)
          for (const name of names) {
            const ran = executedBy(document, name)
            expect(ran.length).toBeLessThanOrEqual(1)
            const analysis = analyzer.analyze(document, name)
            const want = expected(specs, name, ran)
            expect(analysed(analysis)).toEqual(want)
            // One operation selected: its own analysis (with its type); otherwise the union, which has no type.
            const selected = ran.length === 1 && want === ran ? specs[ran[0] as number] : undefined
            expect(analysis.operationType).toBe(selected === undefined ? null : selected.type)
          }
        },
      ),
      { numRuns: 1_000, seed: 15 },
    )
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------------------------------------------------

describe('the analyses kept per document are bounded by its operations, whatever names requests send', () => {
  const protection = readSchemaProtection(
    buildSchema(`${ipRiskTypeDefs}\n${testTypeDefs}`),
    (p, option) => compilePolicy(p, option),
    undefined,
  )

  it('50,000 distinct unknown names on one document: one analysis per operation plus one, no more analyses run', () => {
    const analyzer = new OperationAnalyzer(protection)
    const document = parse('query Feed { posts { id } } query Admin { admin { count } } mutation Join { signup(email: "a") }')
    const before = analysisRuns()
    for (let i = 0; i < 50_000; i++) analyzer.analyze(document, `op${String(i)}`)
    for (const name of [undefined, null, '', 'Feed', 'Admin', 'Join']) analyzer.analyze(document, name)
    expect(analysisRuns() - before).toBe(3) // each operation analysed once; the union reuses them
    expect(analyzer.cachedAnalyses(document)).toBe(4) // 3 operations + the union
  })

  it('an unknown name creates no entry of its own: the cache holds what the document defines', () => {
    const analyzer = new OperationAnalyzer(protection)
    const document = parse('{ human }')
    const before = analysisRuns()
    analyzer.analyze(document, undefined)
    for (let i = 0; i < 1_000; i++) analyzer.analyze(document, `x${String(i)}`)
    expect(analysisRuns() - before).toBe(1) // the union of one operation reuses its analysis
    expect(analyzer.cachedAnalyses(document)).toBe(2) // the operation and the union
  })

  it('property: whatever names arrive, a document never holds more than one analysis per operation plus one', () => {
    fc.assert(
      fc.property(
        fc.array(operationSpec, { maxLength: OPS }),
        fc.array(fc.oneof(operationName, fc.string()), { maxLength: 50 }),
        (specs, names) => {
          const document = parse(documentOf(specs))
          const analyzer = new OperationAnalyzer(oracleProtection)
          for (const name of names) analyzer.analyze(document, name)
          expect(analyzer.cachedAnalyses(document)).toBeLessThanOrEqual(specs.length + 1)
        },
      ),
      { numRuns: 300, seed: 15 },
    )
  })

  it('through plain Envelop: 500 requests with distinct operation names on one cached document run at most one analysis per operation plus one', async () => {
    const { run, documents } = plainEnvelop()
    const source = 'query Feed { posts { id } } query Admin { admin { count } }'
    const before = analysisRuns()
    for (let i = 0; i < 500; i++) {
      const result = await run(ips.clean, source, `op${String(i)}`)
      expect(result.errors?.[0]?.message).toBe(`Unknown operation named "op${String(i)}".`)
    }
    expect(documents.size).toBe(1)
    expect(analysisRuns() - before).toBeLessThanOrEqual(3)
  })
})
