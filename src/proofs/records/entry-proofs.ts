/**
 * One block, proven and decoded: an index entry (a Hyperbee node: the stored key and
 * value of one put or del) or an op (an oplog block: the op's JSON). What a page or a
 * client shows next to a row it got from a host: the row is what the signed log holds
 * when it equals what these return. Pure: the inclusion proof and the key alone.
 */
import { beeNode } from '../bee/bee-schema.js'
import type { JsonValue } from '../../format/encoding.js'
import { InvalidProofError } from '../../errors/errors.js'
import { keyToPath } from '../../format/paths.js'
import { verifyInclusionProof, type InclusionProof } from '../log/inclusion-proofs.js'
import { decodeIndexValue } from '../../format/ack-v2.js'

/** An index entry proven in the index signed by the database key. */
export interface ProvenIndexEntry {
  seq: number
  type: 'put' | 'del'
  /** The stored key (NUL-separated segments) and its Vitra path. */
  key: string
  path: string
  /** The decoded value; null for a del. */
  value: JsonValue | null
  /** The signed length the block was proven under. */
  length: number
}

/** An op proven in its oplog. */
export interface ProvenOpBlock { seq: number, value: JsonValue, length: number }

/**
 * Checks `proof` as the inclusion of index block `opts.seq` (when given) in the index
 * whose key is `opts.key`, and decodes the entry. InvalidProofError: the proof's own
 * failures, `evidence-mismatch` for another seq, `malformed-index` for a block that
 * is not a Hyperbee node or whose value is not a stored JSON value.
 */
export function verifyIndexEntryProof (proof: InclusionProof | unknown, opts: { key: string | Buffer, seq?: number }): ProvenIndexEntry {
  const v = verifyInclusionProof(proof, { key: opts.key })
  if (opts.seq !== undefined && v.index !== opts.seq) throw new InvalidProofError('evidence-mismatch', `The proof is for index seq ${v.index}, not ${opts.seq}`)
  let node: { key: Buffer, value: Buffer | null }
  try { node = beeNode.decode(v.value) } catch { throw new InvalidProofError('malformed-index', `Index block ${v.index} is not a Hyperbee node`) }
  const key = node.key.toString('utf8')
  let value: JsonValue | null = null
  if (node.value !== null && node.value.length > 0) {
    try { value = decodeIndexValue(node.value) } catch { throw new InvalidProofError('malformed-index', `Index block ${v.index} holds a value that is not stored JSON`) }
  }
  const type = node.value === null || node.value.length === 0 ? 'del' : 'put'
  return { seq: v.index, type, key, path: keyToPath(key), value, length: v.length }
}

/** Checks `proof` as the inclusion of block `opts.seq` (when given) in oplog `opts.oplog`, and parses the op. */
export function verifyOpProof (proof: InclusionProof | unknown, opts: { oplog: string | Buffer, seq?: number }): ProvenOpBlock {
  const v = verifyInclusionProof(proof, { key: opts.oplog })
  if (opts.seq !== undefined && v.index !== opts.seq) throw new InvalidProofError('evidence-mismatch', `The proof is for oplog seq ${v.index}, not ${opts.seq}`)
  let value: JsonValue
  try { value = JSON.parse(v.value.toString('utf8')) as JsonValue } catch { throw new InvalidProofError('malformed', `Oplog block ${v.index} is not JSON`) }
  return { seq: v.index, value, length: v.length }
}
