import { CONTRACT_SOURCE_KEY, INPUTS_DIR, SERVERS_KEY, SYS_KEY, WITNESSES_KEY } from '../src/format/sys-keys.js'
import { readWitnessPolicy } from '../src/proofs/witness/policy.js'
import { InvalidValueError } from '../src/errors/errors.js'
import { isWellFormed } from '../src/format/paths.js'
import type { Json, TxAction } from './types.js'

/**
 * Host-side JSON checks. Values entering the sandbox are checked here; values
 * leaving it come out of `JSON.parse` (so they are JSON by construction) and only
 * their shape is checked.
 */

/**
 * Serialises `value` if it is a JSON value: null, booleans, finite numbers,
 * strings, arrays (without undefined) and plain objects (prototype Object.prototype
 * or null; properties holding undefined are dropped, as JSON.stringify does).
 * Throws InvalidValueError naming the offending path otherwise.
 */
export function encodeJson (value: unknown, what: string): string {
  checkJson(value, what, '$', [])
  return JSON.stringify(value)
}

function checkJson (v: unknown, what: string, path: string, stack: object[]): void {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(v)) fail(what, path, `a non-finite number (${String(v)})`)
      return
    case 'object': {
      if (v === null) return
      if (stack.includes(v)) fail(what, path, 'a circular reference')
      stack.push(v)
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          if (v[i] === undefined) fail(what, `${path}[${i}]`, 'undefined')
          checkJson(v[i], what, `${path}[${i}]`, stack)
        }
      } else {
        const proto = Object.getPrototypeOf(v)
        if (proto !== Object.prototype && proto !== null) fail(what, path, `an instance of ${String(proto?.constructor?.name ?? 'a class')}`)
        for (const [k, el] of Object.entries(v)) if (el !== undefined) checkJson(el, what, `${path}.${k}`, stack)
      }
      stack.pop()
      return
    }
    default:
      fail(what, path, typeof v === 'undefined' ? 'undefined' : `a ${typeof v}`)
  }
}

function fail (what: string, path: string, detail: string): never {
  throw new InvalidValueError(`${what} is not a JSON value: ${path} is ${detail}`)
}

const HEX64 = /^[0-9a-f]{64}$/

/**
 * Checks the shape of the actions the guest recorded. The guest runtime already
 * enforces these rules; this is the authoritative check, since a contract can
 * tamper with objects inside its own isolate. Returns an error message or null.
 */
export function checkActions (actions: unknown): string | null {
  if (!Array.isArray(actions)) return 'the recorded actions are not an array'
  let previous: string | null = null
  for (const a of actions as Array<Record<string, unknown>>) {
    if (a === null || typeof a !== 'object') return 'a recorded action is not an object'
    switch (a.type) {
      case 'put':
        if (!writableKey(a.key)) return `invalid key in put: ${JSON.stringify(a.key)}`
        if (!('value' in a)) return 'put without a value'
        break
      case 'del':
        if (!writableKey(a.key)) return `invalid key in delete: ${JSON.stringify(a.key)}`
        break
      case 'addOplog':
      case 'removeOplog':
        if (typeof a.pubkey !== 'string' || !HEX64.test(a.pubkey)) return `invalid pubkey in ${String(a.type)}`
        break
      case 'setContractSource':
        if (typeof a.code !== 'string' || a.code === '') return 'invalid code in setContractSource'
        break
      case 'setServers':
        if (!validServers(a.urls)) return `invalid urls in setServers (at most ${MAX_SERVERS} http(s)://host[:port] URLs of at most ${MAX_SERVER_URL} characters)`
        break
      case 'setWitnesses':
        try { readWitnessPolicy(a.policy) } catch (err) { return `invalid policy in setWitnesses: ${(err as Error).message}` }
        break
      default:
        return `unknown action type ${JSON.stringify(a.type)}`
    }
    // one action per key, in key order (the order of the index writes)
    const key = actionKey(a)
    if (previous !== null && Buffer.compare(Buffer.from(previous), Buffer.from(key)) >= 0) return `actions out of key order at ${JSON.stringify(key)}`
    previous = key
  }
  return null
}

/** The stored key an action writes. */
function actionKey (a: Record<string, unknown>): string {
  if (a.type === 'addOplog' || a.type === 'removeOplog') return INPUTS_DIR + SEP + String(a.pubkey)
  if (a.type === 'setContractSource') return CONTRACT_SOURCE_KEY
  if (a.type === 'setServers') return SERVERS_KEY
  if (a.type === 'setWitnesses') return WITNESSES_KEY
  return a.key as string
}

const SEP = '\x00'

/** The database's primary servers (`tx.setServers`): at most 16 http(s) origins. */
export const MAX_SERVERS = 16
export const MAX_SERVER_URL = 256
const SERVER_URL = /^https?:\/\/[^\s/?#]+\/?$/

/** Whether `urls` is a valid `/.sys/servers` list. */
export function validServers (urls: unknown): urls is string[] {
  return Array.isArray(urls) && urls.length <= MAX_SERVERS && urls.every(u => typeof u === 'string' && u.length <= MAX_SERVER_URL && SERVER_URL.test(u))
}

/** A stored key a contract may write: non-empty segments joined by NUL, not under `/.sys/`. */
function writableKey (key: unknown): key is string {
  return typeof key === 'string' && key !== '' && isWellFormed(key) && key.split(SEP).every(s => s !== '' && !s.includes('/')) && key !== SYS_KEY && !key.startsWith(SYS_KEY + SEP)
}

/** Narrowing helper for actions that passed checkActions. */
export function asActions (actions: unknown): TxAction[] {
  return actions as TxAction[]
}

/** Narrowing helper for JSON.parse output. */
export function asJson (value: unknown): Json {
  return value as Json
}
