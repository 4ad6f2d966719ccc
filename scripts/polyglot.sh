#!/usr/bin/env bash
# Builds and unit-tests kbind's Python and JavaScript policies with pinned
# tools, into target/polyglot/ (what `cargo test`'s polyglot tests load):
#
#   target/polyglot/<policy>-python.wasm   componentize-py 0.25.1
#   target/polyglot/<policy>-js.wasm       componentize-js 0.23.0 (+ esbuild)
#
# The tools go into target/polyglot/venv and ./node_modules (package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/polyglot
mkdir -p "$out"

# Python: a venv with the pinned componentize-py.
if [ ! -x "$out/venv/bin/componentize-py" ]; then
    python3 -m venv "$out/venv"
    "$out/venv/bin/pip" install --quiet --disable-pip-version-check -r sdk/python/requirements.txt
fi
"$out/venv/bin/componentize-py" --version
# Bindings of the contract, for running policies natively (unit tests).
rm -rf "$out/python-bindings"
"$out/venv/bin/componentize-py" -d wit -w policy bindings "$out/python-bindings"

# JavaScript: the pinned componentize-js, preview2-shim and esbuild.
npm ci --no-audit --no-fund --loglevel=error

policies=(kratix-default semver-auto)
for policy in "${policies[@]}"; do
    dir=policies/$policy
    echo "== $policy (Python): unit tests, build"
    (cd "$dir/python" && PYTHONPATH="$OLDPWD/$out/python-bindings:$OLDPWD/sdk/python" \
        "$OLDPWD/$out/venv/bin/python" -m unittest -q test_app)
    "$out/venv/bin/componentize-py" -d wit -w policy componentize app \
        -p "$dir/python" -p sdk/python -o "$out/$policy-python.wasm"

    echo "== $policy (JavaScript): unit tests, build"
    node --test "$dir/js/"
    (cd "$dir/js" && npx kbind-policy-build component.js -o "$OLDPWD/$out/$policy-js.wasm")
done
echo "== test fixtures (tests/polyglot.rs)"
"$out/venv/bin/componentize-py" -d wit -w policy componentize app \
    -p tests/fixtures/polyglot/python -p sdk/python -o "$out/fixture-misbehaving-python.wasm"
(cd tests/fixtures/polyglot/js && npx kbind-policy-build component.js -o "$OLDPWD/$out/fixture-misbehaving-js.wasm")

echo "== SDK unit tests"
(cd sdk/python && PYTHONPATH="$OLDPWD/$out/python-bindings:." "$OLDPWD/$out/venv/bin/python" -m unittest discover -q -s tests)
node --test sdk/js/
ls -la "$out"/*.wasm
