/**
 * The names Vitra 0.1.3 gives the violations vitra detects. vitra's own codes
 * (`violation.code`, the fraud proof JSON) are stable UPPER_SNAKE strings; a
 * ContractFraudProof's `details` shows the same violation the way Vitra's
 * ContractFraudProof does (`details.code` is the name of Vitra's error class,
 * `details.data` carries Vitra's field names too), so that programs written for
 * Vitra keep working. Codes Vitra has no name for get one in Vitra's style.
 */
import type { JsonValue } from '../format/encoding.js'
import type { FraudCodeName } from './replay.js'

/** Vitra's view of a violation. */
export interface VitraDetails { code: string, description: string, data: Record<string, JsonValue> }

const NAMES: Record<FraudCodeName, string> = {
  GENESIS_MALFORMED: 'InvalidSchemaError',
  UNPROMPTED_CHANGE: 'ChangeNotProducedByMonitorError',
  UNPROMPTED_SYSTEM_CHANGE: 'ChangeNotProducedByMonitorError',
  MALFORMED_ACK: 'InvalidSchemaError',
  ACK_KEY_MISMATCH: 'InvalidSchemaError',
  NON_PARTICIPANT: 'NonParticipantError',
  PROCESSED_OUT_OF_ORDER: 'ProcessedOutOfOrderError',
  OP_SKIPPED: 'ProcessedOutOfOrderError',
  ACK_FOR_MISSING_OP: 'CannotFetchOpError',
  OPLOG_MISMATCH: 'OplogMismatchError',
  INVALID_BATCH_START: 'InvalidBatchStartError',
  RESULT_MISMATCH: 'MonitorApplyFailedError',
  CHANGE_COUNT_MISMATCH: 'ChangeNotProducedByExecutorError',
  CHANGE_MISMATCH: 'ChangeMismatchError'
}

/** Vitra's name for a violation code, given its data (some codes split in two there). */
export function vitraName (code: FraudCodeName, data: Record<string, JsonValue>): string {
  // Vitra tells "the executor wrote more than apply" from "less than apply"
  if (code === 'CHANGE_COUNT_MISMATCH' && typeof data.expected === 'number' && typeof data.published === 'number' && data.published > data.expected) return 'ChangeNotProducedByMonitorError'
  // and it only catches one side of a result mismatch: an op acked as a success that apply fails
  if (code === 'RESULT_MISMATCH' && data.expectedError === undefined) return 'ChangeNotProducedByExecutorError'
  return NAMES[code]
}

/** The violation as Vitra's ContractFraudProof.details shows it. */
export function vitraDetails (v: { code: FraudCodeName, description: string, data: Record<string, JsonValue> }): VitraDetails {
  const data: Record<string, JsonValue> = { ...v.data }
  if (typeof data.origin === 'string') data.oplogPubkey = data.origin
  for (const k of ['expectedChange', 'publishedChange']) {
    const c = data[k]
    if (c !== null && typeof c === 'object' && !Array.isArray(c)) data[k] = { path: c.path, type: c.type, value: c.value } as JsonValue
  }
  return { code: vitraName(v.code, v.data), description: v.description, data }
}
