/**
 * ContractMonitor: verifies what exists, then keeps verifying as the index
 * grows. Violations are emitted as data ('violation', a ContractFraudProof),
 * never thrown into the void. Optionally persists a checkpoint file so that a
 * restarted monitor resumes where it stopped.
 *
 * Events: 'validated' (each index entry once verified, as `db.index.history` gives it:
 * `{ type, seq, path, name, value }`, in index order; Vitra's event), 'verified'
 * (length, once per verified stretch), 'violation' (proof), 'unverifiable'
 * (CouldNotVerifyError: logs missing for now; it retries when the logs grow),
 * 'error' (anything else).
 */
import { Resource } from '../lifecycle/resource.js'
import { readFileSync, existsSync } from 'fs'
import { writeFileAtomic } from '../logs/atomic-file.js'
import { VitraError, errors } from '../errors/errors.js'
import type { ContractFraudProof } from './fraud-proofs.js'
import { Verifier, type Checkpoint, type VerifierOptions } from './verifier.js'
import { parseJson } from '../format/encoding.js'
import type { HistoryEntry, RawEntry } from '../logs/index-log.js'
import { keyName, keyToPath } from '../format/paths.js'
import { decodeIndexValue } from '../format/ack-v2.js'

export interface MonitorOptions extends Omit<VerifierOptions, 'checkpoint'> {
  /** Where to persist the checkpoint (JSON). Read at start when it exists. */
  checkpointFile?: string
  /** A checkpoint to resume from (instead of a file). */
  checkpoint?: Checkpoint
  /** Retry interval after "could not verify" (default 1000 ms). */
  retryMs?: number
}

export class ContractMonitor extends Resource {
  private readonly opts: MonitorOptions
  private verifier: Verifier | null = null
  private running = false
  private again = false
  /** The pass over the index that runs now (or ran last). */
  private pass: Promise<void> | null = null
  private retryTimer: NodeJS.Timeout | null = null
  /** The fraud proof, once one was found (the monitor stops there). */
  violation: ContractFraudProof | null = null
  private readonly onAppend = (): void => { this.kick() }

  constructor (opts: MonitorOptions) {
    super()
    this.opts = opts
  }

  /** Opens the verifier (from the checkpoint, if any) and makes the first pass. ready() runs it once. */
  protected override async _open (): Promise<void> {
    const checkpoint = this.opts.checkpoint ?? readCheckpoint(this.opts.checkpointFile)
    const verifier = new Verifier({
      ...this.opts,
      checkpoint: checkpoint ?? undefined,
      // entries are decoded for 'validated' only while someone listens
      onEntry: e => { if (this.listenerCount('validated') > 0) this.emit('validated', historyEntry(e)) }
    })
    this.verifier = verifier
    await this.openOrRelease(async () => {
      await verifier.ready()
      this.opts.index.on('append', this.onAppend)
      await this.start()
    })
  }

  /** The first pass over what the index holds: before ready() resolves (vitra/compat's monitor defers it, as Vitra's does). */
  protected async start (): Promise<void> {
    this.pass = this.run()
    await this.pass
  }

  /** Index entries below this are verified. */
  get verifiedLength (): number { return this.verifier?.verifiedLength ?? 0 }

  /** Resolves once everything currently in the local index is verified (or a violation was found). */
  async idle (): Promise<void> {
    for (;;) {
      if (this.running && this.pass !== null) {
        await this.pass.catch(noop)
        continue
      }
      if (this.violation !== null || this.stopping || this.retryTimer !== null || this.verifiedLength >= this.opts.index.length) return
      this.kick() // behind, and no pass runs: start one
      if (!this.running) return // none can run (not opened)
    }
  }

  protected kick (): void {
    if (this.stopping || this.violation !== null) return
    if (this.running) { this.again = true; return }
    this.pass = this.run().catch(err => { this.emit('error', err) })
  }

  private async run (): Promise<void> {
    const verifier = this.verifier
    if (verifier === null) return
    this.running = true
    try {
      do {
        this.again = false
        const before = verifier.verifiedLength
        const v = await verifier.advance()
        if (v !== null) {
          this.violation = await verifier.fraudProof(v)
          this.save()
          this.emit('violation', this.violation)
          return
        }
        if (verifier.verifiedLength !== before) {
          this.save()
          this.emit('verified', verifier.verifiedLength)
        }
      } while (this.again && !this.stopping)
    } catch (err) {
      if (!(err instanceof VitraError) || err.code !== 'COULD_NOT_VERIFY') throw err
      this.emit('unverifiable', err)
      this.scheduleRetry()
    } finally {
      this.running = false
    }
  }

  private scheduleRetry (): void {
    if (this.retryTimer !== null || this.stopping) return
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.kick() }, this.opts.retryMs ?? 1000)
  }

  /** The current checkpoint. */
  checkpoint (): Checkpoint | null { return this.verifier?.checkpoint() ?? null }

  private save (): void {
    const file = this.opts.checkpointFile
    if (file === undefined || this.verifier === null) return
    writeFileAtomic(file, JSON.stringify(this.verifier.checkpoint()))
  }

  /** Stops (the pass that runs finishes first) and closes the verifier. close() runs it once and emits 'close'. */
  protected override async _close (): Promise<void> {
    this.opts.index.removeListener('append', this.onAppend)
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    await this.pass?.catch(noop)
    await this.verifier?.close()
  }
}

function readCheckpoint (file: string | undefined): Checkpoint | null {
  if (file === undefined || !existsSync(file)) return null
  try {
    return parseJson(readFileSync(file, 'utf8'), `Checkpoint ${file}`) as Checkpoint
  } catch (err) {
    throw errors.INVALID_CHECKPOINT(`Checkpoint ${file} is not valid JSON: ${(err as Error).message}`)
  }
}

function historyEntry (e: RawEntry): HistoryEntry {
  // a verified put always decodes: its bytes are an ack, a genesis record, or a replayed write
  const value = e.value === null || e.value.length === 0 ? null : decodeIndexValue(e.value)
  return { type: e.type, seq: e.seq, path: keyToPath(e.key), name: keyName(e.key), value }
}

function noop (): void {}
