#!/usr/bin/env bash
# End-to-end test of the pages in headless Chromium (Debian's package,
# driven by playwright-core from npm): starts `linli demo` on a fresh
# database and a free port, runs loop.mjs against it, stops it.
# Screenshots land in e2e/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium (and a CJK font for readable screenshots)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
fi
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

source ../scripts/demo-server.sh
rm -rf artifacts
node loop.mjs "$base"
