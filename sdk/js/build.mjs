#!/usr/bin/env node
// Builds a JavaScript policy into a component, in one command:
//
//   npx kbind-policy-build component.js -o policy.wasm [--wit DIR]
//
// esbuild bundles the entry with the SDK into one ES module (componentize-js
// resolves `kbind:policy/*@0.2.0` imports only in a single module), then
// componentize-js 0.23 makes the component with its default WASI features,
// `wasi:http` included: kbind serves it deny-all. `--wit` defaults to the
// contract this SDK was written against.

import { build } from 'esbuild';
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string', short: 'o' },
    wit: { type: 'string', default: fileURLToPath(new URL('./wit', import.meta.url)) },
  },
});
if (positionals.length !== 1 || !values.out) {
  console.error('usage: kbind-policy-build <entry.js> -o <policy.wasm> [--wit <dir>]');
  process.exit(2);
}

const work = await mkdtemp(join(tmpdir(), 'kbind-policy-'));
try {
  const bundle = join(work, 'policy.js');
  await build({
    entryPoints: [resolve(positionals[0])],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    external: ['kbind:policy/*'],
    outfile: bundle,
    logLevel: 'warning',
  });
  const { component } = await componentize({
    sourcePath: bundle,
    witPath: resolve(values.wit),
    worldName: 'policy',
  });
  await writeFile(values.out, component);
  console.error(`${values.out}: ${component.length} bytes`);
} finally {
  await rm(work, { recursive: true, force: true });
}
