/**
 * The executor: reads new ops from every active oplog, runs each through the
 * contract, and publishes ack + writes to the index, many ops per Hyperbee batch
 * (group commit) while each op's `apply` sees the writes of the ops before it.
 *
 * Order (documented in the whitepaper): each batch visits the active oplogs in
 * ascending key order, starting one oplog further than the previous batch did
 * (round robin), and takes each oplog's pending ops in seq order, at most
 * `maxBatchOps` per batch. A batch ends right after an op that changes the
 * contract source or the participant set; the change takes effect from the next op.
 *
 * Restart safety: the acks in the index are the truth about what was processed.
 * On start, each oplog resumes at (last acked seq + 1). A batch is one atomic
 * append, so a kill leaves either all of a batch or none of it.
 */
import { treeHashFromStorage } from '../holepunch/core-internals.js'
import { Resource } from '../lifecycle/resource.js'
import { performance } from 'perf_hooks'
import type { HyperbeeBatch } from 'hyperbee'
import { canonicalJson, decodeValue, type JsonValue } from '../format/encoding.js'
import { ClosedError, DatabaseNotFoundError, VitraError, errors } from '../errors/errors.js'
import { IndexLog } from '../logs/index-log.js'
import { Oplog } from '../logs/oplog.js'
import {
  ackErrorText, actionsToChanges, ackKey, CONTRACT_SOURCE_KEY, decodeInput, decodeOp, encodeAck, GOVERNANCE_KEY, putsToChanges,
  INPUTS_PREFIX, isSystemChange, type Ack, type Change, type Op
} from '../format/schemas.js'
import { DatabaseContracts, parseGovernance, type Governance } from './database-contracts.js'
import type { IndexReader, ListedItem, RunItem, SandboxLimits, TxAction } from '../../sandbox/types.js'
import { listFolder, type FolderListOptions } from '../format/shallow-list.js'
import { MAX_RUN_ITEMS } from '../../sandbox/contract-sandbox.js'
import { remoteBlockSize, SizedDownload } from '../logs/block-sizes.js'
import { readLocalBlocksBounded, type BoundedBlocks } from '../logs/blocks.js'
import { checkMaxBatchBytes, DEFAULT_MAX_OP_BYTES, opTooLarge } from '../format/limits.js'
import { decodeIndexValue } from '../format/ack-v2.js'

/** Test-only deviations (see `vitra/testing`). An honest executor has none. */
export interface ExecutorHooks {
  /** The seq to process after `seq` (honest: seq + 1). */
  nextSeq?: (origin: string, seq: number) => number
  /** Rewrite the changes of an op before they are published. */
  changes?: (origin: string, seq: number, changes: Change[]) => Change[]
  /** Rewrite the ack of an op before it is published (numChanges is already set). */
  ack?: (ack: Ack) => Ack
  /** Called before a run of ops of `origin` starts at `seq`; a throw stands for a failure outside the op's bytes (a storage read). */
  beforeRun?: (origin: string, seq: number) => void
}

export interface ExecutorOptions {
  index: IndexLog
  /** Open (or return the already open) oplog with this hex key. */
  openOplog: (hex: string) => Promise<Oplog>
  limits?: SandboxLimits
  /** Most ops in one Hyperbee batch (default 256). */
  maxBatchOps?: number
  /** Most bytes (ops read plus writes made) in one Hyperbee batch, past its first op (default 8 MiB). */
  maxBatchBytes?: number
  /** Milliseconds a background fetch of a remote op block waits before it is tried again a second later (default 5000). */
  blockTimeoutMs?: number
  now?: () => number
  hooks?: ExecutorHooks
}

interface Input {
  hex: string
  oplog: Oplog
  /** Next op to execute (runs ahead of `committed` while a batch is being built). */
  nextSeq: number
  /** Next op whose ack is not yet flushed to the index. */
  committed: number
  onAppend: () => void
  /** The seq of a remote block being fetched in the background, or null. */
  fetching: number | null
  /** The background download of the blocks after the first one fetched (in size-checked windows), if any. */
  readAhead: { close: () => void } | null
  /** Failures in a row of this oplog's next op for a reason outside its bytes (see `pause`), or of fetching its block. */
  failures: number
  /** Date.now() before which this oplog is not read (backoff after a failure). */
  pausedUntil: number
}
interface OpResult { ack: Ack, changes: Change[] }
interface OplogHead { length: number, treeHash: string }
type AckBase = Pick<Ack, 'v' | 'origin' | 'seq' | 'oplogLength' | 'oplogTreeHash' | 'ts' | 'batchStart'>
/** An op block to execute: its bytes (empty when over maxOpBytes: never read) and its byte length. */
interface RunBlock { seq: number, block: Buffer, size: number }
/** Oplog blocks read at once from `start` (see readLocalBlocksBounded); `all` is null when that failed. */
interface BlockRange { start: number, all: Promise<BoundedBlocks | null> }

/** The Hyperbee batch being built, and what is in it so far. */
interface BatchState {
  /** Index length before the batch: every ack of it records this. */
  batchStart: number
  reader: BatchReader
  /** Blocks put so far: the next ack's index seq is batchStart + written. */
  written: number
  done: Array<{ origin: string, seq: number }>
  /** Changes of the contract or the participant set (the batch ends after the op that makes one). */
  system: Change[]
  max: number
  /** Bytes of the ops read and the writes made so far, and the budget (maxBatchBytes). */
  bytes: number
  maxBytes: number
  /** True while an op is half-published (its ack or some writes are in the batch, not all). */
  broken: boolean
}

function full (b: BatchState): boolean { return b.done.length >= b.max || b.bytes >= b.maxBytes || b.system.length > 0 }

const EMPTY = Buffer.alloc(0)

export class Executor extends Resource {
  private readonly index: IndexLog
  private readonly opts: ExecutorOptions
  private readonly inputs = new Map<string, Input>()
  private sandbox: DatabaseContracts | null = null
  private governance: Governance | null = null
  private running = false
  private rerun = false
  /** The running loop, for close() to wait for. */
  private looping: Promise<void> | null = null
  private rotation = 0
  /** The database's maxOpBytes (from the genesis marker). */
  private maxOpBytes = DEFAULT_MAX_OP_BYTES
  /** The ack encoding of this index (the genesis marker's protocol version). */
  private ackVersion: 1 | 2 = 1
  private readonly maxBatchBytes: number
  /** Most ops in one batch (maxBatchOps, default 256); also how far ahead oplog blocks are read. */
  private readonly maxBatchOps: number
  private syncWaiters: Array<{ targets: Map<string, number>, resolve: () => void, reject: (e: Error) => void }> = []
  /** Ops executed since start (for stats). */
  processed = 0

  constructor (opts: ExecutorOptions) {
    super()
    this.opts = opts
    this.index = opts.index
    this.maxBatchBytes = checkMaxBatchBytes(opts.maxBatchBytes)
    this.maxBatchOps = opts.maxBatchOps ?? 256
  }

  /** Loads the contract, its governance and limits, and the active oplogs, then starts. ready() runs it once. */
  protected override async _open (): Promise<void> {
    await this.openOrRelease(async () => { await this.load() })
    this.schedule()
  }

  private async load (): Promise<void> {
    const source = await this.index.contractSource()
    if (source === null) throw new DatabaseNotFoundError('The index has no contract source: genesis is missing')
    this.governance = parseGovernance(await this.index.getValue(GOVERNANCE_KEY))
    const genesis = await this.index.genesis()
    this.maxOpBytes = genesis?.maxOpBytes ?? DEFAULT_MAX_OP_BYTES
    this.ackVersion = genesis?.v ?? 1
    this.sandbox = await this.makeSandbox(source)
    for (const rec of await this.index.inputs()) {
      if (rec.active) await this.addInput(rec.pubkey)
    }
  }

  /** Resolves when every op appended so far to every active oplog has been processed. */
  sync (): Promise<void> {
    const targets = new Map<string, number>()
    for (const i of this.inputs.values()) targets.set(i.hex, i.oplog.length)
    return new Promise((resolve, reject) => {
      this.syncWaiters.push({ targets, resolve, reject })
      this.checkSyncWaiters()
      this.schedule()
    })
  }

  /** Hex keys of the oplogs currently read from. */
  get activeOplogs (): string[] { return [...this.inputs.keys()].sort() }

  /** Ask the loop to look for new ops. */
  schedule (): void {
    if (this.stopping) return
    if (this.running) { this.rerun = true; return }
    this.looping = this.loop()
  }

  private async loop (): Promise<void> {
    this.running = true
    try {
      do {
        this.rerun = false
        while (!this.stopping && await this.processBatch()) this.checkSyncWaiters()
      } while (this.rerun && !this.stopping)
    } catch (err) {
      if (!this.stopping) {
        for (const w of this.syncWaiters.splice(0)) w.reject(err as Error)
        this.emit('error', err)
      }
    } finally {
      this.running = false
      this.checkSyncWaiters()
    }
  }

  private checkSyncWaiters (): void {
    this.syncWaiters = this.syncWaiters.filter(w => {
      for (const [hex, target] of w.targets) {
        const input = this.inputs.get(hex)
        if (input !== undefined && input.committed < target) return true
      }
      w.resolve()
      return false
    })
  }

  /** Process one batch. Returns false when there was nothing to do. */
  private async processBatch (): Promise<boolean> {
    const order = this.batchOrder()
    if (order.length === 0) return false
    const started = performance.now()
    const bee = this.index.bee
    const batch = bee.batch()
    const b: BatchState = { batchStart: bee.version, reader: new BatchReader(batch, bee.version), written: 0, done: [], system: [], max: this.maxBatchOps, bytes: 0, maxBytes: this.maxBatchBytes, broken: false }
    try {
      for (const input of order) {
        try {
          await this.readInput(input, b)
        } catch (err) {
          // A failure while publishing leaves the batch half-written: the whole batch is
          // dropped. Any other failure is this oplog's alone (its ops published so far stay).
          if (b.broken || this.stopping) throw err
          this.pause(input, err as Error)
        }
        if (full(b)) break
      }
      if (b.done.length === 0) { await batch.close(); return false }
      await batch.flush()
    } catch (err) {
      for (const input of order) input.nextSeq = input.committed
      await batch.close()
      throw err
    }
    for (const input of order) {
      if (input.nextSeq > input.committed) input.failures = 0
      input.committed = input.nextSeq
    }
    this.processed += b.done.length
    await this.applySystemChanges(b.system)
    this.emit('batch', b.done, performance.now() - started) // the ops, and the batch's time in ms (metrics)
    return true
  }

  /** Execute the pending ops of one oplog into the batch, until the batch is full or the oplog waits for a block. */
  private async readInput (input: Input, b: BatchState): Promise<void> {
    const limit = input.oplog.length
    // From the stored tree: core.treeHash() would first fetch block limit − 1, with no
    // timeout, and a remote block no peer serves would stop the executor for everyone.
    const head = { length: limit, treeHash: (await treeHashFromStorage(input.oplog.core, limit)).toString('hex') }
    let blocks = this.prefetch(input, limit, b)
    while (input.nextSeq < limit && !full(b)) {
      const read = await blocks.all
      if (read !== null && input.nextSeq >= read.end) blocks = this.prefetch(input, limit, b)
      const run = await this.nextRun(input, blocks, limit, b)
      if (run.length === 0) break // the next block is remote: fetched in the background, this oplog waits
      this.opts.hooks?.beforeRun?.(input.hex, input.nextSeq)
      await this.executeRun(input, run, head, b)
    }
  }

  /**
   * Set one oplog aside after a failure that is not its op's own doing (a storage read,
   * a sandbox that broke): every failure an op's bytes can cause is a VitraError and
   * becomes a failed ack instead. The oplog is tried again after 1, 2, 4 … 60 s, each
   * failure reported as a 'warning'; the other oplogs go on meanwhile.
   */
  private pause (input: Input, err: Error, code: 'OPLOG_RETRY' | 'BLOCK_UNAVAILABLE' = 'OPLOG_RETRY'): void {
    input.failures++
    const delay = Math.min(60_000, 1000 * 2 ** Math.min(6, input.failures - 1))
    const until = Date.now() + delay
    input.pausedUntil = until
    const warning = new VitraError(code, `Op ${input.nextSeq} of oplog ${input.hex.slice(0, 8)}… failed (${err.message}); trying it again in ${delay} ms while the other oplogs go on`, {
      origin: input.hex, seq: input.nextSeq, attempt: input.failures, retryInMs: delay, cause: err.message
    })
    this.emit('warning', warning)
    // the pause ends when its timer fires, whatever Date.now() says then: a timer may fire
    // a millisecond before the wall clock reaches `until`, and the oplog would wait for
    // another event to wake the loop (seen: an op left unexecuted for 10 s and more)
    setTimeout(() => {
      if (input.pausedUntil === until) input.pausedUntil = 0
      this.schedule()
    }, delay).unref()
  }

  /**
   * The next ops of `input` to run together: consecutive blocks from its nextSeq, as
   * many as the batch and one sandbox run take, up to the first block that is not
   * stored locally (that one is fetched in the background). One op only when a test
   * hook picks the next seq.
   */
  private async nextRun (input: Input, blocks: BlockRange, limit: number, b: BatchState): Promise<RunBlock[]> {
    const most = this.opts.hooks?.nextSeq !== undefined ? 1 : Math.min(MAX_RUN_ITEMS, b.max - b.done.length)
    const run: RunBlock[] = []
    const read = await blocks.all
    // With the bounded read: its blocks only (the next call reads on). Without: one block at a time.
    const end = read === null ? Math.min(limit, input.nextSeq + most) : Math.min(limit, read.end)
    for (let seq = input.nextSeq; seq < end && run.length < most; seq++) {
      const i = read === null ? -1 : seq - read.start
      const size = i >= 0 ? read?.sizes[i] ?? null : null
      if (size !== null && size > this.maxOpBytes) { run.push({ seq, block: EMPTY, size }); continue } // refused unread
      const block = i >= 0 ? read?.blocks[i] ?? null : await input.oplog.core.get(seq, { wait: false }) as Buffer | null
      if (block === null) { this.fetchLater(input, seq); break }
      run.push({ seq, block, size: block.byteLength })
      if (read === null && block.byteLength > this.maxOpBytes) break // read one by one: no more than one such block at once
    }
    return run
  }

  /**
   * Execute the first ops of `run` and publish them into the batch (at least one).
   * Ops go through the sandbox together (applyRun) while they can: valid entries for
   * the user contract, no `process` export. Anything else, and whatever a run gives
   * back unfinished, goes one op at a time.
   */
  private async executeRun (input: Input, run: RunBlock[], head: OplogHead, b: BatchState): Promise<void> {
    const sandbox = this.sandbox as DatabaseContracts
    const items: RunItem[] = []
    if (!sandbox.hasProcess) {
      for (const { seq, block, size } of run) {
        if (size > this.maxOpBytes) break
        let op: Op
        try { op = decodeOp(block) } catch (err) { if (err instanceof VitraError) break; throw err }
        if (sandbox.isSystemOp(op)) break
        items.push({ opJson: block.toString('utf8'), origin: input.hex, seq, ts: 0 })
      }
    }
    if (items.length < 2) {
      await this.executeAlone(input, run[0]!, head, b)
      return
    }
    let k = 0
    let stalls = 0
    while (k < items.length && !full(b)) {
      const ts = this.now()
      const rest = items.slice(k, k + b.max - b.done.length)
      for (let i = 0; i < rest.length; i++) rest[i]!.ts = ts
      rest[0]!.height = b.batchStart + b.written
      const outcome = await sandbox.applyRun(rest, { index: b.reader })
      let agreed = true
      for (let i = 0; i < outcome.results.length && agreed && !full(b); i++) { // past a full batch, the rest run again in the next one
        const r = outcome.results[i]!
        const it = rest[i]!
        const res = await this.settle(this.ackBase(input.hex, it.seq, head, ts, b), r.ok ? r.actions : r.error, b.reader)
        await this.publish(input, res, b, run[k]!.block.byteLength)
        k++
        // The guest counted the changes to give the next op its height, and its overlay
        // holds this op's writes: when the host disagrees (an invalid action, a refused
        // source, a test hook), the later results rest on a wrong state.
        agreed = res.changes.length === r.numChanges
      }
      if (!agreed) continue
      if (outcome.results.length === 0 && (outcome.stop === 'read' || outcome.stop === 'sync' || outcome.stop === 'slice')) {
        // Nothing done: the next entry has the missing read at hand. Should that not
        // help either, the op goes alone, so that the run always moves on.
        if (++stalls < 2) continue
        stalls = 0
        await this.executeAlone(input, run[k++]!, head, b)
      } else if (outcome.stop === 'fault') {
        // A limit was hit somewhere in the run: give every op its own entry (and limits).
        while (k < items.length && !full(b)) await this.executeAlone(input, run[k++]!, head, b)
      } else if (outcome.stop === 'pending' && k < items.length && !full(b)) {
        await this.executeAlone(input, run[k++]!, head, b)
      }
      if (outcome.results.length > 0) stalls = 0
    }
  }

  /** One op through process + apply on its own, published into the batch. */
  private async executeAlone (input: Input, rb: RunBlock, head: OplogHead, b: BatchState): Promise<void> {
    await this.publish(input, await this.executeOp(input.hex, rb, head, b), b, rb.block.byteLength)
  }

  /** Put an op's ack and writes into the batch and move its oplog on. */
  private async publish (input: Input, res: OpResult, b: BatchState, opBytes: number): Promise<void> {
    const seq = res.ack.seq
    const ack = encodeAck(this.opts.hooks?.ack?.(res.ack) ?? res.ack)
    b.broken = true // until the ack and every write are in
    await b.reader.put(ackKey(input.hex, seq), ack)
    b.bytes += opBytes + ack.byteLength
    for (const c of res.changes) {
      if (c.type === 'put') await b.reader.put(c.key, c.value)
      else await b.reader.del(c.key)
      b.bytes += c.key.length + (c.type === 'put' ? c.value.byteLength : 0)
      if (isSystemChange(c)) b.system.push(c)
    }
    b.broken = false
    b.written += 1 + res.changes.length
    input.nextSeq = this.opts.hooks?.nextSeq?.(input.hex, seq) ?? seq + 1
    b.done.push({ origin: input.hex, seq })
  }

  /** Inputs with pending ops, in this batch's round-robin order. */
  private batchOrder (): Input[] {
    const all = [...this.inputs.values()].sort((a, b) => a.hex < b.hex ? -1 : 1)
    const now = Date.now()
    const pending = all.filter(i => i.nextSeq < i.oplog.length && i.pausedUntil <= now)
    if (pending.length === 0) return []
    const start = this.rotation++ % pending.length
    return pending.slice(start).concat(pending.slice(0, start))
  }

  /**
   * Start reading the locally stored blocks of [nextSeq, end) at once, in one storage
   * batch (reads are I/O-bound; one at a time they dominate a batch). Blocks not
   * stored locally come back null.
   */
  private prefetch (input: Input, limit: number, b: BatchState): BlockRange {
    const start = input.nextSeq
    const end = Math.min(limit, start + b.max - b.done.length)
    // On a failure the blocks are read one by one instead.
    const all = readLocalBlocksBounded(input.oplog.core, start, end, { maxBlockBytes: this.maxOpBytes, budget: b.maxBytes - b.bytes }).catch(() => null)
    return { start, all }
  }

  /**
   * Fetch remote blocks outside the batch, so that a block no peer serves holds up its
   * own oplog only. Sizes before bytes (src/logs/block-sizes.ts): block `seq`'s size is
   * learned from the tree first, and one over maxOpBytes is never downloaded (the loop
   * then refuses it unread, from its stored leaf); the blocks after it are fetched in
   * the background in windows of maxOpBytes, none larger. The loop runs again once
   * `seq` is there. A fetch that gets nothing within blockTimeoutMs (default 5000) is a
   * 'warning' (BLOCK_UNAVAILABLE) and is tried again after 1, 2, 4 … 60 s (`pause`).
   */
  private fetchLater (input: Input, seq: number): void {
    if (input.fetching !== null || this.stopping) return
    input.fetching = seq
    const core = input.oplog.core
    const timeout = this.opts.blockTimeoutMs ?? 5000
    if (input.readAhead === null) {
      const ahead = new SizedDownload(core, { max: this.maxOpBytes, timeoutMs: timeout, start: seq + 1 })
      ahead.start()
      input.readAhead = ahead
    }
    const fetched = async (): Promise<void> => {
      const size = await remoteBlockSize(core, seq, timeout)
      if (size !== null && size > this.maxOpBytes) return // refused unread by the next run
      await core.get(seq, { timeout })
    }
    fetched().then(
      () => { input.fetching = null; input.failures = 0; this.schedule() },
      (err: Error) => {
        input.fetching = null
        if (this.stopping) return
        this.pause(input, errors.BLOCK_UNAVAILABLE(`no peer served it within ${timeout} ms (${err.message})`), 'BLOCK_UNAVAILABLE')
      }
    )
  }

  private now (): number { return (this.opts.now ?? Date.now)() }

  private ackBase (origin: string, seq: number, head: OplogHead, ts: number, b: BatchState): AckBase {
    return { v: this.ackVersion, origin, seq, oplogLength: head.length, oplogTreeHash: head.treeHash, ts, batchStart: b.batchStart }
  }

  /** Run one op through process + apply. Contract faults and malformed ops become failed acks. */
  private async executeOp (origin: string, rb: RunBlock, head: OplogHead, b: BatchState): Promise<OpResult> {
    const { seq, block } = rb
    const base = this.ackBase(origin, seq, head, this.now(), b)
    let metadata: JsonValue = null
    let outcome: TxAction[] | Error
    try {
      if (rb.size > this.maxOpBytes) throw opTooLarge(rb.size, this.maxOpBytes)
      const op: Op = decodeOp(block)
      const sandbox = this.sandbox as DatabaseContracts
      if (sandbox.hasProcess) metadata = await runProcess(sandbox, op, b.reader)
      outcome = await sandbox.apply(op, { origin, seq, ts: base.ts, metadata, height: b.batchStart + b.written }, { index: b.reader, opJson: block.toString('utf8') })
    } catch (err) {
      if (!(err instanceof VitraError)) throw err
      outcome = err
    }
    return await this.settle(base, outcome, b.reader, metadata)
  }

  /** The ack and index changes of an op, from the actions its apply recorded or the error it failed with. */
  private async settle (base: AckBase, outcome: TxAction[] | Error, reader: BatchReader, metadata: JsonValue = null): Promise<OpResult> {
    try {
      if (outcome instanceof Error) throw outcome
      // Plain puts (the common case) need no existence checks and no compile: no awaits.
      let changes = putsToChanges(outcome) ?? await actionsToChanges(outcome, reader.has)
      if (changes.some(isSystemChange)) await this.checkSystemChanges(changes)
      if (this.opts.hooks?.changes !== undefined) changes = this.opts.hooks.changes(base.origin, base.seq, changes)
      return { ack: { ...base, metadata, success: true, numChanges: changes.length }, changes }
    } catch (err) {
      if (!(err instanceof VitraError)) throw err
      return { ack: { ...base, metadata, success: false, error: ackErrorText(err), errorCode: err.code, numChanges: 0 }, changes: [] }
    }
  }

  /** A new contract source must compile, or the op that set it fails. */
  private async checkSystemChanges (changes: Change[]): Promise<void> {
    for (const c of changes) {
      if (c.key === CONTRACT_SOURCE_KEY && c.type === 'put') {
        const probe = await this.makeSandbox(decodeValue(c.value) as string)
        await probe.close()
      }
    }
  }

  private async applySystemChanges (changes: Change[]): Promise<void> {
    for (const c of changes) {
      if (c.type !== 'put') continue
      if (c.key === CONTRACT_SOURCE_KEY) {
        const next = await this.makeSandbox(decodeValue(c.value) as string)
        await this.sandbox?.close()
        this.sandbox = next
        this.emit('contract')
      } else if (c.key.startsWith(INPUTS_PREFIX)) {
        const rec = decodeInput(c.value)
        if (rec.active) await this.addInput(rec.pubkey)
        else this.removeInput(rec.pubkey)
      }
    }
  }

  private async makeSandbox (source: string): Promise<DatabaseContracts> {
    return await DatabaseContracts.open(source, this.governance, this.opts.limits)
  }

  /**
   * Read ops of `hex` although the index does not list it as a participant: a
   * misbehaving executor, for `vitra/testing` (Vitra's `db.oplogs.add` on an executor).
   * Verifiers report its acks as NON_PARTICIPANT.
   */
  async dangerouslyAddInput (hex: string): Promise<void> {
    await this.addInput(hex)
    this.schedule()
  }

  private async addInput (hex: string): Promise<void> {
    if (this.inputs.has(hex)) return
    const oplog = await this.opts.openOplog(hex)
    const nextSeq = (await this.index.lastAckedSeq(hex)) + 1
    const onAppend = (): void => this.schedule()
    oplog.core.on('append', onAppend)
    this.inputs.set(hex, { hex, oplog, nextSeq, committed: nextSeq, onAppend, fetching: null, readAhead: null, failures: 0, pausedUntil: 0 })
    this.emit('input-added', hex)
  }

  private removeInput (hex: string): void {
    const input = this.inputs.get(hex)
    if (input === undefined) return
    input.oplog.core.removeListener('append', input.onAppend)
    input.readAhead?.close()
    this.inputs.delete(hex)
    this.emit('input-removed', hex)
  }

  /** Stops processing (the current batch finishes first) and closes the sandbox. Oplogs are owned by the caller. close() runs it once. */
  protected override async _close (): Promise<void> {
    await this.looping
    for (const hex of [...this.inputs.keys()]) this.removeInput(hex)
    await this.sandbox?.close()
    this.sandbox = null
    for (const w of this.syncWaiters.splice(0)) w.reject(new ClosedError('executor'))
  }
}

/**
 * `process` may be non-deterministic, so a verifier cannot re-run it: its failures
 * are published with the code PROCESS_FAILED, which verifiers accept as given.
 */
async function runProcess (sandbox: DatabaseContracts, op: Op, reader: IndexReader): Promise<JsonValue> {
  try {
    const metadata = await sandbox.process(op, { index: reader }) as JsonValue
    canonicalJson(metadata) // within the limits every ack must keep (VALUE_TOO_DEEP, INVALID_VALUE)
    return metadata
  } catch (err) {
    if (!(err instanceof VitraError)) throw err
    throw errors.PROCESS_FAILED(err.message)
  }
}

/**
 * Index reads that see the batch's pending writes (the state an op's apply must
 * see), and the batch's writes. Point reads of keys written in this batch are
 * answered from memory; everything else from the Hyperbee batch. The n-th block put
 * into the batch gets index seq `batchStart + n`.
 */
class BatchReader implements IndexReader {
  private readonly batch: HyperbeeBatch
  private readonly written = new Map<string, { seq: number, value: Buffer } | null>()
  private next: number

  constructor (batch: HyperbeeBatch, batchStart: number) {
    this.batch = batch
    this.next = batchStart
  }

  async put (key: string, value: Buffer): Promise<void> {
    this.written.set(key, { seq: this.next++, value })
    await this.batch.put(key, value)
  }

  async del (key: string): Promise<void> {
    this.written.set(key, null)
    this.next++
    await this.batch.del(key)
  }

  private async raw (key: string): Promise<{ seq: number, value: Buffer } | null> {
    const mine = this.written.get(key)
    if (mine !== undefined) return mine
    const e = await this.batch.get(key)
    return e === null ? null : { seq: e.seq, value: e.value as Buffer }
  }

  async get (key: string): Promise<{ seq: number, value: JsonValue } | null> {
    const e = await this.raw(key)
    return e === null ? null : { seq: e.seq, value: decodeIndexValue(e.value) }
  }

  readonly has = async (key: string): Promise<boolean> => (await this.raw(key)) !== null

  async list (dir: string, opts: FolderListOptions): Promise<ListedItem[]> {
    return await listFolder(async range => {
      for await (const e of this.batch.createReadStream({ ...range, limit: 1 })) {
        const key = e.key as string
        const mine = this.written.get(key)
        return { key, seq: mine?.seq ?? e.seq, value: decodeIndexValue(e.value) }
      }
      return null
    }, dir, opts) as ListedItem[]
  }
}
