import ivm from 'isolated-vm'
import { createHash } from 'crypto'
import { DEFAULT_NAMESPACE, ed25519Verify, manifestKey } from '../src/proofs/crypto/hypercore-crypto.js'
import { hash, randomUUID } from 'node:crypto'
import {
  ContractMemoryError,
  ContractParseError,
  ContractRuntimeError,
  ContractTimeoutError,
  ClosedError
} from '../src/errors/errors.js'
import { GUEST_MODULE_NAMES, RUNTIME_SPECIFIER, SYS_SPECIFIER, guestSources } from './guest-sources.js'
import { watchdogInterval, type ResolvedLimits } from './limits.js'
import {
  DEFERRED,
  NOT_READ,
  UNFINISHED,
  callerOpName,
  decodeArgList,
  decodeBindAnswer,
  decodeCallsAnswer,
  decodeListArg,
  decodeOpgetArg,
  hostRefusal,
  hostValue,
  isCallerOp,
  isHostOp,
  isPureOp,
  unreachable,
  type CallAnswer,
  type CallerOp,
  type EntryKind,
  type GuestArgs,
  type GuestExports,
  type HostAnswer,
  type HostAsyncFunction,
  type HostFunction,
  type HostOp,
  type PureOp
} from './protocol.js'
import type { CallContext, IndexReader } from './types.js'

export type { CallAnswer, EntryKind } from './protocol.js'

/** Host-side view of one entry: where its reads go and who the caller is. */
export interface EntryContext {
  kind: EntryKind
  index: IndexReader
  /** The caller, for `call` entries only. */
  caller: CallContext | null
}

/** Arguments of the guest's `entry` function (primitives only: cheap to transfer). */
export type EntryArgs = [kind: EntryKind, name: string, json: string, writer: boolean, oplog: string | null, ts: number]

/**
 * Longest string handed to the guest in one piece. isolated-vm copies a string of
 * 1 KiB or more into the isolate as an external string, whose memory the isolate's
 * GC does not see: garbage payloads then pile up outside the isolate's heap (37 MB
 * after 300,000 counter calls, growing without bound). 511 UTF-16 units stay under
 * 1 KiB in either string width, so every piece becomes an ordinary heap string.
 */
const PIECE = 511
/** Copy arguments / results as values (an array of pieces is not transferable otherwise). */
const COPY_ARGS = Object.freeze({ copy: true })

/** `s` as it crosses into the guest: itself when short, else its pieces (the guest joins them). */
export function pieces (s: string): string | string[] {
  if (s.length <= PIECE) return s
  const out: string[] = []
  for (let i = 0; i < s.length; i += PIECE) out.push(s.slice(i, i + PIECE))
  return out
}

function guestArgs (args: EntryArgs): GuestArgs {
  return [args[0], args[1], pieces(args[2]), args[3], args[4], args[5]]
}

/** What the contract module exports, as found when it was loaded. */
export interface ContractInfo {
  methods: string[]
  hasProcess: boolean
}

/** The runtime's exports the host calls after loading. */
type GuestRefs = { [K in Exclude<keyof GuestExports, 'init' | 'bind'>]: ivm.Reference<GuestExports[K]> }
type HostRef = ivm.Reference<HostAsyncFunction> | ivm.Reference<HostFunction>
type Fault = 'cpu' | 'wall' | 'closed' | null

interface Running {
  ctx: EntryContext | null
  wall0: number
  cpu0: bigint
  fault: Fault
  hostError: unknown
  /** Fast path: answers already read for this entry, by `op + '\0' + arg`. */
  cache: Map<string, HostAnswer>
  /** Fast path: the read the guest asked for and the host did not have yet. */
  miss: { op: HostOp, arg: string } | null
  /** Whether the entry runs on the fast path (its CPU is bounded per attempt, not by the watchdog). */
  fast: boolean
  /** Fast path: wakes the wait for a read when the watchdog or close() disposes the isolate. */
  wake: (() => void) | null
  /** Fast path: rejects when `wake` is called (made on first use). */
  killed: Promise<never> | null
  /** Fast path: the cache keys the last attempt read, in order. */
  used: string[]
  /** Fast path: every read the last attempt asked for and the host did not have (`op + '\0' + arg`). */
  misses: string[]
}

/** Outcome of the fast path: the guest's answer, or why the async path must take over. */
export type FastOutcome =
  | {
    done: true
    out: string
    /** The run was long: prefer the async path next time. */
    slow: boolean
    /** What the successful attempt read (`op + '\0' + arg`), in order: a prefetch hint for next time. */
    reads: string[]
  }
  | { done: false, reason: 'pending' | 'rounds' | 'budget' | 'reset' }

/** Outcome of one batch entry (runBatch): the guest's answer and the read it stopped for, if any. */
export interface BatchOutcome {
  out: string
  /** The read the guest asked for and the host did not have (`op + '\0' + arg`), or null. */
  miss: string | null
  /** What the entry read from the host (`op + '\0' + arg`), in order. */
  reads: string[]
}

/** Re-runs allowed on the fast path before an entry moves to the async path. */
export const MAX_FAST_ROUNDS = 8
/** An entry whose fast path kept the host's thread busier than this (ms) uses the async path next time. */
export const FAST_SLICE_MS = 10

function newRunning (ctx: EntryContext | null, isolate: ivm.Isolate): Running {
  return { ctx, wall0: performance.now(), cpu0: isolate.cpuTime, fault: null, hostError: undefined, cache: new Map(), miss: null, fast: false, wake: null, killed: null, used: [], misses: [] }
}

const ALLOWED_IMPORTS: readonly string[] = GUEST_MODULE_NAMES

/**
 * Four 32-bit words from sha256(text): the PRNG seed for `apply` (text is
 * `origin + ':' + seq`) and for module initialisation (text is `vitra:init`).
 */
export function seedWords (text: string): [number, number, number, number] {
  const h = hash('sha256', text, 'buffer')
  return [h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12)]
}

const INIT_SEED = seedWords('vitra:init')

/**
 * One isolate with the contract loaded into it. Runs one entry at a time (the
 * caller serialises) under a CPU/wall watchdog. Once a limit is hit the isolate is
 * disposed and this instance is dead: the owner makes a new one.
 */
export class IsolateInstance {
  readonly info: ContractInfo
  private readonly isolate: ivm.Isolate
  private readonly refs: GuestRefs
  private readonly hostRefs: HostRef[]
  private readonly limits: ResolvedLimits
  private running: Running | null = null
  private timer: NodeJS.Timeout | null = null

  private constructor (parts: { isolate: ivm.Isolate, refs: GuestRefs, hostRefs: HostRef[], info: ContractInfo, limits: ResolvedLimits }) {
    this.isolate = parts.isolate
    this.refs = parts.refs
    this.hostRefs = parts.hostRefs
    this.info = parts.info
    this.limits = parts.limits
  }

  /** Whether the isolate is gone (limit hit, or disposed). */
  get disposed (): boolean { return this.isolate.isDisposed }

  /**
   * Creates an isolate, loads the guest modules and the contract, and evaluates it.
   * Throws ContractParseError, ContractTimeoutError or ContractMemoryError.
   */
  static async create (source: string, filename: string, limits: ResolvedLimits): Promise<IsolateInstance> {
    const isolate = new ivm.Isolate({ memoryLimit: limits.memoryMb })
    // The host functions need the instance, which does not exist yet: route through a holder.
    const holder: { instance: IsolateInstance | null, loading: Running | null } = { instance: null, loading: null }
    const hostAsync = new ivm.Reference<HostAsyncFunction>(async (op, arg) => {
      // applySyncPromise takes no result options: pieces go as an ExternalCopy copied into the guest
      const out = pieces(holder.instance === null ? NOT_LOADED : await holder.instance.onHostAsync(op, arg))
      return typeof out === 'string' ? out : new ivm.ExternalCopy(out).copyInto({ release: true }) as unknown as string[]
    })
    const hostSync = new ivm.Reference<HostFunction>((op, arg) => {
      return pieces(holder.instance === null ? NOT_LOADED : holder.instance.onHostSync(op, arg))
    })
    const hostRefs = [hostAsync, hostSync]
    try {
      const loaded = await load(isolate, hostAsync, hostSync, source, filename, limits, holder)
      const instance = new IsolateInstance({ isolate, hostRefs, limits, ...loaded })
      holder.instance = instance
      return instance
    } catch (err) {
      const fault = holder.loading?.fault ?? null
      if (!isolate.isDisposed) isolate.dispose()
      for (const ref of hostRefs) ref.release()
      throw classifyLoadError(err, fault, filename, limits)
    }
  }

  /**
   * Fast path: enters the guest synchronously (applySync), answering its reads from
   * a per-entry cache; a read the cache lacks is fetched from the index and the entry
   * re-run from the start. Resolves the guest's answer, or tells the caller to use
   * the async path (`runAsync`, on a new instance if this one was reset). Rejects like
   * runAsync. Deterministic: a re-run sees the same op, ack, seed and reads.
   */
  async runFast (ctx: EntryContext, args: EntryArgs, prefetch: string[] | null = null): Promise<FastOutcome> {
    const r = newRunning(ctx, this.isolate)
    r.fast = true
    this.running = r
    let spent = 0
    try {
      if (prefetch !== null) await this.prefetch(r, prefetch)
      for (let round = 0; round < MAX_FAST_ROUNDS; round++) {
        r.miss = null
        r.used.length = 0
        const budget = Math.max(1, Math.ceil(this.limits.timeoutMs - spent))
        const start = performance.now()
        let out: string
        try {
          this.refs.begin.applySync(undefined, guestArgs(args), { timeout: budget, arguments: COPY_ARGS })
          // begin's own timeout covered the microtasks too; take only reads a variable.
          out = this.refs.take.applySync(undefined, [])
        } catch (err) {
          if (this.abandoned(err, r, round)) return { done: false, reason: 'reset' }
          throw this.classifyRunError(err, r)
        } finally {
          spent += performance.now() - start
        }
        if (r.hostError !== undefined) throw r.hostError
        if (out === DEFERRED || out === UNFINISHED) {
          const miss = missOf(r)
          if (miss === null) {
            // Waiting for a promise that does not settle at once: only the async path can wait.
            this.refs.abort.applySync(undefined, [])
            return { done: false, reason: 'pending' }
          }
          const key = miss.op + '\0' + miss.arg
          r.cache.set(key, await this.read(r, key))
          if (spent > this.limits.timeoutMs) break
          continue
        }
        return { done: true, out, slow: spent > FAST_SLICE_MS, reads: r.used.slice() }
      }
      this.refs.abort.applySync(undefined, [])
      return { done: false, reason: spent > this.limits.timeoutMs ? 'budget' : 'rounds' }
    } finally {
      this.running = null
    }
  }

  /**
   * Batch entry: opens the run in the guest, then starts its ops one by one, each in
   * its own synchronous call (so each op's microtasks finish before the next starts,
   * and each op has the CPU limit of an entry), answering reads from what `prefetch`
   * read beforehand; a read the host lacks ends the run in the guest (it reports
   * where). The first op always starts; no later op starts after the run slice
   * (limits.runSliceMs). Rejects like runAsync on a limit (the
   * isolate is then disposed): the caller re-runs the ops one by one.
   */
  async runBatch (ctx: EntryContext, payload: string, prefetch: string[]): Promise<BatchOutcome> {
    const r = newRunning(ctx, this.isolate)
    r.fast = true
    this.running = r
    try {
      if (prefetch.length > 0) await this.prefetch(r, prefetch)
      let out: string
      try {
        const opts = { timeout: this.limits.timeoutMs }
        this.refs.batchOpen.applySync(undefined, [pieces(payload)], { ...opts, arguments: COPY_ARGS })
        const slice = this.limits.runSliceMs
        const t0 = performance.now()
        let status = this.refs.batchStep.applySync(undefined, [true], opts)
        while (status === 'go') status = this.refs.batchStep.applySync(undefined, [performance.now() - t0 < slice], opts)
        out = this.refs.batchTake.applySync(undefined, [])
      } catch (err) {
        throw this.classifyRunError(err, r)
      }
      if (r.hostError !== undefined) throw r.hostError
      return { out, miss: r.miss === null ? null : r.miss.op + '\0' + r.miss.arg, reads: r.used.slice() }
    } finally {
      this.running = null
    }
  }

  /**
   * Calls entry: runs several calls of one caller (`ctx.caller`) synchronously, in
   * rounds: a call that needed a read the host lacked is run again in the next round,
   * once the host has read it. Resolves each call's answer (parsed guest JSON: a
   * result `{ o, r }` or an error `{ x }`), or null for a call the caller must run on
   * its own (one that waited for a promise, the ones after it, and any still short
   * of reads after MAX_FAST_ROUNDS). Rejects like runAsync on a limit (the isolate is
   * then disposed): the caller then runs each call on its own.
   */
  async runCalls (ctx: EntryContext, calls: Array<[method: string, params: string]>, prefetch: string[]): Promise<Array<CallAnswer | null>> {
    const caller = ctx.caller as CallContext
    const r = newRunning(ctx, this.isolate)
    r.fast = true
    this.running = r
    const answers: Array<CallAnswer | null> = new Array(calls.length).fill(null)
    let todo = calls.map((_, i) => i)
    try {
      if (prefetch.length > 0) await this.prefetch(r, prefetch)
      for (let round = 0; round < MAX_FAST_ROUNDS && todo.length > 0; round++) {
        const payload = '[' + todo.map(i => '[' + JSON.stringify(calls[i]![0]) + ',' + JSON.stringify(calls[i]![1]) + ']').join(',') + ']'
        r.misses.length = 0
        let out: string
        try {
          this.refs.begin.applySync(undefined, guestArgs(['calls', '', payload, caller.isWriter === true, caller.oplog ?? null, 0]), { timeout: this.limits.timeoutMs, arguments: COPY_ARGS })
          out = this.refs.take.applySync(undefined, [])
        } catch (err) {
          throw this.classifyRunError(err, r)
        }
        if (r.hostError !== undefined) throw r.hostError
        const answer = decodeCallsAnswer(out)
        if (answer === null) throw new Error('the guest runtime answered a calls entry in a malformed answer')
        const again: number[] = []
        answer.r.forEach((a, j) => { const at = todo[j]!; if (a === 0) again.push(at); else answers[at] = a })
        if (answer.s === 'pending') {
          this.refs.abort.applySync(undefined, [])
          break
        }
        for (const key of new Set(r.misses)) r.cache.set(key, await this.read(r, key))
        todo = again
      }
      return answers
    } finally {
      this.running = null
    }
  }

  /**
   * Whether a failed fast attempt proves nothing (the isolate is then disposed and the
   * entry goes to the async path): an attempt that had deferred a read ran on made-up
   * input, and a later round had less than the full CPU budget. Only a whole run with
   * every read answered is a verdict.
   */
  private abandoned (err: unknown, r: Running, round: number): boolean {
    if (r.fault !== null) return false
    const memory = /memory limit/i.test(errorMessage(err))
    if (r.miss === null && (memory || round === 0)) return false
    this.close()
    return true
  }

  /**
   * Fast path: reads what the guest asked for (`op + '\0' + arg`), unless the watchdog
   * or close() gets there first.
   */
  private async read (r: Running, key: string): Promise<HostAnswer> {
    const sep = key.indexOf('\0')
    const op = key.slice(0, sep)
    if (r.ctx === null) return hostRefusal('no entry is running')
    if (!isHostOp(op)) return UNKNOWN_CALL
    this.startWatchdog()
    return await Promise.race([this.answer(r.ctx, op, key.slice(sep + 1)), this.killSignal(r)])
  }

  /**
   * Fast path: reads what the previous runs of this entry read, all at once, so that
   * the first attempt usually needs no re-run. A failed read is left out (the
   * contract may not even make it this time); a disposal still ends the entry.
   */
  private async prefetch (r: Running, keys: string[]): Promise<void> {
    await Promise.all(keys.map(async key => {
      try {
        r.cache.set(key, await this.read(r, key))
      } catch (err) {
        if (this.isolate.isDisposed) throw err
      }
    }))
  }

  private killSignal (r: Running): Promise<never> {
    if (r.killed === null) {
      r.killed = new Promise<never>((_resolve, reject) => {
        r.wake = () => {
          r.wake = null
          reject(this.classifyRunError(new Error('the isolate was disposed'), r))
        }
      })
      r.killed.catch(noop)
    }
    return r.killed
  }

  /**
   * Async path: runs one entry on isolated-vm's thread pool and returns the guest's
   * answer string. Only the watchdog bounds it: isolated-vm's own `timeout` stops
   * covering a call after its first await on a pending promise, and with a timeout
   * set, promises that settle in a later task (WebAssembly.compile) never settle.
   * Rejects with
   * ContractTimeoutError / ContractMemoryError (the isolate is then disposed),
   * ClosedError, or the host's own error if an index read failed.
   */
  async runAsync (ctx: EntryContext, args: EntryArgs): Promise<string> {
    const r = newRunning(ctx, this.isolate)
    this.running = r
    this.startWatchdog()
    let out: string
    try {
      // isolated-vm awaits the guest's promise (its types cannot say what that yields)
      const answer: unknown = await this.refs.entry.apply(undefined, guestArgs(args), { arguments: COPY_ARGS, result: { promise: true } })
      if (typeof answer !== 'string') throw new Error('the guest runtime answered an entry with a non-string')
      out = answer
    } catch (err) {
      throw this.classifyRunError(err, r)
    } finally {
      this.running = null
    }
    if (r.hostError !== undefined) throw r.hostError
    return out
  }

  /** Disposes of the isolate (a synchronous handle: see src/lifecycle/resource.ts); a running entry rejects with ClosedError. Idempotent. */
  close (): void {
    const r = this.running
    if (r !== null && r.fault === null) r.fault = 'closed'
    if (r !== null && r.wake !== null) r.wake()
    this.stopWatchdog()
    if (!this.isolate.isDisposed) this.isolate.dispose()
    for (const ref of this.hostRefs) releaseRef(ref)
  }

  private classifyRunError (err: unknown, r: Running): Error {
    const message = errorMessage(err)
    if (r.fault === 'closed') return new ClosedError('sandbox')
    if (r.fault === 'cpu' || r.fault === 'wall' || /timed out/i.test(message)) {
      this.close()
      return timeoutError(r.fault === 'wall' ? 'wall' : 'cpu', this.limits, 'entry')
    }
    if (/memory limit/i.test(message) || this.isolate.isDisposed) {
      this.close()
      return new ContractMemoryError(`The contract exceeded its memory limit of ${this.limits.memoryMb} MiB; its isolate was reset`)
    }
    this.close()
    return new ContractRuntimeError(`The sandbox failed: ${message}`)
  }

  private startWatchdog (): void {
    if (this.timer !== null) return
    this.timer = setInterval(() => this.tick(), watchdogInterval(this.limits))
  }

  private stopWatchdog (): void {
    if (this.timer === null) return
    clearInterval(this.timer)
    this.timer = null
  }

  private tick (): void {
    const r = this.running
    if (r === null || this.isolate.isDisposed) { this.stopWatchdog(); return }
    const fault = overLimit(this.isolate, r, this.limits)
    if (fault !== null) {
      r.fault = fault
      this.stopWatchdog()
      this.isolate.dispose()
      if (r.wake !== null) r.wake()
    }
  }

  /** Async path: answers a guest's request (a value, or a refusal). Never throws. */
  private async onHostAsync (op: string, arg: string): Promise<HostAnswer> {
    const r = this.running
    if (r === null || r.ctx === null) return hostRefusal('no entry is running')
    if (!isHostOp(op)) return UNKNOWN_CALL
    const refusal = refuse(r.ctx, op)
    if (refusal !== null) return refusal
    try {
      return await this.answer(r.ctx, op, arg)
    } catch (err) {
      // A failing read is the host's problem, not the contract's: the entry fails with
      // this error whatever the contract does with the exception it sees.
      if (r.hostError === undefined) r.hostError = err
      return hostRefusal('the host could not complete an index read')
    }
  }

  /** Fast path: answers from the entry's cache, or NOT_READ after noting the miss. */
  private onHostSync (op: string, arg: string): HostAnswer {
    const r = this.running
    if (r === null || r.ctx === null) return hostRefusal('no entry is running')
    if (!isHostOp(op)) return UNKNOWN_CALL
    const refusal = refuse(r.ctx, op)
    if (refusal !== null) return refusal
    if (op === 'uuid') return hostValue('"' + randomUUID() + '"')
    if (isPureOp(op)) return pureCall(op, arg)
    if (op === 'has' && r.ctx.index.has === undefined) return NO_HAS
    const key = op + '\0' + arg
    const hit = r.cache.get(key)
    if (hit !== undefined) {
      r.used.push(key)
      return hit
    }
    if (r.miss === null) r.miss = { op, arg }
    r.misses.push(key)
    return NOT_READ
  }

  /** Reads what the guest asked for from the entry's index or caller. Throws the host's errors. */
  private async answer (ctx: EntryContext, op: HostOp, arg: string): Promise<HostAnswer> {
    switch (op) {
      case 'get':
        return hostValue(JSON.stringify(await ctx.index.get(arg)) ?? 'null')
      case 'has': {
        const has = ctx.index.has
        if (has === undefined) return NO_HAS
        return hostValue((await has.call(ctx.index, arg)) ? 'true' : 'false')
      }
      case 'list': {
        const a = decodeListArg(arg)
        if (a === null) return MALFORMED
        return hostValue(JSON.stringify(await ctx.index.list(a.dir, a.opts)) ?? '[]')
      }
      case 'oplogs':
      case 'oplen':
      case 'opget': {
        const caller = ctx.caller
        if (caller === null) return refusedCaller(ctx, op)
        if (op === 'oplogs') return hostValue(JSON.stringify(await caller.listOplogs()) ?? '[]')
        if (op === 'oplen') return hostValue(String(await caller.oplogLength(arg)))
        const a = decodeOpgetArg(arg)
        if (a === null) return MALFORMED
        return hostValue(JSON.stringify(await caller.oplogGet(a[0], a[1])) ?? 'null')
      }
      case 'uuid':
        return hostValue('"' + randomUUID() + '"')
      case 'sha256':
      case 'verify':
      case 'oplogkey':
      case 'seed':
        return pureCall(op, arg)
      default:
        return unreachable(op, 'host call')
    }
  }
}

const UNKNOWN_CALL = hostRefusal('unknown host call')
const NOT_LOADED = hostRefusal('the index is not readable while the contract module loads')
const NO_HAS = hostRefusal('no existence checks in this entry')
const MALFORMED = hostRefusal('malformed host call')

/** The read the last fast attempt deferred (set by the host function during applySync). */
function missOf (r: Running): { op: HostOp, arg: string } | null {
  return r.miss
}

/** Host calls the entry's kind does not allow (a refusal), or null. */
function refuse (ctx: EntryContext, op: HostOp): HostAnswer | null {
  if (isCallerOp(op) && ctx.caller === null) return refusedCaller(ctx, op)
  if (op === 'uuid' && (ctx.kind === 'apply' || ctx.kind === 'batch')) return hostRefusal('no host randomness in apply')
  if (op === 'has' && ctx.kind !== 'batch') return UNKNOWN_CALL
  return null
}

function refusedCaller (ctx: EntryContext, op: CallerOp): HostAnswer {
  return hostRefusal(`${callerOpName(op)} is not available in ${ctx.kind === 'batch' ? 'apply' : ctx.kind}`)
}

/**
 * Deterministic helpers the guest's `util` module offers in every mode (same
 * input, same output on every machine): sha256, ed25519 signature checks, and
 * the key of the oplog an ed25519 key signs. Computed on the host with the
 * project's own pure hashing module (src/proofs/crypto/hypercore-crypto.ts, a leaf).
 */
const HEX = /^(?:[0-9a-f]{2})*$/
const HEX64 = /^[0-9a-f]{64}$/
const HEX128 = /^[0-9a-f]{128}$/

function pureCall (op: PureOp, arg: string): HostAnswer {
  try {
    const a = decodeArgList(arg)
    if (a === null) return MALFORMED
    switch (op) {
      case 'sha256':
        return hostValue('"' + createHash('sha256').update(bytesOf(a[0], a[1])).digest('hex') + '"')
      case 'seed':
        if (typeof a[0] !== 'string') return hostRefusal('the seed text must be a string')
        return hostValue(JSON.stringify(seedWords(a[0])))
      case 'verify': {
        const [pub, msg, enc, sig] = a
        if (typeof pub !== 'string' || typeof sig !== 'string' || !HEX64.test(pub) || !HEX128.test(sig)) return hostValue('false')
        return hostValue(ed25519Verify(Buffer.from(pub, 'hex'), bytesOf(msg, enc), Buffer.from(sig, 'hex')) ? 'true' : 'false')
      }
      case 'oplogkey': {
        const pub = a[0]
        if (typeof pub !== 'string' || !HEX64.test(pub)) return hostRefusal('oplogKeyFor: the public key must be 64 hex characters')
        return hostValue('"' + manifestKey({ publicKey: Buffer.from(pub, 'hex'), namespace: DEFAULT_NAMESPACE }).toString('hex') + '"')
      }
      default:
        return unreachable(op, 'pure host call')
    }
  } catch (err) {
    return hostRefusal(errorMessage(err))
  }
}

function bytesOf (data: unknown, encoding: unknown): Buffer {
  if (typeof data !== 'string') throw new TypeError('data must be a string')
  if (encoding === 'hex') {
    if (!HEX.test(data)) throw new TypeError('not a hex string')
    return Buffer.from(data, 'hex')
  }
  return Buffer.from(data, 'utf8')
}

function noop (): void {}

/** Release a host reference; after the isolate is disposed isolated-vm may say it is already gone, which is the goal anyway. */
function releaseRef (ref: { release (): void }): void {
  try {
    ref.release()
  } catch (err) {
    if (!(err instanceof Error)) throw err
  }
}

/** The watchdog's verdict for a running entry. */
function overLimit (isolate: ivm.Isolate, r: Running, limits: ResolvedLimits): Fault {
  // A fast-path entry is only ever waiting here: its CPU is bounded per attempt.
  if (r.fast) return performance.now() - r.wall0 > limits.wallTimeoutMs ? 'wall' : null
  const cpuMs = Number(isolate.cpuTime - r.cpu0) / 1e6
  if (cpuMs > limits.timeoutMs) return 'cpu'
  if (performance.now() - r.wall0 > limits.wallTimeoutMs) return 'wall'
  return null
}

async function load (
  isolate: ivm.Isolate,
  hostAsync: ivm.Reference<HostAsyncFunction>,
  hostSync: ivm.Reference<HostFunction>,
  source: string,
  filename: string,
  limits: ResolvedLimits,
  holder: { loading: Running | null }
): Promise<{ refs: GuestRefs, info: ContractInfo }> {
  const context = await isolate.createContext()
  const sources = guestSources()
  const sys = await isolate.compileModule(sources.sys, { filename: SYS_SPECIFIER })
  await sys.instantiate(context, refuseImport)
  const runtime = await isolate.compileModule(sources.runtime, { filename: RUNTIME_SPECIFIER })
  await runtime.instantiate(context, (specifier) => {
    if (specifier === SYS_SPECIFIER) return sys
    return refuseImport(specifier)
  })
  await runtime.evaluate({ timeout: limits.timeoutMs })
  const exported = async <K extends keyof GuestExports>(name: K): Promise<ivm.Reference<GuestExports[K]>> => {
    const ref = await runtime.namespace.get(name, { reference: true })
    if (ref.typeof !== 'function') throw new Error(`the guest runtime does not export the function ${name}`)
    return ref
  }
  const init = await exported('init')
  await init.apply(undefined, [hostAsync, hostSync, ...INIT_SEED], { timeout: limits.timeoutMs })
  const refs: GuestRefs = {
    entry: await exported('entry'),
    begin: await exported('begin'),
    take: await exported('take'),
    abort: await exported('abort'),
    batchOpen: await exported('batchOpen'),
    batchStep: await exported('batchStep'),
    batchTake: await exported('batchTake')
  }
  const bind = await exported('bind')

  const modules = new Map<string, ivm.Module>([[RUNTIME_SPECIFIER, runtime]])
  for (const name of GUEST_MODULE_NAMES) modules.set(name, await isolate.compileModule(sources.modules[name], { filename: `vitra:${name}` }))
  const user = await compileContract(isolate, source, filename)
  await user.instantiate(context, (specifier) => {
    const m = modules.get(specifier)
    if (m === undefined) throw new Error(`cannot import ${specifier}`)
    return m
  })
  await evaluateGuarded(isolate, user, limits, holder)
  const parsed = decodeBindAnswer(await bind.apply(undefined, [user.namespace.derefInto()], { timeout: limits.timeoutMs }))
  if (parsed === null) throw new Error('the guest runtime described the contract module in a malformed answer')
  if (parsed.problem !== null) throw new ContractParseError(`Invalid contract: ${parsed.problem}`)
  return { refs, info: { methods: parsed.methods, hasProcess: parsed.hasProcess } }
}

function refuseImport (specifier: string): never {
  throw new Error(`cannot import ${specifier}`)
}

/** Compiles the contract module; syntax errors and foreign imports become ContractParseError. */
async function compileContract (isolate: ivm.Isolate, source: string, filename: string): Promise<ivm.Module> {
  let user: ivm.Module
  try {
    user = await isolate.compileModule(source, { filename })
  } catch (err) {
    const { message, pos } = splitPosition(errorMessage(err))
    throw new ContractParseError(`${errorName(err)}: ${message}${pos.line !== undefined ? ` (${filename}:${pos.line}:${pos.column ?? 0})` : ''}`, pos)
  }
  const foreign = user.dependencySpecifiers.filter(s => !ALLOWED_IMPORTS.includes(s))
  if (foreign.length > 0) {
    user.release()
    throw new ContractParseError(`The contract imports ${foreign.map(s => JSON.stringify(s)).join(', ')}; a contract may only import ${ALLOWED_IMPORTS.map(s => `'${s}'`).join(', ')}`)
  }
  return user
}

/** Evaluates the contract module's top-level code under the same limits as an entry. */
async function evaluateGuarded (isolate: ivm.Isolate, user: ivm.Module, limits: ResolvedLimits, holder: { loading: Running | null }): Promise<void> {
  const r = newRunning(null, isolate)
  holder.loading = r
  const timer = setInterval(() => {
    if (isolate.isDisposed) return
    const fault = overLimit(isolate, r, limits)
    if (fault !== null) { r.fault = fault; isolate.dispose() }
  }, watchdogInterval(limits))
  try {
    await user.evaluate({ timeout: limits.timeoutMs })
  } finally {
    clearInterval(timer)
  }
}

function classifyLoadError (err: unknown, fault: Fault, filename: string, limits: ResolvedLimits): Error {
  if (err instanceof ContractParseError) return err
  const message = errorMessage(err)
  if (fault === 'cpu' || fault === 'wall' || /timed out/i.test(message)) return timeoutError(fault === 'wall' ? 'wall' : 'cpu', limits, 'load')
  if (/memory limit/i.test(message)) return new ContractMemoryError(`The contract exceeded its memory limit of ${limits.memoryMb} MiB while its module code ran`)
  const pos = positionInStack(err, filename)
  return new ContractParseError(`The contract's module code threw while loading: ${errorName(err)}: ${message}`, pos)
}

function timeoutError (fault: 'cpu' | 'wall', limits: ResolvedLimits, phase: 'entry' | 'load'): ContractTimeoutError {
  const what = phase === 'load' ? "The contract's module code" : 'The contract'
  if (fault === 'wall') return new ContractTimeoutError(`${what} did not finish within the wall-clock limit of ${limits.wallTimeoutMs} ms (a promise that never settles?); its isolate was reset`)
  return new ContractTimeoutError(`${what} exceeded its CPU time limit of ${limits.timeoutMs} ms; its isolate was reset`)
}

function errorMessage (err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

function errorName (err: unknown): string {
  return err instanceof Error && typeof err.name === 'string' ? err.name : 'Error'
}

/** isolated-vm appends ` [file:line:column]` to compile errors. */
function splitPosition (message: string): { message: string, pos: { line?: number, column?: number } } {
  const m = /\s*\[([^\]]*):(\d+):(\d+)\]$/.exec(message)
  if (m === null) return { message, pos: {} }
  return { message: message.slice(0, m.index), pos: { line: Number(m[2]), column: Number(m[3]) } }
}

function positionInStack (err: unknown, filename: string): { line?: number, column?: number } {
  const stack = err instanceof Error && typeof err.stack === 'string' ? err.stack : ''
  const escaped = filename.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const m = new RegExp(`${escaped}:(\\d+):(\\d+)`).exec(stack)
  return m === null ? {} : { line: Number(m[1]), column: Number(m[2]) }
}
