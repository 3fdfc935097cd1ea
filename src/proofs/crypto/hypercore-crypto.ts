/**
 * The hashing and byte formats of Hypercore 11, re-implemented as small pure
 * functions so that a proof can be checked offline with nothing but public keys.
 * Nothing here touches storage or the hypercore module: hashing is blake2b-256 and
 * signatures ed25519, both from the injected primitives (primitives.ts: sodium-native
 * and OpenSSL in Node, @noble in the browser build).
 *
 * Conventions: integers are u64 little-endian, a block `i` has flat-tree index
 * `2i`, a tree node is `{ index, size, hash }` (size = bytes under the node).
 * whitepaper/proofs.md describes every format byte by byte.
 */
import { primitives } from './primitives.js'

/** A node of a Hypercore merkle tree: flat-tree index, byte size of the blocks under it, blake2b-256 hash. */
export interface TreeNode {
  index: number
  size: number
  hash: Uint8Array
}

/** The only manifest form vitra verifies: version 1, blake2b, quorum 1, one ed25519 signer, no patch/prologue/linked/userData. */
export interface ManifestV1 {
  publicKey: Uint8Array
  namespace: Uint8Array
}

// ---------------------------------------------------------------- hashing

/** blake2b-256 of the concatenation of `parts` (the injected primitive: in Node libsodium's, some 15× faster than a JS blake2b). */
export function hash (...parts: Uint8Array[]): Buffer {
  return primitives().blake2b256(parts)
}

/** `n` as 8 bytes little-endian (n must be a safe non-negative integer). */
export function u64 (n: number): Buffer {
  const b = Buffer.allocUnsafe(8)
  b.writeUInt32LE(n % 0x100000000, 0)
  b.writeUInt32LE(Math.floor(n / 0x100000000), 4)
  return b
}

/** Hypercore namespace `i` of `name`: H(H(name) ‖ byte i). */
export function namespace (name: string, i: number): Buffer {
  return hash(hash(Buffer.from(name, 'utf8')), Uint8Array.of(i))
}

/** Domain separator of tree signatures: NS("hypercore", 0). */
export const TREE_NAMESPACE: Buffer = namespace('hypercore', 0)
/** Domain separator of manifest hashes: NS("hypercore", 3). */
export const MANIFEST_NAMESPACE: Buffer = namespace('hypercore', 3)
/** The signer namespace Hypercore puts in default manifests: NS("hypercore", 4). */
export const DEFAULT_NAMESPACE: Buffer = namespace('hypercore', 4)

const LEAF_TYPE = Uint8Array.of(0)
const PARENT_TYPE = Uint8Array.of(1)
const ROOT_TYPE = Uint8Array.of(2)

/** Hash of a block (a leaf): H(0x00 ‖ u64 byteLength ‖ bytes). */
export function leafHash (value: Uint8Array): Buffer {
  return hash(LEAF_TYPE, u64(value.byteLength), value)
}

/** The leaf node of block `blockIndex` holding `value`. */
export function leafNode (blockIndex: number, value: Uint8Array): TreeNode {
  return { index: 2 * blockIndex, size: value.byteLength, hash: leafHash(value) }
}

/** Hash of a parent: H(0x01 ‖ u64(sizeL + sizeR) ‖ hashL ‖ hashR). `left` must be the left child. */
export function parentHash (left: TreeNode, right: TreeNode): Buffer {
  return hash(PARENT_TYPE, u64(left.size + right.size), left.hash, right.hash)
}

/** The parent node of two siblings (given in any order; the one with the lower index is the left child). */
export function parentNode (a: TreeNode, b: TreeNode): TreeNode {
  const l = a.index < b.index ? a : b
  const r = l === a ? b : a
  return { index: flatParent(l.index), size: l.size + r.size, hash: parentHash(l, r) }
}

/** Tree hash of a list of roots (in flat-index order): H(0x02 ‖ for each root: hash ‖ u64 index ‖ u64 size). */
export function treeHash (roots: readonly TreeNode[]): Buffer {
  const parts: Uint8Array[] = [ROOT_TYPE]
  for (const r of roots) parts.push(r.hash, u64(r.index), u64(r.size))
  return hash(...parts)
}

// ---------------------------------------------------------------- flat tree (arithmetic, safe past 2^31)

// Indexes below SMALL take 32-bit integer paths (their depth is at most 29, so every
// result stays below 2^31); larger ones take the arithmetic paths, exact up to 2^53.
const SMALL = 2 ** 29

/** Depth of a flat-tree index (0 for leaves): the number of trailing 1 bits. */
export function flatDepth (index: number): number {
  if (index < SMALL) return 31 - Math.clz32(~index & (index + 1))
  let d = 0
  let i = index
  while (i % 2 === 1) { d++; i = (i - 1) / 2 }
  return d
}

/** Offset of a flat-tree index within its depth. */
export function flatOffset (index: number, depth = flatDepth(index)): number {
  return (index + 1 - 2 ** depth) / 2 ** (depth + 1)
}

/** The flat-tree index of (depth, offset). */
export function flatIndex (depth: number, offset: number): number {
  return offset * 2 ** (depth + 1) + 2 ** depth - 1
}

/** Parent of a flat-tree index. */
export function flatParent (index: number): number {
  const d = flatDepth(index)
  if (index < SMALL) return (index & ~(2 << d)) | (1 << d)
  return flatIndex(d + 1, Math.floor(flatOffset(index, d) / 2))
}

/** Sibling of a flat-tree index. */
export function flatSibling (index: number): number {
  const d = flatDepth(index)
  if (index < SMALL) return index ^ (2 << d)
  const o = flatOffset(index, d)
  return flatIndex(d, o % 2 === 0 ? o + 1 : o - 1)
}

/** Number of blocks under a flat-tree node. */
export function flatLeaves (index: number): number {
  return 2 ** flatDepth(index)
}

/** First block under a flat-tree node. */
export function flatFirstBlock (index: number): number {
  const d = flatDepth(index)
  return flatOffset(index, d) * 2 ** d
}

/** True when block `blockIndex` is under flat-tree node `index`. */
export function flatContainsBlock (index: number, blockIndex: number): boolean {
  const first = flatFirstBlock(index)
  return blockIndex >= first && blockIndex < first + flatLeaves(index)
}

/** Flat-tree indexes of the roots of a tree of `length` blocks, left to right (largest first). */
export function fullRoots (length: number): number[] {
  const out: number[] = []
  let rest = length
  let offset = 0 // in flat units (2 per block)
  while (rest > 0) {
    let factor = 1
    while (factor * 2 <= rest) factor *= 2
    out.push(offset + factor - 1)
    offset += 2 * factor
    rest -= factor
  }
  return out
}

/**
 * The flat-tree indexes, in order, of the nodes that extend a tree of `from` blocks
 * to `to` blocks: at each step the largest subtree that starts at the next block,
 * is aligned to its own size and ends at or before `to`. These are exactly the
 * nodes Hypercore sends for `proof({ upgrade: { start: from, length: to - from } })`,
 * and none of them covers a block below `from`.
 */
export function extensionIndexes (from: number, to: number): number[] {
  const out: number[] = []
  let cur = from
  while (cur < to) {
    let size = 1
    while (cur % (size * 2) === 0 && cur + size * 2 <= to) size *= 2
    const depth = Math.log2(size)
    out.push(flatIndex(depth, cur / size))
    cur += size
  }
  return out
}

/**
 * Append `node` (the subtree starting right after the current roots) to `roots`, merging
 * while the last two roots are siblings. Returns a new array; `roots` is not modified.
 */
export function appendRoot (roots: readonly TreeNode[], node: TreeNode): TreeNode[] {
  const out = roots.slice()
  let cur = node
  while (out.length > 0 && out[out.length - 1]!.index === flatSibling(cur.index)) {
    cur = parentNode(out.pop() as TreeNode, cur)
  }
  out.push(cur)
  return out
}

// ---------------------------------------------------------------- manifest, key, signable

/**
 * Encoding of a version-1 manifest with quorum 1 and one ed25519 signer:
 * [1 version, 0 flags, 0 blake2b, 1 quorum, 1 signer count, 0 ed25519] ‖ namespace(32) ‖ publicKey(32).
 */
export function encodeManifestV1 (m: ManifestV1): Buffer {
  if (m.namespace.byteLength !== 32 || m.publicKey.byteLength !== 32) throw new TypeError('namespace and publicKey must be 32 bytes')
  return Buffer.concat([Uint8Array.of(1, 0, 0, 1, 1, 0), m.namespace, m.publicKey])
}

/** The key of a core with this manifest: H(MANIFEST_NAMESPACE ‖ manifest bytes). */
export function manifestKey (m: ManifestV1): Buffer {
  return hash(MANIFEST_NAMESPACE, encodeManifestV1(m))
}

/** The 112 bytes a v1 signer signs: TREE_NAMESPACE ‖ key ‖ treeHash ‖ u64 length ‖ u64 fork. */
export function signable (key: Uint8Array, tree: Uint8Array, length: number, fork: number): Buffer {
  return Buffer.concat([TREE_NAMESPACE, key, tree, u64(length), u64(fork)])
}

/**
 * The raw 64-byte ed25519 signature inside the 68-byte multisig blob Hypercore stores
 * for a quorum-1 manifest: [0x01 proofs][0x00 signer][64 signature][0x00 patch][0x00 patch nodes].
 * Returns null for anything else (a 64-byte compat signature is returned as is).
 */
export function signatureFromMultisig (blob: Uint8Array): Buffer | null {
  if (blob.byteLength === 64) return Buffer.from(blob)
  if (blob.byteLength !== 68) return null
  if (blob[0] !== 1 || blob[1] !== 0 || blob[66] !== 0 || blob[67] !== 0) return null
  return Buffer.from(blob.subarray(2, 66))
}

/** The 68-byte multisig blob Hypercore stores for a raw signature (inverse of signatureFromMultisig). */
export function multisigFromSignature (signature: Uint8Array): Buffer {
  if (signature.byteLength !== 64) throw new TypeError('signature must be 64 bytes')
  return Buffer.concat([Uint8Array.of(1, 0), signature, Uint8Array.of(0, 0)])
}

/**
 * Signatures found valid, by public key ‖ signature ‖ message (hex). Many proofs share
 * one signed head (every op appended together, every write of a batch), and checking
 * a signature costs far more than looking it up: a valid one is checked once.
 */
const validSignatures = new Set<string>()
const MAX_VALID_SIGNATURES = 4096
let cachedFor = primitives()

/** Forget the signatures found valid so far (for measuring a first check). */
export function forgetVerifiedSignatures (): void { validSignatures.clear() }

/** True when `signature` (64 bytes) is a valid ed25519 signature of `message` by `publicKey` (32 bytes). Never throws. */
export function ed25519Verify (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return false
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, 32).toString('hex') +
    Buffer.from(signature.buffer, signature.byteOffset, 64).toString('hex') +
    Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('hex')
  const p = primitives()
  if (p !== cachedFor) { validSignatures.clear(); cachedFor = p } // what one set found valid is not taken for another's answer
  if (validSignatures.has(id)) return true
  const valid = p.ed25519Verify(publicKey, message, signature)
  if (valid) {
    if (validSignatures.size >= MAX_VALID_SIGNATURES) validSignatures.clear()
    validSignatures.add(id)
  }
  return valid
}
