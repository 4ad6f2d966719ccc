// `semver-auto` in JavaScript: keeps bindings on the newest compatible
// revision, as the Rust policy beside it (`../src/lib.rs`) does, word for word.
//
// - New binding: pinned to the newest revision by semver (a recreated binding
//   keeps the version its request was last reconciled with).
// - When revisions change: each pinned binding moves to the highest revision
//   within its range (`patch` or `minor`, setting `range`, overridable per
//   binding or request by `kbind.io/upgrade-range: none|patch|minor`). Never
//   crosses a major, never picks a pre-release, never re-selects a version that
//   failed for that binding, leaves `latest` bindings and running upgrades alone.
// - A downgrade is denied unless `kbind.io/allow-downgrade: "true"`.
// - After a failed upgrade: roll back to the last applied version.

import {
  LATEST,
  RANGE_ANNOTATION,
  Decline,
  bindingAnnotation,
  bindingRef,
  checkKnownSettings,
  compareParsed,
  definePolicy,
  parseVersion,
  pinToNewest,
  policyInfo,
  quoted,
  reviewNoDowngrade,
  rollBack,
  setting,
  versionInRange,
} from '@kbind/policy-sdk';

const RANGE = 'range';
const VERSION = '0.1.0';
// How soon to plan again when bindings were skipped because an upgrade was
// running on them.
const BUSY_RECHECK_MS = 5000n;

export function configuredRange(settings) {
  const value = setting(settings, RANGE);
  if (value === undefined) return 'minor';
  if (value === 'patch' || value === 'minor') return value;
  throw new Decline(`setting \`${RANGE}\` must be \`patch\` or \`minor\`, not ${quoted(value)}`);
}

function rangeFor(binding, defaultRange) {
  const value = bindingAnnotation(binding, RANGE_ANNOTATION);
  if (value === undefined) return [defaultRange, undefined];
  if (value === 'none' || value === 'patch' || value === 'minor') return [value, undefined];
  return [
    defaultRange,
    `${binding.namespace}/${binding.name}: ignoring ${RANGE_ANNOTATION}=${quoted(value)} ` +
      '(expected none, patch or minor)',
  ];
}

const hasFailed = (binding, version) =>
  binding.failedVersion === version || binding.failedVersions.includes(version);

/** The highest revision in range of the binding's version that has not
 * failed for it. */
function upgradeTarget(promise, binding, range) {
  let best;
  for (const revision of promise.revisions) {
    if (!versionInRange(binding.version, revision.version, range)) continue;
    if (hasFailed(binding, revision.version)) continue;
    const v = parseVersion(revision.version);
    // Rust's `max_by` keeps the last of equal maxima; so does `>= 0`.
    if (best === undefined || compareParsed(v, best.v) >= 0) best = { v, revision };
  }
  return best?.revision;
}

export const decisions = definePolicy({
  metadata() {
    return policyInfo(
      'semver-auto',
      VERSION,
      'Pins new bindings to the newest revision and upgrades them automatically within a ' +
        'patch or minor range; never crosses a major, never retries a failed version, ' +
        'rolls back failed upgrades and denies downgrades unless allowed.',
      [
        [
          RANGE,
          'How far automatic upgrades may move a binding: `patch` (same minor) or `minor` ' +
            '(same major). Override per binding or request with the annotation ' +
            'kbind.io/upgrade-range: none|patch|minor.',
          'minor',
          ['patch', 'minor'],
        ],
      ],
    );
  },

  validateSettings(settings) {
    checkKnownSettings(settings, [RANGE], 'semver-auto');
    configuredRange(settings);
  },

  initialVersion(input) {
    return pinToNewest(input);
  },

  planUpgrades(input) {
    const defaultRange = configuredRange(input.settings);
    const upgrades = [];
    const notes = [];
    let busy = 0;
    for (const binding of input.bindings) {
      if (binding.version === LATEST) continue;
      if (binding.state === 'in-progress') {
        // Left alone now, but not forgotten: ask to be asked again.
        busy += 1;
        continue;
      }
      const [range, note] = rangeFor(binding, defaultRange);
      if (note) notes.push(note);
      const target = upgradeTarget(input.promise, binding, range);
      if (target) {
        upgrades.push({
          binding: bindingRef(binding),
          version: target.version,
          reason: `${binding.version} -> ${target.version}: newest revision within the ${range} range`,
        });
      }
    }
    let reason = `${upgrades.length} of ${input.bindings.length} binding(s) upgraded within their range`;
    for (const note of notes) reason += `; ${note}`;
    if (busy > 0) {
      reason += `; ${busy} binding(s) with an upgrade running, checked again in ${BUSY_RECHECK_MS / 1000n}s`;
    }
    return {
      upgrades,
      recheckAfterMs: busy > 0 ? BUSY_RECHECK_MS : undefined,
      reason,
      rollouts: [],
    };
  },

  reviewEdit(input) {
    return reviewNoDowngrade(input);
  },

  afterFailure(input) {
    return rollBack(input);
  },
});
