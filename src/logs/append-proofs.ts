/**
 * Inclusion proofs for the blocks of an append, made in memory at append time.
 *
 * `createInclusionProof` reads each block's audit path from storage (one storage
 * round trip and a proof check per block: about 0.5 ms). A writer does not need
 * that for the blocks it appends itself: every node of their audit paths under the
 * new head is either
 * - a node over new blocks only, which the writer hashes itself from the values, or
 * - a root of the tree before the append (a full subtree entirely before the first
 *   new block whose parent covers a new block is a root of that tree).
 * So the roots before the append plus the new values give every path. What the
 * writer cannot make is the head's signature: it is read once per append, inside
 * Hypercore's `postappend` hook (the append lock is still held, so the head cannot
 * move), with the new roots, and those roots must equal the ones computed here.
 *
 * Trust in the result: the computed roots are checked against the core's, the first
 * proof of every append is checked in full with `verifyInclusionProof` (signature,
 * manifest, path), and the others share its head and node set. When anything does
 * not line up (the roots before the append are unknown or stale, a node is missing,
 * the core disagrees), `prove` returns null and the caller falls back to
 * `createInclusionProof` per block.
 */
import type Hypercore from 'hypercore'
import { flatParent, flatSibling, leafNode, parentNode, signatureFromMultisig, treeHash, type TreeNode } from '../proofs/crypto/hypercore-crypto.js'
import { verifyInclusionProof, type InclusionProof } from '../proofs/log/inclusion-proofs.js'
import { type ManifestJSON, type NodeJSON } from '../proofs/log/signed-head.js'
import { coreManifest } from './proof-builders.js'

interface UpgradeProof { fork: number, upgrade: { nodes: TreeNode[], additionalNodes: TreeNode[], signature: Buffer | null } }

export class AppendProver {
  private readonly core: Hypercore
  /** Roots of the tree at `length` (left to right), or null when unknown. */
  private roots: TreeNode[] | null = null
  private length = -1
  private manifest: ManifestJSON | null = null

  constructor (core: Hypercore) {
    this.core = core
  }

  /**
   * Makes sure the roots of the core's current tree are known (one storage read when
   * they are not). Call it before an append; a concurrent writer of the same core
   * only costs the fast path (prove then returns null). Never throws: a failed read
   * leaves the roots unknown, and the append goes ahead.
   */
  async prime (): Promise<void> {
    const length = this.core.length
    if (this.length === length && this.roots !== null) return
    if (length === 0) { this.set([], 0); return }
    try {
      const p = await this.core.proof({ upgrade: { start: 0, length } }) as UpgradeProof
      if (this.core.length !== length || p.upgrade.additionalNodes.length > 0) { this.roots = null; return }
      this.set(p.upgrade.nodes, length)
    } catch {
      this.roots = null
    }
  }

  /**
   * Proofs of the `blocks` just appended (the last blocks of the core), against the
   * head they produced. Call it only from the append's `postappend` hook. Returns
   * null when the fast path cannot be used; never throws (an append must not fail
   * after its data is written).
   */
  async prove (blocks: readonly Buffer[]): Promise<InclusionProof[] | null> {
    try {
      return await this.tryProve(blocks)
    } catch {
      this.roots = null
      return null
    }
  }

  private async tryProve (blocks: readonly Buffer[]): Promise<InclusionProof[] | null> {
    const end = this.core.length
    const start = end - blocks.length
    const before = this.length === start ? this.roots : null
    const p = await this.core.proof({ upgrade: { start: 0, length: end } }) as UpgradeProof
    const theirs = p.upgrade.nodes
    const sig = p.upgrade.signature !== null ? signatureFromMultisig(p.upgrade.signature) : null
    if (this.core.length !== end || p.upgrade.additionalNodes.length > 0 || sig === null) { this.roots = null; return null }
    this.set(theirs, end)
    if (before === null) return null

    // Every node over the new blocks, and the old roots, by flat index.
    const nodes = new Map<number, TreeNode>()
    for (const r of before) nodes.set(r.index, r)
    const roots = before.slice()
    for (let i = 0; i < blocks.length; i++) {
      let cur = leafNode(start + i, blocks[i]!)
      nodes.set(cur.index, cur)
      while (roots.length > 0 && roots[roots.length - 1]!.index === flatSibling(cur.index)) {
        cur = parentNode(roots.pop() as TreeNode, cur)
        nodes.set(cur.index, cur)
      }
      roots.push(cur)
    }
    if (roots.length !== theirs.length || roots.some((r, i) => r.index !== theirs[i]!.index || Buffer.compare(r.hash, theirs[i]!.hash) !== 0)) return null

    if (this.manifest === null) this.manifest = coreManifest(this.core)
    const manifest = this.manifest
    const key = this.core.key.toString('hex')
    const head = { length: end, fork: p.fork, treeHash: treeHash(roots).toString('hex'), signature: sig.toString('hex') }
    const hex = new Map<number, string>()
    const json = (n: TreeNode): NodeJSON => {
      let h = hex.get(n.index)
      if (h === undefined) { h = toHex(n.hash); hex.set(n.index, h) }
      return { index: n.index, size: n.size, hash: h }
    }
    // The other roots, per covering root (the same for every block under it).
    const others = new Map(roots.map(r => [r.index, roots.filter(o => o !== r)]))
    const out: InclusionProof[] = []
    for (let i = 0; i < blocks.length; i++) {
      const path: NodeJSON[] = []
      let at = 2 * (start + i)
      let rest: TreeNode[] | undefined
      while ((rest = others.get(at)) === undefined) {
        const sibling = nodes.get(flatSibling(at))
        if (sibling === undefined) return null
        path.push(json(sibling))
        at = flatParent(at)
      }
      out.push({
        version: 1,
        type: 'vitra/inclusion-proof',
        key,
        manifest: { ...manifest, signers: [{ ...manifest.signers[0]! }] },
        index: start + i,
        value: blocks[i]!.toString('hex'),
        nodes: path,
        head: { ...head, roots: rest.map(json) }
      })
    }
    if (out.length > 0) verifyInclusionProof(out[0], { key: this.core.key })
    return out
  }

  private set (roots: TreeNode[], length: number): void {
    this.roots = roots.map(r => ({ index: r.index, size: r.size, hash: Buffer.from(r.hash) }))
    this.length = length
  }
}

function toHex (bytes: Uint8Array): string {
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('hex')
}
