/**
 * The process that answers SQL queries over a read model (started by query-runner.ts
 * with child_process.fork). It holds one read-only connection and runs one query at a
 * time; the parent kills it when a query runs past its time limit (SQLite cannot be
 * interrupted from JavaScript, and a worker thread stuck in native code cannot be
 * stopped), so a runaway query never blocks the executor or the host.
 *
 * Messages: { sql, params, maxRows } → { columns, rows, truncated, at } or
 * { error: { code, message } }, one at a time. `at` is the index length the read model reflected
 * when the query read it (the same read transaction).
 */
import Sqlite from 'better-sqlite3'
import { TABLES } from './schema.js'

interface Ask { sql: string, params: unknown, maxRows: number }

const file = process.argv[2]
const sql = new Sqlite(file, { readonly: true, fileMustExist: true })
const at = sql.prepare("SELECT value FROM meta WHERE name = 'length'").pluck()
const begin = sql.prepare('BEGIN')
const commit = sql.prepare('COMMIT')
const cache = new Map<string, Sqlite.Statement>()

function answer (ask: Ask): unknown {
  let stmt = cache.get(ask.sql)
  if (stmt === undefined) {
    try {
      stmt = sql.prepare(ask.sql)
    } catch (err) {
      const message = (err as Error).message
      // an unknown table: say which ones there are
      return { error: { code: 'SQL_ERROR', message: /no such table/i.test(message) ? `${message} (the tables are ${TABLES.join(', ')}: see README "SQL")` : message } }
    }
    if (!stmt.readonly || !stmt.reader) return { error: { code: 'SQL_NOT_READ_ONLY', message: 'Only queries that read are allowed (SELECT, WITH … SELECT): this statement would write or change the connection' } }
    if (cache.size > 200) cache.clear()
    cache.set(ask.sql, stmt)
  }
  begin.run()
  try {
    const length = Number(at.get() ?? 0)
    const rows: unknown[] = []
    let truncated = false
    const params = ask.params === undefined || ask.params === null ? [] : [ask.params]
    for (const row of stmt.iterate(...params)) {
      if (rows.length === ask.maxRows) { truncated = true; break }
      rows.push(row)
    }
    return { columns: stmt.columns().map(c => c.name), rows, truncated, at: length }
  } catch (err) {
    return { error: { code: 'SQL_ERROR', message: (err as Error).message } }
  } finally {
    commit.run()
  }
}

process.on('message', (ask: Ask) => {
  process.send?.(answer(ask))
})
process.on('disconnect', () => process.exit(0))
