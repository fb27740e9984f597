#!/usr/bin/env bash
# The whole test suite: unit, scenario, property and end-to-end tests with real daemons.
set -euo pipefail
cd "$(dirname "$0")/.."
# Python's Prometheus parser, cargo-deb, dpkg-deb, pkg-config: installed if missing.
bash scripts/install-test-tools.sh
cargo test --workspace --all-targets
if docker info >/dev/null 2>&1; then bash cluster-tests/docker/run.sh; else echo "!!!!! SKIPPED: docker-compose cluster test (cluster-tests/docker/run.sh): no Docker engine answers 'docker info' !!!!!"; fi
