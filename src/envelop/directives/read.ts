/**
 * Reads the iprisk directives on the elements of one schema (object types, interfaces, fields) into compiled
 * policies. Uses `getDirectiveExtensions` from `@graphql-tools/utils`, which reads SDL directives (`astNode`,
 * `extensionASTNodes`) and code-first `extensions.directives` alike.
 *
 * @module
 */

import { getDirectiveExtensions } from '@graphql-tools/utils'
import type { GraphQLField, GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema } from 'graphql'
import { IpRiskConfigError } from '../../core/errors.js'
import { policies } from '../../core/policy.js'
import type { Policy } from '../../core/types.js'
import type { PolicyCompiler } from './protection.js'
import { ipRiskPolicyPresets } from './sdl.js'

/** A schema element that may carry iprisk directives. */
export type Directable = GraphQLObjectType | GraphQLInterfaceType | GraphQLField<unknown, unknown>

const DIRECTIVE_NAMES = ['requireLowRisk', 'requireHuman', 'requireNotBot', 'ipRisk'] as const
type DirectiveName = (typeof DIRECTIVE_NAMES)[number]

type DirectiveArgs = {
  requireLowRisk: { threshold?: unknown }
  requireHuman: Record<string, never>
  requireNotBot: Record<string, never>
  ipRisk: { policy?: unknown }
}

/** What a directive's argument, as written, was: for error messages. */
function shown(value: unknown): string {
  return JSON.stringify(value) ?? 'nothing'
}

/**
 * The directive reader of one schema read: compiles each use through the plugin's compiler, and each
 * `@requireLowRisk` threshold once (so equal thresholds share one policy object, which the analysis deduplicates).
 */
export class DirectiveReader {
  readonly #lowRisk = new Map<number, Readonly<Policy>>()
  readonly #schema: GraphQLSchema
  readonly #compile: PolicyCompiler

  constructor(schema: GraphQLSchema, compile: PolicyCompiler) {
    this.#schema = schema
    this.#compile = compile
  }

  /**
   * The policies of the iprisk directives on one element, in directive order.
   *
   * @throws {IpRiskConfigError} for an argument out of range or one graphql cannot coerce.
   */
  policiesOf(element: Directable, coordinate: string): Readonly<Policy>[] {
    let found: Partial<Record<DirectiveName, readonly unknown[]>>
    try {
      found = getDirectiveExtensions<DirectiveArgs>(element, this.#schema)
    } catch (error) {
      // An argument graphql cannot coerce (only possible in a schema built without validation).
      throw new IpRiskConfigError(`directives on ${coordinate}`, error instanceof Error ? error.message : String(error))
    }
    const out: Readonly<Policy>[] = []
    for (const name of DIRECTIVE_NAMES) {
      for (const args of found[name] ?? []) out.push(this.#policyOf(name, args, `@${name} on ${coordinate}`))
    }
    return out
  }

  #policyOf(name: DirectiveName, args: unknown, option: string): Readonly<Policy> {
    switch (name) {
      case 'requireLowRisk':
        return this.#lowRiskPolicy((args as DirectiveArgs['requireLowRisk']).threshold, option)
      case 'requireHuman':
        return this.#compile(policies.human, option)
      case 'requireNotBot':
        return this.#compile(policies.notBot, option)
      case 'ipRisk':
        return this.#compile(presetOf((args as DirectiveArgs['ipRisk']).policy, option), option)
    }
  }

  #lowRiskPolicy(threshold: unknown, option: string): Readonly<Policy> {
    if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 0 || threshold > 100) {
      throw new IpRiskConfigError(`${option} (threshold)`, `must be an integer from 0 to 100, got ${shown(threshold)}`)
    }
    let policy = this.#lowRisk.get(threshold)
    if (policy === undefined) {
      policy = this.#compile(policies.lowRisk(threshold), option)
      this.#lowRisk.set(threshold, policy)
    }
    return policy
  }
}

function presetOf(preset: unknown, option: string): Policy {
  if (typeof preset === 'string' && Object.hasOwn(ipRiskPolicyPresets, preset)) {
    return ipRiskPolicyPresets[preset as keyof typeof ipRiskPolicyPresets]
  }
  throw new IpRiskConfigError(
    `${option} (policy)`,
    `must be one of ${Object.keys(ipRiskPolicyPresets).join(', ')}, got ${shown(preset)}`,
  )
}
