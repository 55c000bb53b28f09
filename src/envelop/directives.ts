/**
 * The schema side of the GraphQL adapter: the directive SDL, and the protection map read ONCE per schema from the
 * directives (`@requireLowRisk`, `@requireHuman`, `@requireNotBot`, `@ipRisk`) and from the code-first
 * `fieldPolicies` option. Nothing here runs per request.
 *
 * Modules, one concern each (this file is the front: the names the plugin, the entry point and the tests import):
 * - `./directives/sdl.ts`: {@link ipRiskTypeDefs} (the one SDL text) and the `IpRiskPolicy` presets;
 * - `./directives/compiler.ts`: the plugin's policy compiler (overrides applied, each policy compiled once);
 * - `./directives/read.ts`: the iprisk directives on one schema element, as compiled policies;
 * - `./directives/protection.ts`: the protection map of a schema (directives and `fieldPolicies`, folded onto
 *   object types).
 *
 * @module
 */

export {
  ipRiskTypeDefs,
  ipRiskPolicyPresets,
  requireLowRiskDirectiveTypeDefs,
  requireHumanDirectiveTypeDefs,
  requireNotBotDirectiveTypeDefs,
  ipRiskDirectiveTypeDefs,
} from './directives/sdl.js'
export { readSchemaProtection, type FieldPolicies, type SchemaProtection } from './directives/protection.js'
