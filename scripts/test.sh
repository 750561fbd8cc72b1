#!/usr/bin/env bash
# The one test command (`npm test`): installs the system packages the integration tests need when they are
# missing (Debian/Ubuntu, as root or with sudo), then runs every check CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
# nginx (Debian's build has the auth_request module) for test/integration/nginx-auth.test.ts; /usr/sbin may be off PATH.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
# docker-compose (the Python one; no container engine needed) validates docker-compose.yml in the tests.
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    echo "installing missing system packages: ${need[*]}"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]}. Install them (Debian: apt-get install -y ${need[*]}) and rerun." >&2
    exit 1
  fi
fi
# Debian starts redis-server and nginx services on install; the tests start their own on free ports.

[ -d node_modules ] || npm install --no-audit --no-fund

echo "== generated code is up to date"
npm run --silent gen:check
echo "== typecheck"
npx tsc -p test/tsconfig.json
echo "== lint"
npx biome check .
echo "== build"
npx tsc -p tsconfig.json
# test/integration/idle-connections.test.ts holds 10,000 connections in the test process and in the service.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
echo "== tests"
CI="${CI:-1}" npx vitest run "$@"
