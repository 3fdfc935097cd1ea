/**
 * What a checked fraud proof says, in words built only from what its checks proved
 * (ProvenFraudFacts): never from the proof's own `details.description` or
 * `details.data`, which anyone can edit. A leaf of `vitra/proofs` (the CLI and the
 * explorer print these sentences).
 */
import { FraudCode, type FraudCodeName } from './fraud-codes.js'
import type { ProvenFraudFacts, ProvenIndexFact } from './fraud-envelope.js'

/**
 * One sentence per violation, from the proven facts. `confirmed` is whether the checks
 * proved the code itself (self-evident codes; replay-checked codes after the replay);
 * when they did not, the sentence says the code is claimed and what the evidence shows.
 */
export function fraudStatement (code: FraudCodeName, p: ProvenFraudFacts, confirmed: boolean): string {
  if (!confirmed) return `${code} is claimed, not proven by this file: the signed evidence is genuine (${evidenceList(p)}); a replay of the logs confirms or refutes the claim`
  const at = p.seq === null ? 'at an index seq the evidence does not pin' : `at index seq ${p.seq}`
  const e = p.entry
  const a = p.ack
  switch (code) {
    case FraudCode.UNPROMPTED_CHANGE:
    case FraudCode.UNPROMPTED_SYSTEM_CHANGE:
      return `Write to ${e?.path ?? '?'} ${at} that no op explains: ${a === null ? 'no ack precedes it' : a.ack === null ? `the entry before it (seq ${a.seq}) is ${a.path}` : `the ack at seq ${a.seq} announces ${a.ack.numChanges} write(s), which end before it`}`
    case FraudCode.MALFORMED_ACK:
      return `The entry ${at} is stored under an ack key (${e?.path ?? '?'}) but is not a well-formed ack`
    case FraudCode.ACK_KEY_MISMATCH:
      return `The ack ${at} is stored under ${e?.path ?? '?'} but names op ${e?.ack?.opSeq ?? '?'} of oplog ${e?.ack?.origin ?? '?'}`
    case FraudCode.ACK_FOR_MISSING_OP:
      return `The ack ${at} acknowledges op ${e?.ack?.opSeq ?? '?'} of oplog ${e?.ack?.origin ?? '?'}, beyond the oplog length ${e?.ack?.oplogLength ?? '?'} it commits to`
    case FraudCode.PROCESSED_OUT_OF_ORDER:
      return `The ack ${at} acknowledges op ${e?.ack?.opSeq ?? '?'} of oplog ${e?.ack?.origin ?? '?'}, which the earlier ack at seq ${p.previous?.seq ?? '?'} (op ${p.previous?.ack?.opSeq ?? '?'}) had already passed`
    case FraudCode.INVALID_BATCH_START:
      return `The ack ${at} names batch start ${e?.ack?.batchStart ?? '?'}, which is not where its batch starts`
    case FraudCode.CHANGE_MISMATCH:
      return `The write ${at}${e === null ? '' : ` (${e.path})`} differs from what apply produces for ${opOf(a)}`
    case FraudCode.CHANGE_COUNT_MISMATCH:
      return `The transaction of ${opOf(a)} publishes another number of writes than apply produces`
    case FraudCode.RESULT_MISMATCH:
      return `The ack ${at} records ${a?.ack === null || a === null ? 'an outcome' : a.ack.success ? 'a success' : 'a failure'} for ${opOf(a)}; apply gives the other outcome`
    default:
      return `${code} ${at}`
  }
}

function opOf (a: ProvenIndexFact | null): string {
  return a?.ack === null || a === null ? 'its op' : `op ${a.ack.opSeq} of oplog ${a.ack.origin} (ack at index seq ${a.seq})`
}

function evidenceList (p: ProvenFraudFacts): string {
  const parts: string[] = []
  if (p.entry !== null) parts.push(`index seq ${p.entry.seq}: ${p.entry.path}`)
  if (p.ack !== null) parts.push(`ack at index seq ${p.ack.seq}`)
  if (p.previous !== null) parts.push(`earlier ack at index seq ${p.previous.seq}`)
  if (p.op !== null) parts.push(`op ${p.op.seq} of oplog ${p.op.oplog}`)
  return parts.length === 0 ? 'the signed index head only' : parts.join('; ')
}
