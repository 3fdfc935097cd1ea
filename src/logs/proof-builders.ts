/**
 * Making proofs from logs: the signed head of a Hypercore, inclusion, consistency and
 * range proofs of its blocks, index read proofs of a Hyperbee, log-fork proofs from a
 * conflicting head, and the watcher that captures forks on a live core. Everything
 * here reads a core (or bee) the caller opened; the checks of what it makes are the
 * pure functions of src/proofs/ (`vitra/proofs`), which never touch a log.
 */
import type Hyperbee from 'hyperbee'
import type Hypercore from 'hypercore'
import type { HypercoreProof } from 'hypercore'
import { CouldNotVerifyError, InvalidArgumentError, InvalidProofError } from '../errors/errors.js'
import { extensionIndexes, fullRoots, signatureFromMultisig, treeHash, flatDepth, type TreeNode } from '../proofs/crypto/hypercore-crypto.js'
import {
  nodeToJSON, readSignedHead, verifySignedHead, verifyConsistencyProof,
  type ConsistencyProof, type HeadJSON, type ManifestJSON, type NodeJSON, type SignedHead
} from '../proofs/log/signed-head.js'
import { coveringRoot, insertRoot, verifyInclusionProof, walkPath, type InclusionProof } from '../proofs/log/inclusion-proofs.js'
import { children, MAX_RANGE_BLOCKS, overlaps, RANGE_PROOF_TYPE, verifyRangeProof, type RangeProof } from '../proofs/log/range-proofs.js'
import {
  blockCore, foldRoots, MAX_READS, readReads, runReads, runReadsOnBee, sameResults, verifyIndexReadProof,
  type IndexRead, type IndexReadProof, type ProvenReadResult, type VerifiedIndexReads
} from '../proofs/bee/bee-proofs.js'
import { listFolder, type FolderListOptions, type ListedEntry } from '../format/shallow-list.js'
import { peekRead } from '../proofs/bee/folder-list-proof.js'
import { headFromConflictProof, LogForkFraudProof, type ForkConsistencyJSON } from '../proofs/fraud/log-fork-proof.js'

/** The manifest of a live core in JSON. Throws InvalidArgumentError when the core's manifest is not the supported v1 single-signer form. */
export function coreManifest (core: Hypercore): ManifestJSON {
  const m = core.manifest as unknown
  if (m === null || typeof m !== 'object') throw new InvalidArgumentError('The core has no manifest (is it ready, and not a compat core?)')
  const r = m as Record<string, unknown>
  const signers = r.signers as Array<Record<string, unknown>> | undefined
  const s = Array.isArray(signers) && signers.length === 1 ? signers[0] : undefined
  const ok = s !== undefined && r.version === 1 && (r.hash === undefined || r.hash === 'blake2b') && r.quorum === 1 && !r.allowPatch &&
    !r.prologue && !r.linked && !r.userData &&
    (s.signature === undefined || s.signature === 'ed25519') &&
    Buffer.isBuffer(s.publicKey) && Buffer.isBuffer(s.namespace)
  if (!ok) throw new InvalidArgumentError('Only version-1 manifests with one ed25519 signer and quorum 1 can be proven offline')
  return {
    version: 1,
    hash: 'blake2b',
    quorum: 1,
    signers: [{ signature: 'ed25519', namespace: (s.namespace as Buffer).toString('hex'), publicKey: (s.publicKey as Buffer).toString('hex') }]
  }
}
/**
 * The roots of `core`'s tree at `length` (blocks), and the signature and fork of the
 * core's head at the moment the proof was taken. Internal helper: one `core.proof` call,
 * which reads length, fork and signature synchronously, so they belong together.
 */
async function rootsAndSignature (core: Hypercore, length: number): Promise<{ roots: TreeNode[], extra: TreeNode[], fork: number, signature: Buffer | null }> {
  const p = await core.proof({ upgrade: { start: 0, length } })
  const up = p.upgrade as { nodes: TreeNode[], additionalNodes: TreeNode[], signature: Buffer | null }
  return {
    roots: up.nodes,
    extra: up.additionalNodes,
    fork: p.fork as number,
    signature: up.signature ? signatureFromMultisig(up.signature) : null
  }
}
/**
 * The current signed head of a live core, checked against its manifest before it is
 * returned. Record heads when they are made: Hypercore keeps only the newest signature.
 * Throws InvalidArgumentError for an empty core (nothing is signed yet).
 */
export async function captureSignedHead (core: Hypercore): Promise<SignedHead> {
  await core.ready()
  const manifest = coreManifest(core)
  const key = core.key.toString('hex')
  let lastError: unknown = null
  for (let attempt = 0; attempt < 5; attempt++) {
    const length = core.length
    if (length === 0) throw new InvalidArgumentError('The core is empty: there is no signed head yet')
    const { roots, extra, fork, signature } = await rootsAndSignature(core, length)
    if (extra.length > 0 || signature === null) continue // the core moved between reading length and taking the proof
    const head: SignedHead = { key, length, fork, treeHash: treeHash(roots).toString('hex'), signature: signature.toString('hex') }
    try {
      verifySignedHead(head, manifest)
      return head
    } catch (err) {
      lastError = err
    }
  }
  throw new CouldNotVerifyError('Could not capture a signed head that verifies (the core kept changing)', { cause: String(lastError) })
}
/**
 * A consistency proof from the tree at `fromLength` to the core's current signed head
 * (or to `opts.head`, a head recorded earlier whose tree the core still has).
 * The result is verified before it is returned.
 */
export async function createConsistencyProof (core: Hypercore, fromLength: number, opts: { head?: SignedHead } = {}): Promise<ConsistencyProof> {
  await core.ready()
  const head = opts.head ?? await captureSignedHead(core)
  if (!Number.isSafeInteger(fromLength) || fromLength < 0 || fromLength > head.length) {
    throw new InvalidArgumentError(`fromLength must be an integer between 0 and the head length ${head.length}`)
  }
  if (head.length > core.length) throw new InvalidArgumentError('The core is shorter than the head (truncated?)')
  const fromRoots = fromLength === 0 ? [] : (await rootsAndSignature(core, fromLength)).roots
  const wanted = extensionIndexes(fromLength, head.length)
  let nodes: TreeNode[] = []
  if (wanted.length > 0) {
    const p = await core.proof({ upgrade: { start: fromLength, length: head.length - fromLength } })
    const byIndex = new Map<number, TreeNode>()
    const upgrade = upgradeOf(p, head.length)
    for (const n of [...upgrade.nodes, ...upgrade.additionalNodes] as TreeNode[]) byIndex.set(n.index, n)
    nodes = wanted.map(i => {
      const n = byIndex.get(i)
      if (n === undefined) throw new CouldNotVerifyError(`The core did not provide tree node ${i}`)
      return n
    })
  }
  const proof: ConsistencyProof = {
    version: 1,
    type: 'vitra/consistency-proof',
    key: head.key,
    manifest: coreManifest(core),
    from: { length: fromLength, roots: fromRoots.map(nodeToJSON) },
    head: { length: head.length, fork: head.fork, treeHash: head.treeHash, signature: head.signature },
    nodes: nodes.map(nodeToJSON)
  }
  try {
    verifyConsistencyProof(proof)
  } catch (err) {
    throw new InvalidArgumentError(`The core's tree does not match the head (truncated or changed?): ${(err as Error).message}`)
  }
  return proof
}
/**
 * An inclusion proof of block `index` against the core's current signed head, or against
 * `opts.head` (a head captured earlier, whose tree the core still holds). The block and
 * its tree nodes must be available locally (CouldNotVerifyError otherwise). The proof is
 * verified before it is returned.
 */
export async function createInclusionProof (core: Hypercore, index: number, opts: { head?: SignedHead } = {}): Promise<InclusionProof> {
  await core.ready()
  const manifest = coreManifest(core)
  const key = core.key.toString('hex')
  if (opts.head !== undefined && opts.head.key !== key) throw new InvalidArgumentError('The head is for another core')
  let lastError: unknown = null
  for (let attempt = 0; attempt < 5; attempt++) {
    const headLength = opts.head !== undefined ? opts.head.length : core.length
    if (!Number.isSafeInteger(index) || index < 0 || index >= headLength) {
      throw new InvalidArgumentError(`Block index ${index} is not below the head length ${headLength}`)
    }
    if (!(await fetched(core, index))) throw new CouldNotVerifyError(`Block ${index} is not available locally`, { index })
    // Read the length and take the proof in the same tick, so that length, roots and signature belong together.
    const length = opts.head !== undefined ? opts.head.length : core.length
    const p = await core.proof({ block: { index, nodes: 0 }, upgrade: { start: 0, length } })
    if (!p.block || !p.block.value) throw new CouldNotVerifyError(`Block ${index} is not available locally`, { index })
    const path = p.block.nodes as TreeNode[]
    const upgrade = upgradeOf(p, length)
    const roots = upgrade.nodes as TreeNode[]
    const value = p.block.value as Buffer
    let head: HeadJSON
    if (opts.head !== undefined) {
      head = { length: opts.head.length, fork: opts.head.fork, treeHash: opts.head.treeHash, signature: opts.head.signature }
    } else {
      const sig = upgrade.signature ? signatureFromMultisig(upgrade.signature) : null
      if (sig === null || upgrade.additionalNodes.length > 0) continue // the core moved while the proof was taken
      const all = insertRoot(roots, walkPath(index, value, path, coveringRoot(index, length)))
      head = { length, fork: p.fork, treeHash: treeHash(all).toString('hex'), signature: sig.toString('hex') }
    }
    const proof: InclusionProof = {
      version: 1,
      type: 'vitra/inclusion-proof',
      key,
      manifest,
      index,
      value: value.toString('hex'),
      nodes: path.map(nodeToJSON),
      head: { ...head, roots: roots.map(nodeToJSON) }
    }
    try {
      verifyInclusionProof(proof)
      return proof
    } catch (err) {
      lastError = err
      if (opts.head !== undefined) break
    }
  }
  throw new InvalidArgumentError(`Could not make an inclusion proof that verifies (truncated or changing core?): ${(lastError as Error | null)?.message ?? 'no stable head'}`)
}
/**
 * A range proof of blocks `start` … `end − 1` against `opts.head` (a head captured
 * earlier whose tree the core still holds), or against the core's current signed head.
 * The blocks and their tree nodes must be local (CouldNotVerifyError otherwise). The
 * proof is verified before it is returned.
 */
export async function createRangeProof (core: Hypercore, start: number, end: number, opts: { head?: SignedHead } = {}): Promise<RangeProof> {
  await core.ready()
  const head = opts.head ?? await captureSignedHead(core)
  const key = core.key.toString('hex')
  if (head.key !== key) throw new InvalidArgumentError('The head is for another core')
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start || end > head.length) {
    throw new InvalidArgumentError(`The range [${start}, ${end}) is not a non-empty range below the head length ${head.length}`)
  }
  if (end - start > MAX_RANGE_BLOCKS) throw new InvalidArgumentError(`A range proof carries at most ${MAX_RANGE_BLOCKS} blocks`)
  // Every subtree a range proof needs is a sibling on the audit path of its first or of
  // its last block, or another root: two inclusion proofs hold them all.
  const known = new Map<number, NodeJSON>()
  for (const b of new Set([start, end - 1])) {
    const p = await createInclusionProof(core, b, { head })
    for (const n of [...p.nodes, ...p.head.roots]) known.set(n.index, n)
  }
  const values: string[] = []
  for (let i = start; i < end; i++) {
    const v = await core.get(i, { wait: false }) as Buffer | null
    if (v === null) throw new CouldNotVerifyError(`Block ${i} is not available locally`, { index: i })
    values.push(v.toString('hex'))
  }
  const nodes: NodeJSON[] = []
  const collect = (i: number): void => {
    if (!overlaps(i, start, end)) {
      const n = known.get(i)
      if (n === undefined) throw new InvalidArgumentError(`Tree node ${i} is missing from the audit paths (changing core?)`)
      nodes.push(n)
    } else if (flatDepth(i) > 0) {
      const [left, right] = children(i)
      collect(left)
      collect(right)
    }
  }
  for (const r of fullRoots(head.length)) collect(r)
  const proof: RangeProof = {
    version: 1,
    type: RANGE_PROOF_TYPE,
    key,
    manifest: coreManifest(core),
    start,
    values,
    nodes,
    head: { length: head.length, fork: head.fork, treeHash: head.treeHash, signature: head.signature }
  }
  verifyRangeProof(proof)
  return proof
}
/**
 * Whether block `index` is stored here, fetching it first when it is not (a reader's
 * core: bounded by its session's timeout). A writer holds every block it wrote.
 */
async function fetched (core: Hypercore, index: number): Promise<boolean> {
  if (await core.has(index)) return true
  if (core.writable) return false // nobody else has what its writer cleared
  await core.get(index).catch(() => null)
  return await core.has(index)
}

/**
 * A proof of `reads` on the index `bee` at version `at`. `at` must be a batch end of the
 * bee (the caller guarantees it) and at most the core length. The blocks are proven
 * against the core's current signed head, or against `opts.head` (a head captured
 * earlier, with `head.length ≥ at`, whose tree the core still holds).
 *
 * The reads are run by Hyperbee over a recording core (so every block Hyperbee fetches,
 * for gets and range streams alike, is captured), cross-checked against the live bee's
 * `checkout(at)`, and the finished proof is verified before it is returned.
 * Throws InvalidArgumentError on bad arguments or when the core changed underneath
 * (truncation), CouldNotVerifyError when a block or tree node is not available locally.
 */
export async function createIndexReadProof (bee: Hyperbee, at: number, reads: IndexRead[], opts: { head?: SignedHead } = {}): Promise<IndexReadProof> {
  let wanted: IndexRead[]
  try {
    wanted = readReads(reads, 'reads')
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
  await bee.ready()
  const core = bee.core
  await core.ready()
  const key = core.key.toString('hex')
  if (!Number.isSafeInteger(at) || at < 1 || at > core.length) throw new InvalidArgumentError(`at must be an integer between 1 and the index length ${core.length}`)
  const head = opts.head ?? await captureSignedHead(core)
  if (head.key !== key) throw new InvalidArgumentError('The head is for another core')
  if (head.length < at) throw new InvalidArgumentError(`The head length ${head.length} is below at = ${at}`)

  // 1. Run the reads through Hyperbee over a core that records every block it serves.
  const touched = new Set<number>([0]) // the header is always proven
  const recorder = blockCore(core.key, at, head.fork, async seq => {
    const v = await core.get(seq) as unknown
    if (!Buffer.isBuffer(v)) throw new CouldNotVerifyError(`Index block ${seq} is not available`, { seq })
    touched.add(seq)
    return v
  })
  let recorded: ProvenReadResult[]
  let live: ProvenReadResult[]
  try {
    recorded = await runReads(recorder, at, wanted)
    // 2. Cross-check: the live bee's own checkout must give the same answers.
    live = await runReadsOnBee(bee.checkout(at, { keyEncoding: 'utf-8', valueEncoding: 'binary' }), wanted)
  } catch (err) {
    if (err instanceof InvalidProofError) throw new InvalidArgumentError(`Hyperbee could not read the index at version ${at} (is it a batch end?): ${err.message}`)
    throw err
  }
  if (!sameResults(recorded, live)) throw new InvalidArgumentError('The recorded reads differ from the live checkout (did the core change?)')

  // 3. Prove every touched block (and the header) against the head: one multiproof.
  const seqs = [...touched].sort((a, b) => a - b)
  const available = new Map<number, TreeNode>()
  const values: Buffer[] = []
  for (const seq of seqs) {
    await fetched(core, seq) // the header: a reader may not hold it yet
    const p = await core.proof({ block: { index: seq, nodes: 0 }, upgrade: { start: 0, length: head.length } })
    if (!p.block || !p.block.value) throw new CouldNotVerifyError(`Index block ${seq} is not available locally`, { seq })
    for (const n of [...p.block.nodes, ...upgradeOf(p, head.length).nodes] as TreeNode[]) available.set(n.index, n)
    values.push(Buffer.from(p.block.value as Uint8Array))
  }
  const nodes: TreeNode[] = []
  foldRoots(head.length, seqs, values, index => {
    const n = available.get(index)
    if (n === undefined) throw new CouldNotVerifyError(`The core did not provide tree node ${index}`, { index })
    nodes.push(n)
    return n
  })
  const proof: IndexReadProof = {
    version: 1,
    type: 'vitra/index-read-proof',
    key,
    manifest: coreManifest(core),
    at,
    head: { length: head.length, fork: head.fork, treeHash: head.treeHash, signature: head.signature },
    blocks: seqs.map((seq, i) => ({ seq, value: values[i]!.toString('hex') })),
    nodes: nodes.map(nodeToJSON),
    reads: wanted
  }

  // 4. The proof must verify and give what the live bee gave.
  let verified: VerifiedIndexReads
  try {
    verified = await verifyIndexReadProof(proof)
  } catch (err) {
    throw new InvalidArgumentError(`Could not make an index read proof that verifies (truncated or changing core?): ${(err as Error).message}`)
  }
  if (!sameResults(verified.results, live)) throw new InvalidArgumentError('The proof replays to other results than the live checkout')
  return proof
}

/**
 * A proof from a head seen elsewhere (`other`, e.g. from a peer or an old record) and
 * the current head of `core`. When `other` is not longer than `core`, consistency nodes
 * are taken from `core` (they show the history `core` implies at `other.length`).
 * When `other` is longer, only a fork-counter difference or an equal length can be
 * proven from this side. The result is verified: throws InvalidProofError('not-a-fork')
 * when the two heads are compatible, InvalidArgumentError when this side cannot prove it.
 */
export async function logForkProofFromConflict (core: Hypercore, other: SignedHead): Promise<LogForkFraudProof> {
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

/**
 * The head of `core` as Hypercore holds it in memory at this moment, checked against
 * `manifest`; null when it cannot be read so (an empty core, internals not there).
 * Synchronous, for the one moment nothing can be awaited: Hypercore's 'conflict' event,
 * right after which the core closes. Reads the undocumented `core.core.state` (roots,
 * length, fork, signature); read only.
 */
export function headNow (core: Hypercore, manifest: ManifestJSON): SignedHead | null {
  const st = (core as unknown as { core?: { state?: { roots?: unknown, length?: unknown, fork?: unknown, signature?: unknown } } }).core?.state
  if (st === undefined || !Array.isArray(st.roots) || typeof st.length !== 'number' || typeof st.fork !== 'number' || !(st.signature instanceof Uint8Array) || st.length === 0) return null
  const signature = signatureFromMultisig(st.signature)
  if (signature === null) return null
  const head: SignedHead = { key: core.key.toString('hex'), length: st.length, fork: st.fork, treeHash: treeHash(st.roots as TreeNode[]).toString('hex'), signature: signature.toString('hex') }
  try {
    verifySignedHead(head, manifest)
  } catch {
    return null
  }
  return head
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
 *   conflict was detected at), or with the head in memory (headNow) → equivocation proof.
 *   Hypercore freezes and closes the core right after the event, so nothing can be read from
 *   it then. When this side is the longer one (a peer's shorter head contradicts it), the
 *   proof needs this side's tree at the peer's length: with `opts.reopen` (a new session of
 *   the same core, which stays readable while frozen) it is read from there; without, the
 *   conflict is reported to `opts.onError` and no proof is made.
 *
 * Cannot capture: forks that never reach this core (it must replicate with the other
 * history, or truncate itself); a truncation to which a replica never follows (with
 * `allowFork: false` it silently stays on the old fork); heads between two captures.
 */
export function watchForConflicts (core: Hypercore, onProof: (proof: LogForkFraudProof) => void, opts: { historySize?: number, onError?: (err: Error) => void, reopen?: () => Hypercore } = {}): ConflictWatcher {
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
  // Captures coalesce: while one waits in the queue, more appends add nothing to it.
  let pending = false
  // A core this process writes needs no capture per append: only a truncate can change its
  // fork, and a conflict pairs with the head in memory (headNow) or a reopened session.
  const onAppend = (): void => { if (!core.writable) observe() }
  const observe = (): void => {
    if (pending) return
    pending = true
    enqueue(capture_)
  }
  const capture_ = async (): Promise<void> => {
    pending = false
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
  }
  let late: Promise<void> = Promise.resolve()
  const proveFromReopened = async (theirs: SignedHead): Promise<void> => {
    const again = (opts.reopen as () => Hypercore)()
    try {
      await again.ready()
      const proof = await logForkProofFromConflict(again, theirs)
      if (!stopped) onProof(proof)
    } finally {
      await again.close()
    }
  }
  const onConflict = (length: number, fork: number, remote: unknown): void => {
    // Synchronous on purpose: the core closes right after emitting.
    try {
      const m = getManifest()
      if (m === null) throw new InvalidArgumentError('Conflict on a core whose manifest is unknown')
      const theirs = headFromConflictProof(core.key, m, remote)
      // the head in memory right now, should no capture have recorded the one at that length yet
      const now = headNow(core, m)
      const mine = [...recorded, ...(now === null ? [] : [now])].reverse().find(h => h.fork === fork && (h.length === theirs.atLength || h.length === theirs.head.length))
      if (mine === undefined && opts.reopen !== undefined && now !== null && now.fork === fork && theirs.head.length < now.length) {
        // this side is longer: the proof needs this side's tree at the peer's length, which
        // can only be read after the event, from a new session (the core is frozen, not lost)
        late = late.then(async () => await proveFromReopened(theirs.head)).catch(err => onError(err as Error))
        return
      }
      if (mine === undefined) throw new InvalidArgumentError(`Conflict at length ${length}, fork ${fork}: no recorded head at that length to pair with the peer's head (theirs at ${theirs.head.length}; recorded ${recorded.map(h => h.length).join(',') || 'none'}; in memory ${now === null ? 'none' : now.length})`)
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
  core.on('append', onAppend)
  core.on('truncate', observe)
  core.on('conflict', onConflict)

  return {
    heads: () => recorded.slice(),
    ready: async () => { await first.catch(() => {}); await chain; await late },
    stop: async () => {
      core.off('append', onAppend)
      core.off('truncate', observe)
      core.off('conflict', onConflict)
      await chain
      await late
      stopped = true
    }
  }
}

/**
 * The listing of the folder at stored key `dir` ('' for `/`) at version `at`, and its
 * proof: an index read proof of every peek the walk made (src/proofs/bee/folder-list-proof.ts
 * checks it by walking again over the proven blocks).
 */
export async function createFolderListProof (bee: Hyperbee, at: number, dir: string, opts: FolderListOptions & { head?: SignedHead } = {}): Promise<{ items: Array<ListedEntry<Buffer>>, proof: IndexReadProof }> {
  const snapshot = bee.checkout(at, { keyEncoding: 'utf-8', valueEncoding: 'binary' })
  const reads: IndexRead[] = []
  let items: Array<ListedEntry<Buffer>>
  try {
    items = await listFolder(async range => {
      const read = peekRead(range)
      reads.push(read)
      const e = await snapshot.peek(read.range)
      return e === null ? null : { key: e.key as string, seq: e.seq, value: e.value as Buffer }
    }, dir, opts)
  } finally {
    await snapshot.close()
  }
  if (reads.length > MAX_READS) throw new InvalidArgumentError(`This listing takes ${reads.length} index reads; a proof carries at most ${MAX_READS}: ask for a smaller page (limit, offset)`)
  return { items, proof: await createIndexReadProof(bee, at, reads, { head: opts.head }) }
}

/** The upgrade part of a proof that asked for one (hypercore leaves it out only when the core is shorter). */
function upgradeOf (p: HypercoreProof, length: number): NonNullable<HypercoreProof['upgrade']> {
  if (p.upgrade === null) throw new CouldNotVerifyError(`The core cannot prove length ${length} (it is shorter here)`, { length })
  return p.upgrade
}
