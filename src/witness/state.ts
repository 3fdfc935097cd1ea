/**
 * What a witness remembers, per log: the last checkpoint it cosigned (`logs/<key>.note`,
 * the note with the log's signature and the witness's cosignature), written atomically
 * before the cosignature is answered; and the fork evidence it refused checkpoints
 * with (`forks/<key>-<time>.json`). A restarted witness reads the same state, so it never
 * cosigns two heads that diverge.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'fs'
import { join } from 'path'
import { errors } from '../errors/errors.js'
import { parseCheckpoint, type Checkpoint } from '../proofs/witness/checkpoint.js'
import type { LogForkProofJSON } from '../proofs/fraud/log-fork-proof.js'
import { writeFileAtomic } from '../logs/atomic-file.js'

export class WitnessState {
  private readonly logsDir: string
  private readonly forksDir: string
  /** One update at a time per log: the tail of its chain of pending updates. */
  private readonly queues = new Map<string, Promise<unknown>>()

  constructor (dir: string) {
    this.logsDir = join(dir, 'logs')
    this.forksDir = join(dir, 'forks')
    mkdirSync(this.logsDir, { recursive: true })
    mkdirSync(this.forksDir, { recursive: true })
  }

  /** The last checkpoint cosigned for log `keyHex` (its note, and the note read), or null. */
  last (keyHex: string): { note: string, checkpoint: Checkpoint } | null {
    const file = join(this.logsDir, `${keyHex}.note`)
    if (!existsSync(file)) return null
    const note = readFileSync(file, 'utf8')
    try {
      return { note, checkpoint: parseCheckpoint(note) }
    } catch (err) {
      throw errors.INVALID_WITNESS_FILE(`${file} is not a checkpoint note: ${(err as Error).message}`)
    }
  }

  /** The logs with a cosigned checkpoint (hex keys). */
  logs (): string[] {
    return readdirSync(this.logsDir).flatMap(f => /^([0-9a-f]{64})\.note$/.exec(f)?.[1] ?? [])
  }

  /** Records the cosigned note as the log's state (atomically). */
  save (keyHex: string, note: string): void {
    writeFileAtomic(join(this.logsDir, `${keyHex}.note`), note, { durable: true })
  }

  /** Keeps fork evidence; returns its file. */
  saveFork (keyHex: string, proof: LogForkProofJSON, at: number): string {
    const file = join(this.forksDir, `${keyHex}-${at}.json`)
    writeFileAtomic(file, JSON.stringify(proof, null, 2) + '\n', { durable: true })
    return file
  }

  /** Runs `fn` after every earlier update of the same log has finished. */
  async serial<T> (keyHex: string, fn: () => Promise<T> | T): Promise<T> {
    const before = this.queues.get(keyHex) ?? Promise.resolve()
    const run = before.then(fn, fn)
    const tail = run.catch(() => undefined)
    this.queues.set(keyHex, tail)
    void tail.then(() => { if (this.queues.get(keyHex) === tail) this.queues.delete(keyHex) })
    return await run
  }
}
