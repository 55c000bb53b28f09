/**
 * The per-document analysis: which protected fields an operation selects (fragments, type conditions on interfaces
 * and unions, aliases, @skip/@include with literals and variables), its cache, and its work bound.
 */
import { buildSchema, parse } from 'graphql'
import { describe, expect, it } from 'vitest'
import { compilePolicy, policies } from '../../src/core/policy.js'
import {
  activeSelections,
  ANALYSIS_BUDGET,
  analysisRuns,
  analyzeOperation,
  OperationAnalyzer,
} from '../../src/envelop/analysis.js'
import { ipRiskTypeDefs, readSchemaProtection } from '../../src/envelop/directives.js'
import { testTypeDefs } from './helpers.js'

const schema = buildSchema(`${ipRiskTypeDefs}\n${testTypeDefs}`)
const protection = readSchemaProtection(schema, (p, option) => compilePolicy(p, option), undefined)
const lowRisk40 = policies.lowRisk(40)
const lowRisk50 = policies.lowRisk(50)

function analyze(query: string, operationName?: string) {
  return analyzeOperation(protection, parse(query), operationName)
}
function paths(query: string, variables?: Record<string, unknown>, operationName?: string) {
  return activeSelections(analyze(query, operationName), variables).map((s) => s.path.join('.'))
}

describe('analysis: which protected fields an operation selects', () => {
  it.each([
    ['a public field only', '{ posts { id title } me }', []],
    ['a protected root field', '{ human }', ['human']],
    ['protected fields in document order', '{ lowRisk75 me human }', ['lowRisk75', 'human']],
    ['an alias (response key, not field name)', '{ x: human y: lowRisk50 }', ['x', 'y']],
    ['a field of a type with a type-level directive', '{ admin { count } }', ['admin.count']],
    ['every field of that type', '{ admin { count users { name } } }', ['admin.count', 'admin.users', 'admin.users.name']],
    ['a field guarded by its own directive on a nested type', '{ posts { title secret } }', ['posts.secret']],
    ['a field of an implementation of a guarded interface', '{ account { id } }', ['account.id']],
    ['a named fragment', '{ admin { ...A } } fragment A on AdminQuery { count }', ['admin.count']],
    ['nested named fragments', '{ admin { ...A } } fragment A on AdminQuery { ...B } fragment B on AdminQuery { count }', ['admin.count']],
    ['an inline fragment without type condition', '{ ... { human } }', ['human']],
    ['an inline fragment on a union member', '{ search { ... on Post { secret } } }', ['search.secret']],
    ['an unprotected union member field', '{ search { ... on Post { title } } }', []],
    ['a fragment on an interface inside a union (narrowed to User)', '{ search { ... on Account { email } } }', ['search.email']],
    ['__typename on a union', '{ search { __typename } }', []],
    ['a field selected on an interface: guarded if any implementation guards it', '{ node(id: "p1") { id } }', ['node.id']],
    ['a type condition that excludes the guarded implementation', '{ node(id: "p1") { ... on Post { id title } } }', []],
    ['a fragment spread on an interface type', '{ node(id: "u1") { ...N } } fragment N on Node { id }', ['node.id']],
    ['a type condition that cannot match is ignored', '{ posts { ... on User { email } } }', []],
    ['introspection fields are never protected', '{ __schema { queryType { name } } __type(name: "Query") { name } __typename }', []],
    ['a literal @skip(if: true) removes the field', '{ human @skip(if: true) }', []],
    ['a literal @skip(if: false) keeps it', '{ human @skip(if: false) }', ['human']],
    ['a literal @include(if: false) removes the field', '{ human @include(if: false) }', []],
    ['a literal @include(if: true) keeps it', '{ human @include(if: true) }', ['human']],
    ['a literal skip on a fragment spread', '{ admin { ...A @skip(if: true) } } fragment A on AdminQuery { count }', []],
    ['a literal include on an inline fragment', '{ ... @include(if: false) { human } }', []],
    ['a skipped parent removes its children', '{ admin @skip(if: true) { count } }', []],
  ])('%s', (_name, query, expected) => {
    expect(paths(query)).toEqual(expected)
  })

  it('records the schema coordinate: the concrete type, or the interface when the runtime type is open', () => {
    expect(analyze('{ admin { count } }').selections.map((s) => s.coordinate)).toEqual(['AdminQuery.count'])
    expect(analyze('{ node(id: "1") { id } }').selections.map((s) => s.coordinate)).toEqual(['Node.id'])
    expect(analyze('mutation { signup(email: "a") }').selections.map((s) => s.coordinate)).toEqual(['Mutation.signup'])
  })

  it('collects every policy of a field: its own, its type, and its interfaces', () => {
    const [selection] = analyze('{ node(id: "1") { id } }').selections
    // Node.id can be User.id (Account: lowRisk 50) or Post.id (unprotected).
    expect(selection?.policies).toEqual([lowRisk50])
    const [admin] = analyze('{ admin { users { email } } }').selections
    expect(admin?.policies).toEqual([lowRisk40])
    const nested = analyze('{ admin { users { email } } }').selections.map((s) => [s.path.join('.'), s.policies])
    expect(nested).toEqual([
      ['admin.users', [lowRisk40]],
      ['admin.users.email', [lowRisk50]],
    ])
  })

  it('picks the operation by name, and finds none when the name is unknown or ambiguous', () => {
    const doc = 'query A { me } query B { human }'
    expect(paths(doc, undefined, 'B')).toEqual(['human'])
    expect(paths(doc, undefined, 'A')).toEqual([])
    expect(analyze(doc).operationType).toBeNull()
    expect(analyze(doc, 'C').operationType).toBeNull()
    expect(analyze('mutation M { login(email: "a") }').operationType).toBe('mutation')
    expect(analyze('subscription S { ticks }').rootTypeName).toBe('Subscription')
  })

  it('flags operations that select nothing but introspection', () => {
    expect(analyze('{ __typename }').introspectionOnly).toBe(true)
    expect(analyze('{ ...F } fragment F on Query { __schema { types { name } } }').introspectionOnly).toBe(true)
    expect(analyze('{ __typename me }').introspectionOnly).toBe(false)
    expect(analyze('{ ... on Query { posts { id } } }').introspectionOnly).toBe(false)
  })
})

describe('analysis: @skip / @include with variables are settled per request', () => {
  const cases: [string, string, Record<string, unknown> | undefined, string[]][] = [
    ['@skip(if: $v) with v = true', 'query($v: Boolean!) { human @skip(if: $v) }', { v: true }, []],
    ['@skip(if: $v) with v = false', 'query($v: Boolean!) { human @skip(if: $v) }', { v: false }, ['human']],
    ['@include(if: $v) with v = false', 'query($v: Boolean!) { human @include(if: $v) }', { v: false }, []],
    ['@include(if: $v) with v = true', 'query($v: Boolean!) { human @include(if: $v) }', { v: true }, ['human']],
    ['a default value applies when the variable is absent', 'query($v: Boolean = true) { human @skip(if: $v) }', undefined, []],
    ['the variable wins over the default', 'query($v: Boolean = true) { human @skip(if: $v) }', { v: false }, ['human']],
    ['a missing variable without default keeps the field (safe side)', 'query($v: Boolean!) { human @include(if: $v) }', {}, ['human']],
    ['a non-boolean value keeps the field (safe side)', 'query($v: Boolean!) { human @skip(if: $v) }', { v: 'true' }, ['human']],
    ['null keeps the field (safe side)', 'query($v: Boolean) { human @skip(if: $v) }', { v: null }, ['human']],
    ['on a fragment spread', 'query($v: Boolean!) { admin { ...A @include(if: $v) } } fragment A on AdminQuery { count }', { v: false }, []],
    ['on an inline fragment', 'query($v: Boolean!) { ... @skip(if: $v) { human } }', { v: true }, []],
    ['on a parent field', 'query($v: Boolean!) { admin @include(if: $v) { count } }', { v: false }, []],
    ['both directives: every condition must hold', 'query($a: Boolean!, $b: Boolean!) { human @include(if: $a) @skip(if: $b) }', { a: true, b: true }, []],
    ['both directives, both allowing', 'query($a: Boolean!, $b: Boolean!) { human @include(if: $a) @skip(if: $b) }', { a: true, b: false }, ['human']],
    ['only the conditional field is dropped', 'query($v: Boolean!) { lowRisk50 human @skip(if: $v) }', { v: true }, ['lowRisk50']],
    [
      'the same field twice, one copy skipped: still selected',
      'query($v: Boolean!) { human @skip(if: $v) human }',
      { v: true },
      ['human'],
    ],
    [
      'the same fragment spread under different conditions is analysed for each',
      'query($a: Boolean!, $b: Boolean!) { admin { ...A @include(if: $a) ...A @include(if: $b) } } fragment A on AdminQuery { count }',
      { a: false, b: true },
      ['admin.count'],
    ],
  ]
  it.each(cases)('%s', (_name, query, variables, expected) => {
    expect(paths(query, variables)).toEqual(expected)
  })

  it('an analysis without variable conditions is returned as is (no per-request filtering)', () => {
    const analysis = analyze('{ human @skip(if: false) lowRisk50 }')
    expect(analysis.conditional).toBe(false)
    expect(activeSelections(analysis, { anything: true })).toBe(analysis.selections)
    expect(analyze('query($v: Boolean!) { human @skip(if: $v) }').conditional).toBe(true)
  })
})

describe('analysis: cached once per document and operation name', () => {
  it('analyses a document once, however many times and with whatever variables it runs', () => {
    const analyzer = new OperationAnalyzer(protection)
    const document = parse('query Q($v: Boolean!) { human @skip(if: $v) } query R { lowRisk50 }')
    const before = analysisRuns()
    const first = analyzer.analyze(document, 'Q')
    expect(activeSelections(analyzer.analyze(document, 'Q'), { v: true })).toEqual([])
    expect(activeSelections(analyzer.analyze(document, 'Q'), { v: false })).toHaveLength(1)
    expect(analyzer.analyze(document, 'Q')).toBe(first)
    expect(analysisRuns() - before).toBe(1)
    // Another operation of the same document is a separate entry; another document object another analysis.
    analyzer.analyze(document, 'R')
    analyzer.analyze(document, 'R')
    expect(analysisRuns() - before).toBe(2)
    analyzer.analyze(parse('query Q($v: Boolean!) { human @skip(if: $v) } query R { lowRisk50 }'), 'Q')
    expect(analysisRuns() - before).toBe(3)
  })
})

describe('analysis: bounded work', () => {
  // Each level spreads the next fragment under two different variables: 2^depth paths (a "fragment bomb").
  function fragmentBomb(depth: number): string {
    const vars = Array.from({ length: depth * 2 }, (_, i) => `$v${String(i)}: Boolean!`).join(', ')
    let doc = `query Bomb(${vars}) { admin { ...F0 } }\n`
    for (let i = 0; i < depth; i++) {
      const next = i + 1 < depth ? `F${String(i + 1)}` : 'Leaf'
      doc += `fragment F${String(i)} on AdminQuery { ...${next} @include(if: $v${String(2 * i)}) ...${next} @include(if: $v${String(2 * i + 1)}) }\n`
    }
    doc += 'fragment Leaf on AdminQuery { count }\n'
    return doc
  }

  it('analyses a small document precisely', () => {
    const analysis = analyze(fragmentBomb(3))
    expect(analysis.conservative).toBe(false)
    expect(analysis.selections).toHaveLength(8)
  })

  it(`falls back to a linear, conservative walk past ${String(ANALYSIS_BUDGET)} selections, which keeps every protected field`, () => {
    const analysis = analyze(fragmentBomb(30))
    expect(analysis.conservative).toBe(true)
    expect(analysis.conditional).toBe(false)
    // Variables cannot drop the field any more: the conservative analysis errs on the protected side.
    expect(activeSelections(analysis, { v0: false, v1: false }).map((s) => s.path.join('.'))).toEqual(['admin.count'])
  })
})
