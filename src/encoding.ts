/**
 * Deterministic value encoding. The same JSON value always gives the same bytes:
 * object keys are sorted by UTF-16 code unit order, no whitespace, numbers as
 * JavaScript prints them, -0 becomes 0. Only JSON values are accepted:
 * null, booleans, finite numbers, strings, arrays and plain objects
 * (object properties whose value is undefined are left out, as JSON.stringify does).
 * Verification compares these bytes, never loosely-equal objects.
 */
import { InvalidValueError } from './errors.js'

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** Canonical JSON text of `value`; throws InvalidValueError for anything that is not a JSON value. */
export function canonicalJson (value: unknown): string {
  try {
    return fast(value, [])
  } catch (err) {
    if (err !== NOT_JSON) throw err
    return write(value, '$', new Set()) // the same walk again, naming where the value goes wrong (it throws)
  }
}

/**
 * Whether `text` is the canonical encoding of `value`, which was parsed from it. Most
 * canonical texts are what JSON.stringify makes of their own parse with every
 * object's keys already in order: that is checked first, without re-encoding.
 */
export function isCanonicalText (value: JsonValue, text: string): boolean {
  if (keysInOrder(value) && JSON.stringify(value) === text) return true
  return canonicalJson(value) === text
}

function keysInOrder (v: JsonValue): boolean {
  if (v === null || typeof v !== 'object') return true
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!keysInOrder(v[i])) return false
    return true
  }
  const keys = Object.keys(v)
  if (!sorted(keys)) return false
  for (const k of keys) if (!keysInOrder(v[k])) return false
  return true
}

/** Thrown by `fast` when the value is not JSON: `write` then finds out where. */
const NOT_JSON = new Error('not a JSON value')

/** The canonical writer without bookkeeping for error messages (`stack`: the objects being written, for cycles). */
function fast (v: unknown, stack: object[]): string {
  switch (typeof v) {
    case 'string': return JSON.stringify(v)
    case 'boolean': return v ? 'true' : 'false'
    case 'number':
      if (!Number.isFinite(v)) throw NOT_JSON
      return '' + v // Number::toString, as JSON.stringify writes numbers (and -0 as 0)
    case 'object': {
      if (v === null) return 'null'
      if (stack.includes(v)) throw NOT_JSON
      stack.push(v)
      let out: string
      if (Array.isArray(v)) {
        out = '['
        for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + fast(v[i], stack)
        out += ']'
      } else {
        const proto = Object.getPrototypeOf(v)
        if (proto !== Object.prototype && proto !== null) throw NOT_JSON
        const rec = v as Record<string, unknown>
        const keys = Object.keys(rec)
        if (!sorted(keys)) keys.sort()
        out = '{'
        let first = true
        for (const k of keys) {
          const el = rec[k]
          if (el === undefined) continue
          out += (first ? '' : ',') + JSON.stringify(k) + ':' + fast(el, stack)
          first = false
        }
        out += '}'
      }
      stack.pop()
      return out
    }
    default: throw NOT_JSON
  }
}

function sorted (keys: string[]): boolean {
  for (let i = 1; i < keys.length; i++) if (!(keys[i - 1] < keys[i])) return false
  return true
}

/** Canonical bytes (UTF-8 of canonicalJson). */
export function encodeValue (value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8')
}

/** Parse bytes written by encodeValue. Throws InvalidValueError on malformed input. */
export function decodeValue (buf: Uint8Array): JsonValue {
  try {
    return JSON.parse(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8')) as JsonValue
  } catch (err) {
    throw new InvalidValueError(`Not a JSON value: ${(err as Error).message}`)
  }
}

/** True when the two values have the same canonical encoding. */
export function sameValue (a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b)
}

function write (v: unknown, path: string, seen: Set<object>): string {
  if (v === null) return 'null'
  switch (typeof v) {
    case 'boolean': return v ? 'true' : 'false'
    case 'string': return JSON.stringify(v)
    case 'number':
      if (!Number.isFinite(v)) throw new InvalidValueError(`${path} is ${v}: only finite numbers can be stored`)
      return Object.is(v, -0) ? '0' : JSON.stringify(v)
    case 'object': return writeObject(v as object, path, seen)
    default: throw new InvalidValueError(`${path} is a ${typeof v}: only JSON values can be stored`)
  }
}

function writeObject (v: object, path: string, seen: Set<object>): string {
  if (seen.has(v)) throw new InvalidValueError(`${path} is a circular reference`)
  seen.add(v)
  let out: string
  if (Array.isArray(v)) {
    out = '[' + v.map((x, i) => write(x, `${path}[${i}]`, seen)).join(',') + ']'
  } else {
    const proto = Object.getPrototypeOf(v)
    if (proto !== Object.prototype && proto !== null) {
      throw new InvalidValueError(`${path} is a ${proto?.constructor?.name ?? 'non-plain object'}: only plain objects can be stored`)
    }
    const rec = v as Record<string, unknown>
    const keys = Object.keys(rec).filter(k => rec[k] !== undefined).sort()
    out = '{' + keys.map(k => JSON.stringify(k) + ':' + write(rec[k], `${path}.${k}`, seen)).join(',') + '}'
  }
  seen.delete(v)
  return out
}
