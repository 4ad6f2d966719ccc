// The JavaScript SDK's helpers give the Rust SDK's answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  LATEST,
  checkKnownSettings,
  compareVersions,
  defaultRerunSelection,
  newestRevision,
  parseVersion,
  quoted,
  versionInRange,
} from './index.js';
import { NOW, binding, declined, promise, settings } from './testing.js';

// Ascending, as the semver crate orders them (SemVer 2.0 §11, build last).
const ORDERED = [
  '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2',
  '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.0+1', '1.0.0+01', '1.0.0+2', '1.0.0+a',
  '1.0.1', '1.10.0', '2.0.0',
];

test('the order matches semver', () => {
  for (let i = 0; i + 1 < ORDERED.length; i++) {
    assert.equal(compareVersions(ORDERED[i], ORDERED[i + 1]), -1, `${ORDERED[i]} < ${ORDERED[i + 1]}`);
    assert.equal(compareVersions(ORDERED[i + 1], ORDERED[i]), 1);
  }
});

test('a v prefix is accepted, and parsing is strict', () => {
  assert.equal(compareVersions('v1.2.3', '1.2.3'), 0);
  assert.equal(compareVersions('V1.2.3', 'v1.2.3'), 0);
  for (const bad of ['01.2.3', '1.2', '1.2.3-01', '1.2.3\n', 'not-set', '', '1.2.3-', 'latest']) {
    assert.equal(parseVersion(bad), undefined, JSON.stringify(bad));
  }
});

test('versions in range', () => {
  assert.ok(versionInRange('v1.0.0', 'v1.0.3', 'patch'));
  assert.ok(!versionInRange('v1.0.0', 'v1.2.0', 'patch'));
  assert.ok(versionInRange('v1.0.0', 'v1.2.0', 'minor'));
  assert.ok(!versionInRange('v1.0.0', 'v2.0.0', 'minor'));
  assert.ok(!versionInRange('v1.0.0', 'v1.3.0-rc.1', 'minor'));
  assert.ok(!versionInRange('v1.0.0', 'v1.0.1', 'none'));
  assert.ok(!versionInRange('v1.2.0', 'v1.0.0', 'minor'));
});

test('the newest revision skips pre-releases and versions that are not semver', () => {
  const p = promise('r').revision('v1.0.0').revision('v2.0.0-rc.1').revision('banana').latest('v1.1.0').build();
  assert.equal(newestRevision(p).version, 'v1.1.0');
});

test('quoted escapes as Rust debug', () => {
  assert.equal(quoted('a"b\\c\n\t\x01é'), '"a\\"b\\\\c\\n\\t\\u{1}é"');
});

test('unknown settings are named', () => {
  assert.equal(
    declined(() => checkKnownSettings(settings([['a', '1'], ['b', '2']]), ['a'], 'p')),
    'unknown setting(s) b; p understands only `a`',
  );
});

test('the default rerun selection', () => {
  const p = promise('r').revision('v1').latest('v2').build();
  const bindings = [binding('d', 'a', 'v1').build(), binding('d', 'b', LATEST).build(), binding('d', 'c', 'v2').build()];
  const input = (changedVersion) => ({ now: NOW, settings: [], promise: p, changedVersion, bindings });
  assert.deepEqual(defaultRerunSelection(input('v2')).rerun.map((r) => r.name), ['b-binding', 'c-binding']);
  assert.deepEqual(defaultRerunSelection(input('v1')).rerun.map((r) => r.name), ['a-binding']);
});
