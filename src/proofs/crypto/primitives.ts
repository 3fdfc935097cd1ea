/**
 * The hashing and signature primitives the proof checks use, injected: in Node,
 * sodium-native and OpenSSL (primitives-node.ts); the browser build of `vitra/proofs`
 * replaces that module with primitives-noble.ts; any runtime may `setPrimitives`
 * its own. Both shipped sets give the same answers (test/proofs-module.test.ts).
 */
import { defaultPrimitives } from './primitives-node.js'
import type { Primitives } from './primitives-types.js'

export type { Primitives }

let current: Primitives = defaultPrimitives

/** The primitives in use. */
export function primitives (): Primitives { return current }

/** Use other primitives from now on (e.g. `noblePrimitives`); returns the ones replaced. */
export function setPrimitives (p: Primitives): Primitives {
  if (typeof p?.blake2b256 !== 'function' || typeof p?.sha256 !== 'function' || typeof p?.ed25519Verify !== 'function') throw new TypeError('setPrimitives needs { blake2b256, sha256, ed25519Verify }')
  const before = current
  current = p
  return before
}
