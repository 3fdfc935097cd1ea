/**
 * Tracked transactions (`vitra tx list|show|verify`) and saved fraud proofs
 * (`vitra fraud list|show`). See records.ts for where they live.
 */
import type { TxResult } from '../../src/index.js'
import { CliError, EXIT } from '../errors.js'
import { short } from '../output.js'
import type { Found, SavedFraud, TxRecord } from '../records.js'
import type { Session } from '../session.js'
import { humanResult } from './data.js'
import { checkTxRecord } from './proof.js'

function status (rec: TxRecord): string {
  if (rec.results === null || rec.results.length === 0) return 'not executed yet'
  if (rec.results.some(r => r === null)) return 'partly executed'
  return rec.results.every(r => r?.success === true) ? 'executed' : 'failed'
}

/** `vitra tx list`: what this directory has tracked (offline; `tx show` refreshes one). */
export async function txListCommand (s: Session): Promise<number> {
  const txs = s.records.listTxs()
  s.out.result(txs.map(t => ({ id: t.id, method: t.value.tx.method, ops: t.value.tx.ops.length, status: status(t.value), createdAt: t.value.createdAt, file: t.file })), () =>
    txs.length === 0
      ? 'No tracked transactions (`vitra call` tracks every call that appends ops).'
      : s.out.table(['id', 'method', 'ops', 'status', 'created'], txs.map(t => [t.id, t.value.tx.method, String(t.value.tx.ops.length), status(t.value), t.value.createdAt])))
  return EXIT.OK
}

/** Look up the results of a tracked transaction in the database (with proofs); saves them. Null when the database is not here. */
async function refresh (s: Session, found: Found<TxRecord>): Promise<Array<TxResult | null> | null> {
  if (!s.hasDatabase()) return null
  const db = await s.open()
  const rec = found.value
  if (db.pubkey.toString('hex') !== rec.database) throw new CliError('OTHER_DATABASE', `Transaction ${rec.id} belongs to database ${rec.database}, but ${s.label} holds ${db.pubkey.toString('hex')}`)
  const results = await db.transaction(rec.tx).fetchResults({ proofs: true })
  rec.results = results
  s.records.saveTx(rec)
  return results
}

/** `vitra tx show <id>`. */
export async function txShowCommand (s: Session, id: string): Promise<number> {
  const found = s.records.findTx(id)
  const results = await refresh(s, found) ?? found.value.results
  const rec = found.value
  s.out.result({ ...rec, results, status: status(rec), file: found.file }, () => [
    ...s.out.kv([
      ['id', rec.id],
      ['database', rec.database],
      ['method', `${rec.tx.method} ${s.out.value(rec.tx.params)}`],
      ['response', s.out.value(rec.tx.response)],
      ['created', rec.createdAt],
      ['status', status(rec)],
      ['file', found.file]
    ]),
    'ops',
    ...rec.tx.ops.map((op, i) => `  #${i}  oplog ${short(op.oplog)} seq ${op.seq}  ${s.out.compact(op.value)}`),
    'results',
    ...(results === null ? ['  (unknown: the database is not in this directory)'] : results.flatMap((r, i) => humanResult(s.out, r, i)))
  ])
  return EXIT.OK
}

/**
 * `vitra tx verify <id>`: the op inclusion proofs offline, then (when the database
 * is here and the ops were executed) the ack and write proofs fetched with
 * `fetchResults({ proofs: true })`. Exit 0 when every proof checks out.
 */
export async function txVerifyCommand (s: Session, id: string): Promise<number> {
  const found = s.records.findTx(id)
  const offline = checkTxRecord(found.value, null)
  const results = await refresh(s, found)
  const checks = results === null ? [...offline, 'results: not checked (the database is not in this directory)'] : checkTxRecord(found.value, results)
  s.out.result({ valid: true, id: found.id, checks }, () => [s.out.green(`Transaction ${found.id}: every proof checks out`), ...checks.map(c => `  ${c}`)])
  return EXIT.OK
}

/** `vitra fraud list`. */
export async function fraudListCommand (s: Session): Promise<number> {
  const all = s.records.listFraud()
  const rows = all.map(f => ({ id: f.id, ...fraudSummary(f.value), file: f.file }))
  s.out.result(rows, () => rows.length === 0
    ? 'No fraud proofs saved (verify and monitor save the ones they find).'
    : s.out.table(['id', 'code', 'index seq', 'database'], rows.map(r => [r.id, r.code, r.seq === null ? '-' : String(r.seq), r.key])))
  return EXIT.OK
}

/** `vitra fraud show <id>`: the human form; with --json the proof itself. */
export async function fraudShowCommand (s: Session, id: string): Promise<number> {
  const f = s.records.findFraud(id)
  const p = f.value
  if (s.opts.json) s.out.stdout.write(JSON.stringify(p, null, 2) + '\n')
  else if (p.type === 'vitra/log-fork-proof') s.out.result(p, () => [s.out.red(`LOG_FORK: log ${p.key} signed two incompatible histories`), ...s.out.kv([['file', f.file], ['check it', `vitra proof verify ${f.file}`]], '  ')])
  else s.out.result(p, () => s.out.fraud(p, f.file))
  return EXIT.OK
}

/** A one-line summary of a saved fraud proof, for lists. */
export function fraudSummary (f: SavedFraud): { code: string, seq: number | null, key: string } {
  if (f.type === 'vitra/log-fork-proof') return { code: 'LOG_FORK', seq: null, key: f.key }
  return { code: f.details.code, seq: f.details.seq, key: f.index.key }
}
