/**
 * The proof primitives in Node: blake2b-256 from libsodium (sodium-native, some 15×
 * faster than a JS blake2b) and ed25519 from Node's crypto (OpenSSL). The browser
 * build of `vitra/proofs` puts primitives-noble.ts in this module's place.
 */
import sodium from 'sodium-native'
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'crypto'
import type { Primitives } from './primitives-types.js'

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const keyCache = new Map<string, KeyObject>()

function publicKeyObject (publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('hex')
  let k = keyCache.get(id)
  if (k === undefined) {
    k = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' })
    if (keyCache.size > 256) keyCache.clear()
    keyCache.set(id, k)
  }
  return k
}

export const defaultPrimitives: Primitives = {
  name: 'node (sodium-native blake2b, OpenSSL ed25519 and SHA-256)',
  blake2b256 (parts: Uint8Array[]): Buffer {
    const out = Buffer.allocUnsafe(32)
    sodium.crypto_generichash_batch(out, parts)
    return out
  },
  sha256 (parts: Uint8Array[]): Buffer {
    const h = createHash('sha256')
    for (const p of parts) h.update(p)
    return h.digest()
  },
  ed25519Verify (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return false
    try { return cryptoVerify(null, message, publicKeyObject(publicKey), signature) } catch { return false }
  }
}
