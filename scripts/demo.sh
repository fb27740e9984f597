#!/usr/bin/env bash
# Starts qnetd on a private socket and runs the course's programs against it, printing what
# each one says. No configuration needed. Pass --keep to leave the daemon running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

keep=0
[ "${1:-}" = "--keep" ] && keep=1

echo "== building qnetd and the examples (release)"
cargo build --release -q -p qnet-daemon -p qnet --examples --bins
bin=target/release
ex=target/release/examples

dir=$(mktemp -d /tmp/qnet-demo.XXXXXX)
export QNET_SOCKET="$dir/qnetd.sock"
"$bin/qnetd" --socket "$QNET_SOCKET" >"$dir/qnetd.log" 2>&1 &
daemon=$!
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "$keep" = 0 ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; rm -rf "$dir"; fi
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$QNET_SOCKET" ] && break; sleep 0.05; done
echo "== qnetd (pid $daemon) listening on $QNET_SOCKET"

# Start a server in the background; its first stdout line goes to a file we wait on.
start_server() { # name out args...
  local name=$1 out=$2; shift 2
  "$ex/$name" "$@" >"$out" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do [ -s "$out" ] && break; sleep 0.05; done
}

echo
echo "== 1. send / receive / reply: checksum_server and checksum_client"
start_server checksum_server "$dir/cs.out"
read -r first <"$dir/cs.out"; echo "server: $first"
pid=$(sed -n 's/^pid=\([0-9]*\) chid=.*/\1/p' "$dir/cs.out" | head -1)
chid=$(sed -n 's/^pid=[0-9]* chid=\([0-9]*\).*/\1/p' "$dir/cs.out" | head -1)
echo "client: $("$ex/checksum_client" "$pid" "$chid" "hello qnet")"

echo
echo "== 2. names: name_server demo-name and name_client"
start_server name_server "$dir/ns.out" demo-name
echo "client: $("$ex/name_client" demo-name "abc")"

echo
echo "== 3. pulses: pulse_server and pulse_client"
start_server pulse_server "$dir/ps.out"
pid=$(sed -n 's/^pid=\([0-9]*\) chid=.*/\1/p' "$dir/ps.out" | head -1)
chid=$(sed -n 's/^pid=[0-9]* chid=\([0-9]*\).*/\1/p' "$dir/ps.out" | head -1)
"$ex/pulse_client" "$pid" "$chid" 5 42
for _ in $(seq 100); do grep -q '^pulse' "$dir/ps.out" && break; sleep 0.05; done
echo "server: $(grep '^pulse' "$dir/ps.out" | head -1)"

echo
echo "== 4. multi-part messages: iov_server and iov_client (header + MsgRead of the body)"
start_server iov_server "$dir/iov.out" demo-iov
echo "client: $("$ex/iov_client" "a longer body that the server reads with MsgRead" demo-iov)"
echo "server: $(grep '^got' "$dir/iov.out" | head -1)"

echo
echo "== 5. events: event_server delivers a registered pulse event every second"
start_server event_server "$dir/ev.out" demo-events
"$ex/event_client" 2 demo-events | sed 's/^/client: /'

echo
echo "== 6. shared memory by handle: shmem_server and shmem_client"
start_server shmem_server "$dir/shm.out" demo-shm
"$ex/shmem_client" demo-shm | sed 's/^/client: /'

echo
echo "== daemon log (last lines)"
tail -n 5 "$dir/qnetd.log" || true
if [ "$keep" = 1 ]; then
  echo
  echo "qnetd keeps running (pid $daemon). Use it with: export QNET_SOCKET=$QNET_SOCKET"
fi
echo
echo "demo finished"
