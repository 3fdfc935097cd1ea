/**
 * Reading and writing through the contract: call, get, list, history.
 * `call` tracks every transaction that appends ops under <dir>/txs/<id>.json.
 */
import type { Database, HistoryEntry, JsonValue, TransactionJSON, TxOp, TxResult } from '../../src/index.js'
import { CliError, EXIT, usageError } from '../errors.js'
import { short, type Output } from '../output.js'
import { TX_RECORD_TYPE, type TxRecord } from '../records.js'
import { transactionId } from '../../src/http/transactions.js'
import type { Session } from '../session.js'

export interface CallOptions {
  /** Wait for execution (default: when this directory is the executor). */
  wait?: boolean
  /** How long to wait, ms (default: --timeout). */
  timeout?: number
}

/** `vitra call <method> [--name value ...]`. Exit 1 when an executed op failed. */
export async function callCommand (s: Session, method: string, params: JsonValue, o: CallOptions = {}): Promise<number> {
  const db = await s.open()
  const tx = await db.call(method, params)
  const rec = txRecord(db.pubkey.toString('hex'), tx.toJSON(), null)
  const file = rec === null ? null : s.records.saveTx(rec)
  const wait = tx.ops.length > 0 && (o.wait ?? db.isExecutor)
  if (wait && rec !== null) {
    s.disarm() // the wait has its own bound
    await tx.whenProcessed({ timeout: o.timeout ?? s.opts.timeout })
    rec.results = await tx.fetchResults({ proofs: true })
    s.records.saveTx(rec)
  }
  return printCall(s, tx.toJSON(), rec?.id ?? null, file, rec?.results ?? null)
}

/** The record `call` (and a call through `vitra serve`) tracks under <dir>/txs/: null for a call that appended no op. */
export function txRecord (database: string, tx: TransactionJSON, results: Array<TxResult | null> | null): TxRecord | null {
  const id = transactionId(tx.ops)
  return id === null ? null : { version: 1, type: TX_RECORD_TYPE, id, database, createdAt: new Date().toISOString(), tx, results }
}

/** Print a call's answer; exit 1 when an executed op failed. */
function printCall (s: Session, tx: TransactionJSON, id: string | null, file: string | null, results: Array<TxResult | null> | null): number {
  s.out.result({ id, file, ...tx, results }, () => humanCall(s.out, tx, id, results))
  return results !== null && results.some(r => r !== null && !r.success) ? EXIT.ERROR : EXIT.OK
}

function humanCall (out: Output, tx: { response?: JsonValue | null, ops: TxOp[] }, id: string | null, results: Array<TxResult | null> | null): string[] {
  const rows: Array<[string, string]> = [['response', out.value(tx.response ?? null)]]
  if (tx.ops.length === 0) return out.kv(rows)
  rows.push(['ops', `${tx.ops.length} appended, tracked as ${String(id)}`])
  const lines = out.kv(rows)
  tx.ops.forEach((op, i) => { lines.push(`  #${i}  oplog ${short(op.oplog)} seq ${op.seq}  ${out.compact(op.value)}`) })
  if (results === null) {
    lines.push(`not executed yet: \`vitra tx show ${String(id)}\` shows the results once the executor has run (or call with --wait)`)
    return lines
  }
  lines.push('results')
  results.forEach((r, i) => { lines.push(...humanResult(out, r, i)) })
  return lines
}

/** One op's result, for call and tx show. */
export function humanResult (out: Output, r: TxResult | null, i: number): string[] {
  if (r === null) return [`  #${i}  not executed yet`]
  const head = r.success
    ? `  #${i}  ${out.green('ok')}  ack at index seq ${r.ackSeq}, ${r.numChanges} change(s)`
    : `  #${i}  ${out.red('failed')}  ack at index seq ${r.ackSeq}: ${r.error ?? 'unknown error'}`
  return [head, ...r.changes.map(c => c.type === 'put' ? `      put ${c.path} = ${out.compact(c.value)}` : `      del ${c.path}`)]
}

/** `vitra get <path>`: the entry at a path (`{ seq, container, name, path, value }`, or null when absent). */
export async function getCommand (s: Session, path: string): Promise<number> {
  const entry = await (await s.open()).index.get(path)
  s.out.result(entry ?? null, () => entry === undefined ? `null (nothing at "${path}")` : s.out.value(entry.value ?? null))
  return EXIT.OK
}

export interface ListOptions { limit?: number, reverse?: boolean, all?: boolean }

/** `vitra list [path]`: the folder listing of a path (sub-folders end in `/`); `/.sys` only with --all or a `/.sys` path. */
export async function listCommand (s: Session, path: string, o: ListOptions = {}): Promise<number> {
  const showSys = o.all === true || /^\/*\.sys(\/|$)/.test(path)
  const entries = (await (await s.open()).index.list(path, { reverse: o.reverse }))
    .filter(e => showSys || e.path !== '/.sys')
    .slice(0, o.limit ?? Infinity)
  s.out.result(entries, () => entries.length === 0
    ? `(no entries${path === '' || path === '/' ? '' : ` under "${path}"`})`
    : s.out.table(['path', 'value'], entries.map(e => [e.container ? e.path + '/' : e.path, e.value === undefined ? '' : clip(s.out.compact(e.value), 100)])))
  return EXIT.OK
}

export interface HistoryOptions { start?: number, limit?: number }

/** `vitra history [index|<oplog key or prefix>|local]`. */
export async function historyCommand (s: Session, log: string | undefined, o: HistoryOptions = {}): Promise<number> {
  const db = await s.open()
  if (log === undefined || log === 'index') return await indexHistory(s, db, o)
  return await oplogHistory(s, db, await resolveOplog(db, log), o)
}

async function indexHistory (s: Session, db: Database, o: HistoryOptions): Promise<number> {
  const start = Math.max(1, o.start ?? 1)
  const end = o.limit === undefined ? db.index.core.length : Math.min(db.index.core.length, start + o.limit)
  const entries: HistoryEntry[] = []
  for await (const e of db.index.history({ gte: start, lt: end })) entries.push(e)
  s.out.result(entries, () => humanHistory(s.out, entries))
  return EXIT.OK
}

function humanHistory (out: Output, entries: Array<{ seq: number, type?: string, path: string, value?: JsonValue | null }>): string | string[] {
  return entries.length === 0 ? '(no entries)' : out.table(['seq', 'type', 'path', 'value'], entries.map(e => [
    String(e.seq), String(e.type), e.path, e.type === 'del' ? '' : clip(describeValue(out, e.path, e.value ?? null), 90)
  ]))
}

function describeValue (out: Output, path: string, value: JsonValue | null): string {
  if (path === '/.sys/contract/source') return `(contract source, ${String(value).length} characters)`
  if (path.startsWith('/.sys/acks/') && path !== '/.sys/acks/genesis' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const a = value as Record<string, JsonValue>
    return `ack ${short(String(a.origin))}/${String(a.seq)} ${a.success === true ? 'ok' : `failed: ${String(a.error)}`}, ${String(a.numChanges)} change(s)`
  }
  return out.compact(value)
}

async function oplogHistory (s: Session, db: Database, hex: string, o: HistoryOptions): Promise<number> {
  const oplog = await db.openOplog(hex)
  const start = Math.max(0, o.start ?? 0)
  const end = o.limit === undefined ? oplog.length : Math.min(oplog.length, start + o.limit)
  const entries: Array<{ seq: number, op: JsonValue, executed: boolean, success: boolean | null, ackSeq: number | null }> = []
  for (let seq = start; seq < end; seq++) {
    const ack = await db.index.getAck(hex, seq)
    entries.push({ seq, op: await oplog.get(seq), executed: ack !== null, success: ack?.ack.success ?? null, ackSeq: ack?.seq ?? null })
  }
  s.out.result({ oplog: hex, length: oplog.length, entries }, () => entries.length === 0 ? `(oplog ${short(hex)} is empty)` : s.out.table(['seq', 'executed', 'op'], entries.map(e => [
    String(e.seq), e.executed ? (e.success === true ? `ok (index ${String(e.ackSeq)})` : `failed (index ${String(e.ackSeq)})`) : 'pending', clip(s.out.compact(e.op), 90)
  ])))
  return EXIT.OK
}

/** An oplog named by full key, unique prefix (4+ hex), or `local`. */
export async function resolveOplog (db: Database, name: string): Promise<string> {
  if (name === 'local') {
    if (db.localOplog === null) throw new CliError('NO_OPLOG', 'This directory has no local oplog')
    return db.localOplog.hex
  }
  const want = name.toLowerCase()
  if (!/^[0-9a-f]{4,64}$/.test(want)) throw usageError(`Not an oplog key: "${name}" (give the key, 4 or more of its first hex characters, or "local")`)
  await db.refresh()
  const known = db.oplogs.map(o => o.hex)
  const matches = known.filter(k => k.startsWith(want))
  if (matches.length === 1) return matches[0]!
  if (matches.length > 1) throw usageError(`"${name}" matches ${matches.length} oplogs: give more of the key`)
  if (want.length === 64) return want
  throw new CliError('NO_OPLOG', `No oplog of this database starts with "${name}" (see \`vitra info\`)`)
}

function clip (s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…'
}
