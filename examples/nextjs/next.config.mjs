import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

// This folder is the project root (the repository around it has its own lockfile; without this Next.js would guess
// the repository root and trace files from there).
const root = dirname(fileURLToPath(import.meta.url))

/** @type {import('next').NextConfig} */
const config = {
  turbopack: { root },
  outputFileTracingRoot: root,
}

export default config
