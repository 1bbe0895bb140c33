#!/usr/bin/env bash
# run.sh <path-to-ablo> [bridge|sdk|all]: the MCP tests with the official TypeScript SDK
# (@modelcontextprotocol/sdk, pinned in package-lock.json). `bridge`: `ablo mcp` against the
# SDK's reference server; `sdk`: the real `ablo serve` over Streamable HTTP and through the
# bridge. Installs node_modules on first use (npm ci: needs the npm registry once).
set -euo pipefail
usage="usage: tests/mcp/run.sh <path-to-ablo> [bridge|sdk|all]"
ablo=$(realpath "${1:?$usage}")
which_tests=${2:-all}
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "tests/mcp: node and npm are needed (scripts/install-deps.sh installs them)" >&2
  exit 1
fi
source "$here/../support/npm_ci_once.sh"
npm_ci_once "$here" tests/mcp @modelcontextprotocol/sdk ws

case "$which_tests" in
  bridge) files=(bridge_test.mjs) ;;
  sdk) files=(mcp_sdk_test.mjs) ;;
  all) files=(bridge_test.mjs mcp_sdk_test.mjs) ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
status=0
for file in "${files[@]}"; do
  echo "== tests/mcp/$file"
  ABLO_BIN="$ablo" node "$here/$file" "$ablo" || status=1
done
exit $status
