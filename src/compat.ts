/**
 * `vitra/compat`: pfrazee/vitra 0.1.3's API, for programs written for Vitra.
 * Change `from 'vitra'` (Vitra's package) to `from 'vitra/compat'` and they run:
 *
 *   import { Database, StorageInMemory, ExecutorBehavior, Transaction, verifyInclusionProof } from 'vitra/compat'

 *
 * It is the main API (everything `vitra` exports) plus Vitra's names where this
 * project differs on purpose: a Database whose create/load take `executorBehavior`
 * (misbehaving executors stay out of the main API), whose monitors count
 * `verifiedLength` as Vitra does, `Transaction`, and a `verifyInclusionProof`
 * that takes `{ database }`. README "Coming from Vitra" lists every difference.
 */
import type Hypercore from 'hypercore'
import { Database as TestingDatabase, type ExecutorBehaviorName } from './testing.js'
import type { Database as BaseDatabase, DatabaseOptions, OplogList } from './db/database.js'
import type { Storage } from './logs/storage.js'
import { ContractMonitor, type MonitorOptions } from './verify/monitor.js'
import { verifyInclusionProof as verifyOffline, type InclusionProof, type VerifiedInclusion } from './proofs/log/inclusion-proofs.js'
import { verifyAgainstLog } from './db/transaction.js'
import { CouldNotVerifyError, InvalidArgumentError, InvalidProofError } from './errors/errors.js'

export * from './index.js'
export { ExecutorBehavior, type ExecutorBehaviorName } from './testing.js'
export { ContractTransaction as Transaction, Operation } from './db/transaction.js'
export { Oplog as OpLog } from './logs/oplog.js'
export { StorageOnDisk as Storage } from './logs/storage.js'
export { Executor as ContractExecutor } from './exec/executor.js'
export type {
  IndexEntry as IndexLogEntry, HistoryEntry as IndexHistoryEntry, ListOptions as IndexLogListOpts, HistoryOptions as IndexHistoryOpts
} from './logs/index-log.js'
export type { TxResult as OperationResults } from './db/transaction.js'

/**
 * Vitra's BlocksNotAvailableError: the blocks a check needs are not here and no peer
 * served them. vitra throws CouldNotVerifyError (code COULD_NOT_VERIFY) for this;
 * `err instanceof BlocksNotAvailableError` holds for every such error, so Vitra's
 * checks keep working. (Forks are thrown as LogForkFraudProof, as in Vitra.)
 */
export class BlocksNotAvailableError extends CouldNotVerifyError {
  static override [Symbol.hasInstance] (x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as { code?: unknown }).code === 'COULD_NOT_VERIFY'
  }
}

/** Vitra's `keyToBuf`: a 32-byte key as a Buffer (from a Buffer or 64 hex characters). */
export function keyToBuf (key: Buffer | string): Buffer {
  const buf = typeof key === 'string' ? Buffer.from(key, 'hex') : key
  if (!Buffer.isBuffer(buf) || buf.byteLength !== 32 || (typeof key === 'string' && !/^[0-9a-fA-F]{64}$/.test(key))) {
    throw new InvalidArgumentError(`Invalid key: must be 32 bytes (a Buffer or 64 hex characters)`)
  }
  return buf
}

/** Vitra's `keyToStr`: a 32-byte key as 64 lowercase hex characters. */
export function keyToStr (key: Buffer | string): string { return keyToBuf(key).toString('hex') }
import type { Oplog } from './logs/oplog.js'

/**
 * A monitor as Vitra's: `verifiedLength` is the seq of the last verified entry (the
 * index length less its header), and the first pass starts after `db.monitor()`
 * resolves, so that 'validated' listeners see every entry from the genesis on.
 */
export class VitraContractMonitor extends ContractMonitor {
  override get verifiedLength (): number { return Math.max(0, super.verifiedLength - 1) }
  protected override async start (): Promise<void> { setImmediate(() => this.kick()) }
}

/**
 * vitra's Database with Vitra's `executorBehavior` (create and load), Vitra's load
 * (it returns without waiting for a remote index: `waitForIndex` defaults to false)
 * and Vitra's monitors.
 */
export class Database extends TestingDatabase {
  static override async load (storage: Storage, pubkey?: string | Buffer, opts: DatabaseOptions & { executorBehavior?: ExecutorBehaviorName } = {}): Promise<BaseDatabase> {
    return await super.load(storage, pubkey, { ...opts, waitForIndex: opts.waitForIndex ?? false })
  }

  protected override createMonitor (opts: MonitorOptions): ContractMonitor { return new VitraContractMonitor(opts) }

  private readonly added = new Set<string>()

  /**
   * As Vitra's `db.oplogs`: the participants (and oplogs given to `oplogs.add`), in the
   * order this instance met them; a removed participant leaves the list.
   */
  override get oplogs (): OplogList {
    const all = super.oplogs
    const active = this.participantSet()
    const list = all.filter(o => active === null || active.has(o.hex) || this.added.has(o.hex)) as OplogList
    list.add = all.add
    return list
  }

  override async addOplog (oplog: Oplog): Promise<void> {
    await super.addOplog(oplog)
    this.added.add(oplog.hex)
  }

  /** As Vitra: calls append to the local oplog whether the contract admitted it or not (its ops then never run). */
  protected override callOplog (): Oplog | null { return this.localOplog }
}

/**
 * Vitra's `verifyInclusionProof(proof, { database })`: the proof checked offline and,
 * with a database, against that database's copy of the log (which must be its index
 * or one of its oplogs): a log that was truncated or rewritten since throws a
 * LogForkFraudProof, one too short to tell COULD_NOT_VERIFY. With `{ key }` or
 * nothing it is the main API's offline check.
 */
export async function verifyInclusionProof (proof: InclusionProof | unknown, opts: { database?: TestingDatabase, key?: Buffer | string } = {}): Promise<VerifiedInclusion> {
  if (opts.database === undefined) return verifyOffline(proof, { key: opts.key })
  const db = opts.database
  const checked = verifyOffline(proof, { key: opts.key })
  const hex = checked.key.toString('hex')
  let core: Hypercore | null = null
  if (db.index.key.equals(checked.key)) core = db.index.core
  else core = db.oplogs.find(o => o.hex === hex)?.core ?? null
  if (core === null) throw new InvalidProofError('wrong-key', `The proof is for log ${hex.slice(0, 8)}…, which is neither the index nor an oplog of database ${db.pubkey.toString('hex').slice(0, 8)}…`)
  if (typeof proof !== 'object' || proof === null) throw new InvalidArgumentError('proof must be an inclusion proof object')
  await verifyAgainstLog(proof as InclusionProof, core)
  return checked
}
