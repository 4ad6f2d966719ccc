#!/usr/bin/env bash
# The whole test suite: builds and unit-tests the Python and JavaScript
# policies (scripts/polyglot.sh, pinned tools from PyPI and npm), then runs
# `cargo test`, whose polyglot tests load what it built. Arguments go to
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# tests/registry.rs and tests/scaffold.rs start a real OCI registry on
# loopback: the CNCF distribution registry, Debian's docker-registry; they
# read it back with curl and make its certificates and tokens with openssl.
missing=""
for tool in docker-registry curl openssl; do
    command -v "$tool" > /dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq || true
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
fi
bash scripts/polyglot.sh
cargo test "$@"
