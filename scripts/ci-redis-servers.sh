#!/usr/bin/env bash
# The real servers the topology tests start (test/support/redis-servers.ts): redis-server (Cluster via
# --cluster-enabled, Sentinel via --sentinel), redis-cli (cluster create), and Valkey.
#
# Valkey is not in Debian bookworm's main archive; it is in bookworm-backports (valkey-tools 8.0.x). Its .deb is
# fetched with `apt-get download` from a backports source list given to this command only (the machine's apt sources
# are not changed) and unpacked into a cache dir outside the clone: installing the package would run its maintainer
# scripts, which start a system valkey-server on port 6379, where the shared test Redis already listens. Debian ships
# the server as one binary (valkey-check-rdb) that acts as valkey-server when called by that name: a symlink does it.
# The tests find it there (or through IPRISK_VALKEY_SERVER, or valkey-server on PATH).
set -euo pipefail

ci_apt_updated=0
ci_apt_install() {
  if [ "$ci_apt_updated" = 0 ]; then apt-get update -qq; ci_apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v redis-server >/dev/null 2>&1 || ci_apt_install redis-server
command -v redis-cli >/dev/null 2>&1 || ci_apt_install redis-tools
echo "$(redis-server --version | cut -d' ' -f1-3), $(redis-cli --version)"

VALKEY_VERSION=8.0.1+dfsg1-1~bpo12+1
valkey_home="${XDG_CACHE_HOME:-$HOME/.cache}/iprisk-ci/valkey-${VALKEY_VERSION//[^0-9A-Za-z.]/_}"
if ! "$valkey_home/usr/bin/valkey-server" --version >/dev/null 2>&1; then
  . /etc/os-release
  [ "${VERSION_CODENAME:-}" = bookworm ] || { echo "Valkey: this script knows bookworm-backports only (got ${VERSION_CODENAME:-unknown})" >&2; exit 1; }
  # valkey-tools' own run-time libraries, from the machine's ordinary sources.
  ci_apt_install libjemalloc2 liblzf1 libssl3 libsystemd0 libatomic1
  work=$(mktemp -d)
  echo 'deb http://deb.debian.org/debian bookworm-backports main' >"$work/backports.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$work/backports.list" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0)
  apt-get update -qq "${apt_opts[@]}"
  (cd "$work" && apt-get download -qq "${apt_opts[@]}" "valkey-tools=$VALKEY_VERSION" 2>&1 | grep -v 'unsandboxed' || true)
  # apt-get update with the backports list alone dropped nothing (List-Cleanup=0); refresh the ordinary lists anyway.
  apt-get update -qq
  rm -rf "$valkey_home" && mkdir -p "$valkey_home"
  dpkg-deb -x "$work"/valkey-tools_*.deb "$valkey_home"
  ln -sf valkey-check-rdb "$valkey_home/usr/bin/valkey-server"
  rm -rf "$work"
fi
"$valkey_home/usr/bin/valkey-server" --version | cut -d' ' -f1-3
