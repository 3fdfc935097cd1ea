/**
 * A reader's continuous witness check (whitepaper/witness.md §6), for monitors: every
 * `intervalMs` it gathers the witnessed checkpoint of a database and compares its local
 * index with it. Events:
 * - 'witnessed' (FoundCheckpoint): a checkpoint the local index agrees with, once per new length;
 * - 'fork' (LogForkFraudProof): the local index differs from the history the quorum cosigned;
 * - 'stale' (VitraError STALE_CHECKPOINT): local entries have waited longer than
 *   `maxAgeMs` for a checkpoint (an alert, once until a checkpoint covers them);
 * - 'warning': a witness or host could not be asked.
 */
import type Hypercore from 'hypercore'
import { Resource } from '../lifecycle/resource.js'
import { errors } from '../errors/errors.js'
import type { WitnessPolicy } from '../proofs/witness/policy.js'
import { checkWithWitnesses, type FoundCheckpoint } from './reader.js'

export interface WitnessWatchOptions {
  core: Hypercore
  policy: WitnessPolicy
  /** Hosts to ask too (`GET …/checkpoint`). */
  hosts?: string[]
  /** Time between two checks (default 10 s). */
  intervalMs?: number
  /** How long local entries may stay unwitnessed before the alert (default 10 min). */
  maxAgeMs?: number
  /** The policy in force at an index length (it may change); `policy` when absent or null. */
  policyAt?: (length: number) => Promise<WitnessPolicy | null>
}

export class WitnessWatch extends Resource {
  private readonly core: Hypercore
  private readonly policy: WitnessPolicy
  private readonly hosts: string[]
  private readonly intervalMs: number
  private readonly maxAgeMs: number
  private readonly policyAt: ((length: number) => Promise<WitnessPolicy | null>) | undefined
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  /** The latest checkpoint the local index agrees with. */
  latest: FoundCheckpoint | null = null
  /** Since when local entries beyond the latest checkpoint have waited (ms), or null. */
  private waitingSince: number | null = null
  private alerted = false
  private forked = false

  constructor (opts: WitnessWatchOptions) {
    super()
    this.core = opts.core
    this.policy = opts.policy
    this.hosts = opts.hosts ?? []
    this.intervalMs = opts.intervalMs ?? 10_000
    this.maxAgeMs = opts.maxAgeMs ?? 10 * 60_000
    this.policyAt = opts.policyAt
  }

  protected override async _open (): Promise<void> {
    await this.core.ready()
    this.schedule(0)
  }

  protected override async _close (): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    await this.running
  }

  /** One check now (after any under way); resolves when it is done. */
  async check (): Promise<void> {
    await this.running
    if (this.stopping) return
    this.running = this.checkOnce().finally(() => { this.running = null })
    await this.running
  }

  private schedule (ms: number): void {
    if (this.stopping || this.forked) return
    this.timer = setTimeout(() => {
      this.timer = null
      void this.check().catch(err => { if (!this.stopping) this.emit('warning', err) }).finally(() => this.schedule(this.intervalMs))
    }, ms)
    this.timer.unref()
  }

  private async checkOnce (): Promise<void> {
    const { best, failures, check } = await checkWithWitnesses(this.core, this.policy, { hosts: this.hosts, policyAt: this.policyAt })
    for (const f of failures) this.emit('warning', errors.NOT_WITNESSED(`${f.source}: ${f.error}`))
    if (this.stopping) return
    if (best !== null && check !== null) {
      if (check.status === 'fork') {
        this.forked = true
        this.emit('fork', check.proof)
        return
      }
      if (check.status === 'agrees' && (this.latest === null || best.checked.head.length > this.latest.checked.head.length)) {
        this.latest = best
        this.emit('witnessed', best)
      }
    }
    const witnessed = this.latest?.checked.head.length ?? 0
    if (this.core.length <= witnessed) {
      this.waitingSince = null
      this.alerted = false
      return
    }
    const now = Date.now()
    if (this.waitingSince === null) this.waitingSince = now
    if (!this.alerted && now - this.waitingSince >= this.maxAgeMs) {
      this.alerted = true
      this.emit('stale', errors.STALE_CHECKPOINT(`Index entries after length ${witnessed} (up to ${this.core.length}) have waited ${Math.round((now - this.waitingSince) / 1000)} s for a checkpoint that ${this.policy.quorum} of the ${this.policy.witnesses.length} witnesses cosigned`, { witnessedLength: witnessed, length: this.core.length, since: this.waitingSince }))
    }
  }
}
