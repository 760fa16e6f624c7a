# Sourced by the checks that need a running server (e2e/run.sh,
# api-check/run.sh): builds the linli binary, starts `linli demo` on a fresh
# database and a free port, waits for /healthz. Sets `base` (the server's
# URL) and `work` (its folder, with linli-demo.db.token); stops the server
# and removes the folder on exit.
cargo build -q -p linli --bin linli
bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/debug/linli"
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
stop_demo() {
  # Wait for the server to finish stopping (it writes a last audit
  # checkpoint into $work) before removing its folder.
  if [ -n "${server:-}" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_demo EXIT
(cd "$work" && exec "$bin" demo --people 2000 --listen "127.0.0.1:$port" >demo.log 2>&1) &
server=$!
for _ in $(seq 1 120); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  if ! kill -0 "$server" 2>/dev/null; then cat "$work/demo.log"; exit 1; fi
  sleep 0.5
done
