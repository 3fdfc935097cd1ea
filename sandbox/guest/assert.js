// @ts-check
/**
 * The guest module `assert`: Node-style assertions for contracts; self-contained (captures the intrinsics it uses when it loads, before contract code runs).
 * Runs inside the contract's isolate; loaded as text by sandbox/guest-sources.ts.
 */
const ObjectIs = Object.is
const ObjectKeys = Object.keys
const ObjectGetPrototypeOf = Object.getPrototypeOf
const ObjectHasOwn = Object.hasOwn
const isArray = Array.isArray
const JSONstringify = JSON.stringify
const StringCtor = String
const RealDate = Date

export class AssertionError extends Error {
  constructor (message) { super(message); this.name = 'AssertionError' }
}

function show (v) {
  try {
    if (typeof v === 'string') return JSONstringify(v)
    if (typeof v === 'bigint') return StringCtor(v) + 'n'
    if (typeof v === 'function') return '[Function]'
    if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined || typeof v === 'symbol') return StringCtor(v)
    const s = JSONstringify(v)
    if (typeof s !== 'string') return StringCtor(v)
    return s.length > 200 ? s.slice(0, 200) + '...' : s
  } catch {
    return '[unprintable]'
  }
}

function raise (message, fallback) {
  if (message instanceof Error) throw message
  throw new AssertionError(message === undefined ? fallback : StringCtor(message))
}

function deep (a, b, seen) {
  if (ObjectIs(a, b)) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (ObjectGetPrototypeOf(a) !== ObjectGetPrototypeOf(b)) return false
  if (a instanceof RealDate) return ObjectIs(a.getTime(), b.getTime())
  if (a instanceof RegExp) return StringCtor(a) === StringCtor(b)
  for (let i = 0; i < seen.length; i++) if (seen[i][0] === a && seen[i][1] === b) return true
  seen.push([a, b])
  if (a instanceof Map) {
    if (a.size !== b.size) return false
    for (const [k, v] of a) if (!b.has(k) || !deep(v, b.get(k), seen)) return false
    return true
  }
  if (a instanceof Set) {
    if (a.size !== b.size) return false
    for (const v of a) if (!b.has(v)) return false
    return true
  }
  if (isArray(a) && a.length !== b.length) return false
  const ka = ObjectKeys(a)
  const kb = ObjectKeys(b)
  if (ka.length !== kb.length) return false
  for (const k of ka) if (!ObjectHasOwn(b, k) || !deep(a[k], b[k], seen)) return false
  return true
}

/** Fails unless value is truthy. */
export function ok (value, message) { if (!value) raise(message, 'Expected a truthy value, got ' + show(value)) }
/** Fails unless Object.is(actual, expected). */
export function equal (actual, expected, message) {
  if (!ObjectIs(actual, expected)) raise(message, 'Expected ' + show(actual) + ' to equal ' + show(expected))
}
/** Fails if Object.is(actual, expected). */
export function notEqual (actual, expected, message) {
  if (ObjectIs(actual, expected)) raise(message, 'Expected ' + show(actual) + ' not to equal ' + show(expected))
}
/** Fails unless actual and expected are structurally equal (same prototypes, own enumerable keys). */
export function deepEqual (actual, expected, message) {
  if (!deep(actual, expected, [])) raise(message, 'Expected ' + show(actual) + ' to deeply equal ' + show(expected))
}
/** Fails if actual and expected are structurally equal. */
export function notDeepEqual (actual, expected, message) {
  if (deep(actual, expected, [])) raise(message, 'Expected ' + show(actual) + ' not to deeply equal ' + show(expected))
}
/** Fails unless string matches regexp. */
export function match (string, regexp, message) {
  if (typeof string !== 'string' || !(regexp instanceof RegExp)) raise(message, 'match(string, regexp) needs a string and a RegExp')
  regexp.lastIndex = 0
  if (!regexp.test(string)) raise(message, 'Expected ' + show(string) + ' to match ' + StringCtor(regexp))
}
/** Fails if string matches regexp. */
export function doesNotMatch (string, regexp, message) {
  if (typeof string !== 'string' || !(regexp instanceof RegExp)) raise(message, 'doesNotMatch(string, regexp) needs a string and a RegExp')
  regexp.lastIndex = 0
  if (regexp.test(string)) raise(message, 'Expected ' + show(string) + ' not to match ' + StringCtor(regexp))
}
/** Always fails. */
export function fail (message) { raise(message, 'Failed') }

export const strictEqual = equal
export const notStrictEqual = notEqual
export const deepStrictEqual = deepEqual
export const notDeepStrictEqual = notDeepEqual

function assert (value, message) { ok(value, message) }
Object.assign(assert, { ok, equal, notEqual, deepEqual, notDeepEqual, match, doesNotMatch, fail, strictEqual, notStrictEqual, deepStrictEqual, notDeepStrictEqual, AssertionError })
Object.freeze(assert)
export default assert
