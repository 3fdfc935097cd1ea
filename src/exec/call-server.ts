/**
 * The server of `db.call`: it follows the contract source the
 * index holds (rebuilt when the source changed; calls still running on the old one
 * finish before it is closed), reads the index through a cache that lives for one
 * index version, and gives calls one context object per local oplog, so that calls
 * arriving together share an entry into the sandbox.
 */
import { Resource } from '../lifecycle/resource.js'
import type { CallContext, SandboxLimits } from '../../sandbox/types.js'
import { DatabaseContracts, parseGovernance, type Governance } from './database-contracts.js'
import type { JsonValue } from '../format/encoding.js'
import { DatabaseNotFoundError, InvalidArgumentError } from '../errors/errors.js'
import type { IndexLog } from '../logs/index-log.js'
import type { Oplog } from '../logs/oplog.js'
import { CONTRACT_SOURCE_KEY, GOVERNANCE_KEY } from '../format/schemas.js'
import { withinDeadline } from '../net/peer-wait.js'

/** How long a call waits for a refresh of the contract and participants before it runs on the ones it has. */
const REFRESH_WAIT_MS = 200

/** What a call gives back: the method's return value and the ops it emitted. */
export interface CallOutcome { response: JsonValue | undefined, ops: JsonValue[] }

export interface CallServerOptions {
  index: IndexLog
  limits?: SandboxLimits
  /** The local oplog calls write to (an active participant), or null. */
  writer: () => Oplog | null
  /** Told the active participants each time the runtime re-reads the source. */
  onInputs: (active: Set<string>) => void
  /** The database's oplog of this key, for the contract's `oplog.getLength()` and `oplog.get(seq)`; null when it has none. */
  oplog: (hex: string) => Oplog | null
}

export class CallServer extends Resource {
  private readonly opts: CallServerOptions
  private runtime: DatabaseContracts | null = null
  private sourceSeq = -1
  private stale = true
  private refreshing: Promise<DatabaseContracts> | null = null
  /** Fixed at genesis; undefined until read. */
  private governance: Governance | null | undefined = undefined
  private readonly inflight = new Map<DatabaseContracts, number>()
  /** Retired runtimes with calls still running: called when the last one ends. */
  private readonly drained = new Map<DatabaseContracts, () => void>()
  private readCache = new Map<string, Promise<{ seq: number, value: JsonValue } | null>>()
  private readCacheVersion = -1
  private context: { writer: Oplog | null, ctx: CallContext } | null = null

  constructor (opts: CallServerOptions) {
    super()
    this.opts = opts
  }

  /** The index grew: look at the contract source again before the next call. */
  markStale (): void { this.stale = true }

  /** The contract's method names. */
  async methods (): Promise<string[]> { return (await this.current()).methods }

  /** Run `method` with (already validated) params. Rejects as DatabaseContracts.call does. */
  async call (method: string, params: JsonValue): Promise<CallOutcome> {
    const runtime = await this.current()
    this.inflight.set(runtime, (this.inflight.get(runtime) ?? 0) + 1)
    try {
      return await runtime.call(method, params, this.callContext()) as CallOutcome
    } finally {
      const n = (this.inflight.get(runtime) ?? 1) - 1
      if (n > 0) this.inflight.set(runtime, n)
      else {
        this.inflight.delete(runtime)
        this.drained.get(runtime)?.()
      }
    }
  }

  /** Re-read the contract source and the participants now. */
  async refresh (): Promise<void> {
    this.stale = true
    await this.current({ wait: true })
  }

  /** Closes the runtime for calls; close() runs it once. */
  protected override async _close (): Promise<void> {
    await this.runtime?.close()
    this.runtime = null
  }

  /**
   * The runtime for calls, rebuilt when the contract source in the index changed.
   * Concurrent callers share one refresh; with a runtime already, a call waits for the
   * refresh at most REFRESH_WAIT_MS and otherwise runs on the one it has.
   */
  private async current (opts: { wait?: boolean } = {}): Promise<DatabaseContracts> {
    if (this.runtime !== null && !this.stale) return this.runtime
    if (this.refreshing === null) {
      this.refreshStarted = Date.now()
      // a refresh nobody waits for any more (the calls went on after REFRESH_WAIT_MS) may fail
      // later, e.g. a block no peer served in time: the next call tries again, nothing crashes
      const refreshing = this.rebuild().catch((err: unknown) => { this.stale = true; throw err }).finally(() => { this.refreshing = null })
      refreshing.catch(() => {})
      this.refreshing = refreshing
    }
    if (this.runtime === null || opts.wait === true) return await this.refreshing
    // A replica can learn a newer index head before the blocks under it (its executor
    // died right after announcing it): calls go on with the contract and participants
    // they had until the refresh can read them, instead of waiting for a peer.
    const previous = this.runtime
    const left = REFRESH_WAIT_MS - (Date.now() - this.refreshStarted)
    if (left <= 0) return previous
    try {
      return await withinDeadline(this.refreshing, { ms: left, what: 'the newest contract source and participants' })
    } catch (err) {
      if ((err as { code?: string }).code !== 'COULD_NOT_VERIFY') throw err
      return previous
    }
  }

  private refreshStarted = 0

  private async rebuild (): Promise<DatabaseContracts> {
    this.stale = false
    const { index } = this.opts
    let entry: Awaited<ReturnType<IndexLog['getEntry']>>
    try {
      entry = await index.getEntry(CONTRACT_SOURCE_KEY)
      this.opts.onInputs(new Set((await index.inputs()).filter(r => r.active).map(r => r.pubkey)))
    } catch (err) {
      this.stale = true // read again by the next call
      throw err
    }
    if (entry === null) throw new DatabaseNotFoundError('The index has no contract source')
    if (this.runtime !== null && entry.seq === this.sourceSeq) return this.runtime
    const source = JSON.parse(entry.value.toString('utf8')) as string
    if (this.governance === undefined) this.governance = parseGovernance(await index.getValue(GOVERNANCE_KEY))
    const next = await DatabaseContracts.open(source, this.governance, this.opts.limits)
    const old = this.runtime
    this.runtime = next
    this.sourceSeq = entry.seq
    // calls already running on the old runtime finish first: it is closed once they are done
    if (old !== null) void this.retire(old)
    return next
  }

  private async retire (old: DatabaseContracts): Promise<void> {
    if (this.inflight.has(old)) await new Promise<void>(resolve => { this.drained.set(old, resolve) })
    this.drained.delete(old)
    await old.close()
  }

  /** One context object while the writer stays the same, so that concurrent calls can share an entry. */
  private callContext (): CallContext {
    const writer = this.opts.writer()
    if (this.context !== null && this.context.writer === writer) return this.context.ctx
    const { index } = this.opts
    const ctx: CallContext = {
      index: {
        get: key => this.cachedGet(key),
        list: async (dir, o) => await index.listKeys(dir, o)
      },
      isWriter: writer !== null,
      oplog: writer?.hex ?? null,
      listOplogs: async () => (await index.inputs()).filter(i => i.active).map(i => i.pubkey),
      oplogLength: async hex => this.oplogOf(hex).length,
      oplogGet: async (hex, seq) => {
        const log = this.oplogOf(hex)
        if (seq >= log.length) throw new InvalidArgumentError(`oplog ${hex.slice(0, 8)}… has no entry ${seq} (length ${log.length})`)
        return { seq, value: await log.get(seq) }
      }
    }
    this.context = { writer, ctx }
    return ctx
  }

  /**
   * Point reads for calls, cached for one index version: calls see the index as of
   * some version, and repeated reads of hot keys skip the Hyperbee lookup. The cache
   * is dropped whenever the index grows (and when it holds 10,000 keys).
   */
  private oplogOf (hex: string): Oplog {
    const log = this.opts.oplog(hex)
    if (log === null) throw new InvalidArgumentError(`${hex.slice(0, 8)}… is not an oplog of this database`)
    return log
  }

  private cachedGet (key: string): Promise<{ seq: number, value: JsonValue } | null> {
    const { index } = this.opts
    const version = index.core.length
    if (version !== this.readCacheVersion || this.readCache.size > 10_000) {
      this.readCache = new Map()
      this.readCacheVersion = version
    }
    let p = this.readCache.get(key)
    if (p === undefined) {
      p = index.getKeyed(key)
      p.catch(() => this.readCache.delete(key)) // a failed read is not cached; the caller sees the error
      this.readCache.set(key, p)
    }
    return p
  }
}
