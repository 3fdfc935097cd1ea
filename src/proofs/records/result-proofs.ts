/**
 * The proofs of a transaction, checked offline: each op in its oplog (the op's bytes at
 * that seq, under a head its oplog's key signed), and for each op the executor has
 * processed, its ack and every write it made in the index (at the index seqs the result
 * names, under a head the database key signed), the ack being this op's and agreeing
 * with the result. What `db.call(…)` and `tx.fetchResults({ proofs: true })` give is
 * exactly this input; `vitra tx verify` runs it on tracked transactions.
 */
import { beeNode } from '../bee/bee-schema.js'
import { encodeValue, type JsonValue } from '../../format/encoding.js'
import { InvalidProofError } from '../../errors/errors.js'
import { pathToKey } from '../../format/paths.js'
import { ackKey } from '../../format/schemas.js'
import { verifyInclusionProof, type InclusionProof } from '../log/inclusion-proofs.js'
import { decodeIndexValue } from '../../format/ack-v2.js'

/** An op of a transaction with its inclusion proof (null: none was kept). */
export interface ProvenOp { value: JsonValue, oplog: string, seq: number, proof: InclusionProof | null }
/** A write of a result with its inclusion proof in the index. */
export interface ProvenWrite { type: 'put' | 'del', path: string, value: JsonValue | null, proof?: InclusionProof }
/** The result of an op: its ack's index seq and proof, its outcome and writes. */
export interface ProvenResult { success: boolean, ackSeq: number, ackProof?: InclusionProof, changes: ProvenWrite[] }

/**
 * Check a transaction's proofs (see the module comment). `results[i]` belongs to
 * `ops[i]`; null or absent results are ops not processed yet. Throws InvalidProofError
 * on the first thing that does not check out; returns one line per op saying what was proven.
 */
export function verifyTransactionProofs (tx: { database: string, ops: ProvenOp[], results?: Array<ProvenResult | null> | null }): string[] {
  const checks: string[] = []
  tx.ops.forEach((op, i) => {
    if (op.proof === null) { checks.push(`op #${i}: no inclusion proof stored`); return }
    const v = verifyInclusionProof(op.proof, { key: op.oplog })
    if (v.index !== op.seq) throw new InvalidProofError('evidence-mismatch', `op #${i}: the proof is for seq ${v.index}, the op is at ${op.seq}`)
    if (!v.value.equals(encodeValue(op.value))) throw new InvalidProofError('evidence-mismatch', `op #${i}: the proven block is not the op`)
    checks.push(`op #${i}: in oplog ${op.oplog.slice(0, 8)}… at seq ${op.seq} (signed length ${v.length})`)
  })
  if (tx.results === null || tx.results === undefined) return checks
  tx.results.forEach((r, i) => {
    const op = tx.ops[i]
    if (r === null || op === undefined) { checks.push(`op #${i}: not executed yet`); return }
    const ack = provenEntry(r.ackProof, tx.database, r.ackSeq, `op #${i} ack`)
    if (ack.key !== ackKey(op.oplog, op.seq)) throw new InvalidProofError('evidence-mismatch', `op #${i}: the proven ack is at ${JSON.stringify(ack.key)}, not at this op's ack key`)
    let fields: Record<string, JsonValue> | null = null
    try { fields = ack.value === null ? null : decodeIndexValue(ack.value) as Record<string, JsonValue> } catch { fields = null }
    if (fields === null || fields.origin !== op.oplog || fields.seq !== op.seq || fields.success !== r.success || fields.numChanges !== r.changes.length) {
      throw new InvalidProofError('evidence-mismatch', `op #${i}: the proven ack does not match the result`)
    }
    r.changes.forEach((c, j) => {
      const e = provenEntry(c.proof, tx.database, r.ackSeq + 1 + j, `op #${i} write ${j}`)
      const same = e.key === pathToKey(c.path) && (c.type === 'del' ? e.value === null : e.value !== null && e.value.equals(encodeValue(c.value)))
      if (!same) throw new InvalidProofError('evidence-mismatch', `op #${i}: write ${j} does not match its proof`)
    })
    checks.push(`op #${i}: executed (${r.success ? 'ok' : 'failed'}), ack at index seq ${r.ackSeq} and ${r.changes.length} write(s) proven`)
  })
  return checks
}

function provenEntry (proof: InclusionProof | undefined, key: string, seq: number, what: string): { key: string, value: Buffer | null } {
  if (proof === undefined) throw new InvalidProofError('malformed', `${what}: no inclusion proof stored`)
  const v = verifyInclusionProof(proof, { key })
  if (v.index !== seq) throw new InvalidProofError('evidence-mismatch', `${what}: the proof is for index seq ${v.index}, expected ${seq}`)
  let node: { key: Buffer, value: Buffer | null }
  try { node = beeNode.decode(v.value) } catch { throw new InvalidProofError('malformed-index', `${what}: the proven block is not a Hyperbee node`) }
  return { key: node.key.toString('utf8'), value: node.value ?? null }
}
