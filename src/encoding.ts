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
  return write(value, '$', new Set())
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
