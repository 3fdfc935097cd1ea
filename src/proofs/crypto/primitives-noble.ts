/**
 * The proof primitives in pure JavaScript (@noble/hashes blake2b, @noble/curves
 * ed25519), for browsers and any runtime without Node's crypto. Strict RFC 8032
 * verification (zip215: false), as libsodium and OpenSSL verify.
 */
import { blake2b } from '@noble/hashes/blake2.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import type { Primitives } from './primitives-types.js'

export const noblePrimitives: Primitives = {
  name: 'noble (@noble/hashes blake2b and SHA-256, @noble/curves ed25519)',
  blake2b256 (parts: Uint8Array[]): Buffer {
    const h = blake2b.create({ dkLen: 32 })
    for (const p of parts) h.update(p)
    const out = h.digest()
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
  },
  sha256 (parts: Uint8Array[]): Buffer {
    const h = sha256.create()
    for (const p of parts) h.update(p)
    const out = h.digest()
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength)
  },
  ed25519Verify (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return false
    try { return ed25519.verify(signature, message, publicKey, { zip215: false }) } catch { return false }
  }
}

export { noblePrimitives as defaultPrimitives }
