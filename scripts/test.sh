#!/usr/bin/env bash
# The whole test suite: builds and unit-tests the Python and JavaScript
# policies (scripts/polyglot.sh, pinned tools from PyPI and npm), then runs
# `cargo test`, whose polyglot tests load what it built. Arguments go to
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/polyglot.sh
cargo test "$@"
