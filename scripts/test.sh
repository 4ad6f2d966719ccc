#!/usr/bin/env bash
# The whole test suite: builds and unit-tests the Python and JavaScript
# policies (scripts/polyglot.sh, pinned tools from PyPI and npm), then runs
# `cargo test`, whose polyglot tests load what it built. Arguments go to
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# tests/registry.rs and tests/scaffold.rs start a real OCI registry on
# loopback: the CNCF distribution registry, Debian's docker-registry.
if ! command -v docker-registry > /dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq docker-registry curl
fi
bash scripts/polyglot.sh
cargo test "$@"
