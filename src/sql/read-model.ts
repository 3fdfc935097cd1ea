/**
 * The SQL read model (issue 26): SQLite tables (schema.ts) derived from the index and
 * the oplogs, kept up to date as the index grows, on the executor and on any reader.
 *
 * It is a cache of the logs, never a source of truth: `meta.length` records the index
 * length it reflects, every query answer says so, and deleting the file loses nothing
 * (it is rebuilt from the logs on the next open). Entries are applied in chunks, each
 * in one SQLite transaction together with `meta.length` (WAL journal), so a crash
 * leaves it at a chunk boundary, consistent; a file that does not open, or was made
 * for another database or schema, is deleted and rebuilt.
 *
 * This module reads the logs (on the database's thread: it holds the cores) and hands
 * each chunk to a worker thread that owns the SQLite file (read-model-worker.ts,
 * read-model-store.ts): the SQL writes never take the executor's thread, and the next
 * chunk is read while one is written. Queries run in separate processes
 * (query-runner.ts) on read-only connections.
 */
import { Resource } from '../lifecycle/resource.js'
import { fileURLToPath } from 'url'
import { Worker } from 'worker_threads'
import type Hypercore from 'hypercore'
import { readEntries, type RawEntry } from '../logs/index-log.js'
import { readLocalBlocks } from '../logs/blocks.js'
import { parseAckKey } from '../format/schemas.js'
import type { OpBlocks } from './read-model-store.js'
export { deleteReadModel } from './read-model-store.js'

const WORKER = fileURLToPath(new URL('./read-model-worker.js', import.meta.url))

/** What the read model reads: the index core (and its key) and the oplogs this instance holds. */
export interface ReadModelSource {
  key: string
  core: Hypercore
  oplogCore: (hex: string) => Hypercore | null
}

/** Entries applied per SQLite transaction. */
const CHUNK = 4096
/** Entries behind past which a catch-up rebuilds the history path index at the end instead of as it goes. */
const BULK = 50_000

export class ReadModel extends Resource {
  readonly file: string
  private readonly source: ReadModelSource
  private readonly worker: Worker
  private length_ = 0
  private running: Promise<void> | null = null
  private again = false
  /** Answers of the worker, in order. */
  private readonly waiting: Array<{ resolve: (m: WorkerAnswer) => void, reject: (e: Error) => void }> = []
  private readonly onAppend = (): void => { void this.catchUp().catch(err => this.emit('warning', err)) }

  private constructor (file: string, source: ReadModelSource, worker: Worker, length: number) {
    super()
    this.file = file
    this.source = source
    this.worker = worker
    this.length_ = length
    worker.on('message', (m: WorkerAnswer) => {
      const w = this.waiting.shift()
      if (w === undefined) return
      if (m.kind === 'error') w.reject(new Error(`read model: ${m.message}`))
      else w.resolve(m)
    })
    worker.on('error', err => { for (const w of this.waiting.splice(0)) w.reject(err) })
    worker.on('exit', () => { for (const w of this.waiting.splice(0)) w.reject(new Error('read model: the worker stopped')) })
  }

  /** Open (creating or rebuilding as needed) the read model in `file` for the database `source`. */
  static async open (file: string, source: ReadModelSource): Promise<ReadModel> {
    const worker = new Worker(WORKER, { workerData: { file, key: source.key } })
    const first = await new Promise<WorkerAnswer>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    if (first.kind !== 'ready') {
      await worker.terminate()
      throw new Error(`read model: ${first.kind === 'error' ? first.message : 'the worker did not start'}`)
    }
    return new ReadModel(file, source, worker, first.length)
  }

  private async ask (message: unknown, transfer?: ArrayBuffer[]): Promise<WorkerAnswer> {
    return await new Promise<WorkerAnswer>((resolve, reject) => {
      this.waiting.push({ resolve, reject })
      this.worker.postMessage(message, transfer)
    })
  }

  /** The index length this read model reflects. */
  get length (): number { return this.length_ }

  /** Keep up with the index as it grows (until close). */
  follow (): void {
    this.source.core.on('append', this.onAppend)
    this.onAppend()
  }

  /** Apply every index entry not applied yet; resolves with the length reflected. Serialized. */
  async catchUp (): Promise<number> {
    if (this.running !== null) {
      this.again = true
      await this.running
      return this.length_
    }
    this.running = (async () => {
      do {
        this.again = false
        // far behind (a rebuild): the path index is built once at the end, by sorting,
        // instead of taking a random insert per entry (on open, SCHEMA recreates it if a
        // crash came in between)
        const bulk = this.source.core.length - this.length_ > BULK
        if (bulk) await this.ask({ kind: 'bulk', on: true })
        try {
          await this.catchUpLoop()
        } finally {
          if (bulk && !this.stopping) await this.ask({ kind: 'bulk', on: false })
        }
      } while (this.again && !this.stopping)
    })()
    try {
      await this.running
    } finally {
      this.running = null
    }
    return this.length_
  }

  /** Apply chunk after chunk until caught up: the next chunk is read while the worker writes one. */
  private async catchUpLoop (): Promise<void> {
    const core = this.source.core
    let writing: Promise<void> | null = null
    let at = Math.max(this.length_, 1)
    try {
      while (!this.stopping && at < core.length) {
        const end = Math.min(core.length, at + CHUNK)
        const chunk = await this.readChunk(at, end)
        if (writing !== null) await writing
        if (this.stopping) return
        writing = this.write(chunk.entries, chunk.ops, end)
        at = end
      }
    } finally {
      if (writing !== null) await writing
    }
  }

  private async write (entries: RawEntry[], ops: OpBlocks, end: number): Promise<void> {
    await this.ask({ kind: 'apply', entries, ops, end })
    this.length_ = end
    this.emit('length', end)
  }

  /** Resolves once the read model reflects at least `length` (catching up as needed). */
  async reach (length: number): Promise<number> {
    while (this.length_ < length && !this.stopping) await this.catchUp()
    return this.length_
  }

  /** Stops following, lets the worker close the file, ends it; close() runs it once. */
  protected override async _close (): Promise<void> {
    this.source.core.removeListener('append', this.onAppend)
    await this.running?.catch(() => {})
    // a worker that already stopped (its 'exit' rejected the ask) has nothing to close
    await this.ask({ kind: 'close' }).catch(err => this.emit('warning', err))
    await this.worker.terminate()
  }

  private async readChunk (start: number, end: number): Promise<{ entries: RawEntry[], ops: OpBlocks }> {
    const entries = await readEntries(this.source.core, start, end, { timeout: 10_000 })
    // the ops of the acks in this range, read before the (synchronous) transaction: per
    // oplog, each run of consecutive seqs in one storage batch (only blocks stored here)
    const ops: OpBlocks = new Map()
    const wanted = new Map<string, number[]>()
    for (const e of entries) {
      const ack = parseAckKey(e.key)
      if (ack === null) continue
      const seqs = wanted.get(ack.origin)
      if (seqs === undefined) wanted.set(ack.origin, [ack.seq])
      else seqs.push(ack.seq)
    }
    for (const [origin, seqs] of wanted) {
      const core = this.source.oplogCore(origin)
      if (core === null) continue
      seqs.sort((a, b) => a - b)
      for (let i = 0; i < seqs.length;) {
        let j = i + 1
        while (j < seqs.length && seqs[j] === seqs[j - 1]! + 1) j++
        const blocks = await readLocalBlocks(core, seqs[i]!, seqs[j - 1]! + 1)
        let mine = ops.get(origin)
        if (mine === undefined) ops.set(origin, mine = new Map())
        const from = seqs[i]!
        blocks.forEach((b, k) => { if (b !== null) mine.set(from + k, b) })
        i = j
      }
    }
    return { entries, ops }
  }
}

type WorkerAnswer = { kind: 'ready', length: number } | { kind: 'applied', end: number } | { kind: 'done' } | { kind: 'closed' } | { kind: 'error', message: string }
