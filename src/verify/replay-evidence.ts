/**
 * Replay evidence: everything needed to re-run ONE transaction of the index in the
 * sandbox offline, from the JSON alone (no logs, no network), and so to confirm or
 * refute CHANGE_MISMATCH, CHANGE_COUNT_MISMATCH and RESULT_MISMATCH in a fraud proof.
 *
 * ```
 * { version: 2, type: 'vitra/replay-evidence',
 *   batch: RangeProof         every index entry from the ack's batchStart up to upTo − 1, in
 *                             one range proof: the batch's first ack (batchStart = its own
 *                             seq), the entries before the ack (the overlay), the ack, and
 *                             the published writes of the transaction up to the violating entry
 *   op:    InclusionProof     the op block in its oplog (key = the ack's origin)
 *   oplog: ConsistencyProof   the oplog head of `op` extends the oplog tree the ack names
 *                             (oplogLength, oplogTreeHash): the op is the one the executor
 *                             committed to, even if the participant forked its oplog later
 *   reads: IndexReadProof     at = ack.batchStart: the reads the replay makes on the index
 *                             at the batch start, plus get('/.sys/contract/source'),
 *                             get('/.sys/governance') and get('/.sys/acks/genesis')
 *                             (the genesis marker: maxOpBytes) }
 * ```
 *
 * All index proofs are made against the same signed head. (Version 1 carried one
 * inclusion proof per batch entry, about 2 KB each: 1,036 KB for the last op of a 256-op
 * batch, against 211 KB with the range proof, the blocks plus a few dozen tree nodes.) `verifyReplayEvidence`
 * checks every proof, the shape of the batch, rebuilds the state the executor's
 * `apply` saw (index at batchStart, proven by the read proof, plus the overlay of the
 * batch entries before the ack) and re-runs the op exactly as replay.ts does
 * (`replayOp`: decode, apply with the ack's ts/metadata/height, actionsToChanges, a
 * new contract source must compile). A read the proof does not cover fails the whole
 * check with InvalidProofError('incomplete'): an incomplete proof never passes as a
 * contract failure. See whitepaper/verification.md §4.
 */
import type Hyperbee from 'hyperbee'
import type Hypercore from 'hypercore'
import { decodeValue, type JsonValue } from '../format/encoding.js'
import { CouldNotVerifyError, InvalidArgumentError, InvalidProofError, VitraError } from '../errors/errors.js'
import { DatabaseContracts, parseGovernance, type Governance } from '../exec/database-contracts.js'
import { decodeIndexBlock } from '../logs/index-log.js'
import { CONTRACT_SOURCE_KEY, decodeAck, GENESIS_KEY, GOVERNANCE_KEY, parseAckKey, type Ack } from '../format/schemas.js'
import { parseGenesisMarker } from '../format/limits.js'
import type { AckInfo, Json, SandboxLimits, TxAction } from '../../sandbox/types.js'
import { proofReader, type IndexRead } from '../proofs/bee/bee-proofs.js'
import { verifyInclusionProof } from '../proofs/log/inclusion-proofs.js'
import { verifyRangeProof } from '../proofs/log/range-proofs.js'
import { replayOp, type Replay, type ReplayEnv } from './replay.js'
import { REPLAY_EVIDENCE_TYPE, readReplayEvidence, type ReplayEvidence } from '../proofs/fraud/replay-evidence-json.js'
import { verifyConsistencyProof, type SignedHead } from '../proofs/log/signed-head.js'
import { proofBase, recordingBase, stateView, type Overlay, type StateBase, type StateReader } from './state-view.js'
import { captureSignedHead, createConsistencyProof, createInclusionProof, createIndexReadProof, createRangeProof } from '../logs/proof-builders.js'
import { Resource } from '../lifecycle/resource.js'

export { REPLAY_EVIDENCE_TYPE, readReplayEvidence, type ReplayEvidence } from '../proofs/fraud/replay-evidence-json.js'

/** An index entry decoded from a proven Hyperbee block. */
export interface ProvenIndexEntry {
  seq: number
  type: 'put' | 'del'
  key: string
  /** The stored bytes; null for a delete. */
  value: Buffer | null
}

/** What verifyReplayEvidence establishes. */
export interface VerifiedReplay {
  /** The ack at `ackSeq`. */
  ack: Ack
  ackSeq: number
  /** The ack's batchStart (the version the read proof is pinned to). */
  batchStart: number
  /** One past the last proven batch entry. */
  upTo: number
  /** The signed index head every index proof is against. */
  head: { length: number, fork: number, treeHash: string }
  /** The contract source and governance the op was replayed with. */
  source: string
  governance: Governance | null
  /** The replayed outcome: the writes `apply` produces, or the error it fails with. */
  expected: Replay
  /** The entries published after the ack (ackSeq + 1 … upTo − 1), in order. */
  published: ProvenIndexEntry[]
}

export interface CreateReplayEvidenceOptions {
  /** The index core. */
  index: Hypercore
  /** A Hyperbee over `index` (utf-8 keys, binary values). */
  bee: Hyperbee
  /** The core of the op's oplog (the ack's origin). */
  oplog: Hypercore
  /** Index seq of the transaction's ack. */
  ackSeq: number
  /** One past the last index entry to include (violation seq + 1, or the head length for a transaction left incomplete). */
  upTo: number
  /** The signed index head to prove against (length ≥ upTo). */
  head: SignedHead
  /** The reads the replay of the op makes on the index at the batch start (recordReplayReads). */
  reads: IndexRead[]
}

// ---------------------------------------------------------------- create

/**
 * Package the evidence to replay the transaction whose ack is at `ackSeq`. The index
 * entries batchStart … upTo − 1 and the read proof are proven against `head`, the op
 * against its oplog's current signed head. The result is verified before it is returned
 * (shape and proofs; not the replay). Throws InvalidArgumentError on bad arguments,
 * CouldNotVerifyError when blocks are not available locally.
 */
export async function createReplayEvidence (opts: CreateReplayEvidenceOptions): Promise<ReplayEvidence> {
  const { index, bee, oplog, ackSeq, upTo, head } = opts
  await index.ready()
  await oplog.ready()
  const ack = await readAck(index, ackSeq)
  if (!Number.isSafeInteger(upTo) || upTo <= ackSeq || upTo > head.length) throw new InvalidArgumentError(`upTo must be above the ack seq ${ackSeq} and at most the head length ${head.length}`)
  if (ack.batchStart < 1 || ack.batchStart > ackSeq) throw new InvalidArgumentError(`The ack at ${ackSeq} names batch start ${ack.batchStart}, not at or before itself`)
  if (oplog.key.toString('hex') !== ack.origin) throw new InvalidArgumentError('The oplog is not the ack\'s origin')
  // On a sparse replica, fetch what the proofs need first (proofs are made from local blocks only).
  await fetch(index, 0) // the Hyperbee header, which every read proof carries
  for (let seq = ack.batchStart; seq < upTo; seq++) await fetch(index, seq)
  const batch = await createRangeProof(index, ack.batchStart, upTo, { head })
  await fetch(oplog, ack.seq)
  const oplogHead = await captureSignedHead(oplog)
  const op = await createInclusionProof(oplog, ack.seq, { head: oplogHead })
  const oplogProof = await createConsistencyProof(oplog, ack.oplogLength, { head: oplogHead })
  const wanted: IndexRead[] = [{ kind: 'get', key: CONTRACT_SOURCE_KEY }, { kind: 'get', key: GOVERNANCE_KEY }, { kind: 'get', key: GENESIS_KEY }, ...opts.reads]
  const seen = new Set<string>()
  const reads = wanted.filter(r => {
    const id = JSON.stringify(r)
    if (seen.has(id)) return false
    seen.add(id)
    return true
  })
  const readProof = await createIndexReadProof(bee, ack.batchStart, reads, { head })
  return readReplayEvidence({ version: 2, type: REPLAY_EVIDENCE_TYPE, batch, op, oplog: oplogProof, reads: readProof })
}

export interface RecordReplayReadsOptions {
  /** A Hyperbee over the index (utf-8 keys, binary values); it is checked out at the ack's batchStart. */
  bee: Hyperbee
  /** Index seq of the ack. */
  ackSeq: number
  /** The op block (the ack's origin, the ack's seq). */
  op: Buffer
  /** The contract source and governance in force for the op (the replay's state). */
  source: string
  governance: Governance | null
  /** The database's maxOpBytes (the replay state's). */
  maxOpBytes: number
  limits?: SandboxLimits
}

/**
 * Re-run the op of the ack at `ackSeq` exactly as the replay does (`replayOp`, over the
 * index at the ack's batchStart plus the batch entries before the ack), in a fresh
 * DatabaseContracts, and return the calls its state view made on the index at
 * batchStart: the reads an index read proof must cover for the offline replay.
 */
export async function recordReplayReads (opts: RecordReplayReadsOptions): Promise<IndexRead[]> {
  const { bee, ackSeq } = opts
  await bee.ready()
  const ack = await readAck(bee.core, ackSeq)
  const overlay: Overlay = new Map()
  for await (const e of bee.createHistoryStream({ gte: ack.batchStart, lt: ackSeq })) {
    overlay.set(e.key as string, e.type === 'put' && e.value !== null ? { seq: e.seq, value: e.value as Buffer } : null)
  }
  const reads: IndexRead[] = []
  const checkout = bee.checkout(ack.batchStart, { keyEncoding: 'utf-8', valueEncoding: 'binary' })
  const runtimes = new Runtimes(opts.limits)
  try {
    const base = recordingBase(checkout as unknown as StateBase, reads)
    await replayOp(opts.source, opts.governance, ack, ackSeq, overlay, runtimes.env(ack, opts.op, base), opts.maxOpBytes)
  } finally {
    await runtimes.close()
    await checkout.close()
  }
  return reads
}

/** Block `seq` of `core`, downloaded when missing (CouldNotVerifyError when no peer has it in time). */
async function fetch (core: Hypercore, seq: number): Promise<Buffer> {
  try {
    return await core.get(seq, { timeout: FETCH_TIMEOUT_MS }) as Buffer
  } catch (err) {
    throw new CouldNotVerifyError(`Block ${seq} of ${core.key.toString('hex')} is not available: ${(err as Error).message}`, { seq })
  }
}

const FETCH_TIMEOUT_MS = 10_000

async function readAck (core: Hypercore, seq: number): Promise<Ack> {
  if (!Number.isSafeInteger(seq) || seq < 1 || seq >= core.length) throw new InvalidArgumentError(`No index entry at ${seq}`)
  const e = decodeEntry(seq, await fetch(core, seq))
  if (parseAckKey(e.key) === null || e.value === null) throw new InvalidArgumentError(`Index entry ${seq} is not an ack`)
  return decodeAck(e.value)
}

// ---------------------------------------------------------------- verify

export interface VerifyReplayEvidenceOptions {
  /** The index key the evidence must be about. */
  indexKey: string | Buffer
  /** Index seq of the transaction's ack (pinned by the caller, e.g. from the fraud proof). */
  ackSeq: number
  /** Sandbox limits for the replay (defaults of the sandbox). */
  limits?: SandboxLimits
}

/**
 * Checks replay evidence offline and re-runs the transaction. Checks: the shape
 * (malformed); the batch's range proof against `indexKey` (its reasons, range-nodes for
 * a gap); the entry at `ackSeq` is an ack whose
 * key names its origin and seq; the first entry is an ack whose batchStart is its own
 * seq and every ack up to `ackSeq` names that batchStart (evidence-mismatch); the op
 * proof is for the ack's origin (unexpected-key) and seq (evidence-mismatch), and the
 * consistency proof shows its signed oplog head extends the tree the ack names
 * (oplogLength, oplogTreeHash: inconsistent otherwise); the read
 * proof is against `indexKey`, at the batch start (unexpected-version) and against the
 * same head (evidence-mismatch). Then it replays: the source is the last
 * `.sys/contract/source` written in the batch before the ack, else the one the read
 * proof gives at batchStart (a source change ends a batch); the governance is the read
 * proof's. Throws InvalidProofError (`incomplete` when the replay needs an index block
 * the read proof lacks).
 */
export async function verifyReplayEvidence (evidence: ReplayEvidence | unknown, opts: VerifyReplayEvidenceOptions): Promise<VerifiedReplay> {
  const ev = readReplayEvidence(evidence)
  const indexKey = typeof opts.indexKey === 'string' ? opts.indexKey : opts.indexKey.toString('hex')
  const mismatch = (why: string): never => { throw new InvalidProofError('evidence-mismatch', `Replay evidence: ${why}`) }

  // 1. The batch: consecutive index entries under one signed head.
  const range = verifyRangeProof(ev.batch, { key: indexKey })
  const head = { length: range.length, fork: range.fork, treeHash: range.treeHash.toString('hex') }
  const entries: ProvenIndexEntry[] = range.values.map((v, i) => decodeEntry(range.start + i, v))
  const batchStart = range.start
  const upTo = batchStart + entries.length
  const ackSeq = opts.ackSeq
  if (!Number.isSafeInteger(ackSeq) || ackSeq < batchStart || ackSeq >= upTo) mismatch(`the ack seq ${ackSeq} is not in the batch [${batchStart}, ${upTo})`)
  const ack = ackOf(entries[ackSeq - batchStart]!, mismatch)
  if (ack.batchStart !== batchStart) mismatch(`the ack names batch start ${ack.batchStart}, the batch starts at ${batchStart}`)
  const opener = ackOf(entries[0]!, mismatch)
  if (opener.batchStart !== batchStart) mismatch(`the entry at ${batchStart} is an ack of the batch starting at ${opener.batchStart}, not the first ack of its batch`)
  const overlay: Overlay = new Map()
  let source: string | null = null
  for (const e of entries.slice(0, ackSeq - batchStart)) {
    if (parseAckKey(e.key) !== null && e.type === 'put' && e.value !== null) {
      if (ackOf(e, mismatch).batchStart !== batchStart) mismatch(`the ack at ${e.seq} is not in the batch starting at ${batchStart}`)
    }
    const bytes = e.type === 'put' && e.value !== null ? e.value : null
    overlay.set(e.key, bytes === null ? null : { seq: e.seq, value: bytes })
    if (e.key === CONTRACT_SOURCE_KEY && bytes !== null) source = json(bytes, mismatch) as string
  }

  // 2. The op, in the ack's origin, in the oplog tree the ack names.
  const op = verifyInclusionProof(ev.op, { key: ack.origin })
  if (op.index !== ack.seq) mismatch(`the op proof is for op ${op.index}, the ack is for op ${ack.seq}`)
  const tree = verifyConsistencyProof(ev.oplog, { key: ack.origin, older: { length: ack.oplogLength, treeHash: ack.oplogTreeHash } })
  if (tree.length !== op.length || tree.fork !== op.fork || !tree.treeHash.equals(op.treeHash)) mismatch('the op proof and the oplog consistency proof are against different oplog heads')

  // 3. The index at batchStart, from the read proof.
  const r = ev.reads.head
  if (r.length !== head.length || r.fork !== head.fork || r.treeHash !== head.treeHash) mismatch('the read proof is against another signed head than the batch')
  const reader = await proofReader(ev.reads, { key: indexKey, at: batchStart })
  const runtimes = new Runtimes(opts.limits)
  try {
    const base = guardedBase(proofBase(reader))
    if (source === null) {
      const s = await base.get(CONTRACT_SOURCE_KEY)
      const v = s === null ? null : json(s.value, mismatch)
      if (typeof v !== 'string') return mismatch('the index has no contract source at the batch start')
      source = v
    }
    const g = await base.get(GOVERNANCE_KEY)
    let governance: Governance | null
    try { governance = parseGovernance(g === null ? null : json(g.value, mismatch)) } catch { return mismatch('the governance record is malformed') }
    const gm = await base.get(GENESIS_KEY)
    if (gm === null) return mismatch('the index has no genesis marker at the batch start')
    let maxOpBytes: number
    try { maxOpBytes = parseGenesisMarker(json(gm.value, mismatch)).maxOpBytes } catch { return mismatch('the genesis marker is malformed') }

    // 4. Replay, exactly as replay.ts does.
    const expected = await replayOp(source, governance, ack, ackSeq, overlay, runtimes.env(ack, op.value, base), maxOpBytes)
    base.check()
    return { ack, ackSeq, batchStart, upTo, head, source, governance, expected, published: entries.slice(ackSeq - batchStart + 1) }
  } finally {
    await runtimes.close()
    await reader.close()
  }
}

// ---------------------------------------------------------------- helpers

/**
 * Decode a Hyperbee block as the history stream does: a block without a value whose own
 * index does not list it is a delete.
 */
export function decodeEntry (seq: number, block: Uint8Array): ProvenIndexEntry {
  try {
    return decodeIndexBlock(seq, block)
  } catch {
    throw new InvalidProofError('malformed-index', `Index block ${seq} is not a Hyperbee node`)
  }
}

function json (bytes: Buffer, mismatch: (why: string) => never): JsonValue {
  try { return decodeValue(bytes) } catch { return mismatch('a system record is not a JSON value') }
}

function ackOf (e: ProvenIndexEntry, mismatch: (why: string) => never): Ack {
  const where = parseAckKey(e.key)
  if (where === null || e.type !== 'put' || e.value === null) return mismatch(`the entry at ${e.seq} (${e.key}) is not an ack`)
  let ack: Ack
  try { ack = decodeAck(e.value) } catch { return mismatch(`the ack at ${e.seq} is malformed`) }
  if (ack.origin !== where.origin || ack.seq !== where.seq) mismatch(`the ack at ${e.seq} names another op than its key`)
  return ack
}

/** A base that remembers the first error a read threw: the sandbox may turn it into a contract failure, the check must not. */
function guardedBase (base: StateBase): StateBase & { check: () => void } {
  let failure: unknown = null
  const note = (err: unknown): never => {
    if (failure === null) failure = err
    throw err
  }
  return {
    async get (key) {
      try { return await base.get(key) } catch (err) { return note(err) }
    },
    createReadStream (range) {
      return (async function * () {
        try { yield * base.createReadStream(range) } catch (err) { note(err) }
      })()
    },
    check () { if (failure !== null) throw failure }
  }
}

/** Fresh DatabaseContracts (one per source + governance) for one replay, and the ReplayEnv over them. */
class Runtimes extends Resource {
  private readonly open = new Map<string, Promise<DatabaseContracts>>()
  constructor (private readonly limits: SandboxLimits | undefined) { super() }

  private get (source: string, governance: Governance | null): Promise<DatabaseContracts> {
    const id = JSON.stringify([source, governance])
    let r = this.open.get(id)
    if (r === undefined) {
      r = DatabaseContracts.open(source, governance, this.limits)
      this.open.set(id, r)
    }
    return r
  }

  /** A ReplayEnv that serves only `opBlock` (the ack's op) and the state over `base`. */
  env (ack: Ack, opBlock: Buffer, base: StateBase): ReplayEnv {
    return {
      getOp: async (origin, seq) => {
        if (origin !== ack.origin || seq !== ack.seq) throw new InvalidProofError('evidence-mismatch', `The replay asked for op ${seq} of ${origin}`)
        return opBlock
      },
      oplogTreeHash: async () => { throw new InvalidProofError('evidence-mismatch', 'Replay evidence does not carry oplog trees') },
      stateAt: async (_batchStart: number, overlay: Overlay): Promise<StateReader> => stateView(base, overlay),
      apply: async (source: string, op: JsonValue, info: AckInfo, state: StateReader, governance: Governance | null): Promise<TxAction[]> =>
        await (await this.get(source, governance)).apply(op as Json, info, { index: state }),
      compile: async (source: string, governance: Governance | null): Promise<void> => { await this.get(source, governance) }
    }
  }

  /** Closes every runtime it opened; close() runs it once. */
  protected override async _close (): Promise<void> {
    for (const p of this.open.values()) {
      try { await (await p).close() } catch (err) { if (!(err instanceof VitraError)) throw err }
    }
    this.open.clear()
  }
}
