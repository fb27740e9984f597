#!/usr/bin/env bash
# The docker-compose cluster test: three hosts (containers n1, n2, n3), one qnetd each, the
# course's programs run inside them, a node killed and a network cut.
#
# Usage: cluster-tests/docker/run.sh [--no-build] [--keep-image] [--keep-logs] [SCENARIO...]
#   --no-build    use the static binaries already in target/docker (skip cargo)
#   --keep-image  leave the image qnet-cluster:test behind (containers/networks always go)
#   --keep-logs   keep the log directory even when every scenario passed
#   SCENARIO      run only these (names as printed: local, links, seeds, remote, unblock,
#                 node_loss, partition, new_ip, wrong_ca, mdns); default: all, in that order
#
# Builds static binaries (target/docker), an image FROM scratch, certificates with
# `qnet cert` in a temporary directory, starts the compose project `qnet-cluster`, runs every
# scenario (each prints `PASS <name>` or `FAIL <name>: <reason>`), prints `N passed, M failed`
# and tears everything down on exit, also on failure and Ctrl-C. Exit status: 0 only if every
# scenario passed.
#
# Needs: a Docker engine (`docker info`), docker-compose (v1) or `docker compose` (v2), cargo.
# No registry: the image has no base; nothing is pulled.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PROJECT=qnet-cluster
NET="${PROJECT}_qnet" # the compose network (docker-compose.yml: qnet)
IMAGE="${QNET_IMAGE:-qnet-cluster:test}"
TARGET_TRIPLE=x86_64-unknown-linux-gnu
TARGET_DIR="${QNET_DOCKER_TARGET_DIR:-$ROOT/target/docker}"
BIN_DIR="$TARGET_DIR/$TARGET_TRIPLE/release"
NODES=(n1 n2 n3)
# Started by scenarios (compose profile "extra"): m1 and m2 (mDNS only), evil (another CA),
# hold (takes an address).
EXTRA=(m1 m2 evil hold)
# Link-loss bound given to every qnetd (--link-timeout, seconds) and the bound a released
# client must meet: the link timeout plus generous slack for a loaded 2-core machine.
LINK_TIMEOUT="${QNET_LINK_TIMEOUT:-3}"
RELEASE_BOUND=$((LINK_TIMEOUT + 12))
# Hang guards only (seconds): no assertion depends on them being tight.
T_CALL=30   # one client program run
T_WAIT=60   # waiting for a line, a process exit, a node start

BUILD=1
KEEP_IMAGE=0
KEEP_LOGS=0
ONLY=()
for arg in "$@"; do
    case "$arg" in
    --no-build) BUILD=0 ;;
    --keep-image) KEEP_IMAGE=1 ;;
    --keep-logs) KEEP_LOGS=1 ;;
    -h | --help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "run.sh: unknown option $arg" >&2
        exit 2
        ;;
    *) ONLY+=("$arg") ;;
    esac
done

T_START=$(date +%s)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/qnet-cluster.XXXXXX")"
LOGS="$WORK/logs"
CERTS="$WORK/certs"
mkdir -p "$LOGS" "$CERTS"
chmod 700 "$WORK"

log() { echo "== $*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- compose and teardown

if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
else
    echo "run.sh: neither 'docker compose' nor docker-compose is installed" >&2
    exit 2
fi
COMPOSE_FILES=(-f "$HERE/docker-compose.yml")
compose() {
    QNET_IMAGE="$IMAGE" QNET_CERTS="$CERTS" QNET_LINK_TIMEOUT="$LINK_TIMEOUT" \
        "${COMPOSE[@]}" -p "$PROJECT" "${COMPOSE_FILES[@]}" "$@"
}

BG_PIDS=()
SUMMARY=""
STARTED=0
FAILED_ANY=0
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    if [ "$STARTED" = 1 ]; then
        for n in "${NODES[@]}" "${EXTRA[@]}"; do
            [ -n "$(cid "$n")" ] || continue
            docker logs "$(cid "$n")" >"$LOGS/qnetd-$n.log" 2>&1 || true
        done
        log "teardown: ${COMPOSE[*]} -p $PROJECT --profile extra down -v --remove-orphans"
        compose --profile extra down -v --remove-orphans -t 5 >"$LOGS/compose-down.log" 2>&1 ||
            cat "$LOGS/compose-down.log"
        # `down` removes the project's network; make sure (a leftover would block the next up).
        if docker network inspect "$NET" >/dev/null 2>&1; then
            echo "run.sh: network $NET still there after down: removing it"
            docker network rm "$NET" >/dev/null 2>&1 || echo "run.sh: could not remove network $NET"
        fi
    fi
    if [ "$KEEP_IMAGE" = 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
        docker rmi -f "$IMAGE" >/dev/null 2>&1 || echo "run.sh: could not remove image $IMAGE"
    fi
    wait 2>/dev/null
    rm -rf "$CERTS" "$WORK/ctx" # the keys never outlive the run
    if [ "$status" != 0 ] || [ "$FAILED_ANY" != 0 ] || [ "$KEEP_LOGS" = 1 ]; then
        echo "logs (daemons, servers, clients): $LOGS"
    else
        rm -rf "$WORK"
    fi
    echo "whole run: $(($(date +%s) - T_START)) s"
    # The last line, counted by the CI log reader: `docker: N passed, M failed`. A run that
    # stopped before the scenarios (build, image, cluster start) counts as one failure.
    if [ -n "$SUMMARY" ]; then
        echo "$SUMMARY"
    else
        echo "docker: 0 passed, 1 failed"
        [ "$status" != 0 ] || status=1
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- build

if [ "$BUILD" = 1 ]; then
    log "static build (CARGO_TARGET_DIR=$TARGET_DIR)"
    t=$(now)
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" RUSTFLAGS='-C target-feature=+crt-static' \
        cargo build --release --target "$TARGET_TRIPLE" \
        -p qnet-daemon -p qnet-tools -p qnet --bins --examples) || exit 1
    echo "static build: $(elapsed "$t" "$(now)") s"
fi

log "staging binaries"
CTX="$WORK/ctx"
mkdir -p "$CTX/bin"
for b in qnetd qnet; do
    [ -x "$BIN_DIR/$b" ] || {
        echo "run.sh: $BIN_DIR/$b missing (build first, or drop --no-build)" >&2
        exit 1
    }
    cp "$BIN_DIR/$b" "$CTX/bin/"
done
for f in "$BIN_DIR"/examples/*; do
    name="$(basename "$f")"
    # cargo also leaves hashed copies (name-<hash>) and .d files: take the plain names only.
    case "$name" in *-* | *.*) continue ;; esac
    [ -f "$f" ] && [ -x "$f" ] && cp "$f" "$CTX/bin/"
done
for f in "$CTX"/bin/*; do
    if ! file -L "$f" | grep -q 'statically linked\|static-pie linked'; then
        echo "run.sh: $(basename "$f") is not statically linked: $(file -L "$f")" >&2
        exit 1
    fi
    strip "$f" 2>/dev/null || true # debug info is for the dev builds; keeps the image small
done
echo "$(ls "$CTX/bin" | wc -l) static binaries: $(ls "$CTX/bin" | tr '\n' ' ')"

log "image $IMAGE (FROM scratch)"
t=$(now)
docker build -q -t "$IMAGE" -f "$HERE/Dockerfile" "$CTX" >"$LOGS/docker-build.log" 2>&1 || {
    cat "$LOGS/docker-build.log"
    exit 1
}
echo "image: $(elapsed "$t" "$(now)") s, $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MB", $1/1e6}')"

log "certificates (qnet cert, in $CERTS)"
"$BIN_DIR/qnet" cert init --dir "$CERTS/ca" >/dev/null || exit 1
# evil's: a CA of its own, the same node-certificate layout.
"$BIN_DIR/qnet" cert init --dir "$CERTS/other" >/dev/null || exit 1
for n in "${NODES[@]}" m1 m2 evil; do
    ca="$CERTS/ca"
    [ "$n" != evil ] || ca="$CERTS/other"
    "$BIN_DIR/qnet" cert issue --dir "$ca" --node "$n" >/dev/null || exit 1
    # Each node gets the CA certificate and its own pair, never the CA key.
    mkdir -p "$CERTS/$n"
    cp "$ca/ca.pem" "$ca/$n.pem" "$ca/$n.key" "$CERTS/$n/"
done

# ---------------------------------------------------------------- cluster helpers

declare -A CID
cid() {
    [ -n "${CID[$1]:-}" ] || CID[$1]="$(compose ps -q "$1" 2>/dev/null)"
    echo "${CID[$1]}"
}

# Number of "qnetd listening" lines in node $1's log (one per start).
starts() { docker logs "$(cid "$1")" 2>&1 | grep -c 'qnetd listening'; }

# wait_starts NODE COUNT: until the daemon on NODE has started COUNT times.
wait_starts() {
    local deadline=$((SECONDS + T_WAIT))
    while [ "$(starts "$1")" -lt "$2" ]; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        [ "$(docker inspect -f '{{.State.Running}}' "$(cid "$1")")" = true ] || return 1
        sleep 0.2
    done
}

# run_in NODE PROG ARGS...: run a program in NODE to completion, output (stdout and stderr)
# on stdout; exit status is the program's (124: hang guard hit). run_in_stdin: the same, with
# our stdin as the program's.
run_in() { run_in_stdin "$@" </dev/null; }
run_in_stdin() {
    local node=$1 prog=$2
    shift 2
    timeout "$T_CALL" docker exec -i "$(cid "$node")" "/$prog" "$@" 2>&1
}

# start_in NODE TAG PROG ARGS...: start a program in NODE in the background; its output goes
# to $LOGS/TAG.out, its host-side pid to BG[TAG].
declare -A BG
start_in() {
    local node=$1 tag=$2 prog=$3
    shift 3
    docker exec "$(cid "$node")" "/$prog" "$@" >"$LOGS/$tag.out" 2>&1 </dev/null &
    BG[$tag]=$!
    BG_PIDS+=($!)
}

out() { cat "$LOGS/$1.out" 2>/dev/null; }
# One line, short, for a FAIL reason.
brief() { tr '\n' ' ' | sed 's/  */ /g; s/ $//' | cut -c1-300; }

# wait_line TAG REGEX [TIMEOUT [OTHER]]: until the output of TAG has a line matching REGEX.
# Gives up early when TAG's program (or OTHER's, e.g. the client that should cause the line)
# has exited without it.
wait_line() {
    local deadline=$((SECONDS + ${3:-$T_WAIT})) other=${4:-$1}
    until grep -Eq "$2" "$LOGS/$1.out" 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        if ! kill -0 "${BG[$1]}" 2>/dev/null || ! kill -0 "${BG[$other]}" 2>/dev/null; then
            sleep 0.5 # let the last output arrive
            grep -Eq "$2" "$LOGS/$1.out"
            return
        fi
        sleep 0.1
    done
}

# wait_exit TAG [TIMEOUT]: until the background program TAG has exited; sets EXIT_STATUS.
wait_exit() {
    local deadline=$((SECONDS + ${2:-$T_WAIT}))
    while kill -0 "${BG[$1]}" 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
    wait "${BG[$1]}"
    EXIT_STATUS=$?
}

# start_server NODE TAG PROG ARGS...: start a server that prints `pid=<p> chid=<c>`; sets
# SRV_PID and SRV_CHID.
start_server() {
    start_in "$@"
    wait_line "$2" '^pid=[0-9]+ chid=[0-9]+' || return 1
    read -r SRV_PID SRV_CHID < <(sed -nE 's/^pid=([0-9]+) chid=([0-9]+).*/\1 \2/p' "$LOGS/$2.out" | head -1)
}

# start_named NODE TAG PROG NAME: start a server that prints `attached <name>`.
start_named() {
    start_in "$@"
    wait_line "$2" "^attached $4\$"
}

# checksum TEXT / checksum_file FILE: the u32 byte sum the course's servers reply with.
checksum_file() { od -An -v -tu1 "$1" | awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%d\n", s % 4294967296 }'; }
checksum() { printf '%s' "$1" | od -An -v -tu1 | awk '{ for (i = 1; i <= NF; i++) s += $i } END { printf "%d\n", s % 4294967296 }'; }

# until_ok TIMEOUT CMD...: run CMD until it succeeds: a readiness wait for a link that is
# still coming up, so only "node not reachable (yet)" errors are tried again; any other
# failure ends the wait at once. Sets ATTEMPTS and LAST_OUT.
NOT_YET='E(HOSTUNREACH|HOSTDOWN|NOTCONN|CONNREFUSED|AGAIN)\b'
until_ok() {
    local deadline=$((SECONDS + $1))
    shift
    ATTEMPTS=0
    while :; do
        ATTEMPTS=$((ATTEMPTS + 1))
        if LAST_OUT="$("$@")"; then return 0; fi
        grep -Eq "$NOT_YET" <<<"$LAST_OUT" || return 1
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# A scenario reports every problem it finds, not only the first.
PROBLEMS=()
problem() { PROBLEMS+=("$*"); }

# ---------------------------------------------------------------- scenarios

# 0. Local sanity inside n1: image, socket directory, QNET_SOCKET, exec and the harness.
scenario_local() {
    local text="hello qnet" o
    start_server n1 s0-checksum checksum_server || {
        problem "checksum_server did not start: $(out s0-checksum | brief)"
        return
    }
    o="$(run_in n1 checksum_client "$SRV_PID" "$SRV_CHID" "$text")"
    grep -qx "checksum=$(checksum "$text")" <<<"$o" ||
        problem "checksum_client: want checksum=$(checksum "$text"), got: $(brief <<<"$o")"

    if start_named n1 s0-name name_server s0name; then
        o="$(run_in n1 name_client s0name "$text")"
        grep -qx "checksum=$(checksum "$text")" <<<"$o" || problem "name_client: $(brief <<<"$o")"
    else
        problem "name_server did not attach: $(out s0-name | brief)"
    fi

    if start_server n1 s0-pulse pulse_server; then
        o="$(run_in n1 pulse_client "$SRV_PID" "$SRV_CHID" 5 42)"
        grep -qx "checksum=$(checksum "pulse client says hi")" <<<"$o" ||
            problem "pulse_client: $(brief <<<"$o")"
        wait_line s0-pulse '^pulse code=5 value=42$' 10 ||
            problem "pulse_server did not print the pulse: $(out s0-pulse | brief)"
    else
        problem "pulse_server did not start: $(out s0-pulse | brief)"
    fi

    # MsgRead of a large message (as large as one command-line argument can be).
    if start_named n1 s0-iov iov_server s0iov; then
        local big
        big="$(head -c 100000 /dev/zero | tr '\0' 'q')"
        o="$(run_in n1 iov_client "$big" s0iov)"
        grep -qx "checksum=$(checksum "$big")" <<<"$o" || problem "iov_client: $(brief <<<"$o")"
        wait_line s0-iov '^got 100000 bytes$' 10 || problem "iov_server: $(out s0-iov | brief)"
    else
        problem "iov_server did not attach: $(out s0-iov | brief)"
    fi
}

# Links: every node reaches every other one (a checksum round trip each way). Also the
# readiness wait for the remote scenarios: links may come up lazily.
scenario_links() {
    local n m
    declare -A P C
    for n in "${NODES[@]}"; do
        start_server "$n" "links-$n" checksum_server || {
            problem "checksum_server on $n did not start: $(out "links-$n" | brief)"
            return
        }
        P[$n]=$SRV_PID C[$n]=$SRV_CHID
    done
    for n in "${NODES[@]}"; do
        for m in "${NODES[@]}"; do
            [ "$n" != "$m" ] || continue
            if until_ok 30 run_in "$n" checksum_client "$m/${P[$m]}/${C[$m]}" "$n to $m"; then
                grep -qx "checksum=$(checksum "$n to $m")" <<<"$LAST_OUT" ||
                    problem "$n -> $m: wrong reply: $(brief <<<"$LAST_OUT")"
                [ "$ATTEMPTS" = 1 ] || echo "   ($n -> $m needed $ATTEMPTS attempts)"
            else
                problem "$n -> $m: no round trip ($ATTEMPTS attempts): $(brief <<<"$LAST_OUT")"
            fi
        done
    done
}

# 1. A client on n1, a server on n2: by node/pid/chid and node/name; replies, pulses, MsgRead
# of 1 MiB, _msg_info (nd, pid).
scenario_remote() {
    local text="hello from n1" o
    if start_server n2 s1-checksum checksum_server; then
        local P=$SRV_PID C=$SRV_CHID
        until_ok 30 run_in n1 checksum_client "n2/$P/$C" "$text"
        o=$LAST_OUT
        grep -qx "checksum=$(checksum "$text")" <<<"$o" ||
            problem "checksum_client n2/$P/$C: want checksum=$(checksum "$text"), got: $(brief <<<"$o")"
        # _msg_info as the server sees it: nd is n1's (not 0, not n3's), pid the client's.
        local cpid nd1 nd3
        cpid="$(sed -nE 's/^client pid=([0-9]+)$/\1/p' <<<"$o")"
        o="$(run_in n3 checksum_client "n2/$P/$C" "hello from n3")"
        grep -qx "checksum=$(checksum "hello from n3")" <<<"$o" ||
            problem "checksum_client n3 -> n2: $(brief <<<"$o")"
        nd1="$(sed -nE "s/^msg nd=([0-9]+) pid=$cpid( .*)?$/\1/p" "$LOGS/s1-checksum.out" | head -1)"
        nd3="$(sed -nE 's/^msg nd=([0-9]+) pid=.*/\1/p' "$LOGS/s1-checksum.out" | sed -n 2p)"
        if [ -z "$cpid" ] || [ -z "$nd1" ]; then
            problem "_msg_info: need 'client pid=<p>' from checksum_client and 'msg nd=<nd> pid=<p> ...' from checksum_server; server printed: $(out s1-checksum | brief)"
        elif [ "$nd1" = 0 ] || [ "$nd1" = "$nd3" ]; then
            problem "_msg_info: nd from n1 is $nd1, from n3 is $nd3 (want two different non-zero nds)"
        fi
    else
        problem "checksum_server on n2 did not start: $(out s1-checksum | brief)"
    fi

    if start_named n2 s1-name name_server s1name; then
        o="$(run_in n1 name_client n2/s1name "$text")"
        grep -qx "checksum=$(checksum "$text")" <<<"$o" ||
            problem "name_client n2/s1name: $(brief <<<"$o")"
    else
        problem "name_server on n2 did not attach: $(out s1-name | brief)"
    fi

    if start_server n2 s1-pulse pulse_server; then
        if o="$(run_in n1 pulse_client "n2/$SRV_PID/$SRV_CHID" 5 42)"; then
            grep -qx "checksum=$(checksum "pulse client says hi")" <<<"$o" ||
                problem "pulse_client n2/$SRV_PID/$SRV_CHID: $(brief <<<"$o")"
            wait_line s1-pulse '^pulse code=5 value=42$' 10 ||
                problem "pulse_server on n2 did not get code=5 value=42: $(out s1-pulse | brief)"
        else
            problem "pulse_client n2/$SRV_PID/$SRV_CHID failed: $(brief <<<"$o")"
        fi
    else
        problem "pulse_server on n2 did not start: $(out s1-pulse | brief)"
    fi

    # 1 MiB: more than one argument can carry, so iov_client reads it from stdin ("-").
    if start_named n2 s1-iov iov_server s1iov; then
        local big="$WORK/1mib"
        awk 'BEGIN { for (i = 0; i < 16384; i++) printf "%064d", i }' >"$big" # 1048576 bytes
        if o="$(run_in_stdin n1 iov_client - n2/s1iov <"$big")"; then
            grep -qx "checksum=$(checksum_file "$big")" <<<"$o" ||
                problem "iov_client - n2/s1iov (1 MiB on stdin): want checksum=$(checksum_file "$big"), got: $(brief <<<"$o")"
            wait_line s1-iov '^got 1048576 bytes$' 10 ||
                problem "iov_server on n2 did not MsgRead 1 MiB: $(out s1-iov | brief)"
        else
            problem "iov_client - n2/s1iov (1 MiB on stdin) failed: $(brief <<<"$o")"
        fi
    else
        problem "iov_server on n2 did not attach: $(out s1-iov | brief)"
    fi
}

# 2. Unblock across nodes: client on n1 REPLY-blocked on a server on n3 with _NTO_CHF_UNBLOCK
# times out; the server gets the unblock pulse and answers MsgError(ETIMEDOUT).
scenario_unblock() {
    start_server n3 s2-unblock unblock_server 120 || {
        problem "unblock_server on n3 did not start: $(out s2-unblock | brief)"
        return
    }
    local o rcvid
    o="$(run_in n1 unblock_client "n3/$SRV_PID/$SRV_CHID")"
    grep -q '^MsgSend failed: ETIMEDOUT' <<<"$o" ||
        problem "unblock_client n3/$SRV_PID/$SRV_CHID: want 'MsgSend failed: ETIMEDOUT ...', got: $(brief <<<"$o")"
    rcvid="$(sed -nE 's/^received rcvid=([0-9]+)$/\1/p' "$LOGS/s2-unblock.out" | head -1)"
    if [ -z "$rcvid" ]; then
        problem "unblock_server on n3 received nothing: $(out s2-unblock | brief)"
    else
        wait_line s2-unblock "^unblock rcvid=$rcvid\$" 10 ||
            problem "unblock_server on n3 got no unblock pulse for rcvid $rcvid: $(out s2-unblock | brief)"
    fi
}

# 3. Node loss: kill n2 while a client on n1 is REPLY-blocked on it -> ESRCH within the bound;
# a server on n3 gets a disconnect pulse for n2's client; n2 restarted -> new sends work.
scenario_node_loss() {
    start_server n2 s3-slow unblock_server 600 || {
        problem "unblock_server on n2 did not start: $(out s3-slow | brief)"
        return
    }
    start_in n1 s3-blocked checksum_client "n2/$SRV_PID/$SRV_CHID" "blocked on n2"
    local blocked=1
    wait_line s3-slow '^received rcvid=' 30 s3-blocked || {
        blocked=0
        problem "client on n1 never reached the server on n2 (not REPLY-blocked): client: $(out s3-blocked | brief)"
    }

    # A client of n2 connected to a DISCONNECT server on n3, holding its connection.
    local scoid=""
    if start_server n3 s3-disc disconnect_server; then
        start_in n2 s3-holder disconnect_client "n3/$SRV_PID/$SRV_CHID" "n2 holds" 600
        if wait_line s3-disc '^client scoid=[0-9]+ ' 30 s3-holder && wait_line s3-holder '^checksum=' 10; then
            scoid="$(sed -nE 's/^client scoid=([0-9]+) .*/\1/p' "$LOGS/s3-disc.out" | head -1)"
            kill -0 "${BG[s3-holder]}" 2>/dev/null ||
                problem "disconnect_client on n2 did not hold its connection (needs a hold argument): $(out s3-holder | brief)"
        else
            problem "client on n2 could not connect to disconnect_server on n3: server: $(out s3-disc | brief); client: $(out s3-holder | brief)"
        fi
    else
        problem "disconnect_server on n3 did not start: $(out s3-disc | brief)"
    fi

    local t0 t1
    t0=$(now)
    docker kill "$(cid n2)" >/dev/null || problem "docker kill n2 failed"
    if [ "$blocked" = 1 ]; then
        if wait_exit s3-blocked "$T_WAIT"; then
            t1=$(now)
            local took
            took=$(elapsed "$t0" "$t1")
            echo "   (client on n1 released $took s after the kill; bound ${RELEASE_BOUND} s)"
            grep -q 'ESRCH' "$LOGS/s3-blocked.out" ||
                problem "blocked client on n1: want ESRCH, got: $(out s3-blocked | brief)"
            awk -v t="$took" -v b="$RELEASE_BOUND" 'BEGIN { exit !(t <= b) }' ||
                problem "blocked client on n1 released after $took s, bound $RELEASE_BOUND s"
        else
            problem "blocked client on n1 still blocked ${T_WAIT} s after n2 was killed"
        fi
    fi
    if [ -n "$scoid" ]; then
        wait_line s3-disc "^disconnect scoid=$scoid\$" "$T_WAIT" ||
            problem "disconnect_server on n3 got no disconnect pulse for n2's client (scoid $scoid): $(out s3-disc | brief)"
    fi

    # n2 comes back (same address, fresh tmpfs): new sends from n1 work.
    docker start "$(cid n2)" >/dev/null || {
        problem "docker start n2 failed"
        return
    }
    wait_starts n2 2 || {
        problem "qnetd on n2 did not restart: $(docker logs --tail 5 "$(cid n2)" 2>&1 | brief)"
        return
    }
    start_server n2 s3-after checksum_server || {
        problem "checksum_server on restarted n2 did not start: $(out s3-after | brief)"
        return
    }
    local text="n2 is back"
    if until_ok 30 run_in n1 checksum_client "n2/$SRV_PID/$SRV_CHID" "$text"; then
        grep -qx "checksum=$(checksum "$text")" <<<"$LAST_OUT" ||
            problem "send to restarted n2: $(brief <<<"$LAST_OUT")"
        [ "$ATTEMPTS" = 1 ] || echo "   (send to restarted n2 needed $ATTEMPTS attempts)"
    else
        problem "send from n1 to restarted n2 failed ($ATTEMPTS attempts): $(brief <<<"$LAST_OUT")"
    fi
}

# 4. Partition: cut n3 off -> clients blocked across the cut are released with errors, a new
# send fails; reconnect -> sends work again, and no request was delivered twice.
scenario_partition() {
    local P3 C3 P1 C1 PC CC
    start_server n3 s4-slow3 unblock_server 600 || {
        problem "unblock_server on n3 did not start: $(out s4-slow3 | brief)"
        return
    }
    P3=$SRV_PID C3=$SRV_CHID
    start_server n1 s4-slow1 unblock_server 600 || {
        problem "unblock_server on n1 did not start: $(out s4-slow1 | brief)"
        return
    }
    P1=$SRV_PID C1=$SRV_CHID
    start_server n3 s4-sum checksum_server || {
        problem "checksum_server on n3 did not start: $(out s4-sum | brief)"
        return
    }
    PC=$SRV_PID CC=$SRV_CHID

    # One client blocked across the cut each way.
    start_in n1 s4-c13 checksum_client "n3/$P3/$C3" "n1 waits on n3"
    start_in n3 s4-c31 checksum_client "n1/$P1/$C1" "n3 waits on n1"
    local b13=1 b31=1
    wait_line s4-slow3 '^received rcvid=' 30 s4-c13 || {
        b13=0
        problem "client on n1 never reached the server on n3: $(out s4-c13 | brief)"
    }
    wait_line s4-slow1 '^received rcvid=' 30 s4-c31 || {
        b31=0
        problem "client on n3 never reached the server on n1: $(out s4-c31 | brief)"
    }

    local t0
    t0=$(now)
    docker network disconnect "$NET" "$(cid n3)" || {
        problem "docker network disconnect $NET n3 failed"
        return
    }
    local tag
    for tag in s4-c13 s4-c31; do
        [ "$tag" = s4-c13 ] && [ "$b13" = 0 ] && continue
        [ "$tag" = s4-c31 ] && [ "$b31" = 0 ] && continue
        if wait_exit "$tag" "$T_WAIT"; then
            local took
            took=$(elapsed "$t0" "$(now)")
            echo "   ($tag released $took s after the cut; bound ${RELEASE_BOUND} s)"
            [ "$EXIT_STATUS" != 0 ] && grep -Eq 'E[A-Z]+ \(' "$LOGS/$tag.out" ||
                problem "$tag: want an error, got (status $EXIT_STATUS): $(out "$tag" | brief)"
            awk -v t="$took" -v b="$RELEASE_BOUND" 'BEGIN { exit !(t <= b) }' ||
                problem "$tag released after $took s, bound $RELEASE_BOUND s"
        else
            problem "$tag still blocked ${T_WAIT} s after the cut"
        fi
    done
    # A new send across the cut fails (does not hang).
    local o st
    o="$(run_in n1 checksum_client "n3/$PC/$CC" "into the void")"
    st=$?
    echo "$o" >"$LOGS/s4-cut-send.out"
    if [ "$st" = 0 ] || [ "$st" = 124 ]; then
        problem "send from n1 to cut-off n3: want an error, got (status $st): $(brief <<<"$o")"
    fi

    # --alias: the service name n3 resolves again for the other nodes (their next dial looks it
    # up); the address may differ from before the cut.
    docker network connect --alias n3 "$NET" "$(cid n3)" || {
        problem "docker network connect $NET n3 failed"
        return
    }
    local text="after the cut"
    if until_ok 30 run_in n1 checksum_client "n3/$PC/$CC" "$text"; then
        grep -qx "checksum=$(checksum "$text")" <<<"$LAST_OUT" ||
            problem "send n1 -> n3 after reconnect: $(brief <<<"$LAST_OUT")"
        [ "$ATTEMPTS" = 1 ] || echo "   (send n1 -> n3 after reconnect needed $ATTEMPTS attempts)"
    else
        problem "send n1 -> n3 after reconnecting failed ($ATTEMPTS attempts): $(brief <<<"$LAST_OUT")"
    fi
    # At most once: each server saw each request exactly once, whatever was retried.
    local n
    n=$(grep -c '^received rcvid=' "$LOGS/s4-slow3.out")
    [ "$n" = "$b13" ] || problem "unblock_server on n3 received $n requests, want $b13 (delivered twice?)"
    n=$(grep -c '^received rcvid=' "$LOGS/s4-slow1.out")
    [ "$n" = "$b31" ] || problem "unblock_server on n1 received $n requests, want $b31 (delivered twice?)"
    # Every checksum request n3's server got, it got once: one per successful send (the send
    # into the cut and the failed attempts while the link came back must not arrive later).
    n=$(grep -c '^msg ' "$LOGS/s4-sum.out")
    [ "$n" = 1 ] || problem "checksum_server on n3 logged $n requests, want exactly 1 (needs its 'msg nd=.. pid=..' line)"
}

# nodes_json NODE: `qnet nodes --json` inside NODE, on one line.
nodes_json() { run_in "$1" qnet nodes --json | tr -d '\n '; }

# up_peers NODE: the names of the peers NODE sees up, sorted, space-separated.
up_peers() {
    nodes_json "$1" | grep -oE '\{"name":"[^"]+","nd":[0-9]+,"state":"up"' |
        sed -E 's/.*"name":"([^"]+)".*/\1/' | sort | tr '\n' ' ' | sed 's/ $//'
}

# wait_up NODE "PEERS" TIMEOUT: until NODE sees exactly PEERS (sorted, space-separated) up.
wait_up() {
    local deadline=$((SECONDS + $3))
    until [ "$(up_peers "$1")" = "$2" ]; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# until_addr NODE PEER ADDR TIMEOUT: until NODE sees PEER up with its newest link at ADDR.
until_addr() {
    local deadline=$((SECONDS + $4)) o
    while :; do
        o="$(nodes_json "$1" | grep -oE "\{\"name\":\"$2\"[^{}]*")"
        grep -q '"state":"up"' <<<"$o" && grep -q "\"addr\":\"$3\"" <<<"$o" && return 0
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# ip_of NODE: the container's address on the compose network.
ip_of() { docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$(cid "$1")"; }

# Seeds: the compose file has no peer list, and every node sees the two others up, learnt
# through a seed, a member directory or their dial, never configured.
scenario_seeds() {
    if grep -q -- '--peer' "$HERE/docker-compose.yml"; then
        problem "docker-compose.yml still has --peer lines"
    fi
    local n want j
    for n in "${NODES[@]}"; do
        want="$(printf '%s\n' "${NODES[@]}" | grep -vx "$n" | sort | tr '\n' ' ' | sed 's/ $//')"
        wait_up "$n" "$want" 30 || problem "$n sees up: '$(up_peers "$n")', want '$want'"
        j="$(nodes_json "$n")"
        grep -q '"learnt":\["static"' <<<"$j" && problem "$n has a configured peer: $j"
        grep -q '"seeds":\[{"seed":"n1:4433"' <<<"$j" || problem "$n: no seed n1:4433 in qnet nodes: $j"
    done
}

# A node restarted with a new IP address is found again: n3 is killed, an extra container
# (hold) takes an address while n3 is off the network, n3 comes back on another address;
# n1 and n2 link to it there, and calls work both ways.
scenario_new_ip() {
    local old new t0
    old="$(ip_of n3)"
    docker kill "$(cid n3)" >/dev/null || { problem "docker kill n3 failed"; return; }
    docker network disconnect "$NET" "$(cid n3)" >/dev/null 2>&1
    compose --profile extra up -d hold >"$LOGS/hold-up.log" 2>&1 || {
        problem "starting hold: $(brief <"$LOGS/hold-up.log")"
        return
    }
    docker network connect --alias n3 "$NET" "$(cid n3)" || { problem "reconnecting n3 failed"; return; }
    t0=$(now)
    docker start "$(cid n3)" >/dev/null || { problem "docker start n3 failed"; return; }
    new="$(ip_of n3)"
    echo "   (n3: $old -> $new)"
    [ "$new" != "$old" ] || problem "n3 came back on its old address $old: nothing tested"
    local n started up
    for n in n1 n2; do
        if wait_up "$n" "$(printf '%s\n' n1 n2 n3 | grep -vx "$n" | tr '\n' ' ' | sed 's/ $//')" 30 &&
            until_addr "$n" n3 "$new:4433" 30; then
            # From the daemons' own log times (the polling above goes through docker exec).
            started="$(docker logs "$(cid n3)" 2>&1 | grep 'qnetd listening' | tail -1 | cut -d' ' -f1)"
            up="$(docker logs "$(cid "$n")" 2>&1 | grep "node up.*peer=n3.*addr=$new:4433" | head -1 | cut -d' ' -f1)"
            echo "   ($n logged n3 up at $new $(elapsed "$(date -d "$started" +%s.%N)" "$(date -d "$up" +%s.%N)") s after n3's daemon started; bound link timeout ${LINK_TIMEOUT} s + 2 s)"
        else
            problem "$n does not see n3 up at $new:4433: $(nodes_json "$n" | cut -c1-400)"
        fi
    done
    start_server n3 s6-sum checksum_server || { problem "checksum_server on n3: $(out s6-sum | brief)"; return; }
    if until_ok 30 run_in n1 checksum_client "n3/$SRV_PID/$SRV_CHID" "new address"; then
        grep -qx "checksum=$(checksum "new address")" <<<"$LAST_OUT" || problem "n1 -> n3: $(brief <<<"$LAST_OUT")"
    else
        problem "n1 -> n3 at its new address failed: $(brief <<<"$LAST_OUT")"
    fi
    start_server n2 s6-sum2 checksum_server || { problem "checksum_server on n2: $(out s6-sum2 | brief)"; return; }
    if until_ok 30 run_in n3 checksum_client "n2/$SRV_PID/$SRV_CHID" "from the new address"; then
        grep -qx "checksum=$(checksum "from the new address")" <<<"$LAST_OUT" || problem "n3 -> n2: $(brief <<<"$LAST_OUT")"
    else
        problem "n3 -> n2 failed: $(brief <<<"$LAST_OUT")"
    fi
}

# A node with another CA's certificate never joins: evil (seeded with n1, announcing itself
# by mDNS) is up nowhere, sees nobody up, and n1 writes a bounded number of lines about it.
scenario_wrong_ca() {
    compose --profile extra up -d evil >"$LOGS/evil-up.log" 2>&1 || {
        problem "starting evil: $(brief <"$LOGS/evil-up.log")"
        return
    }
    wait_starts evil 1 || { problem "qnetd on evil did not start"; return; }
    local t0=$SECONDS
    sleep 12
    local n
    for n in "${NODES[@]}"; do
        nodes_json "$n" | grep -q '"name":"evil","nd":[0-9]*,"state":"up"' &&
            problem "$n sees evil up"
        docker logs "$(cid "$n")" 2>&1 | grep -q 'node up.*peer=evil' && problem "$n logged evil up"
    done
    [ -z "$(up_peers evil)" ] || problem "evil sees up: $(up_peers evil)"
    local lines secs=$((SECONDS - t0 + 1))
    lines=$(docker logs "$(cid n1)" 2>&1 | grep -c 'refused incoming connection')
    echo "   (n1 wrote $lines refusal lines in about $secs s; evil: $(docker logs "$(cid evil)" 2>&1 | grep -c 'cannot link to peer') 'cannot link' lines)"
    # The same failure from one address: once a minute.
    [ "$lines" -le $((1 + secs / 60)) ] || problem "n1 wrote $lines refusal lines about evil in $secs s"
}

# mDNS: m1 and m2 have no seeds and no peers, only --discover mdns: they find each other
# where the compose network passes multicast. evil's record (another CA) is ignored.
scenario_mdns() {
    compose --profile extra up -d m1 m2 >"$LOGS/mdns-up.log" 2>&1 || {
        problem "starting m1 m2: $(brief <"$LOGS/mdns-up.log")"
        return
    }
    wait_starts m1 1 && wait_starts m2 1 || { problem "qnetd on m1/m2 did not start"; return; }
    if wait_up m1 m2 30 && wait_up m2 m1 10; then
        echo "   (m1 and m2 linked by mDNS alone)"
    elif ! docker logs "$(cid m1)" 2>&1 | grep -q 'mDNS record\|ignoring mDNS record'; then
        MDNS_NOTE="SKIPPED mdns: no mDNS record reached m1 in 30 s: this compose network does not pass multicast"
        echo "   ($MDNS_NOTE)"
        return
    else
        problem "m1 saw mDNS records but did not link m2: $(docker logs "$(cid m1)" 2>&1 | grep -i mdns | tail -3 | brief)"
    fi
    if docker ps -q --no-trunc | grep -q "$(cid evil)" 2>/dev/null; then
        docker logs "$(cid m1)" 2>&1 | grep -q 'ignoring mDNS record.*another cluster CA' ||
            echo "   (m1 logged no record of evil: it announces with another CA)"
        nodes_json m1 | grep -q '"name":"evil"' && problem "m1 lists evil: $(nodes_json m1 | cut -c1-300)"
    fi
}

# ---------------------------------------------------------------- run

log "docker-compose up (project $PROJECT)"
t=$(now)
STARTED=1
compose up -d >"$LOGS/compose-up.log" 2>&1 || {
    cat "$LOGS/compose-up.log"
    exit 1
}
for n in "${NODES[@]}"; do
    wait_starts "$n" 1 || {
        echo "qnetd on $n did not start:"
        docker logs "$(cid "$n")" 2>&1 | tail -20
        exit 1
    }
done
echo "cluster up: $(elapsed "$t" "$(now)") s ($(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$NET"))"

ALL=(local links seeds remote unblock node_loss partition new_ip wrong_ca mdns)
MDNS_NOTE=
[ "${#ONLY[@]}" -gt 0 ] || ONLY=("${ALL[@]}")
PASSED=0
FAILED=0
for name in "${ONLY[@]}"; do
    if ! declare -F "scenario_$name" >/dev/null; then
        echo "FAIL $name: no such scenario (have: ${ALL[*]})"
        FAILED=$((FAILED + 1))
        continue
    fi
    PROBLEMS=()
    t=$(now)
    "scenario_$name"
    took=$(elapsed "$t" "$(now)")
    if [ "$name" = mdns ] && [ -n "$MDNS_NOTE" ] && [ "${#PROBLEMS[@]}" = 0 ]; then
        echo "SKIP mdns (${took} s): ${MDNS_NOTE#SKIPPED mdns: }"
        continue
    fi
    if [ "${#PROBLEMS[@]}" = 0 ]; then
        echo "PASS $name (${took} s)"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL $name (${took} s): ${PROBLEMS[0]}"
        for p in "${PROBLEMS[@]:1}"; do echo "     also: $p"; done
        FAILED=$((FAILED + 1))
    fi
done

FAILED_ANY=$FAILED
# Printed by cleanup, after the teardown: the last line of the run, alone on its line.
SUMMARY="docker: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
