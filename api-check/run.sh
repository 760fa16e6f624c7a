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

source ../scripts/demo-server.sh
token="$(cat "$work/linli-demo.db.token")"
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
