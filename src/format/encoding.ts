/**
 * Deterministic value encoding. The same JSON value always gives the same bytes:
 * object keys are sorted by UTF-16 code unit order, no whitespace, numbers as
 * JavaScript prints them, -0 becomes 0. Only JSON values are accepted:
 * null, booleans, finite numbers, strings, arrays and plain objects
 * (object properties whose value is undefined are left out, as JSON.stringify does).
 * Verification compares these bytes, never loosely-equal objects.
 */
import { InvalidValueError, LimitError } from '../errors/errors.js'

/**
 * The deepest nesting of arrays and objects in any JSON vitra encodes or decodes:
 * ops, stored values, ack metadata, proofs, checkpoints, gossip (a protocol constant,
 * whitepaper/protocol.md "Limits"). `[1]` has depth 1, `{"a":[1]}` depth 2. Deeper
 * input is refused before anything walks it recursively, so no input can exhaust
 * the stack of the executor or of a verifier, and both refuse exactly the same values.
 */
export const MAX_JSON_DEPTH = 64

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** Canonical JSON text of `value`; throws InvalidValueError for anything that is not a JSON value. */
export function canonicalJson (value: unknown): string {
  try {
    return fast(value, [])
  } catch (err) {
    if (err === TOO_DEEP) throw tooDeep('A value')
    if (err !== NOT_JSON) throw err
    return write(value, '$', new Set()) // the same walk again, naming where the value goes wrong (it throws)
  }
}

function tooDeep (what: string, code: 'VALUE_TOO_DEEP' | 'OP_TOO_DEEP' = 'VALUE_TOO_DEEP'): LimitError {
  return new LimitError(code, `${what} is nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`, { limit: MAX_JSON_DEPTH })
}

/**
 * Whether JSON text nests arrays and objects deeper than MAX_JSON_DEPTH. One pass
 * over the characters, no recursion (strings are skipped, escapes honoured); text
 * that is not JSON gives some answer and fails to parse afterwards.
 */
export function tooDeepText (text: string): boolean {
  const n = text.length
  if (n <= MAX_JSON_DEPTH) return false
  let depth = 0
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) { // a string: skip to its closing quote
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i)
        if (d === 0x5c) i++
        else if (d === 0x22) break
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) return true
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  return false
}

/**
 * JSON.parse for untrusted text (V8's parser is iterative), refusing text nested
 * deeper than MAX_JSON_DEPTH with VALUE_TOO_DEEP (`what` names the input), so that
 * whatever walks the result afterwards cannot run out of stack.
 */
export function parseJson (text: string, what = 'The JSON text', code: 'VALUE_TOO_DEEP' | 'OP_TOO_DEEP' = 'VALUE_TOO_DEEP'): unknown {
  if (tooDeepText(text)) throw tooDeep(what, code)
  return JSON.parse(text)
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
    for (const x of v) if (!keysInOrder(x)) return false
    return true
  }
  const keys = Object.keys(v)
  if (!sorted(keys)) return false
  for (const k of keys) if (!keysInOrder(v[k] as JsonValue)) return false
  return true
}

/** Thrown by `fast` when the value is not JSON: `write` then finds out where. */
const NOT_JSON = new Error('not a JSON value')
/** Thrown by `fast` when the value nests deeper than MAX_JSON_DEPTH. */
const TOO_DEEP = new Error('too deep')

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
      if (stack.length >= MAX_JSON_DEPTH) throw TOO_DEEP
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
  for (let i = 1; i < keys.length; i++) if (!(keys[i - 1]! < keys[i]!)) return false
  return true
}

/** Canonical bytes (UTF-8 of canonicalJson). */
export function encodeValue (value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8')
}

/** Parse bytes written by encodeValue. Throws InvalidValueError on malformed input. */
export function decodeValue (buf: Uint8Array): JsonValue {
  const text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8')
  if (tooDeepText(text)) throw tooDeep('A stored value')
  try {
    return JSON.parse(text) as JsonValue
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
  if (seen.size >= MAX_JSON_DEPTH) throw tooDeep(path)
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
