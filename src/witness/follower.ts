/**
 * A witness that follows the databases it witnesses on the swarm (whitepaper/witness.md
 * §5): for each log it cosigned (and each one it is told to follow), a sparse replica of
 * the index in `<dir>/replicas` (signed heads and the tree nodes that link them; no
 * entries), kept current over Hyperswarm. Every head the replica is shown is decided as
 * a host's request would be (`Witness.observe`): cosigned when it extends what was
 * cosigned, refused with a log-fork proof when it does not. The replica's fork watchers
 * (a truncation, a conflicting head from replication or from head gossip with any peer)
 * prove forks the witness is never sent. So a database nobody collects for still gets
 * witnessed checkpoints (`GET /logs/<key>`), and an executor that shows the witness one
 * history and its peers another is caught by the witness itself.
 *
 * Heads are cosigned once the log has been quiet for `settleMs` (or `maxWaitMs` after the
 * first unsettled one): witnesses that follow the same log then cosign the same head when
 * its writes pause, so their cosignatures pool into a quorum (a reader pools identical
 * checkpoints only).
 *
 * Events: 'following' (keyHex): a log is followed, on the swarm; 'refused' (keyHex,
 * answer): the witness did not cosign a head it saw; 'fork' (proof, keyHex): a fork of a
 * followed log was proven, by the witness's own check or by the replica's watchers (the
 * evidence is kept in `<dir>/forks`; the log is no longer followed); 'warning' (err): a
 * step failed and is tried again with the next head.
 */
import { join } from 'path'
import type Corestore from 'corestore'
import type Hypercore from 'hypercore'
import { Resource } from '../lifecycle/resource.js'
import { closeCorestore, openCorestore } from '../logs/storage.js'
import { DatabaseSwarm, type SwarmOptions } from '../net/network.js'
import { ForkWatch } from '../net/fork-watch.js'
import type { LogForkFraudProof } from '../proofs/fraud/log-fork-proof.js'
import type { Witness } from './witness.js'

export interface FollowerOptions {
  /** The swarm to find each log's peers on (a private DHT's bootstrap and host, or `local`). */
  swarm: SwarmOptions
  /** Milliseconds a log must be quiet before its head is decided (default 1000). */
  settleMs?: number
  /** Milliseconds at most between a new head and its decision while writes go on (default 10000). */
  maxWaitMs?: number
  /** Milliseconds between lookups of peers again for a log with none (default 30000). */
  rediscoverMs?: number
  /** Milliseconds a head's decision may wait for the replica's peers before it is given up, to be tried with the next head (default 60000). */
  decideTimeoutMs?: number
}

/** `p`, or a rejection once `ms` passed (the replica may wait for peers that are gone). */
async function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`deciding a head took over ${ms} ms (the replica waits for peers): tried again with the next head`)), ms)
  })
  try {
    return await Promise.race([p, limit])
  } finally {
    clearTimeout(timer)
  }
}

interface Followed {
  core: Hypercore
  swarm: DatabaseSwarm
  timer: NodeJS.Timeout | null
  /** When the oldest head not yet decided was seen (ms), or null. */
  since: number | null
  deciding: boolean
  again: boolean
  onAppend: () => void
}

export class WitnessFollower extends Resource {
  private readonly witness: Witness
  private readonly opts: FollowerOptions
  private store: Corestore | null = null
  private forks: ForkWatch | null = null
  private readonly followed = new Map<string, Followed>()
  private readonly starting = new Map<string, Promise<void>>()
  /** Logs a fork was proven of: not followed again. */
  private readonly forked = new Set<string>()
  private lonely: NodeJS.Timeout | null = null
  private readonly onCosigned = (keyHex: string): void => { void this.follow(keyHex).catch(err => this.warn(err)) }
  /** The witness refused a checkpoint as a fork (sent, or seen here): the evidence is kept already. */
  private readonly onRefusedFork = (proof: LogForkFraudProof, keyHex: string): void => { this.forkFound(proof, keyHex) }

  constructor (witness: Witness, opts: FollowerOptions) {
    super()
    this.witness = witness
    this.opts = opts
  }

  /** The logs followed (hex keys). */
  get logs (): string[] { return [...this.followed.keys()] }

  /** Opens the replicas' store and follows every log the witness cosigned; later ones as it cosigns them. */
  protected override async _open (): Promise<void> {
    this.store = openCorestore(join(this.witness.dir, 'replicas'))
    const forks = new ForkWatch({ reopen: key => (this.store as Corestore).get({ key }) })
    forks.on('fork', (proof: LogForkFraudProof, source: { key: string }) => this.onWatchedFork(proof, source.key))
    forks.on('warning', (err: Error) => this.warn(err))
    this.forks = forks
    this.witness.on('cosigned', this.onCosigned)
    this.witness.on('fork', this.onRefusedFork)
    this.lonely = setInterval(() => { this.rediscover() }, this.opts.rediscoverMs ?? 30_000)
    await Promise.all(this.witness.logs().map(async k => { await this.follow(k) }))
  }

  /** Starts following the log with this index key (idempotent). Resolves once it is on the swarm. */
  async follow (keyHex: string): Promise<void> {
    if (this.stopping || this.followed.has(keyHex) || this.forked.has(keyHex) || !this.witness.cosigns(keyHex)) return
    const pending = this.starting.get(keyHex)
    if (pending !== undefined) return await pending
    const start = this.start(keyHex).finally(() => this.starting.delete(keyHex))
    this.starting.set(keyHex, start)
    await start
  }

  private async start (keyHex: string): Promise<void> {
    const store = this.store as Corestore
    const core = store.get({ key: Buffer.from(keyHex, 'hex') })
    await core.ready()
    ;(this.forks as ForkWatch).watch(core, 'index')
    // One swarm identity per log: two swarms of one process must not share a key pair (peers find a swarm by its key).
    const swarm = new DatabaseSwarm(store, keyHex, { ...this.opts.swarm, keyPair: await store.createKeyPair(`vitra/witness/${keyHex}`), detectForks: false })
    const f: Followed = { core, swarm, timer: null, since: null, deciding: false, again: false, onAppend: () => this.schedule(keyHex) }
    this.followed.set(keyHex, f)
    core.on('append', f.onAppend)
    core.on('truncate', f.onAppend)
    await swarm.ready()
    if (this.stopping) return
    this.emit('following', keyHex)
    this.schedule(keyHex)
  }

  /** Decide the log's head once it has been quiet for settleMs, or maxWaitMs after the first undecided one. */
  private schedule (keyHex: string): void {
    const f = this.followed.get(keyHex)
    if (f === undefined || this.stopping) return
    if (f.deciding) { f.again = true; return }
    const now = Date.now()
    f.since ??= now
    const settle = this.opts.settleMs ?? 1000
    const due = Math.min(settle, Math.max(0, f.since + (this.opts.maxWaitMs ?? 10_000) - now))
    if (f.timer !== null) clearTimeout(f.timer)
    f.timer = setTimeout(() => { f.timer = null; void this.decide(keyHex, f) }, due)
  }

  private async decide (keyHex: string, f: Followed): Promise<void> {
    f.deciding = true
    f.since = null
    try {
      const answer = await withTimeout(this.witness.observe(f.core), this.opts.decideTimeoutMs ?? 60_000)
      if (answer !== null && answer.status !== 200) this.emit('refused', keyHex, answer)
    } catch (err) {
      this.warn(err)
    } finally {
      f.deciding = false
      if (f.again) { f.again = false; this.schedule(keyHex) }
    }
  }

  /** Look up peers again for every log with no connection (they may have joined as this witness did, and missed it). */
  private rediscover (): void {
    for (const f of this.followed.values()) {
      if (f.swarm.connections.length === 0) void f.swarm.rediscover().catch(err => this.warn(err))
    }
  }

  /** The replica's watchers proved a fork: keep the evidence as the witness keeps its own. */
  private onWatchedFork (proof: LogForkFraudProof, keyHex: string): void {
    if (this.stopping) return
    try {
      this.witness.keepFork(keyHex, proof)
    } catch (err) {
      this.warn(err)
    }
    this.forkFound(proof, keyHex)
  }

  /** A proven fork of a log: stop following it (its key signed two histories; requests are still decided), once. */
  private forkFound (proof: LogForkFraudProof, keyHex: string): void {
    if (this.stopping || this.forked.has(keyHex)) return
    this.forked.add(keyHex)
    const f = this.followed.get(keyHex)
    if (f !== undefined) {
      this.followed.delete(keyHex)
      void this.unfollow(f).catch(err => this.warn(err))
    }
    this.emit('fork', proof, keyHex)
  }

  private async unfollow (f: Followed): Promise<void> {
    if (f.timer !== null) clearTimeout(f.timer)
    f.core.off('append', f.onAppend)
    f.core.off('truncate', f.onAppend)
    await f.swarm.close()
    await f.core.close()
  }

  private warn (err: unknown): void {
    if (!this.stopping) this.emit('warning', err)
  }

  /** Leaves every swarm, stops the watchers, closes the replicas; close() runs it once. */
  protected override async _close (): Promise<void> {
    this.witness.off('cosigned', this.onCosigned)
    this.witness.off('fork', this.onRefusedFork)
    if (this.lonely !== null) clearInterval(this.lonely)
    await Promise.allSettled([...this.starting.values()])
    const all = [...this.followed.values()]
    this.followed.clear()
    await Promise.all(all.map(async f => { await this.unfollow(f) }))
    await this.forks?.close()
    if (this.store !== null) await closeCorestore(this.store)
  }
}
