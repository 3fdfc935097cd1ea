/**
 * The SQLite side of the read model (read-model.ts): the file, its tables and how an
 * index entry becomes rows. It runs in a worker thread (read-model-worker.ts), so the
 * SQL writes never take the thread the executor runs on. Synchronous; one instance per
 * file.
 */
import Sqlite from 'better-sqlite3'
import { rmSync } from 'fs'
import type { RawEntry } from '../logs/index-log.js'
import { keyToPath, isSysKey } from '../format/paths.js'
import { INPUTS_PREFIX, parseAckKey } from '../format/schemas.js'
import { SCHEMA, SCHEMA_VERSION } from './schema.js'
import { decodeAckV2, isAckV2 } from '../format/ack-v2.js'
import { canonicalJson } from '../format/encoding.js'

/** Op blocks by oplog and seq. */
export type OpBlocks = Map<string, Map<number, Uint8Array>>

/** The op whose writes are being linked: its ack, and how many writes of it are still to come. */
interface Link { origin: string, seq: number, remaining: number }

export class ReadModelStore {
  private readonly sql: Sqlite.Database
  private link: Link | null = null
  length = 0

  constructor (file: string, key: string) {
    this.sql = openOrRebuild(file, key)
    const get = this.sql.prepare('SELECT value FROM meta WHERE name = ?').pluck()
    this.length = Number(get.get('length') ?? 0)
    const link = get.get('link') as string | undefined
    this.link = link === undefined || link === null ? null : JSON.parse(link) as Link | null
  }

  /** Apply entries up to `end` (exclusive) in one transaction, with the length they reach. */
  applyChunk (entries: RawEntry[], ops: OpBlocks, end: number): void {
    const s = this.statements()
    const link = this.link
    const apply = this.sql.transaction(() => {
      for (const e of entries) this.applyEntry(s, e, ops)
      s.setMeta.run('length', end)
      s.setMeta.run('link', JSON.stringify(this.link))
    })
    try {
      apply()
    } catch (err) {
      this.link = link // the transaction rolled back: so does the link
      throw err
    }
    this.length = end
  }

  /** Far behind (a rebuild): drop the path index, to build it once at the end by sorting. */
  beginBulk (): void { this.sql.exec('DROP INDEX IF EXISTS history_path') }
  /** Recreate whatever index is missing (SCHEMA is idempotent). */
  endBulk (): void { this.sql.exec(SCHEMA) }

  /** Closes the SQLite connection (a synchronous handle: see src/lifecycle/resource.ts); idempotent. */
  close (): void { if (this.sql.open) this.sql.close() }

  private applyEntry (s: Statements, e: RawEntry, ops: OpBlocks): void {
    const path = keyToPath(e.key)
    const value = e.type === 'del' || e.value === null ? null : valueText(e.value)
    const ack = parseAckKey(e.key)
    let origin: string | null = null
    let seq: number | null = null
    const a = ack !== null && value !== null ? readAck(value) : null
    if (a !== null) {
      s.putAck.run(a.origin, a.seq, a.ts, a.success ? 1 : 0, a.errorCode ?? null, a.error ?? null, a.numChanges, JSON.stringify(a.metadata ?? null), e.seq)
      const op = ops.get(a.origin)?.get(a.seq)
      if (op !== undefined) {
        const text = Buffer.from(op.buffer, op.byteOffset, op.byteLength).toString('utf8')
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

/** The JSON text of a stored value: as stored, or for a version 2 ack (binary) the JSON of its fields. */
function valueText (bytes: Uint8Array): string {
  const stored = (): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  if (!isAckV2(bytes)) return stored()
  try {
    return canonicalJson(decodeAckV2(bytes))
  } catch {
    return stored() // a malformed ack: kept as it is (the verifier reports it)
  }
}
