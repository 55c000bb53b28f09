/**
 * codegen.ts: GraphQL Code Generator, run programmatically with the committed configuration (nothing written), must
 * reproduce examples/graphql/generated/resolvers-types.ts byte for byte: the test fails when the schema or the config
 * changed and `npm run codegen` was not run.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { generate } from '@graphql-codegen/cli'
import { describe, expect, it } from 'vitest'
import config from '../../codegen.js'
import { ipRiskTypeDefs } from '../../src/envelop/directives.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const target = 'examples/graphql/generated/resolvers-types.ts'

describe('codegen.ts', () => {
  it('generates the committed resolver types (run `npm run codegen` after changing the schema)', async () => {
    const outputs = (await generate({ ...config, cwd: root, silent: true }, false)) as { filename: string; content: string }[]
    expect(outputs.map((o) => o.filename)).toEqual([target])
    const committed = readFileSync(new URL(`../../${target}`, import.meta.url), 'utf8')
    expect(outputs[0]?.content).toBe(committed)
  })

  it('takes the iprisk directives from ipRiskTypeDefs itself (one SDL text, no copy to keep in step)', () => {
    expect(config.schema).toEqual([ipRiskTypeDefs, 'examples/graphql/schema.graphql'])
  })

  it('types the context with ipRisk and knows the iprisk directives', () => {
    const committed = readFileSync(new URL(`../../${target}`, import.meta.url), 'utf8')
    expect(committed).toContain("import type { ExampleContext } from '../context.js';")
    expect(committed).toContain('export type Resolvers<ContextType = ExampleContext>')
    expect(committed).toContain('export type RequireLowRiskDirectiveArgs = {')
  })
})
