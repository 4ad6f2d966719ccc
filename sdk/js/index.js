// kbind's policy SDK for JavaScript (componentize-js).
//
// A policy module exports `decisions`, built with `definePolicy({...})`:
// write `metadata` and `initialVersion`, override what differs from Kratix,
// keep the rest. Records are plain objects with camelCase fields, as jco
// maps `kbind:policy@0.2.0`; timestamps and u64s are BigInt; enums are their
// WIT names as strings (`'in-progress'`); variants are `{tag, val}`.
//
// A decision declines (its `result` is `err`) by throwing `new Decline(msg)`;
// any other exception traps the policy, and kbind shows its message.

import { compareVersions, parseVersion, compareParsed } from './semver.js';

export { compareVersions, parseVersion, compareParsed };

/** The contract version this SDK builds against. */
export const CONTRACT_VERSION = '0.2.0';
/** The binding version that follows the promise's latest revision. */
export const LATEST = 'latest';
/** Per-binding (or per-request) override of how far a binding may move on
 * its own; `none` opts it out. */
export const RANGE_ANNOTATION = 'kbind.io/upgrade-range';
/** Lets a user edit a binding to a lower version. */
export const ALLOW_DOWNGRADE_ANNOTATION = 'kbind.io/allow-downgrade';

/** Thrown by a decision to decline; jco turns its `payload` into the err. */
export class Decline extends Error {
  constructor(message) {
    super(message);
    this.name = 'Decline';
    this.payload = message;
  }
}

// ---- logging ----------------------------------------------------------------

let hostLog;
/** Called by the component's entry module with the `kbind:policy/host`
 * import; natively (unit tests) logs go to stderr. */
export function useHostLog(log) {
  hostLog = log;
}

/** Writes to the operator's log: level is 'debug' | 'info' | 'warn' | 'error'. */
export function log(level, message) {
  if (hostLog) hostLog(level, message);
  else console.error(`[${level}] ${message}`);
}

// ---- versions ---------------------------------------------------------------

/** True when `candidate` is newer than `current` and within `range`
 * ('none' | 'patch' | 'minor') of it. Never crosses a major; pre-releases
 * are never chosen; versions that are not semver are never in range. */
export function versionInRange(current, candidate, range) {
  const cur = parseVersion(current);
  const cand = parseVersion(candidate);
  if (cur === undefined || cand === undefined) return false;
  if (compareParsed(cand, cur) <= 0 || cand.pre.length > 0 || cand.major !== cur.major) return false;
  if (range === 'patch') return cand.minor === cur.minor;
  return range === 'minor';
}

/** The revision marked `status.latest` (the first, if several are). */
export function latestRevision(promise) {
  return promise.revisions.find((r) => r.latest);
}

/** The revision with the highest semver version, pre-releases and versions
 * that are not semver left out. */
export function newestRevision(promise) {
  let best;
  for (const revision of promise.revisions) {
    const v = parseVersion(revision.version);
    if (v === undefined || v.pre.length > 0) continue;
    if (best === undefined || compareParsed(v, best.v) > 0) best = { v, revision };
  }
  return best?.revision;
}

export function hasRevision(promise, version) {
  return promise.revisions.some((r) => r.version === version);
}

// ---- settings, labels, annotations ------------------------------------------

/** A setting's value (`{tag: 'text' | 'json', val}`), if configured. */
export function findSetting(settings, name) {
  return settings.find((s) => s.name === name)?.value;
}

/** A setting's text: a scalar as written, a list or a map as its JSON. */
export function setting(settings, name) {
  return findSetting(settings, name)?.val;
}

export const textSetting = (name, value) => ({ name, value: { tag: 'text', val: value } });
export const jsonSetting = (name, json) => ({ name, value: { tag: 'json', val: json } });

/** The value of a label or an annotation. */
export function lookup(pairs, key) {
  return pairs.find((p) => p.key === key)?.value;
}

/** An annotation of the binding, or else of its request. */
export function bindingAnnotation(binding, key) {
  return lookup(binding.annotations, key) ?? lookup(binding.request.annotations, key);
}

export function unknownSettings(settings, known) {
  return settings.map((s) => s.name).filter((name) => !known.includes(name));
}

/** `validateSettings` helper: declines naming every unknown setting. */
export function checkKnownSettings(settings, known, policy) {
  const unknown = unknownSettings(settings, known);
  if (unknown.length > 0) {
    const names = known.map((k) => `\`${k}\``).join(', ');
    throw new Decline(`unknown setting(s) ${unknown.join(', ')}; ${policy} understands only ${names}`);
  }
}

/** `metadata` helper: a policy-info with `settings` given as
 * `[name, description, defaultValue?, allowedValues?]`. */
export function policyInfo(name, version, description, settings = []) {
  return {
    name,
    version,
    description,
    settings: settings.map(([settingName, settingDescription, defaultValue, allowedValues = []]) => ({
      name: settingName,
      description: settingDescription,
      defaultValue,
      allowedValues,
    })),
  };
}

export const bindingRef = (binding) => ({ namespace: binding.namespace, name: binding.name });

/** `text` in double quotes, escaped as Rust's `{:?}` does, so messages match
 * the Rust SDK's word for word. */
export function quoted(text) {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\0') out += '\\0';
    else if (code < 0x20 || code === 0x7f) out += `\\u{${code.toString(16)}}`;
    else out += ch;
  }
  return out + '"';
}

// ---- decisions policies share -----------------------------------------------

/** Kratix: a binding recreated after deletion keeps the version its
 * request was last reconciled with. */
export function restoredVersion(input) {
  const previous = input.previousVersion;
  if (!previous) return undefined;
  return {
    version: previous,
    reason: `restoring the binding version ${previous} the request was last reconciled with`,
  };
}

/** Requests bound to the changed version, plus `latest` requests if the
 * changed revision is the latest one (Kratix issue #815 fixed). */
export function defaultRerunSelection(input) {
  const changedIsLatest = latestRevision(input.promise)?.version === input.changedVersion;
  const rerun = input.bindings
    .filter((b) => b.version === input.changedVersion || (changedIsLatest && b.version === LATEST))
    .map(bindingRef);
  const reason = changedIsLatest
    ? `re-running requests on ${input.changedVersion} and on latest; requests pinned to other versions are untouched`
    : `re-running requests pinned to ${input.changedVersion}; requests on other versions are untouched`;
  return { rerun, reason };
}

/** A recreated binding keeps its request's version; otherwise the newest
 * revision by semver, or the latest one when no revision is semver. */
export function pinToNewest(input) {
  const restored = restoredVersion(input);
  if (restored) return restored;
  const newest = newestRevision(input.promise);
  if (newest) return { version: newest.version, reason: `pinned to the newest revision ${newest.version}` };
  const latest = latestRevision(input.promise);
  if (latest) {
    return {
      version: latest.version,
      reason: `no revision has a semver version; pinned to the latest revision ${latest.version}`,
    };
  }
  throw new Decline(`promise ${input.promise.name} has no revisions to pin a new binding to`);
}

/** Any edit but a downgrade; a downgrade only where the binding or its
 * request says `kbind.io/allow-downgrade: "true"`. */
export function reviewNoDowngrade(input) {
  const requested = input.requestedVersion;
  const binding = input.binding;
  const current = binding.version === LATEST ? (binding.lastAppliedVersion ?? LATEST) : binding.version;
  if (compareVersions(requested, current) !== -1) {
    return { allowed: true, reason: `${current} -> ${requested} is not a downgrade` };
  }
  if (bindingAnnotation(binding, ALLOW_DOWNGRADE_ANNOTATION) === 'true') {
    return {
      allowed: true,
      reason: `downgrade ${current} -> ${requested} allowed by ${ALLOW_DOWNGRADE_ANNOTATION}`,
    };
  }
  return {
    allowed: false,
    reason:
      `downgrade ${current} -> ${requested} denied; annotate the binding or its request with ` +
      `${ALLOW_DOWNGRADE_ANNOTATION}: "true" to allow it`,
  };
}

/** Back to the last applied version, or hold when there is none other. */
export function rollBack(input) {
  const applied = input.binding.lastAppliedVersion;
  if (applied !== undefined && applied !== input.failedVersion) {
    return {
      action: { tag: 'roll-back' },
      reason: `upgrade to ${input.failedVersion} failed; rolling back to ${applied}`,
    };
  }
  return {
    action: { tag: 'hold' },
    reason: `${input.failedVersion} failed and there is no other applied version to roll back to; holding`,
  };
}

// ---- the policy ------------------------------------------------------------

/** Kratix's decisions for every decision point a policy leaves alone. */
export const kratixDefaults = {
  validateSettings(_settings) {},
  planUpgrades(_input) {
    return {
      upgrades: [],
      recheckAfterMs: undefined,
      reason: 'this policy never upgrades on its own; edit spec.version to upgrade',
      rollouts: [],
    };
  },
  reviewEdit(input) {
    return {
      allowed: true,
      reason: `edits are not restricted; ${input.binding.version} -> ${input.requestedVersion}`,
    };
  },
  afterFailure(input) {
    return {
      action: { tag: 'hold' },
      reason: `upgrade to ${input.failedVersion} failed; holding until spec.version is edited`,
    };
  },
  rerunOnSpecChange(input) {
    return defaultRerunSelection(input);
  },
};

/** An error that is not a `Decline` is a bug in the policy: it still traps,
 * but jco would report only that it cannot encode an `Error` as the err
 * string, so its stack goes to stderr first, where kbind shows it. */
function reportUncaught(err) {
  if (!(err instanceof Decline)) {
    // SpiderMonkey's `stack` is the frames only; V8's starts with the message.
    const message = String(err);
    const stack = err?.stack ?? '';
    const frames = stack.startsWith(message) ? stack.slice(message.length) : `\n${stack}`;
    console.error(`Uncaught ${message}${frames}`);
  }
  throw err;
}

function guarded(decision) {
  return function (...args) {
    try {
      const answer = decision.apply(this, args);
      return answer instanceof Promise ? answer.catch(reportUncaught) : answer;
    } catch (err) {
      return reportUncaught(err);
    }
  };
}

/** The `decisions` export: `decisions` must define `metadata` and
 * `initialVersion`; every other decision defaults to Kratix's. */
export function definePolicy(decisions) {
  for (const required of ['metadata', 'initialVersion']) {
    if (typeof decisions[required] !== 'function') {
      throw new TypeError(`a policy must define ${required}()`);
    }
  }
  const merged = { ...kratixDefaults, ...decisions };
  return Object.fromEntries(Object.entries(merged).map(([name, f]) => [name, guarded(f)]));
}
