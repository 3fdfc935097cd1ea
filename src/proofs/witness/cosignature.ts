/**
 * Witness keys and their cosignatures, as C2SP defines them (c2sp.org/tlog-cosignature,
 * cosignature/v1): an ed25519 key named by its holder, written as a verifier key
 * `<name>+<key ID, 8 hex>+<base64(0x04 ‖ public key)>`; a cosignature line
 * `— <name> <base64(key ID ‖ timestamp ‖ signature)>`, where the timestamp is a
 * big-endian uint64 of seconds since the Unix epoch and the signature is ed25519 over
 *
 *   cosignature/v1
 *   time <timestamp>
 *   <the checkpoint's text>
 *
 * A cosignature says: at that time, this witness had verified that the checkpoint is
 * consistent with every earlier checkpoint of the log it cosigned. Pure (verification;
 * signing is the witness's, src/witness/).
 */
import { InvalidProofError } from '../../errors/errors.js'
import { ed25519Verify } from '../crypto/hypercore-crypto.js'
import { COSIGNATURE_V1_TYPE, formatSignatureLine, isKeyName, noteKeyId, readBase64, type NoteSignature } from './note.js'

/** A witness's verifier key, read. */
export interface WitnessKey {
  name: string
  publicKey: Buffer
  keyId: Buffer
  /** The verifier key string it was read from (or formats to). */
  vkey: string
}

/** A cosignature that checked: the witness and the time it signed at (seconds). */
export interface Cosigned {
  name: string
  vkey: string
  timestamp: number
}

function badKey (message: string): InvalidProofError {
  return new InvalidProofError('malformed-witness-key', message)
}

/** The verifier key string of an ed25519 witness key. */
export function formatWitnessKey (name: string, publicKey: Uint8Array): string {
  if (!isKeyName(name)) throw badKey(`"${name}" is not a key name (non-empty, no spaces, no "+")`)
  if (publicKey.byteLength !== 32) throw badKey('A witness public key is 32 bytes')
  const id = noteKeyId(name, COSIGNATURE_V1_TYPE, publicKey)
  return `${name}+${id.toString('hex')}+${Buffer.concat([Uint8Array.of(COSIGNATURE_V1_TYPE), publicKey]).toString('base64')}`
}

/** Reads a verifier key; its key ID must match. Throws InvalidProofError('malformed-witness-key'). */
export function parseWitnessKey (vkey: unknown): WitnessKey {
  if (typeof vkey !== 'string') throw badKey('A witness key is a string "<name>+<key ID>+<base64 key>"')
  // The name has no "+" and the key ID is hex; the base64 key after them may hold "+".
  const m = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(vkey)
  const [, name, idHex, b64] = m ?? []
  if (name === undefined || idHex === undefined || b64 === undefined || !isKeyName(name)) {
    throw badKey(`"${vkey.slice(0, 120)}" is not a witness key "<name>+<8 hex>+<base64>"`)
  }
  let raw: Buffer
  try { raw = readBase64(b64, 'The witness key') } catch { throw badKey('The witness key is not standard base64') }
  if (raw.byteLength !== 33 || raw[0] !== COSIGNATURE_V1_TYPE) throw badKey('A witness key is a cosignature/v1 (0x04) ed25519 key of 32 bytes')
  const publicKey = raw.subarray(1)
  const keyId = noteKeyId(name, COSIGNATURE_V1_TYPE, publicKey)
  if (keyId.toString('hex') !== idHex) throw badKey(`The key ID ${idHex} does not match the name and key (${keyId.toString('hex')})`)
  return { name, publicKey, keyId, vkey }
}

/** What a cosignature/v1 signs: its header and the checkpoint's text. */
export function cosignedMessage (body: string, timestamp: number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${timestamp}\n${body}`, 'utf8')
}

/** The signature-line bytes of a cosignature: the timestamp (8 bytes, big-endian) and the signature. */
export function cosignatureBytes (timestamp: number, signature: Uint8Array): Buffer {
  const ts = Buffer.alloc(8)
  ts.writeBigUInt64BE(BigInt(timestamp))
  return Buffer.concat([ts, signature])
}

/** A cosignature line for a checkpoint, from a signature made elsewhere (the witness signs). */
export function cosignatureLine (key: WitnessKey, timestamp: number, signature: Uint8Array): string {
  return formatSignatureLine(key.name, key.keyId, cosignatureBytes(timestamp, signature))
}

/**
 * Whether `sig` is `key`'s valid cosignature of the checkpoint text `body`: its name and
 * key ID are the key's, and the ed25519 signature over cosignedMessage checks. The time
 * it claims, or null.
 */
export function checkCosignature (body: string, sig: NoteSignature, key: WitnessKey): number | null {
  if (sig.name !== key.name || !sig.keyId.equals(key.keyId) || sig.bytes.byteLength !== 72) return null
  const ts = sig.bytes.readBigUInt64BE(0)
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return null
  const timestamp = Number(ts)
  return ed25519Verify(key.publicKey, cosignedMessage(body, timestamp), sig.bytes.subarray(8)) ? timestamp : null
}
