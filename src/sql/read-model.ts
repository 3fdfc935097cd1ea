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
 * This module writes. Queries run in a separate process (query-runner.ts) on a
 * read-only connection, so a runaway query can be killed without stopping the
 * executor or the host.
 */
import Sqlite from 'better-sqlite3'
import { EventEmitter } from 'events'
import { rmSync } from 'fs'
import type Hypercore from 'hypercore'
import { readEntries, type RawEntry } from '../logs/index-log.js'
import { readLocalBlocks } from '../logs/blocks.js'
import { keyToPath, isSysKey } from '../paths.js'
import { INPUTS_PREFIX, parseAckKey } from '../schemas.js'
import { SCHEMA, SCHEMA_VERSION } from './schema.js'

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

/** Op blocks by oplog and seq. */
type OpBlocks = Map<string, Map<number, Buffer>>

/** A range of entries being read: [start, end), and the entries with the ops their acks name. */
interface Chunk { start: number, end: number, data: Promise<{ entries: RawEntry[], ops: OpBlocks }> }

/** The op whose writes are being linked: its ack, and how many writes of it are still to come. */
interface Link { origin: string, seq: number, remaining: number }

export class ReadModel extends EventEmitter {
  readonly file: string
  private readonly source: ReadModelSource
  private sql: Sqlite.Database
  private length_ = 0
  private link: Link | null = null
  private running: Promise<void> | null = null
  private again = false
  private closed = false
  private readonly onAppend = (): void => { void this.catchUp().catch(err => this.emit('warning', err)) }

  private constructor (file: string, source: ReadModelSource) {
    super()
    this.file = file
    this.source = source
    this.sql = openOrRebuild(file, source.key)
    this.readMeta()
  }

  /** Open (creating or rebuilding as needed) the read model in `file` for the database `source`. */
  static open (file: string, source: ReadModelSource): ReadModel {
    return new ReadModel(file, source)
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
        if (bulk) this.sql.exec('DROP INDEX IF EXISTS history_path')
        try {
          await this.catchUpLoop()
        } finally {
          if (bulk && !this.closed) this.sql.exec(SCHEMA)
        }
      } while (this.again && !this.closed)
    })()
    try {
      await this.running
    } finally {
      this.running = null
    }
    return this.length_
  }

  /** Apply chunk after chunk until caught up; the next chunk is read (storage I/O, off this thread) while one is applied. */
  private async catchUpLoop (): Promise<void> {
    const core = this.source.core
    let next: Chunk | null = null
    while (!this.closed && this.length_ < core.length) {
      const start = Math.max(this.length_, 1)
      const chunk: Chunk = next !== null && next.start === start ? next : this.read(start, Math.min(core.length, start + CHUNK))
      const after: Chunk | null = chunk.end < core.length ? this.read(chunk.end, Math.min(core.length, chunk.end + CHUNK)) : null
      after?.data.catch(() => {}) // its failure surfaces when it is applied
      next = after
      await this.apply(chunk)
    }
  }

  /** Resolves once the read model reflects at least `length` (catching up as needed). */
  async reach (length: number): Promise<number> {
    while (this.length_ < length && !this.closed) await this.catchUp()
    return this.length_
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.source.core.removeListener('append', this.onAppend)
    this.sql.close()
  }

  private readMeta (): void {
    const get = this.sql.prepare('SELECT value FROM meta WHERE name = ?').pluck()
    this.length_ = Number(get.get('length') ?? 0)
    const link = get.get('link') as string | undefined
    this.link = link === undefined || link === null ? null : JSON.parse(link) as Link | null
  }

  /** Start reading entries [start, end) and the ops their acks name. */
  private read (start: number, end: number): Chunk {
    return { start, end, data: this.readChunk(start, end) }
  }

  /** Apply a chunk read by `read` in one transaction. */
  private async apply (chunk: Chunk): Promise<void> {
    const { entries, ops } = await chunk.data
    if (this.closed) return
    const end = chunk.end
    const s = this.statements()
    const apply = this.sql.transaction((rows: RawEntry[]) => {
      for (const e of rows) this.applyEntry(s, e, ops)
      s.setMeta.run('length', end)
      s.setMeta.run('link', JSON.stringify(this.link))
    })
    const link = this.link
    try {
      apply(entries)
    } catch (err) {
      this.link = link // the transaction rolled back: so does the link
      throw err
    }
    this.length_ = end
    this.emit('length', end)
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
        while (j < seqs.length && seqs[j] === seqs[j - 1] + 1) j++
        const blocks = await readLocalBlocks(core, seqs[i], seqs[j - 1] + 1)
        let mine = ops.get(origin)
        if (mine === undefined) ops.set(origin, mine = new Map())
        for (let k = 0; k < blocks.length; k++) { const b = blocks[k]; if (b !== null) mine.set(seqs[i] + k, b) }
        i = j
      }
    }
    return { entries, ops }
  }

  private applyEntry (s: Statements, e: RawEntry, ops: OpBlocks): void {
    const path = keyToPath(e.key)
    const value = e.type === 'del' || e.value === null ? null : e.value.toString('utf8')
    const ack = parseAckKey(e.key)
    let origin: string | null = null
    let seq: number | null = null
    const a = ack !== null && value !== null ? readAck(value) : null
    if (a !== null) {
      s.putAck.run(a.origin, a.seq, a.ts, a.success ? 1 : 0, a.errorCode ?? null, a.error ?? null, a.numChanges, JSON.stringify(a.metadata ?? null), e.seq)
      const op = ops.get(a.origin)?.get(a.seq)
      if (op !== undefined) {
        const text = op.toString('utf8')
        s.putOp.run(a.origin, a.seq, text, text)
      }
      origin = a.origin
      seq = a.seq
      this.link = a.numChanges > 0 ? { origin: a.origin, seq: a.seq, remaining: a.numChanges } : null
    } else if (this.link !== null) {
      origin = this.link.origin
      seq = this.link.seq
      this.link = this.link.remaining > 1 ? { ...this.link, remaining: this.link.remaining - 1 } : null
    }
    s.putHistory.run(e.seq, e.type, path, value, origin, seq)
    if (e.key.startsWith(INPUTS_PREFIX) && value !== null) {
      const input = readJson(value) as { pubkey?: unknown, active?: unknown } | null
      if (input !== null && typeof input.pubkey === 'string' && typeof input.active === 'boolean') s.putOplog.run(input.pubkey, input.active ? 1 : 0, e.seq)
    }
    if (!isSysKey(e.key)) {
      if (e.type === 'put' && value !== null) s.putState.run(path, value, e.seq)
      else s.delState.run(path)
    }
  }

  private cached: Statements | null = null
  private statements (): Statements {
    if (this.cached !== null) return this.cached
    const p = (sql: string): Sqlite.Statement => this.sql.prepare(sql)
    this.cached = {
      setMeta: p('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value'),
      putState: p('INSERT INTO state (path, value, seq) VALUES (?, ?, ?) ON CONFLICT (path) DO UPDATE SET value = excluded.value, seq = excluded.seq'),
      delState: p('DELETE FROM state WHERE path = ?'),
      putHistory: p('INSERT INTO history (seq, type, path, value, ack_origin, ack_seq) VALUES (?, ?, ?, ?, ?, ?)'), // each seq once: chunks commit with the length
      putAck: p('INSERT OR REPLACE INTO acks (origin, seq, ts, success, error_code, error, num_changes, metadata, index_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      // the op's text when it is JSON (SQLite checks), else NULL: a hostile append
      putOp: p('INSERT OR REPLACE INTO ops (oplog, seq, value) VALUES (?, ?, CASE WHEN json_valid(?) THEN ? END)'),
      putOplog: p('INSERT INTO oplogs (pubkey, active, since_seq) VALUES (?, ?, ?) ON CONFLICT (pubkey) DO UPDATE SET active = excluded.active, since_seq = excluded.since_seq')
    }
    return this.cached
  }
}

interface Statements { setMeta: Sqlite.Statement, putState: Sqlite.Statement, delState: Sqlite.Statement, putHistory: Sqlite.Statement, putAck: Sqlite.Statement, putOp: Sqlite.Statement, putOplog: Sqlite.Statement }

/**
 * The ack fields the tables need, or null when the value is not a well-formed ack. The
 * read model describes what the index holds, cheating included: a malformed ack (which
 * verify reports as fraud) gets its history row and no acks row, and never stops it.
 */
function readAck (text: string): { origin: string, seq: number, ts: number, success: boolean, errorCode?: string, error?: string, numChanges: number, metadata?: unknown } | null {
  const a = readJson(text) as Record<string, unknown> | null
  if (a === null || typeof a !== 'object' || typeof a.origin !== 'string' || typeof a.success !== 'boolean') return null
  for (const f of ['seq', 'ts', 'numChanges']) if (!Number.isSafeInteger(a[f]) || (a[f] as number) < 0) return null
  if ((a.errorCode !== undefined && typeof a.errorCode !== 'string') || (a.error !== undefined && typeof a.error !== 'string')) return null
  return a as unknown as ReturnType<typeof readAck>
}

function readJson (text: string): unknown {
  try { return JSON.parse(text) } catch { return null }
}

/** Delete a read model file and its WAL companions. */
export function deleteReadModel (file: string): void {
  for (const f of [file, file + '-wal', file + '-shm', file + '-journal']) rmSync(f, { force: true })
}

/** Open the file; when it does not open, or holds another database or schema, delete it and start empty. */
function openOrRebuild (file: string, key: string): Sqlite.Database {
  try {
    const sql = openFile(file)
    const get = sql.prepare('SELECT value FROM meta WHERE name = ?').pluck()
    const version = get.get('version') as number | undefined
    const stored = get.get('key') as string | undefined
    if (version === SCHEMA_VERSION && stored === key) return sql
    if (version === undefined && stored === undefined && Number(get.get('length') ?? 0) === 0) {
      sql.prepare('INSERT INTO meta (name, value) VALUES (?, ?), (?, ?)').run('version', SCHEMA_VERSION, 'key', key)
      return sql
    }
    sql.close()
  } catch {
    // not a database, or corrupt: rebuilt below
  }
  deleteReadModel(file)
  const sql = openFile(file)
  sql.prepare('INSERT INTO meta (name, value) VALUES (?, ?), (?, ?)').run('version', SCHEMA_VERSION, 'key', key)
  return sql
}

function openFile (file: string): Sqlite.Database {
  const sql = new Sqlite(file)
  try {
    sql.pragma('journal_mode = WAL')
    // OFF: a process crash (kill -9) loses nothing SQLite has written (WAL, the OS has
    // it); an OS crash could tear the file, which then fails to open and is rebuilt
    sql.pragma('synchronous = OFF')
    sql.pragma('cache_size = -16384') // 16 MiB of pages: the history path index takes random inserts
    sql.exec(SCHEMA)
    sql.prepare('SELECT count(*) FROM meta').get() // a corrupt file fails here
  } catch (err) {
    sql.close()
    throw err
  }
  return sql
}
