/**
 * Range proofs: "blocks start … end − 1 of log `key` are `values`", checkable offline
 * from the JSON alone, in one proof whose size is the blocks plus O(log length) tree
 * nodes (an inclusion proof per block would repeat the manifest, the signed head, the
 * roots and most of the audit path for every block).
 *
 * The proof carries the blocks, the signed head, the log's manifest and `nodes`: the
 * hashes of the largest subtrees of the tree at the head's length that hold none of the
 * blocks, in the order the verifier asks for them. The verifier rebuilds every root of
 * the tree from the blocks and those nodes and compares the tree hash with the signed
 * one. Which node comes next is decided by the tree, never by the proof:
 *
 * ```
 * root(i):  if no block of i is in [start, end): the next node of the proof, whose
 *                                                 index must be i
 *           else if i is a leaf:                  leafNode(block, values[block − start])
 *           else:                                 parentNode(root(left(i)), root(right(i)))
 * roots  =  [root(r) for r in fullRoots(head.length)], left to right
 * ```
 *
 * Every node of the proof must be used (no trailing nodes). See whitepaper/proofs.md.
 */
import { InvalidProofError } from '../../errors/errors.js'
import { flatDepth, flatFirstBlock, flatLeaves, fullRoots, leafNode, parentNode, treeHash, type TreeNode } from '../crypto/hypercore-crypto.js'
import { checkHeadSignature, checkManifest, nodeFromJSON, parseMaybe, readConst, readHead, readHex, readInt, readManifest, readNodes, readObject, type HeadJSON, type ManifestJSON, type NodeJSON } from './signed-head.js'

export const RANGE_PROOF_TYPE = 'vitra/range-proof'

/** Most blocks one range proof may carry. */
export const MAX_RANGE_BLOCKS = 65_536

/** Most nodes: two audit paths and the other roots, each at most 64 long. */
const MAX_RANGE_NODES = 192

/** A range proof in its JSON form (all bytes lowercase hex). */
export interface RangeProof {
  version: 1
  type: typeof RANGE_PROOF_TYPE
  /** The log key (32 bytes). */
  key: string
  /** The log's manifest; it must hash to `key`. */
  manifest: ManifestJSON
  /** The first block's index. */
  start: number
  /** The blocks start … start + values.length − 1. */
  values: string[]
  /** The largest subtrees holding none of the blocks, in the verifier's order (above). */
  nodes: NodeJSON[]
  /** The signed head the blocks are proven against. */
  head: HeadJSON
}

/** What verifyRangeProof establishes. */
export interface VerifiedRange {
  key: Buffer
  start: number
  values: Buffer[]
  length: number
  fork: number
  treeHash: Buffer
}


/**
 * Checks offline, from the proof alone, that blocks `start` … of log `key` are `values`
 * under the signed head in the proof. Pure and synchronous. Checks: the JSON shape
 * (malformed); the manifest (unsupported-manifest, manifest-key-mismatch, unexpected-key
 * against `opts.key`); the range lies below the head length (index-out-of-range); the
 * head's signature (bad-signature); each node is the subtree expected next (range-nodes),
 * no node is missing or left over (range-nodes); the rebuilt tree hash equals the signed
 * one (tree-hash-mismatch). Throws InvalidProofError with that `details.reason`.
 */
export function verifyRangeProof (proof: RangeProof | unknown, opts: { key?: Buffer | string } = {}): VerifiedRange {
  const p = rangeProofFromJSON(proof)
  const signer = checkManifest(p.manifest, p.key, opts.key)
  const start = p.start
  const end = start + p.values.length
  if (end > p.head.length) throw new InvalidProofError('index-out-of-range', `Blocks [${start}, ${end}) are not below the head length ${p.head.length}`)
  const head = checkHeadSignature(signer, p.head, 'head')
  const values = p.values.map(v => Buffer.from(v, 'hex'))
  let next = 0
  const build = (i: number): TreeNode => {
    if (!overlaps(i, start, end)) {
      if (next >= p.nodes.length) throw new InvalidProofError('range-nodes', `The proof has ${p.nodes.length} nodes; tree node ${i} is needed after them`)
      const n = p.nodes[next++]!
      if (n.index !== i) throw new InvalidProofError('range-nodes', `Node ${next - 1} of the proof must be tree node ${i}, got ${n.index}`)
      return nodeFromJSON(n)
    }
    if (flatDepth(i) === 0) return leafNode(i / 2, values[i / 2 - start]!)
    const [left, right] = children(i)
    return parentNode(build(left), build(right))
  }
  const roots = fullRoots(head.length).map(build)
  if (next !== p.nodes.length) throw new InvalidProofError('range-nodes', `The proof has ${p.nodes.length - next} nodes more than the tree needs`)
  if (!treeHash(roots).equals(head.treeHash)) throw new InvalidProofError('tree-hash-mismatch', 'The blocks and nodes do not hash to the signed tree hash')
  return { key: signer.key, start, values, length: head.length, fork: head.fork, treeHash: head.treeHash }
}

/**
 * Parses (when given a string) and validates the shape of untrusted range-proof JSON:
 * exact fields, lowercase hex, safe non-negative integers, 1 to 65,536 blocks, at most
 * 192 nodes. Returns a fresh object. Does not check any hash or signature.
 */
export function rangeProofFromJSON (json: string | unknown): RangeProof {
  const o = readObject(parseMaybe(json), 'proof', ['version', 'type', 'key', 'manifest', 'start', 'values', 'nodes', 'head'])
  readConst(o.version, 1, 'proof.version')
  readConst(o.type, RANGE_PROOF_TYPE, 'proof.type')
  if (!Array.isArray(o.values) || o.values.length === 0 || o.values.length > MAX_RANGE_BLOCKS) {
    throw new InvalidProofError('malformed', `proof.values must be an array of 1 to ${MAX_RANGE_BLOCKS} blocks`)
  }
  return {
    version: 1,
    type: RANGE_PROOF_TYPE,
    key: readHex(o.key, 'proof.key', 32),
    manifest: readManifest(o.manifest),
    start: readInt(o.start, 'proof.start'),
    values: o.values.map((v: unknown, i: number) => readHex(v, `proof.values[${i}]`)),
    nodes: readNodes(o.nodes, 'proof.nodes', MAX_RANGE_NODES),
    head: readHead(o.head, 'proof.head')
  }
}

/** True when flat-tree node `i` has a block in [start, end). */
export function overlaps (i: number, start: number, end: number): boolean {
  const first = flatFirstBlock(i)
  return first < end && first + flatLeaves(i) > start
}

/** The two children of a flat-tree node above the leaves. */
export function children (i: number): [number, number] {
  const half = 2 ** (flatDepth(i) - 1)
  return [i - half, i + half]
}
