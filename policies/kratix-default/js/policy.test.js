// Native unit tests of the JavaScript kratix-default (`node --test`), the
// Rust policy's tests case for case.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { NOW, declined, promise, request, settings } from '@kbind/policy-sdk/testing';
import { decisions } from './policy.js';

const initial = (pairs, previousVersion, revisions) =>
  decisions.initialVersion({
    now: NOW,
    settings: settings(pairs),
    promise: revisions ?? promise('redis').revision('v0.1.0').latest('v0.2.0').build(),
    request: request('default', 'example'),
    previousVersion,
  });

test('floating is the default and binds latest', () => {
  assert.equal(initial([]).version, 'latest');
  assert.equal(initial([['strategy', 'floating']]).version, 'latest');
});

test('pinned binds the latest revision version', () => {
  const choice = initial([['strategy', 'pinned']]);
  assert.equal(choice.version, 'v0.2.0');
  assert.match(choice.reason, /pinned/);
});

test('an invalid strategy floats like Kratix', () => {
  for (const bad of ['Pinned', 'invalid', 'PINNED']) {
    const choice = initial([['strategy', bad]]);
    assert.equal(choice.version, 'latest', bad);
    assert.match(choice.reason, /using floating/);
  }
  assert.equal(initial([['strategy', '']]).version, 'latest');
});

test('a recreated binding keeps the recorded version regardless of strategy', () => {
  assert.equal(initial([['strategy', 'pinned']], 'latest').version, 'latest');
  assert.equal(initial([], 'v0.1.0').version, 'v0.1.0');
  // An empty recorded version is "none" (brand-new request).
  assert.equal(initial([], '').version, 'latest');
});

test('pinned without a latest revision is an error', () => {
  const message = declined(() => initial([['strategy', 'pinned']], undefined, promise('redis').revision('v0.1.0').build()));
  assert.match(message, /no latest promise revision yet/);
});

test('unknown setting names are rejected', () => {
  assert.equal(declined(() => decisions.validateSettings(settings([['strategy', 'pinned']]))), undefined);
  assert.match(declined(() => decisions.validateSettings(settings([['stratgy', 'pinned']]))), /stratgy/);
});
