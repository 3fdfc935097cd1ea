/**
 * Host-side helpers for proof-of-authority governance (contracts/poa.js,
 * whitepaper/poa.md): key ids, the quorum rule, and detached approval
 * signatures for bundles. The system contract computes the same things inside
 * the sandbox; these exist so that a signatory can sign off-line (contracts hold
 * no secret keys) and tools can show ids and quorums without a database.
 *
 *   const { signer, signature } = signApproval(db.localOplog.core.keyPair.secretKey, candidatePubkey)
 *   await db.call('approveKey', { key: candidatePubkey, signatures: [...collected] })
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'crypto'
import { InvalidArgumentError } from '../errors/errors.js'
import { DEFAULT_NAMESPACE, manifestKey } from '../proofs/crypto/hypercore-crypto.js'


/** What a bundle signature approves: an admission or a revocation. */
export type ApprovalKind = 'approve' | 'revoke'

/** One entry of an approval bundle (`signatures` of SYS_APPROVE_KEY / SYS_REVOKE_KEY). */
export interface ApprovalSignature {
  /** The signatory's ed25519 public key (64 hex). */
  signer: string
  /** Detached ed25519 signature (128 hex) of `approvalMessage(keyId, kind)`. */
  signature: string
}

/** Height from which the quorum grows: Q(H) = 1 below it. */
export const QUORUM_START_HEIGHT = 149
/** Prefix of the signed messages: `vitra-poa:<kind>:<key id>`. */
export const APPROVAL_MESSAGE_PREFIX = 'vitra-poa:'

const HEX64 = /^[0-9a-f]{64}$/
const ID = /^1:[0-9a-f]{64}$/
// PKCS#8 DER of an ed25519 private key, up to the 32-byte seed (RFC 8410)
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/** The id of a public key: `1:` + hex SHA-256 of its 32 bytes. */
export function keyId (pubkeyHex: string): string {
  const hex = typeof pubkeyHex === 'string' ? pubkeyHex.trim().toLowerCase() : ''
  if (!HEX64.test(hex)) throw new InvalidArgumentError(`Not an ed25519 public key (64 hex characters): ${String(pubkeyHex)}`)
  return '1:' + createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex')
}

/** A key id or a public key → its key id. */
export function toKeyId (key: string): string {
  const k = typeof key === 'string' ? key.trim().toLowerCase() : ''
  if (ID.test(k)) return k
  if (HEX64.test(k)) return keyId(k)
  throw new InvalidArgumentError(`Not a key id (1:<64 hex>) or a public key (64 hex): ${String(key)}`)
}

/** Q(H) = 1 if H < 149 else floor(ln(H) * 2), never below 1 (the system contract's rule). */
export function quorum (height: number): number {
  if (!Number.isSafeInteger(height) || height < 0) throw new InvalidArgumentError('quorum(height): height must be a non-negative integer')
  if (height < QUORUM_START_HEIGHT) return 1
  return Math.max(1, Math.floor(Math.log(height) * 2))
}

/**
 * The UTF-8 message a bundle signature signs: `vitra-poa:approve:<database>:<id>` or
 * `vitra-poa:revoke:<database>:<id>`, where <database> is the index key (hex) of the
 * database the approval is for: a signature counts in that database only.
 */
export function approvalMessage (database: string | Buffer, key: string, kind: ApprovalKind = 'approve'): string {
  if (kind !== 'approve' && kind !== 'revoke') throw new InvalidArgumentError('kind must be "approve" or "revoke"')
  const db = typeof database === 'string' ? database.toLowerCase() : Buffer.from(database).toString('hex')
  if (!HEX64.test(db)) throw new InvalidArgumentError('database must be the index key (64 hex characters)')
  return APPROVAL_MESSAGE_PREFIX + kind + ':' + db + ':' + toKeyId(key)
}

/**
 * A bundle entry: sign the approval (or revocation) of `key` (id or public key)
 * with a signatory's secret key. `secretKey` is a 64-byte libsodium-style key
 * (seed ‖ public key, e.g. `db.localOplog.core.keyPair.secretKey`), a 32-byte
 * seed, or a Node KeyObject.
 */
export function signApproval (secretKey: Uint8Array | KeyObject, database: string | Buffer, key: string, kind: ApprovalKind = 'approve'): ApprovalSignature {
  const priv = privateKeyObject(secretKey)
  const signer = publicKeyHex(priv)
  const signature = sign(null, Buffer.from(approvalMessage(database, key, kind), 'utf8'), priv).toString('hex')
  return { signer, signature }
}

/** Whether `entry` is a valid signature of the approval (or revocation) of `key`. */
export function verifyApproval (entry: ApprovalSignature, database: string | Buffer, key: string, kind: ApprovalKind = 'approve'): boolean {
  if (!HEX64.test(entry?.signer ?? '') || !/^[0-9a-f]{128}$/.test(entry?.signature ?? '')) return false
  const pub = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(entry.signer, 'hex')]), format: 'der', type: 'spki' })
  return verify(null, Buffer.from(approvalMessage(database, key, kind), 'utf8'), pub, Buffer.from(entry.signature, 'hex'))
}

function privateKeyObject (secretKey: Uint8Array | KeyObject): KeyObject {
  if (secretKey instanceof Uint8Array) {
    if (secretKey.length !== 64 && secretKey.length !== 32) throw new InvalidArgumentError('secretKey must be 64 bytes (seed ‖ public key) or a 32-byte seed')
    const seed = Buffer.from(secretKey.subarray(0, 32))
    return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  }
  if (typeof secretKey === 'object' && secretKey !== null && (secretKey as KeyObject).type === 'private' && (secretKey as KeyObject).asymmetricKeyType === 'ed25519') return secretKey as KeyObject
  throw new InvalidArgumentError('secretKey must be an ed25519 secret key (64 or 32 bytes, or a private KeyObject)')
}

function publicKeyHex (priv: KeyObject): string {
  const der = createPublicKey(priv).export({ format: 'der', type: 'spki' })
  return der.subarray(der.length - 32).toString('hex')
}

/** The key of the oplog (a Corestore-made Hypercore) whose signer is this ed25519 public key. */
export function oplogKeyFor (publicKeyHex: string): string {
  return manifestKey({ publicKey: Buffer.from(publicKeyHex, 'hex'), namespace: DEFAULT_NAMESPACE }).toString('hex')
}
