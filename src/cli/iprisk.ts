#!/usr/bin/env node
// The `iprisk` executable (package.json `bin`): `npx iprisk simulate`. Everything else is in main.ts.
import { main } from './main.js'

await main(process.argv.slice(2))
