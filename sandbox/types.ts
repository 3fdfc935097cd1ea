/**
 * The contract between the host (executor, verifier, Database) and the contract
 * runtime. Values crossing the boundary are plain JSON values.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Limits applied to each isolate and each entry into it. */
export interface SandboxLimits {
  /** Isolate heap limit in MiB (default 64). Exceeding it fails the entry; the isolate is recreated. */
  memoryMb?: number
  /** CPU time per entry in ms (default 500). Exceeding it fails the entry; the isolate is recreated. */
  timeoutMs?: number
  /** Wall-clock bound per entry in ms, for promises that never settle (default 10 × timeoutMs, at least 5000). */
  wallTimeoutMs?: number
  /**
   * Wall-clock ms after which a run of ops (`applyRun`) starts no new op; the rest
   * goes to the next entry (default 4). It decides only where runs split, never a result.
   */
  runSliceMs?: number
}

/** An index entry as the host hands it to the guest: its stored key (path segments joined by NUL), seq and value. */
export interface IndexEntry { key: string, seq: number, value: Json }

/** Options of `index.list(path, opts)` inside a contract (Vitra's). */
export interface ListOptions { reverse?: boolean, offset?: number, limit?: number }

/** One item of a folder listing: an entry, a sub-folder (`container`), or both (see src/format/shallow-list.ts). */
export interface ListedItem { key: string, seq?: number, value?: Json, container: boolean }

/** Read access to the index, given by the host for one entry. Keys are stored keys (src/format/paths.ts). */
export interface IndexReader {
  /** The entry at `key`, or null when absent. */
  get (key: string): Promise<{ seq: number, value: Json } | null>
  /** The folder listing of `dir` ('' for the root). */
  list (dir: string, opts: ListOptions): Promise<ListedItem[]>
  /** Whether `key` exists (a stored null counts): needed by `applyRun` to count the changes of deletes. */
  has?: (key: string) => Promise<boolean>
}

/** What a method call (`db.call`) may see: index reads plus caller info. */
export interface CallContext {
  index: IndexReader
  /** Whether the caller may append ops (has an active local oplog). */
  isWriter: boolean
  /** Hex public key of the caller's oplog, or null. */
  oplog: string | null
  /** The active participants' oplog keys (hex), in key order. */
  listOplogs (): Promise<string[]>
  /** The length of a participant's oplog and one of its ops (decoded), for the contract's `oplog` objects. */
  oplogLength (hex: string): Promise<number>
  oplogGet (hex: string, seq: number): Promise<Json>
}

/**
 * The ack as the contract sees it in `apply(tx, op, ack)`. `height` is the index
 * seq the op's ack gets (the index length just before it): the chain height used
 * by the PoA system contract.
 */
export interface AckInfo { origin: string, seq: number, ts: number, metadata: Json, height?: number }

/** One action recorded by `tx` during `apply`, in the order the contract made them. */
export type TxAction =
  | { type: 'put', key: string, value: Json }
  | { type: 'del', key: string }
  | { type: 'addOplog', pubkey: string }
  | { type: 'removeOplog', pubkey: string }
  | { type: 'setContractSource', code: string }
  | { type: 'setServers', urls: string[] }
  | { type: 'setWitnesses', policy: Json }

/** One op of a run given to `ContractSandbox.applyRun`. */
export interface RunItem {
  /** The op's canonical JSON text (the oplog entry). */
  opJson: string
  origin: string
  seq: number
  ts: number
  /**
   * The index seq the op's ack gets. Required for the first item; later items may
   * leave it out, and then it follows from the items before (height + 1 + changes).
   */
  height?: number
  /** The ack's metadata (the result of `process`); default null. */
  metadata?: Json
}

/**
 * What `applyRun` says about one op: its actions, or the error its apply failed with.
 * `numChanges` is what the guest counted and built on: the op's index changes when it
 * succeeded, else 0 unless the host refused actions the guest had already taken in.
 */
export type RunResult =
  | { ok: true, actions: TxAction[], numChanges: number }
  | { ok: false, error: Error, numChanges: number }

/**
 * The outcome of `applyRun`: results for the first `results.length` items (possibly
 * none), and why it stopped there: 'done' (all items), 'read' (the next item needs an
 * index read first: `miss`), 'sync' (the next item lists the index and must see the
 * earlier ones published), 'system' (the last op changed the contract or the
 * participants), 'slice' (time is up; continue with another run), 'pending' (the next
 * item waits for a promise: run it alone), 'fault' (a limit was hit: run the items
 * alone; nothing was kept).
 */
export interface RunOutcome {
  results: RunResult[]
  stop: 'done' | 'read' | 'sync' | 'system' | 'slice' | 'pending' | 'fault'
}

/** Result of a method call. */
export interface CallResult { response: Json | undefined, ops: Json[] }
