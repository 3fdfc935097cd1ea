/**
 * A host's collection of cosignatures (whitepaper/witness.md §5): it follows a database's
 * index log, submits each new head to the policy's witnesses (at most one round at a
 * time, and one round per `intervalMs`), and keeps the latest checkpoint that a quorum
 * cosigned. Any holder of the index can run one: witnesses check the log's signature,
 * not who submits. A witness that is down delays the checkpoint and nothing else.
 *
 * Events: 'checkpoint' (the witnessed checkpoint), 'fork' (a LogForkFraudProof a witness
 * refused with: the log signed two histories), 'warning' (a witness failed or answered
 * something unexpected).
 */
import type Hypercore from 'hypercore'
import { Resource } from '../lifecycle/resource.js'
import { errors } from '../errors/errors.js'
import { captureSignedHead, coreManifest } from '../logs/proof-builders.js'
import { LogForkFraudProof } from '../proofs/fraud/log-fork-proof.js'
import { checkpointBody, checkpointNote } from '../proofs/witness/checkpoint.js'
import { checkCosignature } from '../proofs/witness/cosignature.js'
import { parseNote } from '../proofs/witness/note.js'
import { verifyWitnessedCheckpoint, type WitnessedCheckpoint, type WitnessPolicy } from '../proofs/witness/policy.js'
import { checkpointRequest, postCheckpoint } from './client.js'

export interface CollectorOptions {
  core: Hypercore
  /** The policy, or how to read it at each round (it may change: `tx.setWitnesses`); null: none, nothing to collect. */
  policy: WitnessPolicy | (() => Promise<WitnessPolicy | null>)
  /** The least time between two rounds (default 1000 ms). */
  intervalMs?: number
  /** How long one witness may take to answer (default 10 s). */
  timeoutMs?: number
}

/** The latest witnessed checkpoint: its note with the cosignatures, and what it proves. */
export interface CollectedCheckpoint {
  note: string
  checked: WitnessedCheckpoint
  /** When the host got the quorum (ms since the epoch). */
  at: number
}

type PolicyWitness = WitnessPolicy['witnesses'][number]

/** The longest wait between two tries while the quorum is not reached. */
const MAX_BACKOFF_MS = 30_000

export class CheckpointCollector extends Resource {
  private readonly core: Hypercore
  private readonly policyOf: () => Promise<WitnessPolicy | null>
  private readonly intervalMs: number
  private readonly timeoutMs: number
  /** What each witness holds for this log, as last learned (its size). */
  private readonly sizes = new Map<string, number>()
  private latestCheckpoint: CollectedCheckpoint | null = null
  private running: Promise<void> | null = null
  private again = false
  private timer: NodeJS.Timeout | null = null
  private lastRound = 0
  /** Rounds in a row that got no quorum: the next try waits longer (up to MAX_BACKOFF_MS). */
  private failures = 0
  private readonly onAppend = (): void => { this.kick() }

  constructor (opts: CollectorOptions) {
    super()
    this.core = opts.core
    const policy = opts.policy
    this.policyOf = typeof policy === 'function' ? policy : async () => policy
    this.intervalMs = opts.intervalMs ?? 1000
    this.timeoutMs = opts.timeoutMs ?? 10_000
  }

  /** The latest checkpoint a quorum cosigned, or null before the first. */
  get latest (): CollectedCheckpoint | null { return this.latestCheckpoint }

  protected override async _open (): Promise<void> {
    await this.core.ready()
    this.core.on('append', this.onAppend)
    this.kick()
  }

  protected override async _close (): Promise<void> {
    this.core.off('append', this.onAppend)
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    await this.running
  }

  /** Start a round now or as soon as the interval allows; one at a time. */
  private kick (): void {
    if (this.stopping) return
    if (this.running !== null) { this.again = true; return }
    if (this.timer !== null) return
    const wait = this.lastRound + this.intervalMs - Date.now()
    if (wait <= 0) { this.start(); return }
    this.timer = setTimeout(() => { this.timer = null; this.start() }, wait)
  }

  private start (): void {
    this.again = false
    this.lastRound = Date.now()
    this.running = this.round()
      .catch(err => { if (!this.stopping) this.emit('warning', err) })
      .finally(() => {
        this.running = null
        if (this.again) this.kick()
        else if (this.failures > 0 && !this.stopping && this.timer === null) {
          // No quorum yet and nothing new appended: try again, less and less often.
          const wait = Math.min(MAX_BACKOFF_MS, this.intervalMs * 2 ** Math.min(this.failures, 10))
          this.timer = setTimeout(() => { this.timer = null; this.kick() }, wait)
          this.timer.unref()
        }
      })
  }

  private async round (): Promise<void> {
    if (this.core.length === 0) return
    const policy = await this.policyOf()
    if (policy === null) return
    const head = await captureSignedHead(this.core)
    const last = this.latestCheckpoint
    if (last !== null && last.checked.head.length >= head.length) return
    const manifest = coreManifest(this.core)
    const note = checkpointNote(head, manifest)
    const body = checkpointBody(head, manifest)
    const lines = await Promise.all(policy.witnesses.map(async w => await this.ask(w, body, head)))
    const got = lines.filter((l): l is string => l !== null)
    if (this.stopping) return
    if (got.length < policy.quorum) { this.failures++; return }
    this.failures = 0
    const witnessed = note + got.join('')
    this.latestCheckpoint = { note: witnessed, checked: verifyWitnessedCheckpoint(witnessed, policy), at: Date.now() }
    this.emit('checkpoint', this.latestCheckpoint)
  }

  /** One witness's cosignature line for the checkpoint, or null (a warning or fork said why). */
  private async ask (w: PolicyWitness, body: string, head: Awaited<ReturnType<typeof captureSignedHead>>): Promise<string | null> {
    if (w.url === null) return null
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const old = Math.min(this.sizes.get(w.vkey) ?? 0, head.length)
        const reply = await postCheckpoint(w.url, await checkpointRequest(this.core, head, old), this.timeoutMs)
        if (reply.status === 200) {
          const sig = parseNote(body + '\n' + reply.body).signatures[0]
          if (sig === undefined || checkCosignature(body, sig, w) === null) throw errors.INVALID_PROOF(`Witness ${w.name} answered with no valid cosignature`)
          this.sizes.set(w.vkey, head.length)
          return reply.body
        }
        if (reply.status === 409 && reply.type.startsWith('text/x.tlog.size')) {
          const size = Number(reply.body.trim())
          if (!Number.isSafeInteger(size) || size < 0) throw errors.INVALID_PROOF(`Witness ${w.name} answered 409 with no size`)
          if (size > head.length) throw errors.INVALID_PROOF(`Witness ${w.name} holds size ${size}, beyond this host's head (${head.length}): it has seen a longer history`)
          this.sizes.set(w.vkey, size)
          continue
        }
        if (reply.status === 409 && reply.type.startsWith('application/json')) {
          const proof = LogForkFraudProof.fromJSON((JSON.parse(reply.body) as { proof?: unknown }).proof)
          proof.verify({ key: this.core.key })
          this.emit('fork', proof, w.name)
          return null
        }
        throw errors.INVALID_PROOF(`Witness ${w.name} refused the checkpoint at ${head.length}: ${reply.status} ${reply.body.trim().slice(0, 200)}`)
      }
      throw errors.INVALID_PROOF(`Witness ${w.name} kept answering with another size`)
    } catch (err) {
      if (!this.stopping) this.emit('warning', err)
      return null
    }
  }
}
