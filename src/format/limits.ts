/**
 * The limits every executor and every verifier apply to what participants append
 * (whitepaper/protocol.md "Limits"). A participant is trusted to append to its own
 * oplog and nothing more: whatever it appends must neither stop the executor nor make
 * it hold unbounded memory, and a verifier must reach the same verdict on it.
 *
 * - MAX_JSON_DEPTH (encoding.ts, a protocol constant): 64 levels of arrays/objects.
 * - maxOpBytes (per database, recorded in the genesis marker `/.sys/acks/genesis`
 *   as `{ v: 1, maxOpBytes }`): the largest oplog entry that is executed. A larger
 *   one gets a failed ack with `OP_TOO_LARGE`; its bytes are never decoded.
 * - maxBatchBytes (executor only, not part of the protocol): the op and write bytes
 *   one Hyperbee batch may hold before it is flushed.
 */
import { MAX_JSON_DEPTH } from './encoding.js'
import { InvalidArgumentError, InvalidEntryError, LimitError } from '../errors/errors.js'

export { MAX_JSON_DEPTH }

/** maxOpBytes of a database created without the option: 1 MiB. */
export const DEFAULT_MAX_OP_BYTES = 1024 * 1024
/** The range `maxOpBytes` may be set to at create. */
export const MIN_MAX_OP_BYTES = 64
export const MAX_MAX_OP_BYTES = 64 * 1024 * 1024
/** The executor's default byte budget of one batch (ops read plus writes made). */
export const DEFAULT_MAX_BATCH_BYTES = 8 * 1024 * 1024

/** The genesis marker's value. */
/** The genesis marker `/.sys/acks/genesis`: the protocol version of the whole index (1: JSON acks; 2: binary acks, whitepaper/protocol.md §4.1) and maxOpBytes. */
export interface GenesisMarker { v: 1 | 2, maxOpBytes: number }

/** The protocol version of a new database unless told otherwise (whitepaper/protocol.md §4.1). */
export const DEFAULT_PROTOCOL: 1 | 2 = 2

/** The protocol version a database is created with, checked (INVALID_ARGUMENT). */
export function checkProtocol (v: unknown): 1 | 2 {
  if (v === undefined) return DEFAULT_PROTOCOL
  if (v !== 1 && v !== 2) throw new InvalidArgumentError(`protocol must be 1 or 2, not ${String(v)}`)
  return v
}

/** `maxOpBytes` as given to Database.create, checked (INVALID_ARGUMENT). */
export function checkMaxOpBytes (n: unknown): number {
  if (n === undefined) return DEFAULT_MAX_OP_BYTES
  if (!Number.isSafeInteger(n) || (n as number) < MIN_MAX_OP_BYTES || (n as number) > MAX_MAX_OP_BYTES) {
    throw new InvalidArgumentError(`maxOpBytes must be an integer from ${MIN_MAX_OP_BYTES} to ${MAX_MAX_OP_BYTES}, not ${String(n)}`)
  }
  return n as number
}

/** The byte budget of one executor batch, checked (INVALID_ARGUMENT). */
export function checkMaxBatchBytes (n: unknown): number {
  if (n === undefined) return DEFAULT_MAX_BATCH_BYTES
  if (!Number.isSafeInteger(n) || (n as number) < 1) throw new InvalidArgumentError(`maxBatchBytes must be a positive integer, not ${String(n)}`)
  return n as number
}

export function genesisMarker (maxOpBytes: number, v: 1 | 2 = 1): GenesisMarker { return { v, maxOpBytes } }

/**
 * Read a genesis marker (untrusted). A marker without `maxOpBytes` ({ v: 1 }, written
 * before the limit existed) means the default. Throws InvalidEntryError.
 */
export function parseGenesisMarker (value: unknown): GenesisMarker {
  const v = value as Record<string, unknown> | null
  if (v === null || typeof v !== 'object' || Array.isArray(v) || (v.v !== 1 && v.v !== 2)) throw new InvalidEntryError('The genesis marker is not { v: 1 or 2, maxOpBytes }')
  for (const k of Object.keys(v)) if (k !== 'v' && k !== 'maxOpBytes') throw new InvalidEntryError(`The genesis marker has an unknown field "${k}"`)
  const version = v.v as 1 | 2
  if (v.maxOpBytes === undefined) {
    if (version === 2) throw new InvalidEntryError('A version 2 genesis marker names its maxOpBytes')
    return { v: 1, maxOpBytes: DEFAULT_MAX_OP_BYTES }
  }
  try { return { v: version, maxOpBytes: checkMaxOpBytes(v.maxOpBytes) } } catch (err) { throw new InvalidEntryError(`The genesis marker's ${(err as Error).message}`) }
}

/** The failure of an op whose block is over the database's maxOpBytes. */
export function opTooLarge (bytes: number, maxOpBytes: number): LimitError {
  return new LimitError('OP_TOO_LARGE', `The op is ${bytes} bytes, over this database's limit of ${maxOpBytes} (maxOpBytes)`, { bytes, maxOpBytes })
}
