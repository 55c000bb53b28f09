import { defineConfig } from 'vitest/config'

export default defineConfig({
  // graphql 16 ships CJS (`main`) and ESM (`module`) builds. Node (and the libraries vitest leaves external: Yoga,
  // Envelop, graphql-tools) load the CJS one; without this alias vite would give transformed files the ESM one, and
  // graphql refuses objects from "another module or realm". Production code is unaffected (Node resolves one build).
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts'],
    // Suites start real servers (simulator, Redis clients); keep them bounded.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
  },
})
