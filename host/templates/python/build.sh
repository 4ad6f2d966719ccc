#!/usr/bin/env bash
# Unit tests natively, then the component: {{name}}.wasm (componentize-py
# {{componentize_py}}, in .venv). The SDK (kbind_policy/) and the contract (wit/)
# were written here by `kbind new`.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/componentize-py ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
fi
rm -rf .bindings
.venv/bin/componentize-py -d wit -w policy bindings .bindings
PYTHONPATH=.bindings:. .venv/bin/python -m unittest -q
.venv/bin/componentize-py -d wit -w policy componentize app -p . -o {{name}}.wasm
echo "built {{name}}.wasm"
