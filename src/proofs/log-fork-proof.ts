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
import type Hypercore from 'hypercore'
import { InvalidArgumentError, InvalidProofError, VitraError } from '../errors.js'
import { extensionIndexes, flatLeaves, fullRoots, signatureFromMultisig, treeHash, type TreeNode } from './hypercore-crypto.js'
import {
  captureSignedHead, checkHeadSignature, checkManifest, coreManifest, createConsistencyProof, extendTree, nodeFromJSON, nodeToJSON,
  parseMaybe, readConst, readHead, readHex, readManifest, readNodes, readObject, readSignedHead, verifySignedHead,
  type HeadJSON, type ManifestJSON, type NodeJSON, type SignedHead
} from './signed-head.js'

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

  /**
   * A proof from a head seen elsewhere (`other`, e.g. from a peer or an old record) and
   * the current head of `core`. When `other` is not longer than `core`, consistency nodes
   * are taken from `core` (they show the history `core` implies at `other.length`).
   * When `other` is longer, only a fork-counter difference or an equal length can be
   * proven from this side. The result is verified: throws InvalidProofError('not-a-fork')
   * when the two heads are compatible, InvalidArgumentError when this side cannot prove it.
   */
  static async fromConflict (core: Hypercore, other: SignedHead): Promise<LogForkFraudProof> {
    await core.ready()
    const manifest = coreManifest(core)
    const theirs = verifySignedHead(other, manifest, { key: core.key })
    const mine = await captureSignedHead(core)
    let consistency: ForkConsistencyJSON | null = null
    if (theirs.length < mine.length) {
      const c = await createConsistencyProof(core, theirs.length, { head: mine })
      consistency = { roots: c.from.roots, nodes: c.nodes }
    } else if (theirs.length > mine.length && theirs.fork === mine.fork) {
      throw new InvalidArgumentError('The other head is longer on the same fork: the consistency nodes must come from the log that holds it')
    }
    const proof = LogForkFraudProof.fromHeads(mine, readSignedHead(other, 'other'), manifest, consistency)
    proof.verify()
    return proof
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
    const [a, b] = this.heads.map((h, i) => checkHeadSignature(signer, h, `head ${i}`))
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
    return readNodes([{ index: x.index, size: x.size, hash: Buffer.from(x.hash).toString('hex') }], 'conflict proof node')[0]
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

/** What watchForConflicts returns. */
export interface ConflictWatcher {
  /** The heads recorded so far (newest last; at most `historySize`). */
  heads (): SignedHead[]
  /** Resolves when every capture queued so far has run. */
  ready (): Promise<void>
  /** Stops listening and waits for pending work. Does not close the core. */
  stop (): Promise<void>
}

/**
 * Best-effort fork detection on a live core. Records the core's signed head now and after
 * every `'append'` and `'truncate'` (Hypercore keeps only the newest signature), and:
 *
 * - whenever a newly recorded head has another fork counter than the one before it (a
 *   local `truncate()`, or a replica following a peer's reorg), reports a truncation proof,
 *   with consistency nodes when the new history is at least as long as the old head
 *   (showing whether it differs).
 * - on the undocumented `'conflict'` event `(length, fork, proof)` that a replica emits when
 *   a peer proves a head incompatible with its own: rebuilds the peer's signed head from the
 *   proof and pairs it with a recorded head of the same fork at `length` (the length the
 *   conflict was detected at) → equivocation proof. Hypercore freezes and closes the core
 *   right after the event, so nothing can be read from it then: when no head was recorded at
 *   exactly that length (appends between two captures are not seen one by one), the conflict
 *   is reported to `opts.onError` and no proof is made.
 *
 * Cannot capture: forks that never reach this core (it must replicate with the other
 * history, or truncate itself); a truncation to which a replica never follows (with
 * `allowFork: false` it silently stays on the old fork); heads between two captures.
 */
export function watchForConflicts (core: Hypercore, onProof: (proof: LogForkFraudProof) => void, opts: { historySize?: number, onError?: (err: Error) => void } = {}): ConflictWatcher {
  const historySize = opts.historySize ?? 1024
  const onError = opts.onError ?? (() => {})
  const recorded: SignedHead[] = []
  let manifest: ManifestJSON | null = null
  let chain: Promise<void> = Promise.resolve()
  let stopped = false

  const enqueue = (fn: () => Promise<void>): void => {
    chain = chain.then(() => (stopped ? undefined : fn())).catch(err => { if (!stopped && !core.closed) onError(err as Error) })
  }
  const record = (head: SignedHead): void => {
    const last = recorded[recorded.length - 1]
    if (last !== undefined && last.length === head.length && last.fork === head.fork && last.treeHash === head.treeHash) return
    recorded.push(head)
    if (recorded.length > historySize) recorded.shift()
  }
  const getManifest = (): ManifestJSON | null => {
    // A replica opened by key learns its manifest with the first upgrade.
    if (manifest === null && core.manifest) manifest = coreManifest(core)
    return manifest
  }

  const capture = async (): Promise<SignedHead | null> => {
    if (core.closed || core.length === 0) return null
    const head = await captureSignedHead(core)
    return head
  }

  // Every capture is compared with the last recorded head: a new fork counter is a
  // truncation whichever event revealed it (a truncate may land before a pending capture runs).
  const observe = (): void => enqueue(async () => {
    const before = recorded[recorded.length - 1]
    const after = await capture()
    if (after === null) return
    record(after)
    const m = getManifest()
    if (before === undefined || before.fork === after.fork || m === null) return
    let consistency: ForkConsistencyJSON | null = null
    if (before.length <= after.length) {
      try {
        const c = await createConsistencyProof(core, before.length, { head: after })
        consistency = { roots: c.from.roots, nodes: c.nodes }
      } catch { /* best effort: the fork counters alone are the evidence */ }
    }
    const proof = LogForkFraudProof.fromHeads(before, after, m, consistency)
    proof.verify()
    onProof(proof)
  })
  const onConflict = (length: number, fork: number, remote: unknown): void => {
    // Synchronous on purpose: the core closes right after emitting.
    try {
      const m = getManifest()
      if (m === null) throw new InvalidArgumentError('Conflict on a core whose manifest is unknown')
      const theirs = headFromConflictProof(core.key, m, remote)
      const mine = [...recorded].reverse().find(h => h.fork === fork && (h.length === theirs.atLength || h.length === theirs.head.length))
      if (mine === undefined) throw new InvalidArgumentError(`Conflict at length ${length}, fork ${fork}: no recorded head at that length to pair with the peer's head`)
      const consistency = mine.length === theirs.head.length ? null : theirs.consistency
      const proof = LogForkFraudProof.fromHeads(mine, theirs.head, m, consistency)
      proof.verify()
      onProof(proof)
    } catch (err) {
      onError(err as Error)
    }
  }

  const first = (async () => {
    await core.ready()
    getManifest()
  })()
  enqueue(() => first)
  observe()
  core.on('append', observe)
  core.on('truncate', observe)
  core.on('conflict', onConflict)

  return {
    heads: () => recorded.slice(),
    ready: async () => { await first.catch(() => {}); await chain },
    stop: async () => {
      core.off('append', observe)
      core.off('truncate', observe)
      core.off('conflict', onConflict)
      await chain
      stopped = true
    }
  }
}

function stripKey (h: SignedHead): HeadJSON {
  return { length: h.length, fork: h.fork, treeHash: h.treeHash, signature: h.signature }
}
