#!/usr/bin/env bash
# Unit tests natively, then the component: {{name}}.wasm (componentize-js
# {{componentize_js}} and esbuild, pinned in package.json). The SDK
# (kbind-policy-sdk/, with the contract) was written here by `kbind new`.
set -euo pipefail
cd "$(dirname "$0")"
npm install --no-audit --no-fund --loglevel=error
npm test
npm run build
echo "built {{name}}.wasm"
