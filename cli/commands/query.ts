/**
 * `vitra query "<sql>"`: read-only SQL (SQLite dialect) over the database's read model
 * (src/sql/: tables state, history, acks, ops, oplogs). With --proofs, rows that name an index
 * block carry its inclusion proof, checked here before anything is printed.
 */
import type { JsonValue } from '../../src/index.js'
import { verifyQueryRowProofs } from '../../src/proofs/index.js'
import { EXIT } from '../errors.js'
import type { Session } from '../session.js'

export interface QueryCommandOptions { params?: JsonValue, proofs?: boolean, timeLimit?: number, limit?: number }

export async function queryCommand (s: Session, sql: string, o: QueryCommandOptions = {}): Promise<number> {
  const db = await s.open()
  const key = db.pubkey.toString('hex')
  const result = await db.query(sql, o.params, { proofs: o.proofs === true, timeoutMs: o.timeLimit, maxRows: o.limit })
  const checked = o.proofs === true ? verifyQueryRowProofs(result as Parameters<typeof verifyQueryRowProofs>[0], { key }) : null
  s.out.result(result, () => {
    // the rows on stdout (for pipes), the footer for people on stderr
    s.out.stderr.write(`${result.rows.length} row(s)${result.truncated ? ' (truncated: more rows than --limit)' : ''}, reflecting index length ${result.at}\n`)
    if (checked !== null) s.out.stderr.write(`${checked.proven} row(s) proven in the index signed by ${key.slice(0, 8)}… (checked here), ${checked.unproven.length} name no index block\n`)
    return result.rows.length === 0
      ? ['(no rows)']
      : s.out.table(result.columns, result.rows.map(r => result.columns.map(c => cell(r[c]))))
  })
  return EXIT.OK
}

function cell (v: unknown): string {
  const s = v === null ? 'NULL' : typeof v === 'string' ? v : String(v)
  return s.length > 80 ? s.slice(0, 79) + '…' : s
}
