#!/usr/bin/env bash
# How late node loss is noticed: two qnetd on loopback (n1 dials n2), a client on n1
# REPLY-blocked on a server on n2, then `kill -9` of n2's daemon. Per run, prints when n1
# logged "node down" and when the client got its ESRCH, in seconds after the kill.
# The kill comes after n2's last packet, so both figures are at most what the bound measured
# from the last packet received allows: --link-timeout plus processing.
#
# Usage: scripts/link-timeout.sh [LINK_TIMEOUT (default 3s)] [RUNS (default 5)]
set -euo pipefail
cd "$(dirname "$0")/.."
LT=${1:-3s}
RUNS=${2:-5}
cargo build -q -p qnet-daemon --bin qnetd -p qnet-tools --bin qnet -p cluster-tests --bin qnet-probe
B=$(cargo metadata --format-version 1 --no-deps | sed -E 's/.*"target_directory":"([^"]+)".*/\1/')/debug
D=$(mktemp -d)
N1=""
cleanup() { [ -n "$N1" ] && kill "$N1" 2>/dev/null; jobs -p | xargs -r kill -9 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
"$B/qnet" cert init --dir "$D/c" >/dev/null
"$B/qnet" cert issue --dir "$D/c" --node n1 >/dev/null
"$B/qnet" cert issue --dir "$D/c" --node n2 >/dev/null
P2=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$B/qnetd" --node n1 --socket "$D/n1.sock" --listen 127.0.0.1:0 --certs "$D/c" \
  --peer "n2=127.0.0.1:$P2" --link-timeout "$LT" 2>"$D/n1.log" &
N1=$!
for i in $(seq "$RUNS"); do
  "$B/qnetd" --node n2 --socket "$D/n2.sock" --listen "127.0.0.1:$P2" --certs "$D/c" \
    --link-timeout "$LT" 2>"$D/n2.log" &
  N2=$!
  for _ in $(seq 300); do [ "$(grep -c 'node up' "$D/n1.log")" -ge "$i" ] && break; sleep 0.1; done
  QNET_SOCKET="$D/n2.sock" "$B/qnet-probe" serve >"$D/srv.out" 2>/dev/null &
  S=$!
  for _ in $(seq 100); do [ -s "$D/srv.out" ] && break; sleep 0.1; done
  read -r PID CHID < <(sed -E 's/pid=([0-9]+) chid=([0-9]+).*/\1 \2/' "$D/srv.out" | head -1)
  QNET_SOCKET="$D/n1.sock" "$B/qnet-probe" send "n2/$PID/$CHID" hold >"$D/cli.out" 2>&1 &
  C=$!
  for _ in $(seq 100); do grep -q held "$D/srv.out" && break; sleep 0.1; done
  sleep 1
  T0=$(date +%s.%N)
  kill -9 "$N2"
  wait "$C" || true
  T1=$(date +%s.%N)
  sleep 0.2
  TD=$(date -d "$(grep 'node down' "$D/n1.log" | tail -1 | cut -d' ' -f1)" +%s.%N)
  echo "link_timeout=$LT run=$i node_down_after_kill_s=$(echo "$TD - $T0" | bc) esrch_after_kill_s=$(echo "$T1 - $T0" | bc) $(grep -o 'errno=[A-Z]*' "$D/cli.out")"
  kill -9 "$S" 2>/dev/null || true
  wait "$N2" "$S" 2>/dev/null || true
  rm -f "$D/n2.sock" "$D/srv.out"
done
