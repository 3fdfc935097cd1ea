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
import { keyToPath, isSysKey } from '../paths.js'
import { INPUTS_PREFIX, parseAckKey, decodeAck, decodeInput } from '../schemas.js'
import { SCHEMA, SCHEMA_VERSION } from './schema.js'

/** What the read model reads: the index core (and its key) and the oplogs this instance holds. */
export interface ReadModelSource {
  key: string
  core: Hypercore
  oplogCore: (hex: string) => Hypercore | null
}

/** Entries applied per SQLite transaction. */
const CHUNK = 2048

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
        while (!this.closed && this.length_ < this.source.core.length) {
          const end = Math.min(this.source.core.length, Math.max(this.length_, 1) + CHUNK)
          await this.applyRange(Math.max(this.length_, 1), end)
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

  /** Read entries [start, end) and apply them in one transaction. */
  private async applyRange (start: number, end: number): Promise<void> {
    const entries = await readEntries(this.source.core, start, end, { timeout: 10_000 })
    // the ops of the acks in this range, read before the (synchronous) transaction
    const ops = new Map<string, string | null>()
    for (const e of entries) {
      const ack = parseAckKey(e.key)
      if (ack === null) continue
      const core = this.source.oplogCore(ack.origin)
      if (core === null) continue
      const block = await core.get(ack.seq, { wait: false }) as Buffer | null
      if (block !== null) ops.set(`${ack.origin}/${ack.seq}`, jsonText(block))
    }
    if (this.closed) return
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

  private applyEntry (s: Statements, e: RawEntry, ops: Map<string, string | null>): void {
    const path = keyToPath(e.key)
    const value = e.type === 'del' || e.value === null ? null : e.value.toString('utf8')
    const ack = parseAckKey(e.key)
    let origin: string | null = null
    let seq: number | null = null
    if (ack !== null && e.type === 'put' && e.value !== null) {
      const a = decodeAck(e.value)
      s.putAck.run(a.origin, a.seq, a.ts, a.success ? 1 : 0, a.errorCode ?? null, a.error ?? null, a.numChanges, JSON.stringify(a.metadata ?? null), e.seq)
      const op = ops.get(`${a.origin}/${a.seq}`)
      if (op !== undefined) s.putOp.run(a.origin, a.seq, op)
      origin = a.origin
      seq = a.seq
      this.link = a.numChanges > 0 ? { origin: a.origin, seq: a.seq, remaining: a.numChanges } : null
    } else if (this.link !== null) {
      origin = this.link.origin
      seq = this.link.seq
      this.link = this.link.remaining > 1 ? { ...this.link, remaining: this.link.remaining - 1 } : null
    }
    s.putHistory.run(e.seq, e.type, path, value, origin, seq)
    if (e.key.startsWith(INPUTS_PREFIX) && e.type === 'put' && e.value !== null) {
      const input = decodeInput(e.value)
      s.putOplog.run(input.pubkey, input.active ? 1 : 0, e.seq)
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
      putHistory: p('INSERT OR REPLACE INTO history (seq, type, path, value, ack_origin, ack_seq) VALUES (?, ?, ?, ?, ?, ?)'),
      putAck: p('INSERT OR REPLACE INTO acks (origin, seq, ts, success, error_code, error, num_changes, metadata, index_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      putOp: p('INSERT OR REPLACE INTO ops (oplog, seq, value) VALUES (?, ?, ?)'),
      putOplog: p('INSERT INTO oplogs (pubkey, active, since_seq) VALUES (?, ?, ?) ON CONFLICT (pubkey) DO UPDATE SET active = excluded.active, since_seq = excluded.since_seq')
    }
    return this.cached
  }
}

interface Statements { setMeta: Sqlite.Statement, putState: Sqlite.Statement, delState: Sqlite.Statement, putHistory: Sqlite.Statement, putAck: Sqlite.Statement, putOp: Sqlite.Statement, putOplog: Sqlite.Statement }

/** The op's JSON text, or null when the block is not JSON (a hostile append). */
function jsonText (block: Buffer): string | null {
  const text = block.toString('utf8')
  try {
    JSON.parse(text)
    return text
  } catch {
    return null
  }
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
    sql.pragma('synchronous = NORMAL')
    sql.exec(SCHEMA)
    sql.prepare('SELECT count(*) FROM meta').get() // a corrupt file fails here
  } catch (err) {
    sql.close()
    throw err
  }
  return sql
}
