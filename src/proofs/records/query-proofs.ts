/**
 * The proofs of SQL rows, checked offline (src/sql/index.ts makes them). A row that
 * names an index block (`seq`, as `state` and `history` rows have, or `index_seq`, as
 * `acks` rows have) comes with the inclusion proof of that block. The check proves the
 * block in the index signed by the database key, decodes it, and compares it with the
 * columns the row shows: `path`, `type`, `value` (JSON text) for state and history
 * rows; `origin`, `seq`, `success`, `num_changes` for acks rows. A row without a proof
 * is reported as unproven, never as valid.
 *
 * This proves that each proven row is an entry of the signed index. It does not prove
 * that the query returned every row that matches it: a host could leave rows out.
 */
import { sameValue } from '../../format/encoding.js'
import { InvalidProofError } from '../../errors/errors.js'
import type { InclusionProof } from '../log/inclusion-proofs.js'
import { verifyIndexEntryProof } from './entry-proofs.js'

/** The index seq a row names: `index_seq` for an acks row (it has `origin`), else `seq`; null when none. */
export function rowIndexSeq (row: Record<string, unknown>): number | null {
  const v = 'origin' in row ? row.index_seq : row.seq
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : null
}

export interface QueryRowsToCheck {
  rows: Array<Record<string, unknown>>
  proofs?: Array<InclusionProof | null>
}

/**
 * Checks every row's proof against the database key. Returns how many rows were proven
 * and the indexes of those without a proof; throws InvalidProofError (with the row
 * number) on the first proof that fails or that proves something else than the row shows.
 */
export function verifyQueryRowProofs (result: QueryRowsToCheck, opts: { key: string | Buffer }): { proven: number, unproven: number[], length: number } {
  const proofs = result.proofs ?? []
  let proven = 0
  let length = 0
  const unproven: number[] = []
  result.rows.forEach((row, i) => {
    const proof = proofs[i]
    if (proof === null || proof === undefined) { unproven.push(i); return }
    const seq = rowIndexSeq(row)
    if (seq === null) throw new InvalidProofError('evidence-mismatch', `row ${i}: a proof but no seq or index_seq column`)
    const e = verifyIndexEntryProof(proof, { key: opts.key, seq })
    const mismatch = (what: string): never => { throw new InvalidProofError('evidence-mismatch', `row ${i}: the proven entry at index seq ${seq} does not have this ${what}`) }
    if ('origin' in row) {
      // an acks row: the proven entry must be that op's ack, with these fields
      const a = e.value as Record<string, unknown> | null
      if (a === null || typeof a !== 'object') mismatch('ack')
      const ack = a as Record<string, unknown>
      if (ack.origin !== row.origin || ack.seq !== row.seq) mismatch('origin and seq')
      if ('success' in row && Boolean(row.success) !== ack.success) mismatch('success')
      if ('num_changes' in row && row.num_changes !== ack.numChanges) mismatch('num_changes')
    } else {
      if ('path' in row && row.path !== e.path) mismatch('path')
      if ('type' in row && row.type !== e.type) mismatch('type')
      if ('value' in row) {
        const shown = row.value === null ? null : parse(row.value, i)
        if (!sameValue(shown, e.value)) mismatch('value')
      }
    }
    length = Math.max(length, e.length)
    proven++
  })
  return { proven, unproven, length }
}

function parse (v: unknown, i: number): unknown {
  if (typeof v !== 'string') throw new InvalidProofError('evidence-mismatch', `row ${i}: value is not JSON text`)
  try { return JSON.parse(v) } catch { throw new InvalidProofError('evidence-mismatch', `row ${i}: value is not JSON text`) }
}
