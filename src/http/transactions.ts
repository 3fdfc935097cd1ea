/**
 * Transactions by id, for the HTTP API. A call's ops are appended to one oplog in
 * one append, so they sit at consecutive seqs: the id `<oplog>-<seq>-<count>` (the
 * oplog's key in hex, the first op's seq, the number of ops) names them, and anyone
 * holding that oplog can find them again, on this host or another one. A call
 * that emitted no op (a read) has no id (null).
 */
import type { Database } from '../db/database.js'
import { InvalidArgumentError, errors } from '../errors/errors.js'
import { captureSignedHead, createInclusionProof } from '../logs/proof-builders.js'
import type { InclusionProof } from '../proofs/log/inclusion-proofs.js'
import type { TxOp, TxResult } from '../db/transaction.js'
import type { JsonValue } from '../format/encoding.js'
import type { SignedHead } from '../proofs/log/signed-head.js'

/** Longest transaction the status route reads back (a call emits far fewer ops). */
export const MAX_TX_OPS = 1000

export interface TransactionStatus {
  id: string
  /** True once every op has its ack in the index. */
  processed: boolean
  /** The ops, each with an inclusion proof in its oplog. */
  ops: TxOp[]
  /** Each op's result (null while not processed): ack, writes, and their inclusion proofs in the index. */
  results: Array<TxResult | null>
}

export function transactionId (ops: Array<{ oplog: string, seq: number }>): string | null {
  const first = ops[0]
  if (first === undefined) return null
  return `${first.oplog}-${first.seq}-${ops.length}`
}

export function parseTransactionId (id: string): { oplog: string, seq: number, count: number } {
  const m = /^([0-9a-f]{64})-(\d{1,15})-(\d{1,4})$/.exec(id)
  const count = m === null ? 0 : Number(m[3])
  if (m === null || count < 1 || count > MAX_TX_OPS) throw new InvalidArgumentError(`A transaction id is <oplog key>-<seq>-<count> (count 1-${MAX_TX_OPS}), not ${JSON.stringify(id)}`)
  return { oplog: m[1]!, seq: Number(m[2]), count }
}

/** The ops of transaction `id` with their proofs, and their results so far. TRANSACTION_NOT_FOUND when this database does not hold them. */
export async function transactionStatus (db: Database, id: string, opts: { head?: SignedHead } = {}): Promise<TransactionStatus> {
  const { oplog, seq, count } = parseTransactionId(id)
  const log = db.oplogs.find(o => o.hex === oplog)
  if (log === undefined) throw errors.TRANSACTION_NOT_FOUND(`The oplog ${oplog} is not one this database reads`)
  const core = log.core
  if (seq + count > core.length) throw errors.TRANSACTION_NOT_FOUND(`The oplog ${oplog.slice(0, 8)}… has ${core.length} ops: there is no op ${seq + count - 1}`)
  const ops: TxOp[] = []
  for (let i = seq; i < seq + count; i++) {
    const block = await core.get(i, { timeout: 10_000 }) as Buffer | null
    if (block === null) throw errors.TRANSACTION_NOT_FOUND(`Op ${i} of ${oplog.slice(0, 8)}… is not available here`)
    let value: JsonValue
    try { value = JSON.parse(block.toString('utf8')) as JsonValue } catch { throw new InvalidArgumentError(`Op ${i} of ${oplog.slice(0, 8)}… is not JSON: not an op a call appended`) }
    ops.push({ value, oplog, seq: i, proof: await createInclusionProof(core, i) })
  }
  // the ops are checked (shape, proofs) by db.transaction; the method is not in the oplog
  const tx = db.transaction({ method: 'transaction', params: null, response: null, ops })
  const results = await tx.fetchResults({ proofs: true, head: opts.head })
  return { id, processed: results.every(r => r !== null), ops: tx.ops.map(op => op.toJSON()), results }
}

export interface OplogPageEntry {
  seq: number
  /** The op (null when the block is not JSON: a hostile append, acked as a failure). */
  value: JsonValue | null
  /** Inclusion proof of the block in the oplog (with `proofs`). */
  proof?: InclusionProof
  /** Its ack, once executed: the ack's index seq, the outcome and the error code. */
  ack: { seq: number, success: boolean, error: string | null } | null
}

/** A page of an oplog this database reads: its ops from `start`, each with its ack; OPLOG_NOT_FOUND (404) for another oplog. */
export async function oplogPage (db: Database, oplog: string, o: { start: number, limit: number, proofs: boolean }): Promise<{ oplog: string, length: number, active: boolean, ops: OplogPageEntry[], next: number | null }> {
  const log = db.oplogs.find(l => l.hex === oplog)
  if (log === undefined) throw errors.OPLOG_NOT_FOUND(`The oplog ${oplog} is not one this database reads`)
  const core = log.core
  const end = Math.min(core.length, o.start + o.limit)
  const head = o.proofs && end > o.start ? await captureSignedHead(core) : null
  const ops: OplogPageEntry[] = []
  for (let seq = o.start; seq < end; seq++) {
    const block = await core.get(seq, { timeout: 10_000 }) as Buffer | null
    let value: JsonValue | null = null
    if (block !== null) {
      try { value = JSON.parse(block.toString('utf8')) as JsonValue } catch { value = null }
    }
    const found = await db.index.getAck(oplog, seq)
    const entry: OplogPageEntry = { seq, value, ack: found === null ? null : { seq: found.seq, success: found.ack.success, error: found.ack.error ?? null } }
    if (head !== null) entry.proof = await createInclusionProof(core, seq, { head })
    ops.push(entry)
  }
  const active = (await db.index.inputs()).some(i => i.pubkey === oplog && i.active)
  return { oplog, length: core.length, active, ops, next: end < core.length ? end : null }
}
