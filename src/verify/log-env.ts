/**
 * ReplayEnv over real logs: a read-only view of the index Hyperbee, the oplog
 * cores, and a sandbox of the verifier's own (never the executor's).
 */
import { Resource } from '../lifecycle/resource.js'
import type Hyperbee from 'hyperbee'
import type Hypercore from 'hypercore'
import { CouldNotVerifyError, VitraError } from '../errors/errors.js'
import { readBlocks } from '../logs/blocks.js'
import { updateWithin, withinDeadline } from '../net/peer-wait.js'
import { DatabaseContracts, type Governance } from '../exec/database-contracts.js'
import { canonicalJson } from '../format/encoding.js'
import { decodeAck, decodeOp, parseAckKey, type Ack } from '../format/schemas.js'
import { MAX_RUN_ITEMS } from '../../sandbox/contract-sandbox.js'
import type { AckInfo, Json, RunItem, RunResult, SandboxLimits, TxAction } from '../../sandbox/types.js'
import type { IndexBlock, ReplayEnv } from './replay.js'
import { stateView, type Overlay, type StateReader } from './state-view.js'

export interface LogEnvOptions {
  /** The index (a read-only session is fine). */
  bee: Hyperbee
  /** Open the core of oplog `hex` (read-only is fine). The env does not close it. */
  openOplog: (hex: string) => Promise<Hypercore>
  limits?: SandboxLimits
  /** How long to wait for a missing block from peers before "could not verify" (default 10000 ms). */
  blockTimeoutMs?: number
}

/** Oplog blocks read ahead of the replay. */
const READ_AHEAD = 256

/** An op applied ahead of the replay, and the inputs it was applied with. */
interface Speculated {
  source: string
  governance: Governance | null
  ts: number
  height: number
  metadata: string
  result: RunResult
}

export class LogReplayEnv extends Resource implements ReplayEnv {
  private readonly opts: LogEnvOptions
  private readonly sandboxes = new Map<string, DatabaseContracts>()
  private checkout: { version: number, bee: Hyperbee } | null = null
  private readonly treeHashes = new Map<string, string>()
  /** The runtime used last (the common case: the same contract op after op). */
  private last: { source: string, governance: Governance | null, runtime: DatabaseContracts } | null = null

  /** Index entries the replay is about to check (see `lookahead`). */
  private upcoming: IndexBlock[] = []
  /** Results of ops applied ahead of the replay, by `origin/seq`. */
  private readonly ahead = new Map<string, Speculated>()

  constructor (opts: LogEnvOptions) {
    super()
    this.opts = opts
  }

  /**
   * The entries the replay will check next. `apply` uses them to run the ops acked in
   * the same batch together (DatabaseContracts.applyRun), keeping the results of the
   * later ones for when the replay gets there. Untrusted: an entry that does not
   * parse as an ack of the batch ends the run, and the replay judges every entry
   * itself when it gets to it.
   */
  lookahead (entries: IndexBlock[]): void {
    this.upcoming = entries
    this.upcomingAcks.clear()
  }

  /** Acks among `upcoming`, decoded once (null: not an ack the replay can accept). */
  private readonly upcomingAcks = new Map<number, Ack | null>()
  /** Ops of runs decoded ahead, by their block (the same Buffer the replay gets from getOp). */
  private readonly decodedOps = new WeakMap<Buffer, Json>()

  knownAck (seq: number, bytes: Buffer): Ack | null {
    const e = this.upcoming.length === 0 ? undefined : this.upcoming[seq - this.upcoming[0]!.seq]
    return e !== undefined && e.seq === seq && e.value === bytes ? this.upcomingAcks.get(seq) ?? null : null
  }

  knownOp (block: Buffer): Json | null { return this.decodedOps.get(block) ?? null }

  private ackAt (e: IndexBlock): Ack | null {
    let a = this.upcomingAcks.get(e.seq)
    if (a === undefined) {
      a = null
      const where = parseAckKey(e.key)
      if (where !== null && e.value !== null) {
        try {
          const ack = decodeAck(e.value)
          if (ack.origin === where.origin && ack.seq === where.seq) a = ack
        } catch (err) {
          if (!(err instanceof VitraError)) throw err
        }
      }
      this.upcomingAcks.set(e.seq, a)
    }
    return a
  }

  forgetAhead (): void { this.ahead.clear() }

  async getOp (origin: string, seq: number): Promise<Buffer> {
    const core = await this.opts.openOplog(origin)
    let ahead = this.readAhead.get(origin)
    if (ahead === undefined || seq < ahead.start || seq >= ahead.start + ahead.blocks.length) {
      // ops are replayed in seq order per oplog: read a window of them in one go
      const next = this.nextWindow.get(origin)
      this.nextWindow.delete(origin)
      const blocks = next !== undefined && next.start === seq ? await next.blocks : await this.readOps(core, origin, seq, Math.min(core.length, seq + READ_AHEAD))
      ahead = { start: seq, blocks }
      this.readAhead.set(origin, ahead)
      // and start reading the window after it, to have it when the replay gets there
      const end = seq + blocks.length
      if (end < core.length) {
        const p = this.readOps(core, origin, end, Math.min(core.length, end + READ_AHEAD))
        p.catch(() => undefined) // surfaces where it is awaited, if it ever is
        this.nextWindow.set(origin, { start: end, blocks: p })
      }
    }
    return ahead.blocks[seq - ahead.start]!
  }

  private readonly readAhead = new Map<string, { start: number, blocks: Buffer[] }>()
  private readonly nextWindow = new Map<string, { start: number, blocks: Promise<Buffer[]> }>()

  private async readOps (core: Hypercore, origin: string, start: number, end: number): Promise<Buffer[]> {
    try {
      return await readBlocks(core, start, Math.max(end, start + 1), { timeout: this.opts.blockTimeoutMs ?? 10_000 })
    } catch (err) {
      throw new CouldNotVerifyError(`Ops ${start}..${end - 1} of oplog ${origin} are not available: ${(err as Error).message}`, { origin, start })
    }
  }

  async oplogTreeHash (origin: string, length: number): Promise<string> {
    const id = `${origin}/${length}`
    const cached = this.treeHashes.get(id)
    if (cached !== undefined) return cached
    const core = await this.opts.openOplog(origin)
    if (core.length < length) {
      const ms = this.opts.blockTimeoutMs ?? 10_000
      try { await updateWithin(core, { ms, what: `the head of oplog ${origin}` }) } catch (err) {
        throw new CouldNotVerifyError(`Oplog ${origin} could not be updated: ${(err as Error).message}`, { origin, length })
      }
    }
    if (core.length < length) {
      throw new CouldNotVerifyError(`Oplog ${origin} is known up to length ${core.length}, the ack names length ${length}`, { origin, length, have: core.length })
    }
    let hash: string
    try { hash = (await withinDeadline(core.treeHash(length), { ms: this.opts.blockTimeoutMs ?? 10_000, what: `the tree of oplog ${origin} at length ${length}` })).toString('hex') } catch (err) {
      throw new CouldNotVerifyError(`Tree of oplog ${origin} at length ${length} is not available: ${(err as Error).message}`, { origin, length })
    }
    if (this.treeHashes.size > 10_000) this.treeHashes.clear()
    this.treeHashes.set(id, hash)
    return hash
  }

  async stateAt (batchStart: number, overlay: Overlay): Promise<StateReader> {
    if (this.checkout === null || this.checkout.version !== batchStart) {
      await this.checkout?.bee.close()
      this.checkout = { version: batchStart, bee: this.opts.bee.checkout(batchStart) }
    }
    return stateView(this.checkout.bee, overlay)
  }

  /**
   * `apply` for the replay. A result applied ahead is used when the op, its ack fields
   * and the contract are the ones it was applied with, and the replay accepted every op
   * before it as the contract's own result (else `forgetAhead` dropped it). Otherwise the
   * op starts a new run with the ops acked after it in the same batch.
   */
  async apply (source: string, op: Json, ack: AckInfo, state: StateReader, governance: Governance | null, opJson?: string): Promise<TxAction[]> {
    const id = ack.origin + '/' + ack.seq
    const hit = this.ahead.get(id)
    this.ahead.delete(id)
    if (hit !== undefined && hit.source === source && hit.governance === governance && hit.ts === ack.ts &&
      hit.height === ack.height && hit.metadata === canonicalJson(ack.metadata)) return outcomeOf(hit.result)
    this.ahead.clear()
    const runtime = await this.runtime(source, governance)
    const items = opJson === undefined || ack.height === undefined || runtime.isSystemOp(op) ? [] : await this.runAfter(runtime, ack, opJson)
    for (let attempt = 0; items.length > 1 && attempt < 2; attempt++) {
      const { results } = await runtime.applyRun(items, { index: state })
      if (results.length === 0) continue // the first op needed a read: the next attempt has it
      for (let i = 1; i < results.length; i++) {
        // Ops after one whose writes the host refused rest on writes the replay will not have.
        const before = results[i - 1]!
        if (!before.ok && before.numChanges > 0) break
        const it = items[i]!
        this.ahead.set(it.origin + '/' + it.seq, { source, governance, ts: it.ts, height: it.height as number, metadata: canonicalJson(it.metadata ?? null), result: results[i]! })
      }
      return outcomeOf(results[0]!)
    }
    return await runtime.apply(op, ack, { index: state, opJson })
  }

  /** The op of `ack` followed by the user ops acked after it in the same batch (from `lookahead`), as run items. */
  private async runAfter (runtime: DatabaseContracts, ack: AckInfo, opJson: string): Promise<RunItem[]> {
    const height = ack.height as number
    const items: RunItem[] = [{ opJson, origin: ack.origin, seq: ack.seq, ts: ack.ts, height, metadata: ack.metadata }]
    const entries = this.upcoming
    const at = entries.length === 0 ? -1 : height - entries[0]!.seq // entries hold consecutive seqs
    const own = at >= 0 && at < entries.length ? this.ackAt(entries[at]!) : null
    if (own === null) return items
    for (let i = at + 1; i < entries.length && items.length < MAX_RUN_ITEMS; i++) {
      const e = entries[i]!
      if (parseAckKey(e.key) === null) continue // a write of an op
      const a = this.ackAt(e)
      if (a === null || a.batchStart !== own.batchStart) break
      try {
        const block = await this.getOp(a.origin, a.seq)
        const op = decodeOp(block)
        this.decodedOps.set(block, op)
        if (runtime.isSystemOp(op)) break
        items.push({ opJson: block.toString('utf8'), origin: a.origin, seq: a.seq, ts: a.ts, height: e.seq, metadata: a.metadata })
      } catch (err) {
        if (err instanceof VitraError) break // an op the replay will not accept: it judges that itself
        throw err
      }
    }
    return items
  }

  async compile (source: string, governance: Governance | null): Promise<void> { await this.runtime(source, governance) }

  /** The verifier's own loaded contracts for this source (a few are cached). */
  private async runtime (source: string, governance: Governance | null): Promise<DatabaseContracts> {
    const last = this.last
    if (last !== null && last.source === source && last.governance === governance) return last.runtime
    const id = JSON.stringify([source, governance])
    const have = this.sandboxes.get(id)
    if (have !== undefined) { this.last = { source, governance, runtime: have }; return have }
    const r = await DatabaseContracts.open(source, governance, this.opts.limits)
    if (this.sandboxes.size >= 4) {
      const [oldest, old] = this.sandboxes.entries().next().value as [string, DatabaseContracts]
      this.sandboxes.delete(oldest)
      if (this.last?.runtime === old) this.last = null
      await old.close()
    }
    this.sandboxes.set(id, r)
    this.last = { source, governance, runtime: r }
    return r
  }

  /** Closes the checkout and the sandboxes; close() runs it once. */
  protected override async _close (): Promise<void> {
    await this.checkout?.bee.close()
    this.checkout = null
    for (const s of this.sandboxes.values()) await s.close()
    this.sandboxes.clear()
    this.last = null
  }
}

function outcomeOf (r: RunResult): TxAction[] {
  if (r.ok) return r.actions
  throw r.error
}
