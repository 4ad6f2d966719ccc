#!/usr/bin/env bash
# The README's main command. Builds kbind (its build script builds the
# shipped policies to wasm components, installing the wasm32-wasip2 target
# if needed) and walks through `inspect` and `eval` on both shipped policies.
# No cluster needed.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building kbind and its policies (first build: several minutes on 2 cores)"
# Same package selection as `cargo test`, so the test run reuses these builds.
cargo build -q
kbind=target/debug/kbind

run() {
    printf '\n$ kbind %s\n' "$*"
    "$kbind" "$@"
}

echo
echo "==> kratix-default: Kratix's own decisions"
run inspect kratix-default
run eval --decision initial-version --input examples/eval/initial-version.yaml
run eval --decision initial-version --set strategy=pinned --input examples/eval/initial-version.yaml
run eval --decision rerun-on-spec-change --input examples/eval/rerun-on-spec-change.yaml

echo
echo "==> semver-auto: automatic upgrades within a semver range"
run eval --policy semver-auto --decision plan-upgrades --input examples/eval/plan-upgrades.yaml
run eval --policy semver-auto --decision review-edit --input examples/eval/review-edit.yaml
run eval --policy semver-auto --decision after-failure --input examples/eval/after-failure.yaml

echo
echo "==> swapping the policy is swapping a file (pinned by sha256), no rebuild"
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
cp target/guests/wasm32-wasip2/guest/semver_auto.wasm "$workdir/policy.wasm"
digest=$(sha256sum "$workdir/policy.wasm" | cut -d' ' -f1)
run eval --policy "$workdir/policy.wasm" --sha256 "$digest" --decision initial-version --input examples/eval/initial-version.yaml -o json
printf '\n$ kbind eval --policy policy.wasm --sha256 <wrong digest> ...   # refused, exit 3\n'
"$kbind" eval --policy "$workdir/policy.wasm" --sha256 "$(printf '0%.0s' {1..64})" \
    --decision initial-version --input examples/eval/initial-version.yaml || echo "(exit $?)"

echo
echo "==> the user story in the sandbox: embedded API server + the kbind operator (no cluster)"
run sandbox --demo --exit-after-demo --set strategy=pinned --kubeconfig "$workdir/kubeconfig"
