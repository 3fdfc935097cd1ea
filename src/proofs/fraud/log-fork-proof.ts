/**
 * Log fork fraud proofs: portable evidence that one log key signed two histories that
 * cannot both be true. A contract database's logs must be append-only forever, so
 * any of these is a violation by the holder of the log's secret key:
 *
 * - equivocation, same fork counter: two signed heads of the same length with
 *   different tree hashes; or heads at lengths a < b where the tree hash at a that
 *   the longer head implies (through consistency nodes checked against the longer
 *   head's signed tree hash) differs from the shorter head's signed tree hash.
 * - truncation: two signed heads with different fork counters. Hypercore bumps the
 *   fork counter only on `truncate()`, which rewrites history; in a contract database
 *   every fork > 0 is a violation, so the two signatures alone are the evidence.
 *   When consistency nodes are included they also show whether the histories differ.
 *
 * Every head's signature is checked with the key's manifest, which must hash to the key.
 */
import { InvalidArgumentError, InvalidProofError, VitraError } from '../../errors/errors.js'
import { extensionIndexes, flatLeaves, fullRoots, signatureFromMultisig, treeHash } from '../crypto/hypercore-crypto.js'
import { checkHeadSignature, checkManifest, extendTree, nodeFromJSON, parseMaybe, readConst, readHead, readHex, readManifest, readNodes, readObject, verifySignedHead, type HeadJSON, type ManifestJSON, type NodeJSON, type SignedHead } from '../log/signed-head.js'

/** The kind of fork a LogForkFraudProof shows. */
export type LogForkKind = 'equivocation' | 'truncation'

/** Consistency evidence from the shorter head's length to the longer head (see signed-head.ts). */
export interface ForkConsistencyJSON {
  /** The roots, in the longer head's history, of the tree at the shorter head's length. */
  roots: NodeJSON[]
  /** The nodes that extend those roots to the longer head: extensionIndexes(shorter.length, longer.length). */
  nodes: NodeJSON[]
}

/** A log fork fraud proof in JSON (all bytes lowercase hex). See whitepaper/proofs.md. */
export interface LogForkProofJSON {
  version: 1
  type: 'vitra/log-fork-proof'
  key: string
  manifest: ManifestJSON
  /** Two heads signed by the key's signer. */
  heads: [HeadJSON, HeadJSON]
  /** Required when both heads have the same fork and different lengths; optional otherwise. */
  consistency: ForkConsistencyJSON | null
}

/** What verifyLogForkProof establishes. */
export interface VerifiedLogFork {
  key: Buffer
  kind: LogForkKind
  /** For a truncation with consistency nodes: whether the histories also differ at the shorter length (null when unknown). */
  historyDiffers: boolean | null
}

/** Evidence that a log key signed two incompatible histories. */
export class LogForkFraudProof extends VitraError {
  readonly key: string
  readonly manifest: ManifestJSON
  readonly heads: [HeadJSON, HeadJSON]
  readonly consistency: ForkConsistencyJSON | null

  private constructor (json: LogForkProofJSON) {
    super('LOG_FORK', `Log ${json.key.slice(0, 8)}… signed two histories that do not extend one another (a fork)`)
    this.key = json.key
    this.manifest = json.manifest
    this.heads = json.heads
    this.consistency = json.consistency
  }

  /**
   * A proof from two signed heads of the same key (and, when their lengths differ,
   * consistency evidence from the log that holds the longer one). Not verified: call verify().
   */
  static fromHeads (a: SignedHead, b: SignedHead, manifest: ManifestJSON, consistency: ForkConsistencyJSON | null = null): LogForkFraudProof {
    if (a.key !== b.key) throw new InvalidArgumentError('The two heads are for different log keys')
    return LogForkFraudProof.fromJSON({ version: 1, type: 'vitra/log-fork-proof', key: a.key, manifest, heads: [stripKey(a), stripKey(b)], consistency })
  }


  /** The proof's JSON form (a fresh plain object). */
  toJSON (): LogForkProofJSON {
    return {
      version: 1,
      type: 'vitra/log-fork-proof',
      key: this.key,
      manifest: this.manifest,
      heads: [{ ...this.heads[0] }, { ...this.heads[1] }],
      consistency: this.consistency === null ? null : { roots: this.consistency.roots.slice(), nodes: this.consistency.nodes.slice() }
    }
  }

  /** Parses (a string) and validates the shape of untrusted proof JSON. Throws InvalidProofError('malformed'). */
  static fromJSON (json: string | unknown): LogForkFraudProof {
    const o = readObject(parseMaybe(json), 'proof', ['version', 'type', 'key', 'manifest', 'heads'], ['consistency'])
    readConst(o.version, 1, 'proof.version')
    readConst(o.type, 'vitra/log-fork-proof', 'proof.type')
    if (!Array.isArray(o.heads) || o.heads.length !== 2) throw new InvalidProofError('malformed', 'proof.heads must hold exactly two heads')
    let consistency: ForkConsistencyJSON | null = null
    if (o.consistency !== undefined && o.consistency !== null) {
      const c = readObject(o.consistency, 'proof.consistency', ['roots', 'nodes'])
      consistency = { roots: readNodes(c.roots, 'proof.consistency.roots'), nodes: readNodes(c.nodes, 'proof.consistency.nodes') }
    }
    return new LogForkFraudProof({
      version: 1,
      type: 'vitra/log-fork-proof',
      key: readHex(o.key, 'proof.key', 32),
      manifest: readManifest(o.manifest),
      heads: [readHead(o.heads[0], 'proof.heads[0]'), readHead(o.heads[1], 'proof.heads[1]')],
      consistency
    })
  }

  /**
   * Checks that the proof shows a fork; throws InvalidProofError otherwise. Checks: the
   * manifest hashes to the key (manifest-key-mismatch; unexpected-key against opts.key);
   * both signatures (bad-signature); then: different forks → truncation (consistency
   * nodes, when present, must verify against the longer head); same length → the tree
   * hashes must differ (else not-a-fork) → equivocation; different lengths → consistency
   * is required (missing-consistency), its roots and nodes must have the right indexes
   * (roots-mismatch, consistency-path) and lead to the longer head's tree hash
   * (tree-hash-mismatch), and the tree hash they imply at the shorter length must differ
   * from the shorter head's (else not-a-fork) → equivocation.
   */
  verify (opts: { key?: Buffer | string } = {}): VerifiedLogFork {
    const signer = checkManifest(this.manifest, this.key, opts.key)
    const a = checkHeadSignature(signer, this.heads[0], 'head 0')
    const b = checkHeadSignature(signer, this.heads[1], 'head 1')
    const [short, long] = a.length <= b.length ? [a, b] : [b, a]
    let implied: Buffer | null = null
    if (this.consistency !== null) {
      const c = extendTree(short.length, this.consistency.roots.map(nodeFromJSON), long.length, this.consistency.nodes.map(nodeFromJSON))
      if (!c.toTreeHash.equals(long.treeHash)) throw new InvalidProofError('tree-hash-mismatch', 'The consistency nodes do not lead to the longer head\'s signed tree hash')
      implied = c.fromTreeHash
    }
    if (a.fork !== b.fork) {
      return { key: signer.key, kind: 'truncation', historyDiffers: implied === null ? null : !implied.equals(short.treeHash) }
    }
    if (a.length === b.length) {
      if (a.treeHash.equals(b.treeHash)) throw new InvalidProofError('not-a-fork', 'The two heads sign the same tree: no fork')
      return { key: signer.key, kind: 'equivocation', historyDiffers: true }
    }
    if (implied === null) throw new InvalidProofError('missing-consistency', 'Heads of different lengths on the same fork need consistency nodes from the longer head')
    if (implied.equals(short.treeHash)) throw new InvalidProofError('not-a-fork', 'The longer head extends the shorter one: no fork')
    return { key: signer.key, kind: 'equivocation', historyDiffers: true }
  }
}

/**
 * Verifies untrusted log-fork-proof JSON offline (see LogForkFraudProof.verify) and
 * returns the key and the kind of fork. Throws InvalidProofError.
 */
export function verifyLogForkProof (json: LogForkProofJSON | string | unknown, opts: { key?: Buffer | string } = {}): VerifiedLogFork {
  return LogForkFraudProof.fromJSON(json).verify(opts)
}

/**
 * The signed head a peer proved in the proof object of Hypercore's `'conflict'` event
 * (`upgrade.start` is 0: `upgrade.nodes` are the peer's roots at `upgrade.length`,
 * `additionalNodes` extend them to the peer's full length, which the signature covers),
 * plus those roots and nodes as consistency evidence from `upgrade.length`. The head is
 * checked against the manifest. Throws InvalidProofError when the object is not such a proof.
 */
export function headFromConflictProof (key: Uint8Array, manifest: ManifestJSON, proof: unknown): { head: SignedHead, atLength: number, consistency: ForkConsistencyJSON } {
  const p = proof as { fork?: unknown, upgrade?: { start?: unknown, length?: unknown, nodes?: unknown, additionalNodes?: unknown, signature?: unknown } | null } | null
  const up = p?.upgrade
  if (!up || up.start !== 0 || typeof up.length !== 'number' || typeof p?.fork !== 'number' || !Array.isArray(up.nodes) || !Array.isArray(up.additionalNodes) || !(up.signature instanceof Uint8Array)) {
    throw new InvalidProofError('malformed', 'Not a Hypercore conflict proof with an upgrade from 0')
  }
  const asNode = (n: unknown, i: number): NodeJSON => {
    const x = n as { index?: unknown, size?: unknown, hash?: unknown }
    if (!(x.hash instanceof Uint8Array)) throw new InvalidProofError('malformed', `conflict proof node ${i} has no hash`)
    return readNodes([{ index: x.index, size: x.size, hash: Buffer.from(x.hash).toString('hex') }], 'conflict proof node')[0]!
  }
  const roots = up.nodes.map(asNode)
  const extra = up.additionalNodes.map(asNode)
  const atLength = up.length
  let length = atLength
  for (const n of extra) length += flatLeaves(n.index)
  if (extensionIndexes(atLength, length).join() !== extra.map(n => n.index).join() || fullRoots(atLength).join() !== roots.map(n => n.index).join()) {
    throw new InvalidProofError('malformed', 'The conflict proof\'s nodes are not in the expected order')
  }
  const { roots: final } = extendTree(atLength, roots.map(nodeFromJSON), length, extra.map(nodeFromJSON))
  const signature = signatureFromMultisig(up.signature)
  if (signature === null) throw new InvalidProofError('malformed', 'The conflict proof\'s signature is not a quorum-1 signature')
  const head: SignedHead = { key: Buffer.from(key).toString('hex'), length, fork: p.fork, treeHash: treeHash(final).toString('hex'), signature: signature.toString('hex') }
  verifySignedHead(head, manifest)
  return { head, atLength, consistency: { roots, nodes: extra } }
}



function stripKey (h: SignedHead): HeadJSON {
  return { length: h.length, fork: h.fork, treeHash: h.treeHash, signature: h.signature }
}
