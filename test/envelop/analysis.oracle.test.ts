/**
 * The analysis against an oracle: graphql-js itself. Random valid operations (interfaces, unions, named and inline
 * fragments nested and repeated under different type conditions, aliases, `@skip` / `@include` with literals and
 * variables) are executed with `execute` against resolvers that return every possible runtime type (each list of an
 * abstract type holds one object of each implementation or member), recording every protected field that ran. Every
 * one of them must be in what the plugin enforces: `activeSelections(analysis, variables)`.
 *
 * What the plugin relies on, asserted per executed protected field `T.f`:
 * - a selection of `activeSelections` carries every policy of `T.f` and points at one of the field's nodes in the
 *   document (`info.fieldNodes`): the field is checked, whatever the walk;
 * - for the precise walk, that selection also has the field's response path (the blocked error's `path`).
 * The two fallback walks (over budget) are held to the first promise, on every generated operation too.
 *
 * Deterministic: a fixed seed. On failure fast-check prints the seed and the path of the (shrunk) counterexample, and
 * the message carries the document and the variables. Replay it with
 * `IPRISK_ORACLE_SEED=<seed> IPRISK_ORACLE_PATH=<path> npx vitest run test/envelop/analysis.oracle.test.ts`; explore
 * with another seed alone.
 */
import fc from 'fast-check'
import {
  buildSchema,
  execute,
  getNamedType,
  isAbstractType,
  isCompositeType,
  isListType,
  isNonNullType,
  isObjectType,
  parse,
  validate,
  type FieldNode,
  type GraphQLCompositeType,
  type GraphQLFieldResolver,
  type GraphQLOutputType,
  type GraphQLTypeResolver,
} from 'graphql'
import { describe, expect, it } from 'vitest'
import { compilePolicy } from '../../src/core/policy.js'
import type { Policy } from '../../src/core/types.js'
import { activeSelections, analyzeOperation, type AnalysisLimits } from '../../src/envelop/analysis.js'
import { ipRiskTypeDefs, readSchemaProtection } from '../../src/envelop/directives.js'

/**
 * Directives on fields, object types, an interface and an interface field, with distinct policies. A field name has
 * one type throughout the schema, so that random aliases (`<field>_<n>`) never make fields that cannot merge.
 */
const oracleTypeDefs = /* GraphQL */ `
  type Query {
    nodes: [Node!]!
    search: [Result!]!
    accounts: [Account!]!
    named: [Named!]!
    viewer: User!
    admin: Admin!
    greeting: String!
    secret: String! @requireHuman
  }
  interface Node { id: ID! }
  interface Account @requireLowRisk(threshold: 40) { id: ID! email: String! }
  interface Named { name: String! @requireLowRisk(threshold: 70) }
  type User implements Node & Account & Named { id: ID! email: String! name: String! friends: [Node!]! posts: [Post!]! }
  type Post implements Node { id: ID! title: String! body: String! @requireLowRisk(threshold: 60) author: User! related: [Result!]! }
  type Bot implements Node & Account & Named @requireHuman { id: ID! email: String! name: String! owner: User! }
  type Comment implements Node & Named { id: ID! name: String! text: String! @requireNotBot links: [Node!]! }
  type Tag implements Named { name: String! related: [Result!]! }
  union Result = User | Post | Comment | Bot
  type Admin @ipRisk(policy: ADMIN) { count: Int! users: [User!]! }
`

const schema = buildSchema(`${ipRiskTypeDefs}\n${oracleTypeDefs}`)
const protection = readSchemaProtection(schema, (p, option) => compilePolicy(p, option), undefined)
const COMPOSITE = ['Query', 'Node', 'Account', 'Named', 'User', 'Post', 'Bot', 'Comment', 'Tag', 'Result', 'Admin'].map(
  (name) => schema.getType(name) as GraphQLCompositeType,
)
const ABSTRACT = COMPOSITE.filter((t) => isAbstractType(t))
const VARIABLES = ['a', 'b', 'c'] as const

function possible(type: GraphQLCompositeType): readonly string[] {
  return isAbstractType(type) ? schema.getPossibleTypes(type).map((t) => t.name) : [type.name]
}
function overlaps(a: GraphQLCompositeType, b: GraphQLCompositeType): boolean {
  const names = possible(b)
  return possible(a).some((t) => names.includes(t))
}
function fieldsOf(type: GraphQLCompositeType): [string, GraphQLOutputType][] {
  if (!('getFields' in type)) return [] // a union: only __typename and fragments
  return Object.values(type.getFields()).map((f) => [f.name, f.type])
}

// ---------------------------------------------------------------------------------------------------------------------
// Generator: valid by construction (and validated: an invalid document fails the test, it is never skipped).
// ---------------------------------------------------------------------------------------------------------------------

type Draw = (max: number) => number

interface Fragment {
  readonly name: string
  readonly on: GraphQLCompositeType
  body: string
  readonly spreads: Set<number>
  readonly variables: Set<string>
}

interface Generated {
  readonly document: string
  readonly variables: Record<string, unknown>
}

class DocumentBuilder {
  readonly fragments: Fragment[] = []
  constructor(private readonly draw: Draw) {}

  /** True with the given probability; false on the choice 0 (a shrunk tape makes the simplest document). */
  private chance(percent: number): boolean {
    return this.draw(99) >= 100 - percent
  }
  private pick<T>(items: readonly T[]): T {
    return items[this.draw(items.length - 1)] as T
  }

  /** `@skip` / `@include` (often), on a literal or on one of three variables. */
  private directives(used: Set<string>): string {
    if (!this.chance(25)) return ''
    const out: string[] = []
    for (const name of this.chance(15) ? ['skip', 'include'] : [this.pick(['skip', 'include'])]) {
      if (this.chance(30)) out.push(`@${name}(if: ${this.pick(['true', 'false'])})`)
      else {
        const variable = this.pick(VARIABLES)
        used.add(variable)
        out.push(`@${name}(if: $${variable})`)
      }
    }
    return ` ${out.join(' ')}`
  }

  /**
   * A selection set on `type`. `depth` bounds fields (the response's depth), `room` bounds fragments inside fragments;
   * `owner` is the fragment being written (`-1`: the operation), which may only spread later fragments (no cycles).
   */
  selectionSet(type: GraphQLCompositeType, depth: number, room: number, owner: number, used: Set<string>, spreads: Set<number>): string {
    const count = 1 + this.draw(2)
    const parts: string[] = []
    for (let i = 0; i < count; i++) {
      const kind = this.draw(19)
      const spreadable = this.fragments.map((f, index) => [f, index] as const).filter(([f, index]) => index > owner && overlaps(type, f.on))
      if (kind <= 6 || room === 0) parts.push(this.field(type, depth, room, owner, used, spreads))
      else if (kind <= 12 || spreadable.length === 0) {
        // An inline fragment: no type condition, the type itself, or any type that overlaps it.
        const candidates = COMPOSITE.filter((t) => overlaps(type, t))
        const on = this.chance(20) ? null : this.pick(candidates)
        const body = this.selectionSet(on ?? type, depth, room - 1, owner, used, spreads)
        parts.push(`...${on === null ? '' : ` on ${on.name}`}${this.directives(used)} ${body}`)
      } else {
        const [fragment, index] = this.pick(spreadable)
        spreads.add(index)
        const spread = `...${fragment.name}${this.directives(used)}`
        if (this.chance(50)) {
          // The same fragment again, under a type condition (graphql-js expands it for each runtime type).
          // Mostly a narrower, concrete type.
          const both = COMPOSITE.filter((t) => overlaps(type, t) && overlaps(t, fragment.on))
          const on = this.pick(this.chance(30) ? both : both.filter((t) => isObjectType(t)))
          const again = `... on ${on.name}${this.directives(used)} { ...${fragment.name}${this.directives(used)} }`
          parts.push(...(this.chance(50) ? [again, spread] : [spread, again]))
        } else parts.push(spread)
      }
    }
    return `{ ${parts.join(' ')} }`
  }

  private field(type: GraphQLCompositeType, depth: number, room: number, owner: number, used: Set<string>, spreads: Set<number>): string {
    const fields = fieldsOf(type).filter(([, t]) => depth > 0 || !isCompositeType(getNamedType(t)))
    if (fields.length === 0 || this.chance(5)) return `__typename${this.directives(used)}`
    const [name, fieldType] = this.pick(fields)
    const alias = this.chance(25) ? `${name}_${String(this.draw(1))}: ` : ''
    const named = getNamedType(fieldType)
    const sub = isCompositeType(named) ? ` ${this.selectionSet(named, depth - 1, room, owner, used, spreads)}` : ''
    return `${alias}${name}${this.directives(used)}${sub}`
  }

  build(): Generated {
    // Up to four fragments on random types; the operation is written first (the tape's first choices), then the
    // fragments last to first, each of which may spread only the ones after it (no cycles).
    const count = this.chance(90) ? 1 + this.draw(3) : 0
    for (let i = 0; i < count; i++) {
      // Mostly on abstract types, which can be spread in many scopes (and narrowed differently in each).
      const on = this.chance(60) ? this.pick(ABSTRACT) : this.pick(COMPOSITE)
      this.fragments.push({ name: `F${String(i)}`, on, body: '', spreads: new Set(), variables: new Set() })
    }
    const used = new Set<string>()
    const spreads = new Set<number>()
    const operation = this.selectionSet(schema.getQueryType() as GraphQLCompositeType, 3, 3, -1, used, spreads)
    for (let i = count - 1; i >= 0; i--) {
      const fragment = this.fragments[i] as Fragment
      fragment.body = this.selectionSet(fragment.on, 2, 2, i, fragment.variables, fragment.spreads)
    }

    // Only the fragments the operation reaches (an unused fragment fails validation), and their variables.
    const reached = new Set<number>()
    const todo = [...spreads]
    for (let index = todo.pop(); index !== undefined; index = todo.pop()) {
      if (reached.has(index)) continue
      reached.add(index)
      const fragment = this.fragments[index] as Fragment
      for (const v of fragment.variables) used.add(v)
      todo.push(...fragment.spreads)
    }

    // Each variable: `Boolean!` (always given), `Boolean! = d` or `Boolean = d` (given, absent, or null if nullable).
    const definitions: string[] = []
    const variables: Record<string, unknown> = {}
    for (const v of VARIABLES) {
      if (!used.has(v)) continue
      const shape = this.draw(2)
      const fallback = this.chance(50)
      definitions.push(`$${v}: ${['Boolean!', `Boolean! = ${String(fallback)}`, `Boolean = ${String(fallback)}`][shape] as string}`)
      const value = this.draw(shape === 0 ? 1 : shape === 1 ? 2 : 3)
      if (value < 2) variables[v] = value === 0
      else if (value === 3) variables[v] = null
    }
    const header = definitions.length === 0 ? 'query' : `query(${definitions.join(', ')})`
    const body = [...reached].sort((x, y) => x - y).map((i) => {
      const f = this.fragments[i] as Fragment
      return `fragment ${f.name} on ${f.on.name} ${f.body}`
    })
    return { document: [`${header} ${operation}`, ...body].join('\n'), variables }
  }
}

/**
 * The builder's choices come from a tape of random numbers (cheaper than drawing each one from fast-check, and still
 * shrinkable: fast-check shrinks the numbers towards 0, the first choice of every decision). Past the tape's end every
 * choice is 0, which ends the document quickly.
 */
const TAPE = 220
const generated: fc.Arbitrary<Generated> = fc
  .array(fc.noBias(fc.nat(0xffff)), { minLength: TAPE, maxLength: TAPE })
  .map((tape) => {
    let next = 0
    return new DocumentBuilder((max) => (next < tape.length ? (tape[next++] as number) % (max + 1) : 0)).build()
  })

// ---------------------------------------------------------------------------------------------------------------------
// Oracle: graphql-js's execution, with every runtime type present.
// ---------------------------------------------------------------------------------------------------------------------

interface Executed {
  readonly coordinate: string
  readonly path: string
  readonly policies: readonly Readonly<Policy>[]
  readonly nodes: readonly FieldNode[]
}

function valueOf(type: GraphQLOutputType): unknown {
  if (isNonNullType(type)) return valueOf(type.ofType)
  if (isListType(type)) {
    const item = getNamedType(type)
    if (isAbstractType(item)) return schema.getPossibleTypes(item).map((t) => ({ __typename: t.name }))
    return [valueOf(type.ofType)]
  }
  if (isObjectType(type)) return { __typename: type.name }
  return type.name === 'Int' ? 1 : 'x'
}

/** Runs the operation; returns the protected fields that ran (their resolver was called). */
function run(document: ReturnType<typeof parse>, variables: Record<string, unknown>): Executed[] {
  const executed: Executed[] = []
  const fieldResolver: GraphQLFieldResolver<unknown, unknown> = (_source, _args, _context, info) => {
    const policies = protection.fields.get(info.parentType.name)?.get(info.fieldName)
    if (policies !== undefined) {
      const keys: string[] = []
      for (let p: typeof info.path | undefined = info.path; p !== undefined; p = p.prev) {
        if (typeof p.key === 'string') keys.push(p.key)
      }
      executed.push({
        coordinate: `${info.parentType.name}.${info.fieldName}`,
        path: keys.reverse().join('.'),
        policies,
        nodes: info.fieldNodes,
      })
    }
    return valueOf(info.returnType)
  }
  const typeResolver: GraphQLTypeResolver<unknown, unknown> = (value) => (value as { __typename: string }).__typename
  const result = execute({ schema, document, variableValues: variables, rootValue: {}, fieldResolver, typeResolver })
  if (result instanceof Promise) throw new Error('the oracle resolvers are synchronous')
  return executed
}

const stats = { operations: 0, protectedRan: 0, operationsWithProtected: 0, excludedByVariables: 0 }

/** Checks one analysis of the document against what ran. `precise`: the response path must match too. */
function check(
  generatedCase: Generated,
  document: ReturnType<typeof parse>,
  executed: readonly Executed[],
  limits: AnalysisLimits | undefined,
): void {
  const analysis = analyzeOperation(protection, document, undefined, limits)
  const active = activeSelections(analysis, generatedCase.variables)
  const precise = !analysis.conservative
  for (const ran of executed) {
    const covered = active.some(
      (s) =>
        ran.nodes.includes(s.node) &&
        ran.policies.every((p) => s.policies.includes(p)) &&
        (!precise || s.path.join('.') === ran.path),
    )
    if (!covered) {
      throw new Error(
        `${ran.coordinate} ran at ${ran.path} but the ${precise ? 'precise' : 'fallback'} analysis (limits ${JSON.stringify(limits ?? null)}) does not cover it\n` +
          `document:\n${generatedCase.document}\nvariables: ${JSON.stringify(generatedCase.variables)}\n` +
          `active selections: ${JSON.stringify(active.map((s) => [s.path.join('.'), s.coordinate]))}`,
      )
    }
  }
  if (limits === undefined && precise) {
    stats.operations++
    stats.protectedRan += executed.length
    if (executed.length > 0) stats.operationsWithProtected++
    if (active.length < analysis.selections.length) stats.excludedByVariables++
  }
}

const SEED = Number(process.env.IPRISK_ORACLE_SEED ?? 20_250_115)
const REPLAY = process.env.IPRISK_ORACLE_PATH
const RUNS = 5_000

describe('analysis oracle: every protected field graphql-js executes is enforced by the plugin', () => {
  it(`${String(RUNS)} random valid operations over interfaces, unions, fragments, aliases and @skip/@include (seed ${String(SEED)})`, () => {
    fc.assert(
      fc.property(generated, (generatedCase) => {
        const document = parse(generatedCase.document)
        const errors = validate(schema, document)
        expect(errors.map((e) => e.message), generatedCase.document).toEqual([])
        const executed = run(document, generatedCase.variables)
        check(generatedCase, document, executed, undefined) // the walk the plugin uses
        check(generatedCase, document, executed, { precise: 0 }) // the conservative fallback
        check(generatedCase, document, executed, { precise: 0, conservative: 0 }) // the coarse fallback
      }),
      REPLAY === undefined ? { seed: SEED, numRuns: RUNS } : { seed: SEED, path: REPLAY },
    )
    if (REPLAY !== undefined) return
    // The generator exercises what it claims to: protected fields run often, and variables drop some of them.
    expect(stats.operations).toBeGreaterThanOrEqual(RUNS)
    expect(stats.operationsWithProtected).toBeGreaterThan(RUNS / 4)
    expect(stats.excludedByVariables).toBeGreaterThan(RUNS / 20)
  }, 120_000) // about 10 s of CPU; the generous limit only keeps a loaded machine from failing it
})
