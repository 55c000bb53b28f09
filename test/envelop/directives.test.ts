/**
 * The schema side: the directive SDL constants, and the protection read once per schema from directives (fields,
 * object types, interfaces; SDL and code-first `extensions.directives`) and from `fieldPolicies`.
 */
import { buildSchema, GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql'
import { describe, expect, it } from 'vitest'
import { IpRiskConfigError } from '../../src/core/errors.js'
import { compilePolicy, policies } from '../../src/core/policy.js'
import type { Policy, RiskResolver } from '../../src/core/types.js'
import { RequestKernel } from '../../src/core/kernel.js'
import {
  ipRiskDirectiveTypeDefs,
  ipRiskPolicyPresets,
  ipRiskTypeDefs,
  readSchemaProtection,
  requireHumanDirectiveTypeDefs,
  requireLowRiskDirectiveTypeDefs,
  requireNotBotDirectiveTypeDefs,
  type FieldPolicies,
} from '../../src/envelop/directives.js'
import * as entry from '../../src/envelop/index.js'
import { testTypeDefs } from './helpers.js'

/** The plugin's compiler (the request kernel's `compile`) over a stand-in resolver whose `compile` is the core's. */
const resolverStub = { compile: (p: Policy) => compilePolicy(p) } as unknown as RiskResolver
type Overrides = { monitor: boolean; failMode: 'open' | 'closed' | undefined }
const compilerOf = (resolver: RiskResolver, overrides: Overrides) => {
  const kernel = new RequestKernel(resolver, overrides)
  return (policy: Policy, option: string) => kernel.compile(policy, option)
}
const compile = compilerOf(resolverStub, { monitor: false, failMode: undefined })
const protectionOf = (sdl: string, fieldPolicies?: FieldPolicies) =>
  readSchemaProtection(buildSchema(`${ipRiskTypeDefs}\n${sdl}`), compile, fieldPolicies)
/** `Type.field` -> policy names, for every protected field. */
function table(sdl: string, fieldPolicies?: FieldPolicies): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const [type, fields] of protectionOf(sdl, fieldPolicies).fields) {
    for (const [field, list] of fields) out[`${type}.${field}`] = list.map((p) => p.name ?? '?')
  }
  return out
}

describe('directive SDL', () => {
  it('declares @requireLowRisk exactly as documented', () => {
    expect(requireLowRiskDirectiveTypeDefs).toBe(
      'directive @requireLowRisk(threshold: Int!) on FIELD_DEFINITION | OBJECT | INTERFACE',
    )
    expect(requireHumanDirectiveTypeDefs).toBe('directive @requireHuman on FIELD_DEFINITION | OBJECT | INTERFACE')
    expect(requireNotBotDirectiveTypeDefs).toBe('directive @requireNotBot on FIELD_DEFINITION | OBJECT | INTERFACE')
    expect(ipRiskDirectiveTypeDefs).toContain('directive @ipRisk(policy: IpRiskPolicy!) on FIELD_DEFINITION | OBJECT | INTERFACE')
  })

  it('ipRiskTypeDefs contains every directive and builds a schema on its own', () => {
    for (const sdl of [requireLowRiskDirectiveTypeDefs, requireHumanDirectiveTypeDefs, requireNotBotDirectiveTypeDefs]) {
      expect(ipRiskTypeDefs).toContain(sdl)
    }
    const schema = buildSchema(`${ipRiskTypeDefs}\ntype Query { a: Int }`)
    expect(schema.getDirective('requireLowRisk')?.args.map((a) => `${a.name}: ${String(a.type)}`)).toEqual(['threshold: Int!'])
    expect(schema.getDirective('ipRisk')?.locations).toEqual(['FIELD_DEFINITION', 'OBJECT', 'INTERFACE'])
    expect(Object.keys(ipRiskPolicyPresets)).toEqual(['BASELINE', 'HUMAN', 'NOT_BOT', 'ADMIN'])
  })

  it('the entry point exports the SDL constants, the plugin and the helpers', () => {
    expect(Object.keys(entry).sort()).toEqual(
      [
        'IP_RISK_BLOCKED',
        'ipRiskDirectiveTypeDefs',
        'ipRiskPolicyPresets',
        'ipRiskTypeDefs',
        'requireHumanDirectiveTypeDefs',
        'requireLowRiskDirectiveTypeDefs',
        'requireNotBotDirectiveTypeDefs',
        'useIpRisk',
        'waitForIpRisk',
      ].sort(),
    )
  })
})

describe('reading the schema: which policies guard which field', () => {
  it('maps every directive on fields, object types and interfaces onto the object fields they guard', () => {
    expect(table(testTypeDefs)).toEqual({
      'Query.human': ['human'],
      'Query.lowRisk50': ['lowRisk(50)'],
      'Query.lowRisk75': ['lowRisk(75)'],
      'Query.notBot': ['notBot'],
      'Query.adminPreset': ['admin'],
      'Mutation.signup': ['human'],
      'Mutation.login': ['lowRisk(75)'],
      'Subscription.ticks': ['human'],
      // Account @requireLowRisk(threshold: 50) is an interface: it guards every field of User.
      'User.id': ['lowRisk(50)'],
      'User.email': ['lowRisk(50)'],
      'User.name': ['lowRisk(50)'],
      'Post.secret': ['human'],
      // AdminQuery @requireLowRisk(threshold: 40): every field.
      'AdminQuery.users': ['lowRisk(40)'],
      'AdminQuery.count': ['lowRisk(40)'],
    })
  })

  it.each([
    ['@ipRisk(policy: BASELINE)', 'baseline'],
    ['@ipRisk(policy: HUMAN)', 'human'],
    ['@ipRisk(policy: NOT_BOT)', 'notBot'],
    ['@ipRisk(policy: ADMIN)', 'admin'],
    ['@requireHuman', 'human'],
    ['@requireNotBot', 'notBot'],
    ['@requireLowRisk(threshold: 0)', 'lowRisk(0)'],
    ['@requireLowRisk(threshold: 100)', 'lowRisk(100)'],
  ])('%s applies the %s preset', (directive, name) => {
    expect(table(`type Query { a: Int ${directive} }`)).toEqual({ 'Query.a': [name] })
  })

  it('keeps every policy of a field (own, type, interfaces), without duplicates, sharing compiled policies', () => {
    const sdl = `
      interface I @requireHuman { a: Int @requireLowRisk(threshold: 70) }
      interface J @requireHuman { b: Int }
      type T implements I & J @requireLowRisk(threshold: 70) { a: Int @requireNotBot b: Int c: Int }
      type Query { t: T x: Int @requireLowRisk(threshold: 70) }
    `
    expect(table(sdl)).toEqual({
      'T.a': ['notBot', 'lowRisk(70)', 'human'],
      'T.b': ['lowRisk(70)', 'human'],
      'T.c': ['lowRisk(70)', 'human'],
      'Query.x': ['lowRisk(70)'],
    })
    const fields = protectionOf(sdl).fields
    // One compiled policy per distinct directive use: the same object everywhere (decided once per request).
    expect(fields.get('T')?.get('c')?.[0]).toBe(fields.get('Query')?.get('x')?.[0])
  })

  it('reads directives from type extensions', () => {
    expect(table('type Query { a: Int } extend type Query @requireHuman')).toEqual({ 'Query.a': ['human'] })
  })

  it('reads code-first directives from `extensions.directives` (graphql-tools convention)', () => {
    const Admin = new GraphQLObjectType({
      name: 'Admin',
      extensions: { directives: { requireLowRisk: [{ threshold: 60 }] } },
      fields: { users: { type: GraphQLInt } },
    })
    const schema = new GraphQLSchema({
      query: new GraphQLObjectType({
        name: 'Query',
        fields: {
          admin: { type: Admin },
          signup: { type: GraphQLString, extensions: { directives: { requireHuman: {} } } },
        },
      }),
    })
    const fields = readSchemaProtection(schema, compile, undefined).fields
    expect(fields.get('Admin')?.get('users')?.map((p) => p.name)).toEqual(['lowRisk(60)'])
    expect(fields.get('Query')?.get('signup')?.map((p) => p.name)).toEqual(['human'])
    expect(fields.get('Query')?.get('admin')).toBeUndefined()
  })

  it('reports `any: false` for a schema without protection', () => {
    expect(protectionOf('type Query { a: Int }').any).toBe(false)
    expect(protectionOf('type Query { a: Int @requireHuman }').any).toBe(true)
  })

  it.each([
    ['@requireLowRisk(threshold: 101)', '@requireLowRisk on Query.a (threshold)'],
    ['@requireLowRisk(threshold: -1)', '@requireLowRisk on Query.a (threshold)'],
  ])('rejects %s at start-up, naming the field', (directive, option) => {
    const run = () => protectionOf(`type Query { a: Int ${directive} }`)
    expect(run).toThrow(IpRiskConfigError)
    expect(run).toThrow(expect.objectContaining({ option }))
  })

  it('rejects a directive argument graphql cannot coerce (schema built without validation)', () => {
    const schema = buildSchema(`${ipRiskTypeDefs}\ntype Query { a: Int @ipRisk(policy: NOPE) }`, { assumeValidSDL: true })
    expect(() => readSchemaProtection(schema, compile, undefined)).toThrow(
      expect.objectContaining({ name: 'IpRiskConfigError', option: 'directives on Query.a' }),
    )
  })

  it('rejects an @ipRisk preset missing from the enum (a schema declaring its own IpRiskPolicy)', () => {
    const sdl = `${ipRiskTypeDefs.replace('  ADMIN\n}', '  ADMIN\n  STRICT\n}')}\ntype Query { a: Int @ipRisk(policy: STRICT) }`
    expect(() => readSchemaProtection(buildSchema(sdl), compile, undefined)).toThrow(
      expect.objectContaining({ name: 'IpRiskConfigError', option: '@ipRisk on Query.a (policy)' }),
    )
  })
})

describe('policy compilation', () => {
  it('compiles each distinct policy once and keeps presets as they are', () => {
    let calls = 0
    const counting = compilerOf(
      { compile: (p: Policy) => (calls++, compilePolicy(p)) } as unknown as RiskResolver,
      { monitor: false, failMode: undefined },
    )
    expect(counting(policies.human, 'a')).toBe(policies.human)
    expect(counting(policies.human, 'b')).toBe(policies.human)
    expect(calls).toBe(1)
  })

  it.each([
    [{ monitor: true, failMode: undefined }, { name: 'human', threshold: 80, blockTor: true, monitor: true }],
    [{ monitor: false, failMode: 'closed' }, { name: 'human', threshold: 80, blockTor: true, failMode: 'closed' }],
    [{ monitor: false, failMode: 'open' }, { name: 'human', threshold: 80, blockTor: true, failMode: 'open' }],
  ] as const)('applies the plugin-wide overrides %j', (overrides, expected) => {
    const compiled = compilerOf(resolverStub, overrides)(policies.human, 'policy')
    expect(compiled).toEqual(expected)
    expect(Object.isFrozen(compiled)).toBe(true)
  })

  it("keeps a policy's own onUnavailable over the plugin's failMode", () => {
    const compiled = compilerOf(resolverStub, { monitor: false, failMode: 'closed' })(
      { threshold: 50, onUnavailable: 'allow' },
      'policy',
    )
    expect(compiled.onUnavailable).toBe('allow')
  })
})

describe('fieldPolicies (code-first)', () => {
  const sdl = 'type Query { a: Int b: Int node: Node } interface Node { id: ID } type X implements Node { id: ID y: Int } union U = X'

  it('guards a field, a whole object type, or every implementation of an interface', () => {
    expect(
      table(sdl, {
        'Query.a': policies.human,
        Node: policies.admin,
        'X.y': { name: 'custom', threshold: 33 },
      }),
    ).toEqual({
      'Query.a': ['human'],
      'X.id': ['admin'],
      'X.y': ['custom', 'admin'],
    })
    expect(table(sdl, { Query: policies.notBot })).toEqual({
      'Query.a': ['notBot'],
      'Query.b': ['notBot'],
      'Query.node': ['notBot'],
    })
  })

  it('adds to the directives of the same field', () => {
    expect(table('type Query { a: Int @requireHuman }', { 'Query.a': policies.admin })).toEqual({
      'Query.a': ['human', 'admin'],
    })
  })

  it.each([
    ['an unknown type', { Nope: policies.human }, 'fieldPolicies.Nope', 'the schema has no type `Nope`'],
    ['an unknown field', { 'Query.nope': policies.human }, 'fieldPolicies.Query.nope', 'the type `Query` has no field `nope`'],
    ['a union', { U: policies.human }, 'fieldPolicies.U', '`U` is not an object or interface type'],
    ['a scalar', { Int: policies.human }, 'fieldPolicies.Int', '`Int` is not an object or interface type'],
    ['an introspection type', { __Type: policies.human }, 'fieldPolicies.__Type', 'the schema has no type `__Type`'],
    ['a malformed coordinate', { 'Query.a.b': policies.human }, 'fieldPolicies.Query.a.b', 'must be a schema coordinate'],
    ['an invalid policy', { 'Query.a': { threshold: 150 } }, 'fieldPolicies.Query.a.threshold', 'from 0 to 100'],
    ['a typo in a policy', { 'Query.a': { treshold: 50 } as Policy }, 'fieldPolicies.Query.a.treshold', 'unknown policy field'],
    ['a policy that is not an object', { 'Query.a': 42 as unknown as Policy }, 'fieldPolicies.Query.a', 'must be a policy object'],
  ])('rejects %s with IpRiskConfigError', (_name, fieldPolicies, option, message) => {
    let error: unknown
    try {
      protectionOf(sdl, fieldPolicies as FieldPolicies)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(IpRiskConfigError)
    expect((error as IpRiskConfigError).option).toBe(option)
    expect((error as IpRiskConfigError).message).toContain(message)
  })
})
