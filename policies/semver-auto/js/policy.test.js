// Native unit tests of the JavaScript semver-auto (`node --test`), the Rust
// policy's tests case for case.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ALLOW_DOWNGRADE_ANNOTATION, RANGE_ANNOTATION } from '@kbind/policy-sdk';
import { NOW, binding, declined, promise, request, settings } from '@kbind/policy-sdk/testing';
import { decisions } from './policy.js';

const revisions = () =>
  promise('redis')
    .revision('v1.0.0')
    .revision('v1.0.3')
    .revision('v1.2.0')
    .revision('v1.3.0-rc.1')
    .revision('v2.0.0')
    .latest('v2.0.1')
    .build();

const plan = (pairs, bindings) =>
  decisions.planUpgrades({
    now: NOW,
    settings: settings(pairs),
    promise: revisions(),
    bindings: bindings.map((b) => b.build()),
    trigger: 'revisions-changed',
  });

const targets = (p) => p.upgrades.map((u) => [u.binding.name, u.version]);

test('new bindings pin the newest revision, not the latest marker', () => {
  const choice = decisions.initialVersion({
    now: NOW,
    settings: [],
    promise: promise('redis').latest('v1.0.0').revision('v1.1.0').build(),
    request: request('default', 'a'),
    previousVersion: undefined,
  });
  assert.equal(choice.version, 'v1.1.0');
});

test('the minor range moves to the highest in the major and skips pre-releases', () => {
  assert.deepEqual(targets(plan([], [binding('default', 'a', 'v1.0.0').applied('v1.0.0')])), [['a-binding', 'v1.2.0']]);
});

test('the patch range stays in the minor', () => {
  assert.deepEqual(targets(plan([['range', 'patch']], [binding('default', 'a', 'v1.0.0')])), [['a-binding', 'v1.0.3']]);
});

test('never crosses a major', () => {
  assert.deepEqual(targets(plan([], [binding('default', 'a', 'v1.2.0')])), []);
  assert.deepEqual(targets(plan([], [binding('default', 'b', 'v2.0.0')])), [['b-binding', 'v2.0.1']]);
});

test('the annotation overrides the range per request', () => {
  const p = plan([], [
    binding('default', 'a', 'v1.0.0').requestAnnotated(RANGE_ANNOTATION, 'patch'),
    binding('default', 'b', 'v1.0.0').annotated(RANGE_ANNOTATION, 'none'),
    binding('default', 'c', 'v1.0.0'),
  ]);
  assert.deepEqual(targets(p), [['a-binding', 'v1.0.3'], ['c-binding', 'v1.2.0']]);
});

test('an invalid annotation falls back and is reported', () => {
  const p = plan([], [binding('default', 'a', 'v1.0.0').annotated(RANGE_ANNOTATION, 'major')]);
  assert.deepEqual(targets(p), [['a-binding', 'v1.2.0']]);
  assert.match(p.reason, /ignoring kbind\.io\/upgrade-range/);
});

test('never re-selects a failed version', () => {
  const p = plan([], [binding('default', 'a', 'v1.0.0').applied('v1.0.0').failed('v1.2.0')]);
  assert.deepEqual(targets(p), [['a-binding', 'v1.0.3']]);
});

test('leaves latest and running upgrades alone', () => {
  const p = plan([], [binding('default', 'a', 'latest'), binding('default', 'b', 'v1.0.0').inFlight('v1.0.0')]);
  assert.deepEqual(p.upgrades, []);
  assert.equal(p.recheckAfterMs, 5000n);
});

test('settings are validated', () => {
  assert.equal(declined(() => decisions.validateSettings(settings([['range', 'patch']]))), undefined);
  for (const bad of [[['range', 'major']], [['range', 'none']], [['rnage', 'patch']]]) {
    assert.notEqual(declined(() => decisions.validateSettings(settings(bad))), undefined, JSON.stringify(bad));
  }
});

const review = (b, to) =>
  decisions.reviewEdit({ now: NOW, settings: [], promise: revisions(), binding: b.build(), requestedVersion: to });

test('downgrades are denied unless annotated', () => {
  const r = review(binding('default', 'a', 'v1.2.0'), 'v1.0.0');
  assert.equal(r.allowed, false);
  assert.ok(r.reason.includes(ALLOW_DOWNGRADE_ANNOTATION));
  assert.ok(review(binding('default', 'a', 'v1.2.0').annotated(ALLOW_DOWNGRADE_ANNOTATION, 'true'), 'v1.0.0').allowed);
  assert.ok(review(binding('default', 'a', 'v1.2.0').requestAnnotated(ALLOW_DOWNGRADE_ANNOTATION, 'true'), 'v1.0.0').allowed);
  assert.ok(review(binding('default', 'a', 'v1.0.0'), 'v2.0.0').allowed);
  assert.ok(review(binding('default', 'a', 'v1.0.0'), 'latest').allowed);
  assert.equal(review(binding('default', 'a', 'latest').applied('v2.0.1'), 'v1.0.0').allowed, false);
});

test('a failed upgrade rolls back to the applied version', () => {
  const after = (b) =>
    decisions.afterFailure({
      now: NOW,
      settings: [],
      promise: revisions(),
      binding: b.build(),
      failedVersion: 'v1.2.0',
      message: 'boom',
      attempts: 1,
      failedAt: NOW,
    });
  assert.equal(after(binding('default', 'a', 'v1.2.0').applied('v1.0.0').failed('v1.2.0')).action.tag, 'roll-back');
  assert.equal(after(binding('default', 'a', 'v1.2.0').failed('v1.2.0')).action.tag, 'hold');
});
