/**
 * Fork watching for every log of a database, whatever carries its replication: the
 * swarm, a replication stream the user piped (`db.replicate()`, `store.replicate()`),
 * or blocks that were already on disk. Hypercore reports a conflict to every session
 * that listens ('conflict' goes to all of a core's monitoring sessions), and head
 * gossip is a Hypercore extension on the log's own replication channel, so watching
 * the database's own sessions of its cores covers every transport.
 *
 * Per core: watchForConflicts (a truncation seen locally or followed from a peer; a
 * peer proving a longer history that contradicts this one) and HeadGossip (a peer's
 * head of the same or a shorter length that contradicts this one). Each fork is
 * reported once per log, with the log's role: a fork of the index is the executor's
 * fraud; a fork of an oplog is its participant's.
 */
import { Resource } from '../lifecycle/resource.js'
import type Hypercore from 'hypercore'
import { HeadGossip } from './head-gossip.js'
import { watchForConflicts, type ConflictWatcher } from '../logs/proof-builders.js'
import type { LogForkFraudProof } from '../proofs/fraud/log-fork-proof.js'

/** Which log a fork proof is about. */
export interface LogForkSource { key: string, role: 'index' | 'oplog' }

export interface ForkWatchOptions {
  /** Gossip signed heads with the peers of each log (default true). */
  gossip?: boolean
  /** A new session of the core with this key (its Corestore's `get`): read after a conflict closed the watched one. */
  reopen?: (key: Buffer) => Hypercore
}

interface Watched { source: LogForkSource, conflicts: ConflictWatcher, gossip: HeadGossip | null }

/**
 * The fork watchers of a set of cores.
 *
 * Events: 'fork' (proof, source): a fork was proven (once per log: later proofs of the
 * same log are dropped); 'warning' (err): a check failed for another reason than a fork
 * (best effort: reported, never thrown).
 */
export class ForkWatch extends Resource {
  private readonly opts: ForkWatchOptions
  private readonly watched = new Map<string, Watched>()
  private readonly found = new Map<string, { proof: LogForkFraudProof, source: LogForkSource }>()
  private readonly waiting = new Set<() => void>()

  constructor (opts: ForkWatchOptions = {}) {
    super()
    this.opts = opts
  }

  /** Start watching `core` (idempotent per log key). Call before the core replicates, to see every head it is shown. */
  watch (core: Hypercore, role: LogForkSource['role']): void {
    const key = core.key.toString('hex')
    if (this.stopping || this.watched.has(key)) return
    const source: LogForkSource = { key, role }
    const onProof = (proof: LogForkFraudProof): void => this.report(proof, source)
    const onError = (err: Error): void => { if (!this.stopping) this.emit('warning', err) }
    const reopen = this.opts.reopen
    const conflicts = watchForConflicts(core, onProof, { onError, reopen: reopen === undefined ? undefined : () => reopen(core.key) })
    let gossip: HeadGossip | null = null
    if (this.opts.gossip !== false) {
      gossip = new HeadGossip(core, { onProof, onError })
      void gossip.ready() // registers at once: _open does not wait
    }
    this.watched.set(key, { source, conflicts, gossip })
  }

  /** Whether this log is watched. */
  has (key: string): boolean { return this.watched.has(key) }

  /** The fork proven for this log (hex key), or null. */
  forkOf (key: string): LogForkFraudProof | null {
    return this.found.get(key)?.proof ?? null
  }

  /** Every fork proven so far, in the order found. */
  get forks (): Array<{ proof: LogForkFraudProof, source: LogForkSource }> {
    return [...this.found.values()]
  }

  /** The first fork proven for any log of `role` (or of any role), or null. */
  first (role?: LogForkSource['role']): { proof: LogForkFraudProof, source: LogForkSource } | null {
    for (const f of this.found.values()) if (role === undefined || f.source.role === role) return f
    return null
  }

  /** Resolves with the first fork of `role` found from now on (or already found); never rejects. Cancel with the returned function. */
  whenFork (role: LogForkSource['role']): { found: Promise<LogForkFraudProof>, cancel: () => void } {
    let cancel = (): void => {}
    const found = new Promise<LogForkFraudProof>(resolve => {
      const check = (): void => {
        const f = this.first(role)
        if (f === null) return
        this.waiting.delete(check)
        resolve(f.proof)
      }
      cancel = () => { this.waiting.delete(check) }
      this.waiting.add(check)
      check()
    })
    return { found, cancel }
  }

  /** Wait until every check queued so far (captures, gossip checks) has run. */
  async settled (): Promise<void> {
    await Promise.all([...this.watched.values()].map(async w => await w.conflicts.ready()))
  }

  /** Stops every watcher (the cores stay open); close() runs it once. Nothing to open: it watches from construction. */
  protected override async _close (): Promise<void> {
    const all = [...this.watched.values()]
    this.watched.clear()
    this.waiting.clear()
    await Promise.all(all.map(async w => { await w.conflicts.stop(); await w.gossip?.close() }))
  }

  private report (proof: LogForkFraudProof, source: LogForkSource): void {
    if (this.stopping || this.found.has(source.key)) return
    this.found.set(source.key, { proof, source })
    this.emit('fork', proof, source)
    for (const check of [...this.waiting]) check()
  }
}
