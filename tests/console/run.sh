#!/usr/bin/env bash
# run.sh <path-to-ablo>: the web console's browser tests in Debian's headless Chromium
# (/usr/bin/chromium, or $CHROMIUM), driven by puppeteer-core (pinned in package-lock.json).
# Installs node_modules on first use (npm ci: needs the npm registry once).
# ABLO_CONSOLE_SCREENSHOTS=1 also writes docs/console-{models,live,claims}.png.
set -euo pipefail
usage="usage: tests/console/run.sh <path-to-ablo>"
ablo=$(realpath "${1:?$usage}")
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "tests/console: node and npm are needed (scripts/install-deps.sh installs them)" >&2
  exit 1
fi
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "tests/console: Chromium is needed at $chromium (scripts/install-deps.sh installs Debian's chromium)" >&2
  exit 1
fi
source "$here/../support/npm_ci_once.sh"
npm_ci_once "$here" tests/console puppeteer-core
echo "== tests/console/console_test.mjs"
CHROMIUM="$chromium" node "$here/console_test.mjs" "$ablo"
