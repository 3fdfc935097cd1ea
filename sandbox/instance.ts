import ivm from 'isolated-vm'
import { createHash, randomUUID } from 'node:crypto'
import {
  ContractMemoryError,
  ContractParseError,
  ContractRuntimeError,
  ContractTimeoutError,
  ClosedError
} from '../src/errors.js'
import { ASSERT_SOURCE, CONTRACT_SOURCE, GUEST_MODULE_NAMES, RUNTIME_SOURCE, RUNTIME_SPECIFIER, UTIL_SOURCE } from './guest-modules.js'
import { watchdogInterval, type ResolvedLimits } from './limits.js'
import type { CallContext, IndexReader, ListOptions } from './types.js'

/** What an entry into the isolate is for. */
export type EntryKind = 'call' | 'process' | 'apply'

/** Host-side view of one entry: where its reads go and who the caller is. */
export interface EntryContext {
  kind: EntryKind
  index: IndexReader
  /** The caller, for `call` entries only. */
  caller: CallContext | null
}

/** Arguments of the guest's `entry` function (primitives only: cheap to transfer). */
export type EntryArgs = [kind: EntryKind, name: string, json: string, writer: boolean, oplog: string | null, ts: number, a: number, b: number, c: number, d: number]

/** What the contract module exports, as found when it was loaded. */
export interface ContractInfo {
  methods: string[]
  hasProcess: boolean
}

type GuestEntry = (...args: EntryArgs) => Promise<string>
type GuestFn = (...args: unknown[]) => string | undefined
type Fault = 'cpu' | 'wall' | 'closed' | null

interface Running {
  ctx: EntryContext | null
  wall0: number
  cpu0: bigint
  fault: Fault
  hostError: unknown
}

const ALLOWED_IMPORTS: readonly string[] = GUEST_MODULE_NAMES
const GUEST_SOURCES: Record<string, string> = { contract: CONTRACT_SOURCE, assert: ASSERT_SOURCE, util: UTIL_SOURCE }

/**
 * Four 32-bit words from sha256(text): the PRNG seed for `apply` (text is
 * `origin + ':' + seq`) and for module initialisation (text is `vitra:init`).
 */
export function seedWords (text: string): [number, number, number, number] {
  const h = createHash('sha256').update(text).digest()
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
  private readonly entryRef: ivm.Reference<GuestEntry>
  private readonly hostRef: ivm.Reference<(op: string, arg: string) => Promise<string>>
  private readonly limits: ResolvedLimits
  private running: Running | null = null
  private timer: NodeJS.Timeout | null = null

  private constructor (parts: { isolate: ivm.Isolate, entryRef: ivm.Reference<GuestEntry>, hostRef: ivm.Reference<(op: string, arg: string) => Promise<string>>, info: ContractInfo, limits: ResolvedLimits }) {
    this.isolate = parts.isolate
    this.entryRef = parts.entryRef
    this.hostRef = parts.hostRef
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
    // The host function needs the instance, which does not exist yet: route through a holder.
    const holder: { instance: IsolateInstance | null, loading: Running | null } = { instance: null, loading: null }
    const hostRef = new ivm.Reference(async (op: string, arg: string): Promise<string> => {
      if (holder.instance !== null) return await holder.instance.onHostCall(op, arg)
      return 'ethe index is not readable while the contract module loads'
    })
    try {
      const loaded = await load(isolate, hostRef, source, filename, limits, holder)
      const instance = new IsolateInstance({ isolate, hostRef, limits, ...loaded })
      holder.instance = instance
      return instance
    } catch (err) {
      const fault = holder.loading?.fault ?? null
      if (!isolate.isDisposed) isolate.dispose()
      hostRef.release()
      throw classifyLoadError(err, fault, isolate, filename, limits)
    }
  }

  /**
   * Runs one entry and returns the guest's answer string. Rejects with
   * ContractTimeoutError / ContractMemoryError (the isolate is then disposed),
   * ClosedError, or the host's own error if an index read failed.
   */
  async run (ctx: EntryContext, args: EntryArgs): Promise<string> {
    const r: Running = { ctx, wall0: performance.now(), cpu0: this.isolate.cpuTime, fault: null, hostError: undefined }
    this.running = r
    this.startWatchdog()
    let out: string
    try {
      out = await this.entryRef.apply(undefined, args, { result: { promise: true }, timeout: this.limits.timeoutMs }) as string
    } catch (err) {
      throw this.classifyRunError(err, r)
    } finally {
      this.running = null
    }
    if (r.hostError !== undefined) throw r.hostError
    return out
  }

  /** Disposes the isolate; a running entry rejects with ClosedError. Idempotent. */
  dispose (): void {
    if (this.running !== null && this.running.fault === null) this.running.fault = 'closed'
    this.stopWatchdog()
    if (!this.isolate.isDisposed) this.isolate.dispose()
    try { this.hostRef.release() } catch {}
  }

  private classifyRunError (err: unknown, r: Running): Error {
    const message = errorMessage(err)
    if (r.fault === 'closed') return new ClosedError('sandbox')
    if (r.fault === 'cpu' || r.fault === 'wall' || /timed out/i.test(message)) {
      this.dispose()
      return timeoutError(r.fault === 'wall' ? 'wall' : 'cpu', this.limits, 'entry')
    }
    if (/memory limit/i.test(message) || this.isolate.isDisposed) {
      this.dispose()
      return new ContractMemoryError(`The contract exceeded its memory limit of ${this.limits.memoryMb} MiB; its isolate was reset`)
    }
    this.dispose()
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
    }
  }

  /** Answers a guest's host call: 'v' + JSON, or 'e' + message. Never throws. */
  private async onHostCall (op: string, arg: string): Promise<string> {
    const r = this.running
    if (r === null || r.ctx === null) return 'eno entry is running'
    const ctx = r.ctx
    try {
      switch (op) {
        case 'get':
          return 'v' + (JSON.stringify(await ctx.index.get(arg)) ?? 'null')
        case 'list': {
          const { prefix, opts } = JSON.parse(arg) as { prefix: string, opts: ListOptions }
          return 'v' + JSON.stringify(await ctx.index.list(prefix, opts))
        }
        case 'oplogs':
          if (ctx.caller === null) return `elistOplogs() is not available in ${ctx.kind}`
          return 'v' + JSON.stringify(await ctx.caller.listOplogs())
        case 'uuid':
          if (ctx.kind === 'apply') return 'eno host randomness in apply'
          return 'v"' + randomUUID() + '"'
        default:
          return 'eunknown host call'
      }
    } catch (err) {
      // A failing read is the host's problem, not the contract's: the entry fails with
      // this error whatever the contract does with the exception it sees.
      if (r.hostError === undefined) r.hostError = err
      return 'ethe host could not complete an index read'
    }
  }
}

/** The watchdog's verdict for a running entry. */
function overLimit (isolate: ivm.Isolate, r: Running, limits: ResolvedLimits): Fault {
  const cpuMs = Number(isolate.cpuTime - r.cpu0) / 1e6
  if (cpuMs > limits.timeoutMs) return 'cpu'
  if (performance.now() - r.wall0 > limits.wallTimeoutMs) return 'wall'
  return null
}

async function load (
  isolate: ivm.Isolate,
  hostRef: ivm.Reference,
  source: string,
  filename: string,
  limits: ResolvedLimits,
  holder: { loading: Running | null }
): Promise<{ entryRef: ivm.Reference<GuestEntry>, info: ContractInfo }> {
  const context = await isolate.createContext()
  const runtime = await isolate.compileModule(RUNTIME_SOURCE, { filename: RUNTIME_SPECIFIER })
  await runtime.instantiate(context, refuseImport)
  await runtime.evaluate({ timeout: limits.timeoutMs })
  const init = await runtime.namespace.get('init', { reference: true }) as ivm.Reference<GuestFn>
  await init.apply(undefined, [hostRef, ...INIT_SEED], { timeout: limits.timeoutMs })
  const entryRef = await runtime.namespace.get('entry', { reference: true }) as ivm.Reference<GuestEntry>
  const bind = await runtime.namespace.get('bind', { reference: true }) as ivm.Reference<GuestFn>

  const modules = new Map<string, ivm.Module>([[RUNTIME_SPECIFIER, runtime]])
  for (const name of ALLOWED_IMPORTS) modules.set(name, await isolate.compileModule(GUEST_SOURCES[name], { filename: `vitra:${name}` }))
  const user = await compileContract(isolate, source, filename)
  await user.instantiate(context, (specifier) => {
    const m = modules.get(specifier)
    if (m === undefined) throw new Error(`cannot import ${specifier}`)
    return m
  })
  await evaluateGuarded(isolate, user, limits, holder)
  const infoJson = await bind.apply(undefined, [user.namespace.derefInto()], { timeout: limits.timeoutMs }) as string
  const parsed = JSON.parse(infoJson) as ContractInfo & { problem: string | null }
  if (parsed.problem !== null) throw new ContractParseError(`Invalid contract: ${parsed.problem}`)
  return { entryRef, info: { methods: parsed.methods, hasProcess: parsed.hasProcess } }
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
  const r: Running = { ctx: null, wall0: performance.now(), cpu0: isolate.cpuTime, fault: null, hostError: undefined }
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

function classifyLoadError (err: unknown, fault: Fault, isolate: ivm.Isolate, filename: string, limits: ResolvedLimits): Error {
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
