/**
 * Guest-side JavaScript: the sources of the modules a contract may import,
 * `contract`, `assert` and `util`. They run inside the contract's isolate on top of
 * the internal `vitra:runtime` module (guest-runtime.ts), which is all they reach
 * the host through.
 *
 * These are plain strings (`String.raw`): no backticks and no `${` inside.
 */

/** The modules a contract may import. */
export const GUEST_MODULE_NAMES = ['contract', 'assert', 'util'] as const

export const CONTRACT_SOURCE = String.raw`
import { rt } from 'vitra:runtime'

/** Whether the caller may append ops (calls only; false in process and apply). */
export let isWriter = false
/** The caller's oplog ({ pubkey, getLength(), get(seq) }), or undefined (always undefined in process and apply). */
export let oplog
rt.onCaller((w, o) => { isWriter = w; oplog = rt.oplogOf(o) })
/** Read access to the index: get(path) gives an entry or undefined, list(path, { reverse, offset, limit }) a folder listing. */
export const index = Object.freeze({
  get: (path) => rt.indexGet(path),
  list: (path, opts) => rt.indexList(path, opts)
})
/** The active participants' oplogs: [{ pubkey, getLength(), get(seq) }]. */
export function listOplogs () { return rt.listOplogs() }
export default Object.freeze({
  index,
  get isWriter () { return isWriter },
  get oplog () { return oplog },
  listOplogs
})
`

export const ASSERT_SOURCE = String.raw`
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
`

export const UTIL_SOURCE = String.raw`
import { rt } from 'vitra:runtime'

/** A v4 UUID: random in calls and process, drawn from the ack-seeded PRNG in apply. */
export function genUUID () { return rt.genUUID() }
/** Hex SHA-256 of a string (UTF-8), or of bytes given as hex with encoding 'hex'. Deterministic. */
export function sha256 (data, encoding = 'utf8') { return rt.pure('sha256', [data, encoding]) }
/** Whether signature (128 hex) is a valid ed25519 signature by publicKey (64 hex) of message (UTF-8, or hex with 'hex'). Deterministic. */
export function verifySignature (publicKey, message, signature, encoding = 'utf8') { return rt.pure('verify', [publicKey, message, encoding, signature]) }
/** The key (hex) of the oplog whose signer is this ed25519 public key (a Corestore-made Hypercore). Deterministic. */
export function oplogKeyFor (publicKey) { return rt.pure('oplogkey', [publicKey]) }
export default Object.freeze({ genUUID, sha256, verifySignature, oplogKeyFor })
`
