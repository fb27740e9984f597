#!/usr/bin/env bash
# Two qnet nodes on this machine, one command: builds (release), makes a cluster CA and node
# certificates in a temp dir with `qnet cert`, starts qnetd n1 and n2 on 127.0.0.1 (each on its
# own UDP port and Unix socket, linked over QUIC with mutual TLS), runs checksum_server and
# name_server on n2 and their clients on n1 (`n2/<pid>/<chid>`, `n2/<name>`), prints what
# each says, and stops everything on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building qnetd, qnet and the examples (release)"
cargo build --release -q -p qnet-daemon -p qnet-tools -p qnet --examples --bins
bin=target/release
ex=target/release/examples

dir=$(mktemp -d /tmp/qnet-cluster.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

# Wait (bounded) until FILE has a line matching PATTERN; print that line.
wait_line() { # file pattern what
  for _ in $(seq 400); do
    if grep -q -- "$2" "$1" 2>/dev/null; then grep -m1 -- "$2" "$1"; return 0; fi
    sleep 0.05
  done
  echo "timed out waiting for $3; log:" >&2; cat "$1" >&2; exit 1
}

echo "== certificates in $dir/certs"
"$bin/qnet" cert init --dir "$dir/certs"
"$bin/qnet" cert issue --dir "$dir/certs" --node n1
"$bin/qnet" cert issue --dir "$dir/certs" --node n2

echo "== qnetd n2 (accepts) and n1 (dials n2)"
"$bin/qnetd" --node n2 --socket "$dir/n2.sock" --listen 127.0.0.1:0 --certs "$dir/certs" \
  >"$dir/n2.log" 2>&1 &
pids+=($!)
n2_addr=$(wait_line "$dir/n2.log" "qnetd listening" "qnetd n2" | sed -n 's/.*listen=\([^ ]*\).*/\1/p')
"$bin/qnetd" --node n1 --socket "$dir/n1.sock" --listen 127.0.0.1:0 --certs "$dir/certs" \
  --peer "n2=$n2_addr" >"$dir/n1.log" 2>&1 &
pids+=($!)
wait_line "$dir/n1.log" "node up.*peer=n2" "n1 to see n2" >/dev/null
wait_line "$dir/n2.log" "node up.*peer=n1" "n2 to see n1" >/dev/null
echo "n2 listens on $n2_addr; n1 and n2 see each other"

echo
echo "== checksum_server on n2, checksum_client on n1 with n2/<pid>/<chid>"
QNET_SOCKET="$dir/n2.sock" "$ex/checksum_server" >"$dir/cs.out" 2>&1 &
pids+=($!)
first=$(wait_line "$dir/cs.out" "^pid=" "checksum_server")
echo "server on n2: $first"
pid=$(echo "$first" | sed -n 's/^pid=\([0-9]*\) chid=.*/\1/p')
chid=$(echo "$first" | sed -n 's/^pid=[0-9]* chid=\([0-9]*\).*/\1/p')
echo "\$ QNET_SOCKET=n1.sock checksum_client n2/$pid/$chid 'hello from n1'"
QNET_SOCKET="$dir/n1.sock" "$ex/checksum_client" "n2/$pid/$chid" "hello from n1"

echo
echo "== name_server demo on n2, name_client on n1 with n2/demo"
QNET_SOCKET="$dir/n2.sock" "$ex/name_server" demo >"$dir/ns.out" 2>&1 &
pids+=($!)
echo "server on n2: $(wait_line "$dir/ns.out" "^attached" "name_server")"
echo "\$ QNET_SOCKET=n1.sock name_client n2/demo 'abc'"
QNET_SOCKET="$dir/n1.sock" "$ex/name_client" n2/demo abc

echo
echo "== a node nobody knows"
echo "\$ QNET_SOCKET=n1.sock name_client n9/demo 'abc'"
QNET_SOCKET="$dir/n1.sock" "$ex/name_client" n9/demo abc 2>&1 || true

echo
echo "== done; stopping the servers and both daemons"
