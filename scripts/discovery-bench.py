#!/usr/bin/env python3
"""Discovery figures (issue 25; BENCHMARKS.md, "Discovery"). Not a test: it prints figures.

Runs real qnetd daemons on loopback inside a network namespace of its own (root: `ip netns`),
so that the loopback packet counters count only these daemons' traffic and mDNS stays on
this host. Phases (all by default, or those named):

  mesh5    5 nodes, n2..n5 given only --seed n1, started before n1: time from n1's start to a
           full mesh; then n1 killed: do the other links stay up?
  scale    16 nodes with a static full mesh (node i has --peer for every node before it) vs
           16 and 32 nodes from one seed: mesh time, then idle CPU (% of one core) and RSS
           per daemon over --idle seconds
  restart  5 nodes from one seed, --link-timeout 3s: n3 killed and started on another IP
           (127.0.0.3): time until every other node sees it up at the new address
  idle     5-node mesh, static vs seeded vs seeded + mDNS: packets and bytes per node on
           loopback over --idle seconds (QUIC keep-alives included in all three: the
           differences are discovery's)

Usage: sudo scripts/discovery-bench.py [--bin DIR] [--idle SECS] [PHASE...]
DIR holds qnetd and qnet (default: target/release; the docker run's static ones in
target/docker/x86_64-unknown-linux-gnu/release do too).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HZ = os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, bindir, ns):
        self.bin = bindir
        self.ns = ns
        self.dir = tempfile.mkdtemp(prefix="qnet-disco-bench.")
        self.procs = {}
        self.certs = os.path.join(self.dir, "certs")
        self.qnet("cert", "init", "--dir", self.certs)

    def qnet(self, *args):
        return subprocess.run(
            [os.path.join(self.bin, "qnet"), *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def issue(self, name, certs=None):
        self.qnet("cert", "issue", "--dir", certs or self.certs, "--node", name)

    def start(self, name, listen, args, certs=None):
        sock = os.path.join(self.dir, name + ".sock")
        log = open(os.path.join(self.dir, name + ".log"), "w")
        cmd = ["ip", "netns", "exec", self.ns, os.path.join(self.bin, "qnetd"),
               "--node", name, "--socket", sock, "--listen", listen,
               "--certs", certs or self.certs, "--log", "info", *args]
        p = subprocess.Popen(cmd, stderr=log, stdout=subprocess.DEVNULL)
        self.procs[name] = (p, sock)
        return p

    def wait_listening(self, name, guard=30):
        path = os.path.join(self.dir, name + ".log")
        end = time.time() + guard
        while time.time() < end:
            with open(path) as f:
                for line in f:
                    if "qnetd listening" in line:
                        return line.split("listen=")[1].split()[0]
            time.sleep(0.01)
        sys.exit(f"{name} did not start: {open(path).read()}")

    def nodes(self, name):
        sock = self.procs[name][1]
        out = subprocess.run([os.path.join(self.bin, "qnet"), "nodes", "--json", "--socket", sock],
                             capture_output=True, text=True)
        return json.loads(out.stdout) if out.returncode == 0 else {"peers": []}

    def up(self, name):
        return {p["name"]: p for p in self.nodes(name)["peers"] if p["state"] == "up"}

    def wait_mesh(self, names, guard=120):
        end = time.time() + guard
        pending = set(names)
        while pending and time.time() < end:
            for n in list(pending):
                if set(names) - {n} <= set(self.up(n)):
                    pending.discard(n)
            if pending:
                time.sleep(0.02)
        if pending:
            sys.exit(f"no full mesh within {guard} s: {sorted(pending)}")

    def kill(self, name):
        p, _ = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop_all(self):
        for n in list(self.procs):
            self.kill(n)

    def cpu_rss(self, names, secs):
        def ticks(pid):
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            return int(f[11]) + int(f[12])
        pids = {n: self.procs[n][0].pid for n in names}
        t0 = {n: ticks(pid) for n, pid in pids.items()}
        time.sleep(secs)
        cpu = [(ticks(pid) - t0[n]) / HZ / secs * 100 for n, pid in pids.items()]
        rss = []
        for pid in pids.values():
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    rss.append(int(line.split()[1]) / 1024)
        return cpu, rss

    def lo_counters(self):
        out = subprocess.run(["ip", "netns", "exec", self.ns, "cat", "/sys/class/net/lo/statistics/tx_packets",
                              "/sys/class/net/lo/statistics/tx_bytes"], capture_output=True, text=True).stdout
        p, b = out.split()
        return int(p), int(b)

    def close(self):
        self.stop_all()
        shutil.rmtree(self.dir, ignore_errors=True)


def free_ports(ns, n):
    """n UDP ports free in the namespace (bound there at once, then released)."""
    code = ("import socket;s=[socket.socket(socket.AF_INET,socket.SOCK_DGRAM) for _ in range(%d)];"
            "[x.bind(('127.0.0.1',0)) for x in s];print(' '.join(str(x.getsockname()[1]) for x in s))" % n)
    out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code],
                         capture_output=True, text=True, check=True).stdout
    return [int(p) for p in out.split()]


def stats(v):
    return f"avg {sum(v) / len(v):.2f}, min {min(v):.2f}, max {max(v):.2f}"


def mesh5(b, args):
    names = [f"n{i}" for i in range(1, 6)]
    for n in names:
        b.issue(n)
    p1 = free_ports(b.ns, 1)[0]
    for n in names[1:]:
        b.start(n, "127.0.0.1:0", ["--seed", f"127.0.0.1:{p1}"])
    for n in names[1:]:
        b.wait_listening(n)
    time.sleep(1)  # the others' seed rounds are backing off, as in a real late seed
    t0 = time.time()
    b.start("n1", f"127.0.0.1:{p1}", [])
    b.wait_mesh(names)
    took = time.time() - t0
    print(f"mesh5: full mesh {took:.2f} s after the seed started (4 nodes waiting for it)")
    links = {n: {m: p["links"] for m, p in b.up(n).items()} for n in names[1:]}
    b.kill("n1")
    time.sleep(4)  # past the 1 s... 3 s link timeout
    kept = all(set(names[1:]) - {n} <= set(b.up(n)) for n in names[1:])
    print(f"mesh5: seed killed; the other links {'all stay up' if kept else 'DID NOT all stay up'}"
          f" (links per pair before: {sorted(set(v for d in links.values() for v in d.values()))})")
    b.stop_all()


def scale(b, args):
    rows = []
    for k, (kind, count) in enumerate([("static", 16), ("seed", 16), ("seed", 32)]):
        names = [f"s{k}n{i}" for i in range(1, count + 1)]
        for n in names:
            b.issue(n)
        addrs = {}
        t0 = time.time()
        for i, n in enumerate(names):
            if kind == "static":
                extra = sum((["--peer", f"{m}={addrs[m]}"] for m in names[:i]), [])
            else:
                extra = ["--seed", addrs[names[0]]] if i else []
            b.start(n, "127.0.0.1:0", extra)
            addrs[n] = b.wait_listening(n)
        started = time.time()
        b.wait_mesh(names, guard=300)
        mesh = time.time() - started
        time.sleep(5)  # settle (directories, log lines)
        cpu, rss = b.cpu_rss(names, args.idle)
        rows.append((kind, count, mesh, started - t0, cpu, rss))
        print(f"scale: {count} nodes {kind}: full mesh {mesh:.2f} s after the last start "
              f"(starts took {started - t0:.1f} s); idle over {args.idle} s: CPU % of a core per "
              f"daemon {stats(cpu)}; RSS MiB {stats(rss)}")
        b.stop_all()
    return rows


def restart(b, args):
    names = [f"r{i}" for i in range(1, 6)]
    for n in names:
        b.issue(n)
    seed = None
    for n in names:
        b.start(n, "127.0.0.1:0", ["--link-timeout", "3s"] + (["--seed", seed] if seed else []))
        a = b.wait_listening(n)
        seed = seed or a
    b.wait_mesh(names)
    times = []
    for attempt in range(3):
        b.kill("r3")
        t0 = time.time()
        ip = f"127.0.0.{3 + attempt}"
        b.start("r3", f"{ip}:0", ["--link-timeout", "3s", "--seed", seed])
        new = b.wait_listening("r3")
        others = [n for n in names if n != "r3"]
        end = time.time() + 60
        while time.time() < end:
            if all(b.up(n).get("r3", {}).get("addr") == new for n in others):
                break
            time.sleep(0.02)
        else:
            sys.exit(f"r3 at {new} not up everywhere within 60 s")
        times.append(time.time() - t0)
        print(f"restart: r3 back at {new}, up at every other node {times[-1]:.2f} s after its start"
              f" (bound: link timeout 3 s + 2 s)")
        b.wait_mesh(names)
    b.stop_all()
    return times


def idle(b, args):
    out = []
    for k, kind in enumerate(["static", "seed", "seed+mdns"]):
        names = [f"i{k}n{i}" for i in range(1, 6)]
        for n in names:
            b.issue(n)
        addrs = {}
        for i, n in enumerate(names):
            if kind == "static":
                extra = sum((["--peer", f"{m}={addrs[m]}"] for m in names[:i]), [])
            else:
                extra = ["--seed", addrs[names[0]]] if i else []
                if kind == "seed+mdns":
                    extra += ["--discover", "mdns"]
            b.start(n, "127.0.0.1:0", extra)
            addrs[n] = b.wait_listening(n)
        b.wait_mesh(names)
        time.sleep(5)
        p0, y0 = b.lo_counters()
        time.sleep(args.idle)
        p1, y1 = b.lo_counters()
        pps = (p1 - p0) / args.idle / len(names)
        bpm = (y1 - y0) / args.idle * 60 / len(names)
        out.append((kind, pps, bpm))
        print(f"idle: 5 nodes {kind}: {pps:.2f} packets/s and {bpm / 1024:.1f} KiB/min sent per node "
              f"over {args.idle} s (QUIC keep-alives included)")
        b.stop_all()
    base = out[0]
    for kind, pps, bpm in out[1:]:
        print(f"idle: discovery's own ({kind} minus static): {pps - base[1]:+.2f} packets/s, "
              f"{(bpm - base[2]) / 1024:+.2f} KiB/min per node")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--idle", type=int, default=30)
    ap.add_argument("phases", nargs="*", default=["mesh5", "scale", "restart", "idle"])
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("discovery-bench: needs root (a network namespace of its own)")
    ns = f"qnet-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up", "multicast", "on"], check=True)
    b = Bench(args.bin, ns)
    print(f"discovery-bench: {os.uname().nodename}, {os.cpu_count()} CPUs, load {os.getloadavg()}, "
          f"binaries {args.bin}")
    try:
        for phase in args.phases:
            {"mesh5": mesh5, "scale": scale, "restart": restart, "idle": idle}[phase](b, args)
            print(f"  (load average now {os.getloadavg()[0]:.1f})")
    finally:
        b.close()
        subprocess.run(["ip", "netns", "del", ns])


if __name__ == "__main__":
    main()
