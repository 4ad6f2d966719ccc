// Unit tests, natively: `npm test` (build.sh runs them).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { NOW, declined, promise, request } from '@kbind/policy-sdk/testing';
import { decisions } from './policy.js';

const initial = (p) =>
  decisions.initialVersion({ now: NOW, settings: [], promise: p, request: request('default', 'example') });

test('new bindings pin the newest revision', () => {
  assert.equal(initial(promise('redis').latest('v1.0.0').revision('v1.1.0').build()).version, 'v1.1.0');
});

test('a promise without revisions is declined', () => {
  assert.match(declined(() => initial(promise('redis').build())), /no revisions/);
});
