#!/usr/bin/env bash
# CI step of issue #18 (called by .ci/run after `npm run build`): the bundle check of scripts/bundle-check.mjs on
# dist/ through the package's `exports`: esbuild for node, edge-light and workerd, then wrangler's own bundle of a
# worker importing iprisk, iprisk/trpc and iprisk/envelop, with and without nodejs_compat; @keyv/redis not installed.
# wrangler comes from the npm registry at a pinned version, installed once into a cache dir outside the clone (the
# same dir and package set as scripts/ci-runtimes.sh, so the two steps share one install). Prints what it cost.
set -euo pipefail
cd "$(dirname "$0")/.."

WRANGLER_VERSION=4.164.0 EDGE_RUNTIME_VERSION=4.0.1
cache="${XDG_CACHE_HOME:-$HOME/.cache}/iprisk-ci"
tools_home="$cache/matrix-wrangler$WRANGLER_VERSION-edge$EDGE_RUNTIME_VERSION"

t0=$(date +%s)
if ! (cd "$tools_home" 2>/dev/null && node_modules/.bin/wrangler --version && node_modules/.bin/workerd --version &&
  test -f node_modules/edge-runtime/package.json) >/dev/null 2>&1; then
  rm -rf "$tools_home" && mkdir -p "$tools_home"
  npm install --no-save --no-audit --no-fund --no-package-lock --prefix "$tools_home" \
    "wrangler@$WRANGLER_VERSION" "edge-runtime@$EDGE_RUNTIME_VERSION" >"$tools_home.install.log" 2>&1 ||
    { cat "$tools_home.install.log" >&2; exit 1; }
fi
t1=$(date +%s)
echo "wrangler $("$tools_home/node_modules/.bin/wrangler" --version 2>/dev/null | tail -1) (installed or found in $((t1 - t0)) s)"

node scripts/bundle-check.mjs --wrangler "$tools_home/node_modules/.bin/wrangler"
t2=$(date +%s)
echo "bundle check cost: install $((t1 - t0)) s, bundles $((t2 - t1)) s"
