#!/usr/bin/env bash
# The whole test suite: unit, scenario, property and end-to-end tests with real daemons.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
