// @ts-check
/**
 * The guest module `util`: UUIDs, SHA-256, ed25519 signature checks and oplog keys for contracts.
 * Runs inside the contract's isolate; loaded as text by sandbox/guest-sources.ts.
 */
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
