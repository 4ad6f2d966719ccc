// `kratix-default` in JavaScript: exactly the decisions Kratix hard-codes, as
// the Rust policy beside it (`../src/lib.rs`) makes them, word for word.
//
// - New binding: the version the request was last reconciled with if
//   the binding is being recreated; else `latest` (strategy `floating`, the
//   default) or the latest revision's version (strategy `pinned`).
// - Everything else is the SDK's default: Kratix's behaviour.

import {
  LATEST,
  Decline,
  checkKnownSettings,
  definePolicy,
  latestRevision,
  policyInfo,
  quoted,
  restoredVersion,
  setting,
} from '@kbind/policy-sdk';

const STRATEGY = 'strategy';
const FLOATING = 'floating';
const PINNED = 'pinned';
const VERSION = '0.1.0';

/** Kratix reads the strategy case-sensitively; anything but `pinned` floats
 * (an invalid value is reported, not fatal). */
export function strategy(settings) {
  const value = setting(settings, STRATEGY);
  if (value === PINNED) return [PINNED, undefined];
  if (value === undefined || value === FLOATING || value === '') return [FLOATING, undefined];
  return [FLOATING, `strategy ${quoted(value)} is not \`floating\` or \`pinned\`; using floating`];
}

export const decisions = definePolicy({
  metadata() {
    return policyInfo(
      'kratix-default',
      VERSION,
      "Kratix's built-in decisions: bindings float on `latest` (or are pinned at creation), " +
        'upgrades happen only when a user edits spec.version, failed upgrades hold.',
      [
        [
          STRATEGY,
          "Version of new bindings: `floating` (spec.version: latest) or `pinned` (the latest " +
            "revision's version at creation). Invalid values mean floating, as in Kratix.",
          FLOATING,
          [FLOATING, PINNED],
        ],
      ],
    );
  },

  validateSettings(settings) {
    checkKnownSettings(settings, [STRATEGY], 'kratix-default');
  },

  initialVersion(input) {
    const restored = restoredVersion(input);
    if (restored) return restored;
    const [chosen, warning] = strategy(input.settings);
    const note = warning ? ` (${warning})` : '';
    if (chosen === FLOATING) {
      return { version: LATEST, reason: `strategy floating: new bindings follow the latest revision${note}` };
    }
    const latest = latestRevision(input.promise);
    if (!latest) {
      throw new Decline(
        `cannot find any PromiseRevision for Promise ${input.promise.name} with status.latest set ` +
          'to true: no latest promise revision yet',
      );
    }
    return { version: latest.version, reason: `strategy pinned: pinned to the latest revision ${latest.version}` };
  },
});
