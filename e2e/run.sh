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

cargo build -q -p linli --bin linli
bin="$(cd .. && pwd)/target/debug/linli"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
(cd "$work" && exec "$bin" demo --people 2000 --listen "127.0.0.1:$port" >demo.log 2>&1) &
server=$!
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$server" 2>/dev/null; then cat "$work/demo.log"; exit 1; fi
  sleep 0.5
done
rm -rf artifacts
node loop.mjs "http://127.0.0.1:$port"
