/**
 * The stable codes of the violations a replay detects, and the shape of a violation.
 * A leaf (no engine): fraud-proof checks in `vitra/proofs` read them too.
 */
import type { JsonValue } from '../../format/encoding.js'

/** Stable codes of the violations a replay detects. */
export const FraudCode = {
  GENESIS_MALFORMED: 'GENESIS_MALFORMED',
  UNPROMPTED_CHANGE: 'UNPROMPTED_CHANGE',
  UNPROMPTED_SYSTEM_CHANGE: 'UNPROMPTED_SYSTEM_CHANGE',
  MALFORMED_ACK: 'MALFORMED_ACK',
  ACK_KEY_MISMATCH: 'ACK_KEY_MISMATCH',
  NON_PARTICIPANT: 'NON_PARTICIPANT',
  PROCESSED_OUT_OF_ORDER: 'PROCESSED_OUT_OF_ORDER',
  OP_SKIPPED: 'OP_SKIPPED',
  ACK_FOR_MISSING_OP: 'ACK_FOR_MISSING_OP',
  OPLOG_MISMATCH: 'OPLOG_MISMATCH',
  INVALID_BATCH_START: 'INVALID_BATCH_START',
  RESULT_MISMATCH: 'RESULT_MISMATCH',
  CHANGE_COUNT_MISMATCH: 'CHANGE_COUNT_MISMATCH',
  CHANGE_MISMATCH: 'CHANGE_MISMATCH'
} as const
export type FraudCodeName = typeof FraudCode[keyof typeof FraudCode]

/** Failure codes an executor may publish without the verifier reproducing them (machine-dependent limits, non-deterministic process()). */
export const UNREPRODUCIBLE_FAILURES = new Set(['CONTRACT_TIMEOUT', 'CONTRACT_MEMORY_LIMIT', 'PROCESS_FAILED'])

/** A detected deviation: what was wrong and the data to reproduce it. */
export interface Violation {
  code: FraudCodeName
  description: string
  /** Index seq of the entry where the deviation shows. */
  seq: number
  data: Record<string, JsonValue>
}
