#!/usr/bin/env bash
# The tools outside Rust that some tests use to read the product the way others will, each
# installed only when missing (the tests fail, saying so, without them):
#   - Python's prometheus_client (PyPI `prometheus-client`): node-daemon/tests/metrics.rs and
#     dist.rs parse /metrics with it, as Prometheus' Python tooling does; PyYAML (`pyyaml`):
#     dist.rs loads the alert rules file with it;
#   - cargo-deb (crates.io): node-daemon/tests/package.rs builds the .deb with it;
#   - dpkg-deb and pkg-config (Debian packages): the same test extracts the .deb and compiles
#     a C program against the extracted tree with its qnet.pc.
set -euo pipefail

pip_install() {
  python3 -m pip install --quiet "$@" 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages "$@"
}
if ! python3 -c 'import prometheus_client' >/dev/null 2>&1; then
  echo "== installing prometheus-client (PyPI)"
  pip_install prometheus-client
fi
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "== installing PyYAML (PyPI)"
  pip_install pyyaml
fi

if ! cargo deb --version >/dev/null 2>&1; then
  echo "== installing cargo-deb (crates.io, a few minutes of build)"
  cargo install --locked --quiet cargo-deb
fi

missing=()
command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkgconf)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (Debian)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
  else
    echo "need ${missing[*]}: run as root, or install them" >&2
    exit 1
  fi
fi
