/**
 * Verifier: replays an index against its contract and oplogs, from genesis or
 * from a checkpoint, with read-only log access and a sandbox of its own. It
 * depends on the logs and the sandbox only, never on the executor or the
 * Database facade, so anyone holding the logs can run it.
 */
import { Resource } from '../lifecycle/resource.js'
import type Hyperbee from 'hyperbee'
import type Hypercore from 'hypercore'
import { CouldNotVerifyError, VitraError, errors } from '../errors/errors.js'
import { parseGovernance } from '../exec/database-contracts.js'
import { openBee, readEntries, type RawEntry } from '../logs/index-log.js'
import type { SandboxLimits } from '../../sandbox/types.js'
import { ContractFraudProof, REPLAY_CHECKED, type FraudEvidence } from './fraud-proofs.js'
import { createReplayEvidence, recordReplayReads } from './replay-evidence.js'
import { LogReplayEnv } from './log-env.js'
import {
  checkComplete, deserializeState, FraudCode, initialState, serializeState, step, stepWrite,
  type ReplayState, type SerializedState, type Violation
} from './replay.js'
import { captureSignedHead, coreManifest, createInclusionProof } from '../logs/proof-builders.js'

/** Index blocks read at once. */
const READ_CHUNK = 512

export interface VerifierOptions {
  /** The index core (the verifier opens its own session of it). */
  index: Hypercore
  /** A read-only core of oplog `hex`; the verifier closes what it gets. */
  openOplog: (hex: string) => Promise<Hypercore>
  limits?: SandboxLimits
  /** How long to wait for a missing block before "could not verify" (default 10000 ms). */
  blockTimeoutMs?: number
  /** Resume from this checkpoint instead of genesis. */
  checkpoint?: Checkpoint
  /** Called with each index entry once it is verified, in index order (a monitor's 'validated' event). */
  onEntry?: (entry: RawEntry) => void
}

/** What a monitor persists to resume: the replay state and the index it belongs to. */
export interface Checkpoint { v: 1, key: string, state: SerializedState }

export class Verifier extends Resource {
  private readonly opts: VerifierOptions
  private readonly core: Hypercore
  private readonly bee: Hyperbee
  private readonly env: LogReplayEnv
  private readonly oplogs = new Map<string, Promise<Hypercore>>()
  private state: ReplayState

  constructor (opts: VerifierOptions) {
    super()
    this.opts = opts
    this.core = opts.index.session()
    this.bee = openBee(this.core)
    this.env = new LogReplayEnv({ bee: this.bee, openOplog: hex => this.oplog(hex), limits: opts.limits, blockTimeoutMs: opts.blockTimeoutMs })
    this.state = initialState()
    if (opts.checkpoint !== undefined) {
      if (opts.checkpoint.key !== opts.index.key.toString('hex')) throw errors.INVALID_CHECKPOINT('The checkpoint is for another database')
      this.state = deserializeState(opts.checkpoint.state)
    }
  }

  /** Opens the index; ready() runs it once. */
  protected override async _open (): Promise<void> { await this.bee.ready() }

  /** Index entries below this are verified. */
  get verifiedLength (): number { return this.state.length }
  /** The index length available locally. */
  get length (): number { return this.core.length }

  /**
   * Verify entries up to `to` (default: the local index length). Returns the
   * first violation, or null. A transaction left incomplete at `to` is a
   * violation (heads are always at batch ends). Throws CouldNotVerifyError when
   * logs are missing. After a violation the verifier does not move on.
   */
  async advance (to = this.core.length): Promise<Violation | null> {
    let next = this.state.length < to ? this.readAhead(this.state.length, to) : null
    while (next !== null && to > this.state.length) {
      const entries = await next
      const end = entries.length === 0 ? to : entries[entries.length - 1]!.seq + 1
      next = end < to ? this.readAhead(end, to) : null // read the next chunk while this one is checked
      this.env.lookahead(entries)
      for (const entry of entries) {
        let v = stepWrite(this.state, entry)
        if (v === undefined) v = await step(this.state, entry, this.env)
        if (v !== null) return v
        this.opts.onEntry?.(entry)
      }
    }
    return this.state.genesisDone || to <= 1 ? checkComplete(this.state) : null
  }

  /** The chunk of entries from `start` (at most READ_CHUNK, not past `to`), being read; a failure surfaces where it is awaited. */
  private readAhead (start: number, to: number): Promise<RawEntry[]> {
    const p = this.read(start, Math.min(to, start + READ_CHUNK))
    p.catch(() => undefined) // not awaited when a violation ends the loop first
    return p
  }

  private async read (start: number, end: number): Promise<RawEntry[]> {
    try {
      return await readEntries(this.core, start, end, { timeout: this.opts.blockTimeoutMs ?? 10_000 })
    } catch (err) {
      if (err instanceof VitraError) throw err
      throw new CouldNotVerifyError(`Index blocks ${start}..${end - 1} are not available: ${(err as Error).message}`, { start, end })
    }
  }

  /** The checkpoint of what is verified so far. */
  checkpoint (): Checkpoint {
    return { v: 1, key: this.core.key.toString('hex'), state: serializeState(this.state) }
  }

  /** Package a violation as a ContractFraudProof with signed evidence, against the current index head. */
  async fraudProof (v: Violation): Promise<ContractFraudProof> {
    const head = await captureSignedHead(this.core)
    const prove = async (seq: number): Promise<ReturnType<typeof createInclusionProof>> => await createInclusionProof(this.core, seq, { head })
    const evidence: FraudEvidence = {}
    if (v.seq < head.length) evidence.entry = await prove(v.seq)
    const ackSeq = typeof v.data.ackSeq === 'number' ? v.data.ackSeq : this.state.lastAck
    if (ackSeq > 0 && ackSeq !== v.seq) evidence.ack = await prove(ackSeq)
    const origin = typeof v.data.origin === 'string' ? v.data.origin : null
    if (v.code === FraudCode.PROCESSED_OUT_OF_ORDER && origin !== null) {
      const at = this.state.inputs[origin]?.ackAt ?? -1
      if (at > 0) evidence.previous = await prove(at)
    }
    // an ack in the wrong version: the genesis marker shows which version the index has
    if (v.code === FraudCode.MALFORMED_ACK && typeof v.data.genesisSeq === 'number' && v.data.genesisSeq > 0) evidence.previous = await prove(v.data.genesisSeq)
    const opSeq = typeof v.data.opSeq === 'number' ? v.data.opSeq : null
    if (origin !== null && opSeq !== null) {
      const core = await this.oplog(origin)
      if (opSeq < core.length) evidence.op = await createInclusionProof(core, opSeq)
    }
    if (REPLAY_CHECKED.has(v.code) && origin !== null && opSeq !== null && this.state.source !== null) {
      // Everything to re-run the transaction offline: the batch up to the violation
      // (or up to the head, for a transaction cut off by it), the op, and a read proof
      // of the state apply saw, with the reads recorded by re-running the replay.
      const txAck = typeof v.data.ackSeq === 'number' ? v.data.ackSeq : v.seq
      try {
        const op = await this.env.getOp(origin, opSeq)
        const reads = await recordReplayReads({ bee: this.bee, ackSeq: txAck, op, source: this.state.source, governance: parseGovernance(this.state.governance), maxOpBytes: this.state.maxOpBytes, limits: this.opts.limits })
        evidence.replay = await createReplayEvidence({
          index: this.core, bee: this.bee, oplog: await this.oplog(origin), ackSeq: txAck, upTo: Math.min(v.seq + 1, head.length), head, reads
        })
      } catch (err) {
        // Missing data: let the caller retry. A vitra error otherwise (e.g. more reads than
        // a read proof may carry): report the violation without replay evidence (its proof
        // then fails verifyFraudProof; `vitra verify` still shows it).
        if (!(err instanceof VitraError) || err.code === 'COULD_NOT_VERIFY') throw err
      }
    }
    return ContractFraudProof.fromViolation(v, { key: head.key, manifest: coreManifest(this.core), head }, evidence)
  }

  private async oplog (hex: string): Promise<Hypercore> {
    let p = this.oplogs.get(hex)
    if (p === undefined) {
      p = this.opts.openOplog(hex).then(async core => { await core.ready(); return core })
      this.oplogs.set(hex, p)
    }
    return await p
  }

  /** Closes the replay environment, the oplogs it opened and the index; close() runs it once. */
  protected override async _close (): Promise<void> {
    await this.env.close()
    for (const p of this.oplogs.values()) await (await p).close()
    this.oplogs.clear()
    await this.bee.close()
    await this.core.close()
  }
}

/**
 * Verify the whole index once. Resolves with the verified length when the
 * execution is valid; rejects with a ContractFraudProof when it is not, or a
 * CouldNotVerifyError when logs are missing.
 */
export async function verifyIndex (opts: VerifierOptions): Promise<{ length: number }> {
  const verifier = new Verifier(opts)
  try {
    await verifier.ready()
    const v = await verifier.advance()
    if (v !== null) throw await verifier.fraudProof(v)
    return { length: verifier.verifiedLength }
  } finally {
    await verifier.close()
  }
}
