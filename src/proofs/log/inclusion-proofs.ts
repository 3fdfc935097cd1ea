/**
 * Inclusion proofs: "block `index` of log `key` is `value`", checkable offline by a
 * stranger who has only the JSON (and, to pin the log, its key).
 *
 * The proof carries the block, its audit path (the siblings from the leaf up to the
 * root that covers it), the other roots of the tree, and the signed head (length,
 * fork, tree hash, raw ed25519 signature), plus the log's manifest so that the
 * signer's public key can be tied to the key. The verifier recomputes everything:
 * leaf hash, path, tree hash, signable, signature, manifest hash. Hypercore's own
 * `verifyFullyRemote` is not used: it checks the signed head only.
 *
 * Works for any Hypercore: oplog entries and Hyperbee (index) blocks alike.
 */
import { InvalidProofError } from '../../errors/errors.js'
import { flatContainsBlock, flatSibling, fullRoots, leafNode, parentNode, treeHash, type TreeNode } from '../crypto/hypercore-crypto.js'
import { checkHeadSignature, checkManifest, nodeFromJSON, parseMaybe, readConst, readHead, readHex, readInt, readManifest, readNodes, readObject, type HeadJSON, type ManifestJSON, type NodeJSON } from './signed-head.js'

/** An inclusion proof in its JSON form (all bytes lowercase hex). See whitepaper/proofs.md. */
export interface InclusionProof {
  version: 1
  type: 'vitra/inclusion-proof'
  /** The log key (32 bytes). */
  key: string
  /** The log's manifest; it must hash to `key`. */
  manifest: ManifestJSON
  /** Block index. */
  index: number
  /** The block bytes. */
  value: string
  /** Audit path: the sibling at each level from the leaf up to the root covering the block. */
  nodes: NodeJSON[]
  /** The signed head the block is proven against, with the tree's other roots (left to right, without the covering root). */
  head: HeadJSON & { roots: NodeJSON[] }
}

/** What verifyInclusionProof establishes. */
export interface VerifiedInclusion {
  key: Buffer
  index: number
  value: Buffer
  length: number
  fork: number
  treeHash: Buffer
}


/**
 * Checks offline, from the proof alone, that block `index` of log `key` is `value` under
 * the signed head in the proof, and returns what was proven. Pure and synchronous.
 * Checks, in order: the JSON shape (malformed); the manifest is supported
 * (unsupported-manifest) and hashes to `key` (manifest-key-mismatch), and `key` equals
 * `opts.key` when given (unexpected-key); `index < head.length` (index-out-of-range); the
 * head's ed25519 signature over signable(key, treeHash, length, fork) (bad-signature);
 * the audit path has the right node at each level (audit-path-index) and exactly reaches
 * the root covering the block (audit-path-length); `head.roots` are exactly the tree's other
 * roots (roots-mismatch); the tree hash recomputed from the value, path and roots equals
 * the signed one (tree-hash-mismatch). Throws InvalidProofError with that `details.reason`.
 */
export function verifyInclusionProof (proof: InclusionProof | unknown, opts: { key?: Buffer | string } = {}): VerifiedInclusion {
  const p = inclusionProofFromJSON(proof)
  const signer = checkManifest(p.manifest, p.key, opts.key)
  if (p.index >= p.head.length) throw new InvalidProofError('index-out-of-range', `Block ${p.index} is not below the head length ${p.head.length}`)
  const head = checkHeadSignature(signer, p.head, 'head')
  const value = Buffer.from(p.value, 'hex')
  const root = walkPath(p.index, value, p.nodes.map(nodeFromJSON), coveringRoot(p.index, head.length))
  const others = p.head.roots.map(nodeFromJSON)
  const expected = fullRoots(head.length).filter(i => i !== root.index)
  if (others.length !== expected.length || others.some((r, i) => r.index !== expected[i])) {
    throw new InvalidProofError('roots-mismatch', `The other roots of a tree of ${head.length} blocks are [${expected.join(', ')}], got [${others.map(r => r.index).join(', ')}]`)
  }
  if (!treeHash(insertRoot(others, root)).equals(head.treeHash)) {
    throw new InvalidProofError('tree-hash-mismatch', 'The block, audit path and roots do not hash to the signed tree hash')
  }
  return { key: signer.key, index: p.index, value, length: head.length, fork: head.fork, treeHash: head.treeHash }
}

/** The proof as a JSON string (validated first; throws InvalidProofError('malformed') on a bad shape). */
export function inclusionProofToJSON (proof: InclusionProof): string {
  return JSON.stringify(inclusionProofFromJSON(proof))
}

/**
 * Parses (when given a string) and validates the shape of untrusted inclusion-proof JSON:
 * exact fields, lowercase hex of the right lengths, safe non-negative integers, at most 64
 * nodes per list. Returns a fresh object. Does not check any hash or signature.
 * Throws InvalidProofError with reason malformed (or unsupported-manifest).
 */
export function inclusionProofFromJSON (json: string | unknown): InclusionProof {
  const o = readObject(parseMaybe(json), 'proof', ['version', 'type', 'key', 'manifest', 'index', 'value', 'nodes', 'head'])
  readConst(o.version, 1, 'proof.version')
  readConst(o.type, 'vitra/inclusion-proof', 'proof.type')
  const head = readHead(o.head, 'proof.head', ['roots'])
  if (!Object.hasOwn(o.head as object, 'roots')) throw new InvalidProofError('malformed', 'proof.head.roots is missing')
  return {
    version: 1,
    type: 'vitra/inclusion-proof',
    key: readHex(o.key, 'proof.key', 32),
    manifest: readManifest(o.manifest),
    index: readInt(o.index, 'proof.index'),
    value: readHex(o.value, 'proof.value'),
    nodes: readNodes(o.nodes, 'proof.nodes'),
    head: { ...head, roots: readNodes((o.head as Record<string, unknown>).roots, 'proof.head.roots') }
  }
}

/** Flat index of the root (of a tree of `length` blocks) that covers block `index`. */
export function coveringRoot (index: number, length: number): number {
  for (const r of fullRoots(length)) if (flatContainsBlock(r, index)) return r
  throw new InvalidProofError('index-out-of-range', `Block ${index} is not below the head length ${length}`)
}

/**
 * Hashes `value` as leaf `index` and climbs `path` to the root `rootIndex`, taking each
 * node's side from the flat tree, never from the proof. Throws InvalidProofError:
 * audit-path-index (a node is not the sibling expected at its level) or
 * audit-path-length (the path stops below the root or goes past it).
 */
export function walkPath (index: number, value: Uint8Array, path: TreeNode[], rootIndex: number): TreeNode {
  let cur = leafNode(index, value)
  for (let level = 0; level < path.length; level++) {
    if (cur.index === rootIndex) throw new InvalidProofError('audit-path-length', `The audit path has ${path.length} nodes, the block's root is reached after ${level}`)
    const want = flatSibling(cur.index)
    const sibling = path[level]!
    if (sibling.index !== want) throw new InvalidProofError('audit-path-index', `Audit path node ${level} must be tree node ${want}, got ${sibling.index}`)
    cur = parentNode(cur, sibling)
  }
  if (cur.index !== rootIndex) throw new InvalidProofError('audit-path-length', `The audit path has ${path.length} nodes and stops at tree node ${cur.index}, below the root ${rootIndex}`)
  return cur
}

/** `roots` with `root` inserted at its place (roots are ordered by flat index). */
export function insertRoot (roots: readonly TreeNode[], root: TreeNode): TreeNode[] {
  const out = roots.filter(r => r.index < root.index)
  out.push(root)
  for (const r of roots) if (r.index > root.index) out.push(r)
  return out
}
