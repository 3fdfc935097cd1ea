/**
 * The protocol between the host (sandbox/instance.ts, contract-sandbox.ts) and the
 * guest runtime inside each contract's isolate (sandbox/guest/runtime.js): every
 * request, answer and entry, named once. The host imports it; the guest imports its
 * types (JSDoc `import('../protocol.js')`), so this file is checked under both
 * configs and imports nothing (ECMAScript only: no Node types).
 *
 * Strings cross the boundary, not objects: isolated-vm copies a string cheaply, and
 * an answer the host parses is checked here (decode*) before it is used.
 *
 * Guest → host, during an entry: `[op, arg]` through the host references; the host
 * answers `'v' + JSON` (a value), `'e' + message` (a refusal the contract sees as an
 * Error) or, on the fast path only, `'?'` (not read yet: the guest abandons the
 * attempt and the host runs it again once it has read the value).
 */

/** Index reads: the entry's view of the index. `has` exists for batch entries only. */
export type IndexOp = 'get' | 'has' | 'list'
/** The caller's view of the oplogs (calls only). */
export type CallerOp = 'oplogs' | 'oplen' | 'opget'
/** Deterministic helpers, answered in every mode and never deferred. */
export type PureOp = 'sha256' | 'verify' | 'oplogkey' | 'seed'
/** Every request the guest makes of the host. `uuid`: host randomness (not in apply). */
export type HostOp = IndexOp | CallerOp | PureOp | 'uuid'

/**
 * The argument of each request as the guest encodes it (`arg` is this, or its JSON
 * text where it is not a string).
 */
export interface HostOpArgs {
  /** The stored key. */
  get: string
  /** The stored key. */
  has: string
  /** JSON `{ dir, opts }`: the folder's stored key and the listing options. */
  list: { dir: string, opts: { reverse?: boolean, offset?: number, limit?: number } }
  /** Nothing (''). */
  oplogs: ''
  /** The oplog's key (hex). */
  oplen: string
  /** JSON `[key hex, seq]`. */
  opget: [hex: string, seq: number]
  /** Nothing (''). */
  uuid: ''
  /** JSON `[data, encoding]`. */
  sha256: [data: string, encoding: string]
  /** JSON `[publicKey, message, encoding, signature]`. */
  verify: [publicKey: string, message: string, encoding: string, signature: string]
  /** JSON `[publicKey]`. */
  oplogkey: [publicKey: string]
  /** JSON `[text]`: the PRNG seed text of an apply (`origin + ':' + seq`). */
  seed: [text: string]
}

const CALLER_OP_NAMES: Readonly<Record<CallerOp, string>> = { oplogs: 'listOplogs()', oplen: 'oplog.getLength()', opget: 'oplog.get()' }
const PURE_OPS: ReadonlySet<string> = new Set<PureOp>(['sha256', 'verify', 'oplogkey', 'seed'])
const HOST_OPS: ReadonlySet<string> = new Set<HostOp>(['get', 'has', 'list', 'oplogs', 'oplen', 'opget', 'uuid', 'sha256', 'verify', 'oplogkey', 'seed'])

/** Whether a guest's request names an op of this protocol. */
export function isHostOp (op: string): op is HostOp { return HOST_OPS.has(op) }
export function isPureOp (op: HostOp): op is PureOp { return PURE_OPS.has(op) }
export function isCallerOp (op: HostOp): op is CallerOp { return op in CALLER_OP_NAMES }
/** What the contract called to make a caller op (for refusals). */
export function callerOpName (op: CallerOp): string { return CALLER_OP_NAMES[op] }

/** The host's answer to a request. */
export type HostAnswer = `v${string}` | `e${string}` | typeof NOT_READ
/** Fast path: the host has not read this yet. */
export const NOT_READ = '?'
/** A value answer, from its JSON text. */
export function hostValue (json: string): HostAnswer { return `v${json}` }
/** A refusal the contract sees as an Error with this message. */
export function hostRefusal (message: string): HostAnswer { return `e${message}` }

/** For exhaustive switches: a value the types say cannot exist. */
export function unreachable (value: never, what: string): never {
  throw new Error(`unknown ${what}: ${String(value)}`)
}

// ---------------------------------------------------------------- entries (host → guest)

/** What an entry into the isolate is for ('batch': a run of applies, 'calls': several calls of one caller). */
export type EntryKind = 'call' | 'process' | 'apply' | 'batch' | 'calls'

/**
 * Arguments of the guest's `entry` and `begin`: the payload `json` may come in
 * pieces of under 1 KiB (see pieces() in instance.ts), which the guest joins.
 */
export type GuestArgs = [kind: EntryKind, name: string, json: string | string[], writer: boolean, oplog: string | null, ts: number]

/** Why a batch entry ended before its last op. */
export type BatchStop = 'pending' | 'read' | 'sync' | 'system' | 'slice'
/** What `batchStep` says: the next op started, none left, or why the entry ends. */
export type BatchStatus = 'go' | 'done' | BatchStop

/**
 * An entry's answer (`entry`, `take`): the result's JSON text, `'!'` + GuestError
 * JSON when the contract failed, `'?'` when a read was deferred (fast path), `'~'`
 * while the entry has not finished (fast path).
 */
export type EntryAnswer = string
/** First character of an EntryAnswer that carries a GuestError. */
export const FAILED = '!'
/** A fast-path entry's answer when it deferred a read. */
export const DEFERRED = '?'
/** A fast-path entry's answer when it still waits for a promise. */
export const UNFINISHED = '~'

/** Functions of the host the guest calls (isolated-vm references). */
export type HostFunction = (op: string, arg: string) => string | string[]
export type HostAsyncFunction = (op: string, arg: string) => Promise<string | string[]>

/** The exports of `vitra:runtime` the host calls. */
export interface GuestExports {
  /** Once, right after the runtime is evaluated: the host references and the PRNG seed of module initialisation. */
  init (host: unknown, hostSync: unknown, a: number, b: number, c: number, d: number): void
  /** Once, after the contract module evaluated: records its namespace; a BindAnswer as JSON. */
  bind (namespace: object): string
  /** Async path: one entry (EntryAnswer). */
  entry (...args: GuestArgs): Promise<EntryAnswer>
  /** Fast path: starts an entry synchronously; `take` reads its answer. */
  begin (...args: GuestArgs): void
  take (): EntryAnswer
  /** Fast path: drops the open entry. */
  abort (): void
  /** Batch entry: JSON `[[op, origin, seq, ts, height | null, metadata], ...]`, maybe in pieces. */
  batchOpen (payload: string | string[]): void
  batchStep (more: boolean): BatchStatus
  /** A BatchAnswer as JSON; closes the batch entry. */
  batchTake (): string
}
/** The names of GuestExports, for loading them. */
export const GUEST_EXPORTS = ['init', 'bind', 'entry', 'begin', 'take', 'abort', 'batchOpen', 'batchStep', 'batchTake'] as const satisfies ReadonlyArray<keyof GuestExports>

// ---------------------------------------------------------------- answers (guest → host)

/** A contract's failure as the guest describes it. */
export interface GuestError { name: string, message: string, stack: string }
/** A call's result: the ops it emitted and its return value (absent: undefined). */
export interface CallOutcome { o: unknown[], r?: unknown }
/** One call's answer in a calls entry: its result, or the error it threw. */
export type CallAnswer = CallOutcome | { x: GuestError }
/** A calls entry's answer: per call its answer, or 0 (needs a read: run it again). */
export interface CallsAnswer { r: Array<CallAnswer | 0>, s: 'done' | 'pending' }
/** One op's answer in a batch entry: its actions and index changes, or its error. */
export type ApplyAnswer = { a: unknown, n: number } | { x: GuestError }
/** A batch entry's answer: the ops it finished, and why it ended. */
export interface BatchAnswer { r: ApplyAnswer[], s: 'done' | BatchStop }
/** What `bind` found in the contract module. */
export interface BindAnswer { methods: string[], hasProcess: boolean, problem: string | null }

const BATCH_ENDS: ReadonlySet<unknown> = new Set<BatchAnswer['s']>(['done', 'pending', 'read', 'sync', 'system', 'slice'])
function isBatchEnd (v: unknown): v is BatchAnswer['s'] { return BATCH_ENDS.has(v) }
function isString (v: unknown): v is string { return typeof v === 'string' }

function isRecord (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function parse (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A GuestError, or null when `v` is not one. */
export function asGuestError (v: unknown): GuestError | null {
  if (!isRecord(v) || typeof v.name !== 'string' || typeof v.message !== 'string' || typeof v.stack !== 'string') return null
  return { name: v.name, message: v.message, stack: v.stack }
}

/** A call's result, or null when `v` is not one. */
export function asCallOutcome (v: unknown): CallOutcome | null {
  if (!isRecord(v) || !Array.isArray(v.o)) return null
  return 'r' in v ? { o: v.o, r: v.r } : { o: v.o }
}

/** The `{ x: error }` answer of a call or op that failed, or null when it is malformed. */
function asFailure (v: Record<string, unknown>): { x: GuestError } | null {
  const x = asGuestError(v.x)
  return x === null ? null : { x }
}

/** Every item as `as` reads it, or null when one is malformed. */
function asEvery<T> (items: unknown[], as: (v: unknown) => T | null): T[] | null {
  const out: T[] = []
  for (const item of items) {
    const a = as(item)
    if (a === null) return null
    out.push(a)
  }
  return out
}

function asCallAnswer (v: unknown): CallAnswer | 0 | null {
  if (v === 0) return 0
  if (isRecord(v) && 'x' in v) return asFailure(v)
  return asCallOutcome(v)
}

function asApplyAnswer (v: unknown): ApplyAnswer | null {
  if (!isRecord(v)) return null
  if ('x' in v) return asFailure(v)
  const n = v.n
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return null
  return { a: v.a, n }
}

/** The GuestError in a failed EntryAnswer (`'!' + JSON`), or null when it is malformed. */
export function decodeGuestError (answer: EntryAnswer): GuestError | null {
  return asGuestError(parse(answer.slice(1)))
}

/** A call entry's result, or null when the answer is malformed. */
export function decodeCallOutcome (answer: EntryAnswer): CallOutcome | null {
  return asCallOutcome(parse(answer))
}

/** A calls entry's answer, or null when it is malformed. */
export function decodeCallsAnswer (answer: EntryAnswer): CallsAnswer | null {
  const v = parse(answer)
  if (!isRecord(v) || !Array.isArray(v.r) || (v.s !== 'done' && v.s !== 'pending')) return null
  const r = asEvery(v.r, asCallAnswer)
  return r === null ? null : { r, s: v.s }
}

/** A batch entry's answer, or null when it is malformed. */
export function decodeBatchAnswer (answer: string): BatchAnswer | null {
  const v = parse(answer)
  if (!isRecord(v) || !Array.isArray(v.r) || !isBatchEnd(v.s)) return null
  const r = asEvery(v.r, asApplyAnswer)
  return r === null ? null : { r, s: v.s }
}

/** What bind found, or null when its answer is malformed. */
export function decodeBindAnswer (answer: string): BindAnswer | null {
  const v = parse(answer)
  if (!isRecord(v) || !Array.isArray(v.methods) || typeof v.hasProcess !== 'boolean') return null
  const methods = v.methods.filter(isString)
  if (methods.length !== v.methods.length || (v.problem !== null && !isString(v.problem))) return null
  return { methods, hasProcess: v.hasProcess, problem: v.problem }
}

// ---------------------------------------------------------------- request arguments (guest → host)

/** A `list` request's argument, or null when it is malformed. */
export function decodeListArg (arg: string): HostOpArgs['list'] | null {
  const v = parse(arg)
  if (!isRecord(v) || typeof v.dir !== 'string' || !isRecord(v.opts)) return null
  const { reverse, offset, limit } = v.opts
  const opts: HostOpArgs['list']['opts'] = {}
  if (reverse !== undefined) {
    if (typeof reverse !== 'boolean') return null
    opts.reverse = reverse
  }
  if (offset !== undefined) {
    if (!isCount(offset)) return null
    opts.offset = offset
  }
  if (limit !== undefined) {
    if (!isCount(limit)) return null
    opts.limit = limit
  }
  return { dir: v.dir, opts }
}

/** An `opget` request's argument, or null when it is malformed. */
export function decodeOpgetArg (arg: string): HostOpArgs['opget'] | null {
  const v = parse(arg)
  if (!Array.isArray(v) || typeof v[0] !== 'string' || !isCount(v[1])) return null
  return [v[0], v[1]]
}

/** A pure op's arguments (a JSON array; each helper checks its own), or null when malformed. */
export function decodeArgList (arg: string): unknown[] | null {
  const v = parse(arg)
  return Array.isArray(v) ? v : null
}

function isCount (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}
