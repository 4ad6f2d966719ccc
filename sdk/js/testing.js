// Builders for native unit tests (`node --test`): a policy's decisions are
// plain functions, called with inputs built here; no wasm needed.
//
//   import { promise, binding, settings, NOW } from '@kbind/policy-sdk/testing';
//   const p = promise('redis').revision('v0.1.0').latest('v0.2.0').build();
//   const b = binding('default', 'example', 'v0.1.0').applied('v0.1.0').build();

import { Decline, textSetting } from './index.js';

/** A fixed instant (2026-01-01T00:00:00Z) for deterministic tests. */
export const NOW = 1767225600000n;

class PromiseBuilder {
  constructor(name) {
    this.promise = { name, revisions: [], labels: [], annotations: [] };
  }
  /** Adds a non-latest revision. */
  revision(version) {
    return this.#push(version, false);
  }
  /** Adds the revision marked `status.latest`. */
  latest(version) {
    return this.#push(version, true);
  }
  #push(version, latest) {
    const createdAt = NOW + BigInt(this.promise.revisions.length) * 1000n;
    this.promise.revisions.push({ name: `${this.promise.name}-${version}`, version, latest, createdAt });
    return this;
  }
  annotated(key, value) {
    this.promise.annotations.push({ key, value });
    return this;
  }
  labelled(key, value) {
    this.promise.labels.push({ key, value });
    return this;
  }
  build() {
    return this.promise;
  }
}

/** Starts a promise with no revisions. */
export const promise = (name) => new PromiseBuilder(name);

/** A request with no labels or annotations. */
export const request = (namespace, name) => ({ namespace, name, labels: [], annotations: [] });

class BindingBuilder {
  constructor(namespace, name, version) {
    this.b = {
      namespace,
      name: `${name}-binding`,
      request: request(namespace, name),
      version,
      lastAppliedVersion: undefined,
      inFlightVersion: undefined,
      failedVersion: undefined,
      failedVersions: [],
      state: 'none',
      labels: [],
      annotations: [],
      lastSucceededAt: undefined,
      lastFailedAt: undefined,
    };
  }
  /** Marks `version` as successfully applied. */
  applied(version) {
    this.b.lastAppliedVersion = version;
    this.b.state = 'succeeded';
    return this;
  }
  /** Marks an upgrade to `version` as failed. */
  failed(version) {
    this.b.failedVersion = version;
    this.b.failedVersions.push(version);
    this.b.state = 'failed';
    return this;
  }
  /** Marks an upgrade to `version` as running. */
  inFlight(version) {
    this.b.inFlightVersion = version;
    this.b.state = 'in-progress';
    return this;
  }
  succeededAt(at) {
    this.b.lastSucceededAt = at;
    return this;
  }
  failedAt(at) {
    this.b.lastFailedAt = at;
    return this;
  }
  annotated(key, value) {
    this.b.annotations.push({ key, value });
    return this;
  }
  requestAnnotated(key, value) {
    this.b.request.annotations.push({ key, value });
    return this;
  }
  requestLabelled(key, value) {
    this.b.request.labels.push({ key, value });
    return this;
  }
  build() {
    return this.b;
  }
}

/** A fresh binding of request `<namespace>/<name>` at `version`. */
export const binding = (namespace, name, version) => new BindingBuilder(namespace, name, version);

/** Scalar settings from `[name, value]` pairs. */
export const settings = (pairs) => pairs.map(([name, value]) => textSetting(name, value));

/** The message a decision declined with, or undefined if it did not. */
export function declined(call) {
  try {
    call();
  } catch (err) {
    if (err instanceof Decline) return err.message;
    throw err;
  }
  return undefined;
}
