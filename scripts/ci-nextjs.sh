#!/usr/bin/env bash
# Issue #18: the Next.js example (examples/nextjs), a production build of it against the packed package, served by
# `next start` behind a Vercel-edge stand-in, checked over HTTP on the tRPC and Yoga routes of the Node and the Edge
# runtime (scripts/nextjs-check.mjs says what and why). Runs after `npm run build`. The example's dependencies (Next.js,
# React, tRPC, Yoga, pinned in examples/nextjs/package-lock.json) are installed once into
# ~/.cache/iprisk-ci/nextjs-<key>/, outside the clone; root `npm ci` is unchanged.
# Cost on the shared 2-core machine (measured): 2-2.5 min cold (npm ci 50-100 s, next build 45-70 s), 75-90 s warm
# (install 6-9 s, next build 55-70 s, both next start runs and every HTTP check about 10 s).
set -euo pipefail
cd "$(dirname "$0")/.."
printf '\n== %s\n' "Next.js example: next build + next start, tRPC and Yoga on the Node and Edge runtimes (scripts/nextjs-check.mjs)"
exec node scripts/nextjs-check.mjs "$@"
