// Semantic versions as kbind's Rust SDK orders them (the `semver` crate's
// rules): strict SemVer 2.0 parsing, an optional leading `v`, pre-releases
// before their release, build metadata compared last.

const NUMBER = '(0|[1-9][0-9]*)';
const PRE_IDENT = '(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)';
const BUILD_IDENT = '[0-9A-Za-z-]+';
const VERSION = new RegExp(
  `^${NUMBER}\\.${NUMBER}\\.${NUMBER}` +
    `(?:-(${PRE_IDENT}(?:\\.${PRE_IDENT})*))?` +
    `(?:\\+(${BUILD_IDENT}(?:\\.${BUILD_IDENT})*))?$`,
);
const DIGITS = /^[0-9]+$/;

/** A promise version as semver (`{major, minor, patch, pre, build}`, the
 * numbers as BigInt), accepting a leading `v` or `V`; `undefined` for
 * versions that are not semver (e.g. `not-set`). */
export function parseVersion(version) {
  const bare = version.startsWith('v') || version.startsWith('V') ? version.slice(1) : version;
  const m = VERSION.exec(bare);
  if (m === null) return undefined;
  return {
    major: BigInt(m[1]),
    minor: BigInt(m[2]),
    patch: BigInt(m[3]),
    pre: m[4] ? m[4].split('.') : [],
    build: m[5] ? m[5].split('.') : [],
  };
}

const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

function comparePre(a, b) {
  // A release sorts after every pre-release of the same version.
  if (a.length === 0 || b.length === 0) return cmp(b.length, a.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const an = DIGITS.test(a[i]);
    const bn = DIGITS.test(b[i]);
    let c;
    if (an && bn) c = cmp(BigInt(a[i]), BigInt(b[i]));
    else if (an) c = -1;
    else if (bn) c = 1;
    else c = cmp(a[i], b[i]);
    if (c !== 0) return c;
  }
  return cmp(a.length, b.length);
}

function compareBuild(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const an = DIGITS.test(a[i]);
    const bn = DIGITS.test(b[i]);
    let c;
    if (an && bn) {
      c = cmp(BigInt(a[i]), BigInt(b[i])) || cmp(a[i].length, b[i].length);
    } else if (an) c = -1;
    else if (bn) c = 1;
    else c = cmp(a[i], b[i]);
    if (c !== 0) return c;
  }
  return cmp(a.length, b.length);
}

/** Orders two parsed versions: -1, 0 or 1. */
export function compareParsed(a, b) {
  return (
    cmp(a.major, b.major) ||
    cmp(a.minor, b.minor) ||
    cmp(a.patch, b.patch) ||
    comparePre(a.pre, b.pre) ||
    compareBuild(a.build, b.build)
  );
}

/** -1, 0 or 1 ordering two promise versions by semver; `undefined` if either
 * is not semver. */
export function compareVersions(a, b) {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (va === undefined || vb === undefined) return undefined;
  return compareParsed(va, vb);
}
