#!/usr/bin/env bash
# The API against its OpenAPI document with schemathesis (from PyPI, pinned
# in requirements.txt, in api-check/.venv): starts `linli demo` on a fresh
# database and a free port and sends generated requests to every
# operation as the district administrator. Fails on any server error
# (5xx), any status code or content type the document does not list, and
# any response that does not match its schema.
#
#   bash api-check/run.sh            CI size (about 30 examples an operation)
#   ST_EXAMPLES=500 bash api-check/run.sh   a larger run
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"

venv="$here/.venv"
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ ! -f "$venv/.requirements.sha" ] || [ "$(cat "$venv/.requirements.sha")" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" > "$venv/.requirements.sha"
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
token="$(cat "$work/linli-demo.db.token")"
base="http://127.0.0.1:$port"
# Signing out and changing the password would end the administrator's
# access half-way; both are covered by the integration tests.
"$venv/bin/st" run "$base/api/v1/openapi.json" \
  --url "$base/api/v1" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --exclude-path /logout --exclude-path /password \
  --max-examples "${ST_EXAMPLES:-30}" \
  --seed 1 \
  --no-color
curl -fs "$base/healthz" >/dev/null || { echo "the server stopped answering"; cat "$work/demo.log"; exit 1; }
