/**
 * ContractSandbox: runs one contract (an ES module source) in an isolated-vm
 * isolate.
 *
 * ## Determinism and the sandbox rules (for the README)
 *
 * A contract runs in one of three kinds of entry:
 *
 * - **call** (`db.call(method, params)`): the exported method runs as
 *   `method(params, emit)`. It may read the index, see the caller
 *   (`contract.isWriter`, `contract.oplog`, `contract.listOplogs()`) and emit
 *   ops. `Date`, `Math.random()` and `util.genUUID()` are real.
 * - **process** (`process(op)`, executor only, optional): index reads only, no
 *   emit, no caller (`isWriter` false, `oplog` null, `listOplogs()` throws).
 *   May be non-deterministic (real `Date`, `Math.random()`): its result is
 *   recorded in the ack, so replays read it from there.
 * - **apply** (`apply(tx, op, ack)`): must give the same actions on every
 *   machine. Index reads (`tx.get`, `index.get`, `index.list`) are allowed;
 *   the caller is hidden as in process. Inside apply:
 *   - `Date.now()` and `new Date()` (no arguments) return `ack.ts`; the clock
 *     does not advance during the entry.
 *   - Local-time `Date` methods behave as UTC (`getHours()` is
 *     `getUTCHours()`, `getTimezoneOffset()` is 0, `toString()` prints
 *     `GMT+0000 (Coordinated Universal Time)`, `new Date(y, m, ...)` means
 *     `Date.UTC(y, m, ...)`, date strings without an explicit offset are
 *     read as UTC); `toLocale*String` default to locale `en-US` and time zone
 *     UTC, and `localeCompare`, `toLocaleUpperCase/LowerCase` and the number
 *     `toLocaleString` default to `en-US`. The host's time zone and locale
 *     never matter. (Output of locale methods can still differ between ICU
 *     versions, i.e. Node releases: avoid them in apply.)
 *   - `Math.random()` is xoshiro128** seeded with the first 16 bytes of
 *     `sha256(ack.origin + ':' + ack.seq)` (four little-endian u32 words);
 *     each call takes two 32-bit outputs `a`, `b` and returns
 *     `((a >>> 5) * 2^26 + (b >>> 6)) / 2^53`.
 *   - `util.genUUID()` takes four 32-bit outputs of the same PRNG (as 32 hex
 *     digits, big-endian per word) and sets the v4 version and variant bits.
 *   - `WeakRef`, `FinalizationRegistry` and `Intl` are `undefined`, and a
 *     WeakRef made elsewhere cannot be dereferenced.
 * - In every mode: there are no timers (`setTimeout`, `setInterval`,
 *   `queueMicrotask`, `setImmediate` do not exist), no `Atomics.wait`, no
 *   network, no file system, no `process`, no `require`, no dynamic
 *   `import()`. A contract may import only `contract`, `assert` and `util`.
 *   `WebAssembly` is there, but `compile`/`instantiate` compile synchronously
 *   (so every promise of an entry settles within the entry). Host reads look
 *   asynchronous (`await index.get(k)`) but complete before the contract
 *   continues, so a contract's microtask order never depends on the host.
 * - The module's top-level code runs deterministically too (as in apply,
 *   with `Date.now()` = 0 and a PRNG seeded from `sha256('vitra:init')`);
 *   index reads are not available there.
 * - **Module state is not preserved.** The isolate is recreated, and the
 *   module re-evaluated, whenever an entry hits a limit (and a host may load
 *   the same contract more than once). Contracts must keep state in the index
 *   only; a module-level variable written in one entry may be gone in the next.
 *
 * Same contract source + same op + same ack + same index reads → the same
 * `TxAction[]`, on any machine and in any isolate.
 *
 * ## Limits
 *
 * Per isolate: heap `memoryMb` (default 64 MiB). Per entry: `timeoutMs` of
 * CPU time (default 500 ms) and `wallTimeoutMs` of wall time (default
 * max(10 × timeoutMs, 5 s)), enforced by isolated-vm's timeout (fast path, see
 * below) or a host watchdog that samples `isolate.cpuTime` every
 * min(50, timeoutMs / 4) ms (async path). Time spent waiting for the host's
 * index reads does not count as CPU time. The memory limit is isolated-vm's
 * (a guideline: hostile code may overshoot it 2-3× before it is stopped). A violation fails the entry with
 * ContractTimeoutError / ContractMemoryError, disposes the isolate, and the next
 * entry transparently gets a fresh one. Limit violations depend on the machine
 * and its load; they are the one non-deterministic outcome of apply, and the
 * caller should not publish them as a contract verdict without care.
 *
 * Loading (`ready()`): a syntax error, a foreign import, a missing `apply`
 * export, or an exception thrown by the module's top-level code is a
 * ContractParseError (with the contract's line/column when known). Top-level
 * code that loops is a ContractTimeoutError (it is a load failure, but the
 * timeout code says why), one that eats memory a ContractMemoryError.
 *
 * Entries are serialised: one at a time per sandbox, in call order (calls that
 * wait together may run together, ahead of entries queued after the first of them;
 * calls only read, so their order does not matter).
 *
 * ## Two ways in
 *
 * Crossing into the isolate asynchronously costs a thread hop each way (tens of
 * µs), and so does every index read made from there. So an entry first takes the
 * **fast path**: the host enters the isolate synchronously (`applySync`, microtasks
 * included) and answers index reads from what it has already read for this entry.
 * A read it has not made yet is deferred: the attempt is abandoned (later reads in
 * it throw, its result is discarded), the host reads the value and runs the entry
 * again from the start. Re-runs are invisible to the result: each attempt gets the
 * same op, ack, PRNG seed and read values (only module state, which contracts must
 * not rely on, can tell). When an entry name (method, or apply op name) read the
 * same keys on its last two fast runs, those keys are read before the first attempt
 * (a hint only: the attempt still asks for what it needs).
 *
 * The **async path** (`apply` with a promise result on isolated-vm's thread pool,
 * reads through `applySyncPromise`, CPU/wall watchdog) takes over for an entry that
 * awaits a promise that does not settle at once. An entry name moves to it for good
 * when it needs more than 8 rounds, runs past its CPU budget over all rounds, hits
 * a limit, or keeps the host's thread busy for more than 10 ms three times in a row: the
 * fast path never holds the host's thread for long. An attempt that failed after
 * deferring a read proves nothing and is re-run on the async path. Pass
 * `fastPath: false` to always use the async path.
 *
 * ## Many at once
 *
 * Two more entries share one crossing among many:
 *
 * - **runs** (`applyRun`): the executor and the verifier apply consecutive ops in
 *   one entry; each op gets its own ack, seed, clock and `tx`, runs (with whatever
 *   it leaves pending) in a synchronous call of its own, and sees the earlier ops'
 *   writes through an overlay kept in the guest (the rules are in
 *   whitepaper/protocol.md §5). The entry stops, and says why, where the host must
 *   step in; a limit hit anywhere makes the caller re-run the ops one by one.
 * - **call batches**: calls that arrive while the sandbox is busy wait, and then
 *   run one after the other in one entry per caller (`CallContext` object). A call
 *   that needs a read the host has not made runs again in a second round; one that
 *   waits for a promise, and every call of an entry that hit a limit, run alone.
 */
import { Resource } from '../src/lifecycle/resource.js'
import {
  ClosedError,
  ContractMemoryError,
  ContractRuntimeError,
  ContractTimeoutError,
  InvalidArgumentError,
  UnknownMethodError
} from '../src/errors/errors.js'
import { asActions, asJson, checkActions, encodeJson } from './json.js'
import { IsolateInstance, type BatchOutcome, type ContractInfo, type EntryArgs, type EntryContext, type FastOutcome } from './instance.js'
import { FAILED, decodeBatchAnswer, decodeCallOutcome, decodeGuestError, type CallAnswer, type CallOutcome, type GuestError } from './protocol.js'
import { resolveLimits, type ResolvedLimits } from './limits.js'
import type { AckInfo, CallContext, CallResult, IndexReader, Json, RunItem, RunOutcome, RunResult, SandboxLimits, TxAction } from './types.js'

/** Options of `new ContractSandbox(source, opts)`. */
export interface SandboxOptions {
  /** Memory and time limits; see SandboxLimits for the defaults. */
  limits?: SandboxLimits
  /** Name used for the contract in stack traces and error positions (default `contract.js`). */
  filename?: string
  /**
   * Enter the isolate synchronously when possible (default true; see "Two ways in").
   * False always uses the async path: slower, but never runs contract code on the
   * host's thread.
   */
  fastPath?: boolean
}

/** At most this many entry names are remembered (as "use the async path", or with read hints). */
const MAX_NAMES = 1024
/** Long fast runs (over 10 ms of the host's thread) before an entry name moves to the async path. */
const SLOW_STRIKES = 3
/** Read hints longer than this are not kept. */
const MAX_HINT_READS = 16
/** Most ops given to one batch entry (applyRun). */
export const MAX_RUN_ITEMS = 64
/** Most calls run in one calls entry. */
const MAX_CALL_BATCH = 64
/** A calls entry longer than this (ms) halves the next one's size; a shorter one lets it grow back. */
const CALLS_SLICE_MS = 4

/** A call waiting for its turn (see `call`). */
interface QueuedCall {
  method: string
  params: string
  ctx: CallContext
  resolve: (r: CallResult) => void
  reject: (e: Error) => void
}

/** What the last fast runs of one entry name read. */
interface ReadHint {
  reads: string[]
  /** The last two runs read the same keys: worth prefetching. */
  stable: boolean
}

/** Runs one contract in an isolated-vm isolate: method calls, `process(op)` and `apply(tx, op, ack)`. */
export class ContractSandbox extends Resource {
  /** The name the contract has in stack traces and error positions. */
  readonly filename: string
  /** The limits in force, defaults filled in. */
  readonly limits: Readonly<ResolvedLimits>
  private readonly source: string
  private instance: IsolateInstance | null = null
  private info: ContractInfo | null = null
  private methodSet: Set<string> = new Set()
  private tail: Promise<unknown> = Promise.resolve()
  private readonly fastPath: boolean
  private readonly slowNames = new Set<string>()
  private readonly hints = new Map<string, ReadHint>()
  private readonly strikes = new Map<string, number>()
  /** What the last batch entry read (and the read it stopped for): prefetched by the next one. */
  private batchHint: string[] = []
  /** Calls waiting while another entry runs: they then run together (see `call`). */
  private callQueue: QueuedCall[] = []
  /**
   * How many calls the next calls entry takes: all calls of an entry share its CPU
   * limit, so slow methods get smaller entries (one, after a limit was hit) instead of
   * many that time out and then run alone.
   */
  private callBatch = MAX_CALL_BATCH

  /** Does no work: call `ready()` (or any entry) to load the contract. */
  constructor (source: string, opts: SandboxOptions = {}) {
    super()
    if (typeof source !== 'string') throw new InvalidArgumentError('The contract source must be a string')
    this.source = source
    this.filename = opts.filename ?? 'contract.js'
    this.limits = Object.freeze(resolveLimits(opts.limits))
    this.fastPath = opts.fastPath !== false
  }

  /** Exported function names other than `apply` and `process` (empty before `ready()`). */
  get methods (): string[] {
    return this.info === null ? [] : this.info.methods.slice()
  }

  /** Whether the contract exports `process` (false before `ready()`). */
  get hasProcess (): boolean {
    return this.info !== null && this.info.hasProcess
  }

  /**
   * Compiles and instantiates the contract module; ready() runs it once (later calls
   * return the same promise). Rejects with ContractParseError (syntax error, foreign
   * import, no `apply` export, top-level throw), ContractTimeoutError or ContractMemoryError.
   */
  protected override async _open (): Promise<void> {
    await this.exclusive(async () => { await this.currentInstance() })
  }

  /**
   * Runs the exported method `method(params, emit)`. Resolves `{ response, ops }`.
   * Rejects with UnknownMethodError, InvalidValueError (params not JSON),
   * ContractRuntimeError (the contract threw, returned a non-JSON value, or emitted
   * a non-object), ContractTimeoutError or ContractMemoryError.
   */
  async call (method: string, params: Json | undefined, ctx: CallContext): Promise<CallResult> {
    await this.ready()
    if (typeof method !== 'string' || !this.methodSet.has(method)) throw new UnknownMethodError(String(method), this.methods)
    const paramsJson = params === undefined ? '' : encodeJson(params, 'params')
    if (!this.fastPath) return callResult(await this.enter(callEntry(ctx), 'call:' + method, callArgs(method, paramsJson, ctx)))
    // Calls that arrive while another entry runs wait here and then run together in one
    // entry (calls only read, so they cannot see each other): one crossing for many.
    return await new Promise<CallResult>((resolve, reject) => {
      this.callQueue.push({ method, params: paramsJson, ctx, resolve, reject })
      if (this.callQueue.length === 1) void this.exclusive(async () => await this.drainCalls())
    })
  }

  /**
   * Runs the queued calls of the first one's caller (the same CallContext object), up
   * to `callBatch`: one alone through the usual paths, several in one calls entry.
   * A call that entry cannot finish runs alone after it; a limit hit by any of them
   * sends every one of them alone (each then has its own limits).
   */
  private async drainCalls (): Promise<void> {
    if (this.callQueue.length === 0) return
    const ctx = this.callQueue[0]!.ctx
    const group: QueuedCall[] = []
    const rest: QueuedCall[] = []
    for (const q of this.callQueue) (q.ctx === ctx && group.length < this.callBatch ? group : rest).push(q)
    this.callQueue = rest
    if (rest.length > 0) void this.exclusive(async () => await this.drainCalls())
    let answers: Array<CallAnswer | null> = group.map(() => null)
    if (group.length > 1 && !group.some(q => this.slowNames.has('call:' + q.method))) {
      const start = performance.now()
      try {
        const instance = await this.currentInstance()
        answers = await instance.runCalls(callEntry(ctx, 'calls'), group.map(q => [q.method, q.params]), this.callHints(group))
        const ms = performance.now() - start
        if (ms > CALLS_SLICE_MS) this.callBatch = Math.max(1, Math.floor(group.length / 2))
        else if (ms < CALLS_SLICE_MS / 4) this.callBatch = Math.min(MAX_CALL_BATCH, this.callBatch * 2)
      } catch (err) {
        // A closed sandbox fails them all; after anything else each runs alone, with its own limits.
        if (err instanceof ClosedError) {
          for (const q of group) q.reject(err)
          return
        }
        this.callBatch = 1
      }
    }
    for (let i = 0; i < group.length; i++) {
      const q = group[i]!
      const a = answers[i] ?? null
      try {
        if (a === null) q.resolve(callResult(await this.runEntry(callEntry(q.ctx), 'call:' + q.method, callArgs(q.method, q.params, q.ctx))))
        else if ('x' in a) q.reject(guestErrorOf(a.x, 'call'))
        else q.resolve(callResultOf(a))
      } catch (err) {
        q.reject(err as Error)
      }
    }
  }

  /** Reads worth making before a calls entry: the stable read hints of its methods. */
  private callHints (group: QueuedCall[]): string[] {
    const keys = new Set<string>()
    for (const q of group) {
      const hint = this.hints.get('call:' + q.method)
      if (hint !== undefined && hint.stable) for (const k of hint.reads) keys.add(k)
    }
    return keys.size > MAX_HINT_READS ? [] : [...keys]
  }

  /**
   * Runs the contract's `process(op)` (index reads only; may be non-deterministic).
   * Resolves its return value (undefined → null), or null if there is no `process`.
   */
  async process (op: Json, ctx: { index: IndexReader }): Promise<Json> {
    await this.ready()
    if (!this.hasProcess) return null
    const entry: EntryContext = { kind: 'process', index: ctx.index, caller: null }
    const out = await this.enter(entry, 'process', ['process', '', encodeJson(op, 'op'), false, null, 0])
    return asJson(JSON.parse(out))
  }

  /**
   * Runs `apply(tx, op, ack)` deterministically and resolves the actions `tx`
   * recorded, in order. If the contract throws, rejects with ContractRuntimeError
   * and no actions.
   */
  async apply (op: Json, ack: AckInfo, ctx: { index: IndexReader, opJson?: string }): Promise<TxAction[]> {
    await this.ready()
    const guestAck = checkAck(ack)
    // ctx.opJson: the op's JSON text when the caller has it already (the canonical oplog entry): saves encoding it again
    const payload = '[' + (ctx.opJson ?? encodeJson(op, 'op')) + ',' + encodeJson(guestAck, 'ack') + ']'
    const entry: EntryContext = { kind: 'apply', index: ctx.index, caller: null }
    const out = await this.enter(entry, 'apply:' + opName(op), ['apply', '', payload, false, null, guestAck.ts])
    return checkedActions(JSON.parse(out))
  }

  /**
   * Applies a run of ops in one entry into the isolate, with the same results as
   * `apply` on each in turn (ack metadata and height as RunItem says), each op
   * seeing the writes of the ones before it. `ctx.index` is the state before the
   * first item and must offer `has`. Resolves the results of a prefix of the items
   * (at most MAX_RUN_ITEMS) and why it stopped: see RunOutcome. The caller publishes
   * those and continues with the rest. Each result's `numChanges` is what the guest
   * counted for the height of the next op: a caller whose own count differs must not
   * use the results after that op. Rejects with ClosedError, or the host's error when
   * an index read failed.
   */
  async applyRun (items: RunItem[], ctx: { index: IndexReader }): Promise<RunOutcome> {
    await this.ready()
    if (items.length === 0) return { results: [], stop: 'done' }
    if (items[0]!.height === undefined) throw new InvalidArgumentError('applyRun: the first item needs a height')
    if (ctx.index.has === undefined) throw new InvalidArgumentError('applyRun: the index reader must offer has()')
    const run = items.length > MAX_RUN_ITEMS ? items.slice(0, MAX_RUN_ITEMS) : items
    let payload = '['
    for (let i = 0; i < run.length; i++) {
      const it = run[i]!
      const metadata = it.metadata === undefined || it.metadata === null ? 'null' : encodeJson(it.metadata, 'metadata')
      payload += (i === 0 ? '[' : ',[') + it.opJson + ',' + JSON.stringify(it.origin) + ',' + num(it.seq) + ',' + num(it.ts) + ',' + (it.height === undefined ? 'null' : num(it.height)) + ',' + metadata + ']'
    }
    payload += ']'
    const entry: EntryContext = { kind: 'batch', index: ctx.index, caller: null }
    let outcome: BatchOutcome
    try {
      outcome = await this.exclusive(async () => {
        const instance = await this.currentInstance()
        return await instance.runBatch(entry, payload, this.batchHint)
      })
    } catch (err) {
      if (isLimitFault(err)) {
        this.batchHint = []
        return { results: [], stop: 'fault' }
      }
      throw err
    }
    this.batchHint = hintFrom(outcome)
    if (outcome.out[0] === FAILED) throw guestError(outcome.out, 'apply')
    const answer = decodeBatchAnswer(outcome.out)
    if (answer === null) throw new ContractRuntimeError('The sandbox answered a batch entry in a malformed answer')
    const results: RunResult[] = answer.r.map(r => {
      if ('x' in r) return { ok: false, error: guestErrorOf(r.x, 'apply'), numChanges: 0 }
      try {
        return { ok: true, actions: checkedActions(r.a), numChanges: r.n }
      } catch (err) {
        return { ok: false, error: err as Error, numChanges: r.n }
      }
    })
    return { results, stop: answer.s }
  }

  /** Disposes the isolate; close() runs it once. A running entry rejects with ClosedError, later ones too. */
  protected override async _close (): Promise<void> {
    const instance = this.instance
    this.instance = null
    if (instance !== null) instance.close()
    await this.tail
  }

  /**
   * Runs one entry on the (possibly recreated) isolate, fast path first unless `name`
   * is known to need the async path, and turns a guest error into ContractRuntimeError.
   */
  private async enter (ctx: EntryContext, name: string, args: EntryArgs): Promise<string> {
    return await this.exclusive(async () => await this.runEntry(ctx, name, args))
  }

  /** `enter` without waiting for its turn: the caller holds it. */
  private async runEntry (ctx: EntryContext, name: string, args: EntryArgs): Promise<string> {
    let out: string | null = null
    if (this.fastPath && !this.slowNames.has(name)) out = await this.runFast(ctx, name, args)
    if (out === null) out = await (await this.currentInstance()).runAsync(ctx, args)
    if (out[0] === FAILED) throw guestError(out, ctx.kind)
    return out
  }

  /** The fast path's answer, or null when the async path must run the entry. */
  private async runFast (ctx: EntryContext, name: string, args: EntryArgs): Promise<string | null> {
    const instance = await this.currentInstance()
    const hint = this.hints.get(name)
    let outcome: FastOutcome
    try {
      outcome = await instance.runFast(ctx, args, hint !== undefined && hint.stable ? hint.reads : null)
    } catch (err) {
      if (err instanceof ContractTimeoutError) this.markSlow(name)
      throw err
    }
    if (outcome.done) {
      if (outcome.slow) this.strike(name)
      else this.strikes.delete(name) // only consecutive long runs count: a GC pause now and then is no reason
      this.learn(name, hint, outcome.reads)
      return outcome.out
    }
    if (outcome.reason !== 'pending') this.markSlow(name)
    return null
  }

  private markSlow (name: string): void {
    if (this.slowNames.size < MAX_NAMES) this.slowNames.add(name)
  }

  /** A long fast run: after a few in a row (not one: a GC pause is no reason), use the async path. */
  private strike (name: string): void {
    const n = (this.strikes.get(name) ?? 0) + 1
    if (n >= SLOW_STRIKES) {
      this.strikes.delete(name)
      this.markSlow(name)
    } else if (this.strikes.size < MAX_NAMES) {
      this.strikes.set(name, n)
    }
  }

  /** Remembers what an entry read; keys read the same way twice in a row get prefetched. */
  private learn (name: string, hint: ReadHint | undefined, reads: string[]): void {
    if (hint === undefined) {
      if (reads.length > 0 && reads.length <= MAX_HINT_READS && this.hints.size < MAX_NAMES) this.hints.set(name, { reads, stable: false })
      return
    }
    const stable = reads.length === hint.reads.length && reads.every((k, i) => k === hint.reads[i])
    if (stable && hint.stable) return
    if (reads.length === 0 || reads.length > MAX_HINT_READS) this.hints.delete(name)
    else this.hints.set(name, { reads, stable })
  }

  /** The live instance, created (again) if there is none or the last one was disposed. */
  private async currentInstance (): Promise<IsolateInstance> {
    if (this.stopping) throw new ClosedError('sandbox')
    if (this.instance !== null && !this.instance.disposed) return this.instance
    this.instance = null
    const instance = await IsolateInstance.create(this.source, this.filename, this.limits)
    if (this.stopping) {
      instance.close()
      throw new ClosedError('sandbox')
    }
    this.instance = instance
    if (this.info === null) {
      this.info = instance.info
      this.methodSet = new Set(instance.info.methods)
    }
    return instance
  }

  /** Serialises `fn` after every earlier entry (the guest has one mode at a time). */
  private exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn)
    this.tail = run.then(noop, noop)
    return run
  }
}

function noop (): void {}

/** The op's name (`op.op`) when it has one: apply entries are told apart by it. */
function opName (op: Json): string {
  if (op === null || typeof op !== 'object' || Array.isArray(op)) return ''
  const name = op.op
  return typeof name === 'string' ? name : ''
}

/** Copies the ack fields the contract sees, checking their types. */
function checkAck (ack: AckInfo): AckInfo {
  if (ack === null || typeof ack !== 'object') throw new InvalidArgumentError('ack must be an object')
  const { origin, seq, ts, metadata, height } = ack
  if (typeof origin !== 'string') throw new InvalidArgumentError('ack.origin must be a string')
  if (!Number.isSafeInteger(seq) || seq < 0) throw new InvalidArgumentError('ack.seq must be a non-negative integer')
  if (typeof ts !== 'number' || !Number.isFinite(ts)) throw new InvalidArgumentError('ack.ts must be a finite number')
  if (height !== undefined && (!Number.isSafeInteger(height) || height < 0)) throw new InvalidArgumentError('ack.height must be a non-negative integer')
  const out: AckInfo = { origin, seq, ts, metadata: metadata === undefined ? null : metadata }
  if (height !== undefined) out.height = height
  return out
}

function guestError (out: string, kind: string): ContractRuntimeError {
  const parsed = decodeGuestError(out)
  if (parsed === null) return new ContractRuntimeError(`The contract failed in ${kind}`)
  return guestErrorOf(parsed, kind)
}

function guestErrorOf (parsed: GuestError, kind: string): ContractRuntimeError {
  return new ContractRuntimeError(parsed.message, 'CONTRACT_RUNTIME_ERROR', { name: parsed.name, stack: parsed.stack, entry: kind })
}

function callEntry (ctx: CallContext, kind: 'call' | 'calls' = 'call'): EntryContext {
  return { kind, index: ctx.index, caller: ctx }
}

function callArgs (method: string, params: string, ctx: CallContext): EntryArgs {
  return ['call', method, params, ctx.isWriter === true, ctx.oplog ?? null, 0]
}

function callResult (out: string): CallResult {
  const answer = decodeCallOutcome(out)
  if (answer === null) throw new ContractRuntimeError('The sandbox answered a call in a malformed answer')
  return callResultOf(answer)
}

/** A call's result; the guest made its JSON from the contract's values (encodeJson), so they are Json. */
function callResultOf (answer: CallOutcome): CallResult {
  return { response: answer.r === undefined ? undefined : asJson(answer.r), ops: answer.o.map(asJson) }
}

/** A limit (or a broken isolate) hit by a shared entry: its parts are retried one by one. */
function isLimitFault (err: unknown): boolean {
  return err instanceof ContractTimeoutError || err instanceof ContractMemoryError || (err instanceof ContractRuntimeError && err.code === 'CONTRACT_RUNTIME_ERROR')
}

/** The actions an apply recorded, checked (ContractRuntimeError when one is malformed). */
function checkedActions (actions: unknown): TxAction[] {
  const problem = checkActions(actions)
  if (problem !== null) throw new ContractRuntimeError(`The contract recorded an invalid action: ${problem}`)
  return asActions(actions)
}

/** A safe integer as JSON text (InvalidArgumentError otherwise: it goes into a payload as is). */
function num (n: number): string {
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`applyRun: ${String(n)} is not an integer`)
  return String(n)
}

/** The reads to make before the next batch entry: what this one read, and the read it stopped for. */
function hintFrom (outcome: BatchOutcome): string[] {
  const keys = new Set(outcome.reads.length > MAX_HINT_READS ? [] : outcome.reads)
  if (outcome.miss !== null) keys.add(outcome.miss)
  return [...keys]
}
