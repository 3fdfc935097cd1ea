/**
 * The layout of the index log (`.sys/` paths), the ack record, and validation of
 * untrusted bytes (oplog entries, index entries). Shared by the executor and the
 * verifier, so that both derive exactly the same bytes from the same inputs.
 */
import { CONTRACT_SOURCE_KEY as SYS_CONTRACT_SOURCE_KEY, SERVERS_KEY as SYS_SERVERS_KEY, WITNESSES_KEY as SYS_WITNESSES_KEY } from './sys-keys.js'
import { canonicalJson, decodeValue, encodeValue, isCanonicalText, parseJson, type JsonValue } from './encoding.js'
import { InvalidEntryError, VitraError } from '../errors/errors.js'
import { pathToKey, SEP, SYS_KEY_PREFIX } from './paths.js'
import { ACK_V2, decodeAckV2, encodeAckV2, isAckV2 } from './ack-v2.js'
import type { TxAction } from '../../sandbox/types.js'

// Stored keys (path segments joined by NUL, see paths.ts) of the system paths.
export const SYS_PREFIX = SYS_KEY_PREFIX
/** `/.sys/contract/source` */
export const CONTRACT_SOURCE_KEY = SYS_CONTRACT_SOURCE_KEY
/** `/.sys/servers`: `{ urls }`, the database's primary servers (http(s) origins every copy may sync from), set by `tx.setServers`. */
export const SERVERS_KEY = SYS_SERVERS_KEY
/** `/.sys/inputs/{hex}` */
export const INPUTS_PREFIX = pathToKey('/.sys/inputs') + SEP
/** `/.sys/acks/{hex}/{seq}` */
export const ACKS_PREFIX = pathToKey('/.sys/acks') + SEP
/** `/.sys/acks/genesis` */
export const GENESIS_KEY = pathToKey('/.sys/acks/genesis')
/** `/.sys/governance` */
export const GOVERNANCE_KEY = pathToKey('/.sys/governance')
/** `/.sys/witnesses`: the witness policy, recorded at genesis or set by `tx.setWitnesses` (whitepaper/witness.md §4). */
export const WITNESSES_KEY = SYS_WITNESSES_KEY

/** Width of the zero-padded decimal seq in ack keys, so that keys sort in seq order. */
export const SEQ_WIDTH = 16
export const ACK_VERSION = 1

const HEX64 = /^[0-9a-f]{64}$/

export function inputKey (pubkeyHex: string): string { return INPUTS_PREFIX + pubkeyHex }
export function ackPrefix (pubkeyHex: string): string { return ACKS_PREFIX + pubkeyHex + SEP }
export function ackKey (pubkeyHex: string, seq: number): string {
  return ackPrefix(pubkeyHex) + String(seq).padStart(SEQ_WIDTH, '0')
}

/** Parse the key of `/.sys/acks/{hex}/{seq}`; null when the key is not an op ack key. */
export function parseAckKey (key: string): { origin: string, seq: number } | null {
  const p = ACKS_PREFIX.length
  if (key.length !== p + 64 + 1 + SEQ_WIDTH || !key.startsWith(ACKS_PREFIX) || key.charCodeAt(p + 64) !== 0 /* SEP */) return null
  const origin = key.slice(p, p + 64)
  const digits = key.slice(p + 65)
  if (!HEX64.test(origin) || !DIGITS.test(digits)) return null
  return { origin, seq: Number(digits) }
}

const DIGITS = /^\d+$/

export { isSysKey } from './paths.js'
export function isHexKey (s: unknown): s is string { return typeof s === 'string' && HEX64.test(s) }

/** The ack the executor publishes before the writes of each op (`v`: 1, canonical JSON; 2, binary: src/format/ack-v2.ts). */
export interface Ack {
  v: 1 | 2
  /** Hex key of the oplog the op came from. */
  origin: string
  /** Index of the op in its oplog. */
  seq: number
  /** Length of the oplog the executor had seen when it executed the op. */
  oplogLength: number
  /** Hex tree hash of the oplog at oplogLength: commits the executor to that oplog history. */
  oplogTreeHash: string
  /** Executor time (ms since epoch); `Date.now()` inside apply returns it. */
  ts: number
  /** Return value of the contract's `process(op)`, or null. */
  metadata: JsonValue
  success: boolean
  /** For a failed op: the error message. */
  error?: string
  /** For a failed op: the stable code of the error (e.g. CONTRACT_RUNTIME_ERROR, CONTRACT_TIMEOUT, INVALID_ENTRY). */
  errorCode?: string
  /** How many index writes follow this ack. */
  numChanges: number
  /** Index length (Hyperbee version) before the batch that holds this ack: the state `apply` saw starts there. */
  batchStart: number
}

/** One input (oplog) record at `.sys/inputs/{hex}`. */
export interface InputRecord { pubkey: string, active: boolean }

/** One index write: what `apply` produced, in order. */
export type Change = { type: 'put', key: string, value: Buffer } | { type: 'del', key: string }

/**
 * Canonical bytes of an ack (the same bytes `encodeValue(ack)` gives, written
 * directly: this runs once per op on the executor's hot path).
 */
export function encodeAck (ack: Ack): Buffer {
  if (ack.v === ACK_V2) { const b = encodeAckV2(ack); return Buffer.from(b.buffer, b.byteOffset, b.byteLength) }
  if (!isHexKey(ack.origin) || !HEX64.test(ack.oplogTreeHash)) return encodeValue(ack) // let the generic encoder reject or encode odd input
  let s = '{"batchStart":' + num(ack.batchStart)
  if (ack.error !== undefined) s += ',"error":' + JSON.stringify(ack.error)
  if (ack.errorCode !== undefined) s += ',"errorCode":' + JSON.stringify(ack.errorCode)
  s += ',"metadata":' + (ack.metadata === null ? 'null' : canonicalJson(ack.metadata)) + ',"numChanges":' + num(ack.numChanges) + ',"oplogLength":' + num(ack.oplogLength) +
    ',"oplogTreeHash":"' + ack.oplogTreeHash + '","origin":"' + ack.origin + '","seq":' + num(ack.seq) +
    ',"success":' + (ack.success ? 'true' : 'false') + ',"ts":' + num(ack.ts) + ',"v":' + num(ack.v) + '}'
  return Buffer.from(s, 'utf8')
}

function num (n: number): string { return Number.isSafeInteger(n) ? String(n) : canonicalJson(n) }

/**
 * The `error` text of a failed op's ack, as Vitra writes it (`String(err)`): the
 * error's name and message, `Error: TX failed`. For a contract error the name is the
 * one the contract threw (Error, TypeError, AssertionError…); a thrown non-error
 * value gives the message alone.
 */
export function ackErrorText (err: Error & { details?: Record<string, unknown> }): string {
  const guest = err.details?.name
  const name = typeof guest === 'string' ? guest : err.name
  return name === 'Thrown' || name === '' ? err.message : `${name}: ${err.message}`
}

/** Validate an ack read from an index (untrusted). Throws InvalidEntryError. */
export function decodeAck (buf: Uint8Array): Ack {
  if (isAckV2(buf)) return decodeAckV2(buf) as Ack
  const v = decodeValue(buf) as Record<string, unknown>
  const bad = (what: string): never => { throw new InvalidEntryError(`Malformed ack: ${what}`) }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad('not an object')
  if (v.v !== ACK_VERSION) bad(`unknown version ${String(v.v)}`)
  if (!isHexKey(v.origin)) bad('origin is not a 64-char hex key')
  for (const f of ['seq', 'oplogLength', 'ts', 'numChanges', 'batchStart']) {
    if (!Number.isSafeInteger(v[f]) || (v[f] as number) < 0) bad(`${f} is not a non-negative integer`)
  }
  if (typeof v.oplogTreeHash !== 'string' || !HEX64.test(v.oplogTreeHash)) bad('oplogTreeHash is not 64-char hex')
  if (typeof v.success !== 'boolean') bad('success is not a boolean')
  if (v.error !== undefined && typeof v.error !== 'string') bad('error is not a string')
  if (v.errorCode !== undefined && typeof v.errorCode !== 'string') bad('errorCode is not a string')
  if (!('metadata' in v)) bad('metadata missing')
  return v as unknown as Ack
}

export function encodeInput (rec: InputRecord): Buffer { return encodeValue(rec) }

export function decodeInput (buf: Uint8Array): InputRecord {
  const v = decodeValue(buf) as Record<string, unknown>
  if (v === null || typeof v !== 'object' || !isHexKey(v.pubkey) || typeof v.active !== 'boolean') {
    throw new InvalidEntryError('Malformed input record at .sys/inputs/')
  }
  return { pubkey: v.pubkey, active: v.active }
}

/** An op as appended to an oplog: a JSON object with a string `op` field. */
export type Op = { op: string, [key: string]: JsonValue }

export function encodeOp (op: unknown): Buffer {
  validateOp(op)
  return encodeValue(op)
}

/** Decode an oplog entry (untrusted bytes). Throws InvalidEntryError when it is not a valid op. */
export function decodeOp (buf: Uint8Array): Op {
  const text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8')
  let v: unknown
  try { v = parseJson(text, 'The oplog entry', 'OP_TOO_DEEP') } catch (err) {
    if (err instanceof VitraError) throw err
    throw new InvalidEntryError(`Oplog entry is not JSON: ${(err as Error).message}`)
  }
  validateOp(v)
  if (!isCanonicalText(v, text)) throw new InvalidEntryError('Oplog entry is not canonically encoded')
  return v
}

function validateOp (v: unknown): asserts v is Op {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InvalidEntryError('An op must be a JSON object')
  if (typeof (v as Record<string, unknown>).op !== 'string') throw new InvalidEntryError('An op must have a string "op" field')
}

/**
 * Turn what `apply` recorded into index writes. System mutators become `.sys/` writes;
 * `has(key)` tells whether a key exists in the state this op sees (a delete of an
 * absent key writes nothing to a Hyperbee, so it is not a change).
 */
export async function actionsToChanges (actions: TxAction[], has: (key: string) => Promise<boolean>): Promise<Change[]> {
  const changes: Change[] = []
  const pending = new Map<string, boolean>() // this op's own writes: key → exists after them
  for (const a of actions) {
    const c = actionToChange(a)
    if (c.type === 'del') {
      const exists = pending.has(c.key) ? pending.get(c.key) === true : await has(c.key)
      if (!exists) continue
      pending.set(c.key, false)
    } else {
      pending.set(c.key, true)
    }
    changes.push(c)
  }
  return changes
}

/** The changes of actions that are all `put`s (the same as actionsToChanges gives), or null when some are not. */
export function putsToChanges (actions: TxAction[]): Change[] | null {
  const changes: Change[] = []
  for (const a of actions) {
    if (a.type !== 'put') return null
    changes.push(actionToChange(a))
  }
  return changes
}

/** The stored key an action writes. */
export function actionKey (a: TxAction): string { return actionToChange(a).key }

function actionToChange (a: TxAction): Change {
  switch (a.type) {
    case 'put': return { type: 'put', key: a.key, value: encodeValue(a.value) }
    case 'del': return { type: 'del', key: a.key }
    case 'addOplog': return { type: 'put', key: inputKey(a.pubkey), value: encodeInput({ pubkey: a.pubkey, active: true }) }
    case 'removeOplog': return { type: 'put', key: inputKey(a.pubkey), value: encodeInput({ pubkey: a.pubkey, active: false }) }
    case 'setContractSource': return { type: 'put', key: CONTRACT_SOURCE_KEY, value: encodeValue(a.code) }
    case 'setServers': return { type: 'put', key: SERVERS_KEY, value: encodeValue({ urls: a.urls }) }
    case 'setWitnesses': return { type: 'put', key: WITNESSES_KEY, value: encodeValue(a.policy) }
  }
}

/** True when the change alters the contract or the participant set (the batch must end after it). */
export function isSystemChange (c: Change): boolean {
  return c.key === CONTRACT_SOURCE_KEY || c.key.startsWith(INPUTS_PREFIX)
}
