/**
 * ContractFraudProof: portable evidence that the executor broke the contract.
 *
 * It names the index (key + signed head) and the violation (`details.code`,
 * description, data) and carries the signed evidence: inclusion proofs of the
 * index entry where the violation shows, of the ack involved, of an earlier
 * conflicting ack, and of the op in its oplog. `verifyFraudProof(json)` checks
 * all of it offline and re-derives the verdict for the codes that the evidence
 * alone decides (see `SELF_EVIDENT`). For CHANGE_MISMATCH, CHANGE_COUNT_MISMATCH
 * and RESULT_MISMATCH the proof also carries replay evidence (`evidence.replay`,
 * replay-evidence.ts): the batch entries, the op and an index read proof of the
 * state `apply` saw, so the transaction is re-run in the sandbox offline and the
 * mismatch confirmed (see `REPLAY_CHECKED`). For the remaining codes it confirms
 * the evidence is genuine and reports `selfEvident: false` (re-run with `vitra verify`).
 */
import { InvalidProofError, VitraError } from '../errors/errors.js'
import { ackKey, encodeAck, type Change } from '../format/schemas.js'
import type { SandboxLimits } from '../../sandbox/types.js'
import type { SignedHead } from '../proofs/log/signed-head.js'
import { checkOutcome } from './replay.js'
import { FraudCode, type FraudCodeName, type Violation } from '../proofs/fraud/fraud-codes.js'
import { vitraDetails, type VitraDetails } from './vitra-names.js'
import { verifyReplayEvidence, type ProvenIndexEntry as ReplayedEntry, type VerifiedReplay } from './replay-evidence.js'
import {
  checkFraudProofEnvelope, fact, readFraudProof, FRAUD_PROOF_TYPE, REPLAY_CHECKED, type FraudEvidence, type FraudProofJSON, type ProvenFraudFacts
} from '../proofs/fraud/fraud-envelope.js'
import { fraudStatement } from '../proofs/fraud/fraud-statement.js'

export {
  checkFraudProofEnvelope, readFraudProof, FRAUD_PROOF_TYPE, SELF_EVIDENT, REPLAY_CHECKED,
  type FraudEvidence, type FraudProofJSON, type CheckedEnvelope, type ProvenFraudFacts, type ProvenIndexFact
} from '../proofs/fraud/fraud-envelope.js'
export { fraudStatement } from '../proofs/fraud/fraud-statement.js'

/** Outcomes of a replay that depend on the machine: a replay ending in one of them proves nothing. */
const RESOURCE_FAILURES: ReadonlySet<string> = new Set(['CONTRACT_TIMEOUT', 'CONTRACT_MEMORY_LIMIT'])

/**
 * A violation of the contract by the executor. Thrown by `db.verify()`, emitted by monitors.
 * `violation` (and the JSON) carry vitra's stable code (`CHANGE_MISMATCH`, ...);
 * `details` shows the same violation as Vitra 0.1.3 does (`{ code: 'ChangeMismatchError', description, data }`).
 */
export class ContractFraudProof extends VitraError {
  readonly proof: FraudProofJSON
  /** The violation as Vitra shows it: `{ code: 'ChangeMismatchError', description, data }` (set by the constructor). */
  declare readonly details: VitraDetails & Record<string, unknown>

  constructor (proof: FraudProofJSON) {
    // details: the violation as Vitra names it (details.code 'ProcessedOutOfOrderError', ...); violation.code is vitra's own
    super('CONTRACT_FRAUD', `Executor violated the contract: ${proof.details.code}: ${proof.details.description}`, vitraDetails(proof.details) as unknown as Record<string, unknown>)
    this.proof = proof
  }

  /** The violation: `{ code, description, seq, data }`. */
  get violation (): FraudProofJSON['details'] { return this.proof.details }
  /** The signed index head the proof refers to. */
  get head (): SignedHead { return this.proof.index.head }

  toJSON (): FraudProofJSON { return this.proof }

  static fromJSON (json: unknown): ContractFraudProof { return new ContractFraudProof(readFraudProof(json)) }

  static fromViolation (v: Violation, index: FraudProofJSON['index'], evidence: FraudEvidence): ContractFraudProof {
    return new ContractFraudProof({ version: 1, type: FRAUD_PROOF_TYPE, index, details: { code: v.code, description: v.description, seq: v.seq, data: v.data }, evidence })
  }
}

/** What verifyFraudProof establishes. */
export interface VerifiedFraud {
  /** The code the proof names: proven when selfEvident, else claimed (a replay of the logs confirms it). */
  code: FraudCodeName
  key: string
  head: SignedHead
  /** The index seq of the violation as the checks pinned it; null when only the proof's details claim it. */
  seq: number | null
  /** Everything the checks proved (never the proof's own description or data). */
  proven: ProvenFraudFacts
  /** The violation in words, built from `proven` alone (src/proofs/fraud/fraud-statement.ts). */
  statement: string
  /**
   * True when the proof alone proves the violation (for the REPLAY_CHECKED codes: the
   * offline replay of the transaction confirmed it); false when it only proves the
   * evidence genuine and a full replay must confirm it.
   */
  selfEvident: boolean
}

export interface VerifyFraudProofOptions {
  /** Sandbox limits for the offline replay of the REPLAY_CHECKED codes (sandbox defaults otherwise). */
  limits?: SandboxLimits
}

/**
 * Check a fraud proof offline: the index head signature, every inclusion proof
 * (against the index key, or the op's oplog key), that the evidence sits where
 * the details say, and, for self-evident codes, the violation itself. For
 * CHANGE_MISMATCH, CHANGE_COUNT_MISMATCH and RESULT_MISMATCH it requires
 * `evidence.replay`, re-runs the transaction in a sandbox from it and confirms the
 * mismatch. Throws InvalidProofError when anything does not check out (reason
 * `not-a-violation` when the replay agrees with what was published, `inconclusive`
 * when the offline replay hit a machine-dependent resource limit).
 */
export async function verifyFraudProof (json: unknown, opts: VerifyFraudProofOptions = {}): Promise<VerifiedFraud> {
  const { proof: p, key, selfEvident: evident, proven: envelope } = checkFraudProofEnvelope(json)
  const ev = p.evidence
  const d = p.details
  let selfEvident = evident
  let proven = envelope
  if (REPLAY_CHECKED.has(d.code)) {
    if (ev.replay === undefined) throw new InvalidProofError('not-a-violation', `A ${d.code} proof must carry evidence.replay`)
    const ackSeq = typeof d.data.ackSeq === 'number' ? d.data.ackSeq : d.seq
    const r = await verifyReplayEvidence(ev.replay, { indexKey: key, ackSeq, limits: opts.limits })
    checkReplayed(d, p.index.head, r)
    selfEvident = true
    proven = replayedFacts(envelope, d.seq, r)
  }
  return { code: d.code, key, head: p.index.head, selfEvident, seq: proven.seq, proven, statement: fraudStatement(d.code, proven, selfEvident) }
}

/** The facts a confirmed replay adds: checkReplayed pinned the violation at `seq`, the ack and the writes are proven. */
function replayedFacts (envelope: ProvenFraudFacts, seq: number, r: VerifiedReplay): ProvenFraudFacts {
  const a = r.ack
  const ack = fact({ seq: r.ackSeq, key: ackKey(a.origin, a.seq), value: encodeAck(a) })
  const written = r.published.find(e => e.seq === seq)
  const entry = written !== undefined ? fact({ seq, key: written.key, value: written.value }) : seq === r.ackSeq ? ack : envelope.entry
  return { ...envelope, seq, ack, entry }
}

/**
 * Confirm `d` from the replayed transaction: the same decision replay.ts takes for
 * this transaction must be the violation `d` names, at `d.seq`.
 */
function checkReplayed (d: FraudProofJSON['details'], head: SignedHead, r: VerifiedReplay): void {
  const fail = (why: string): never => { throw new InvalidProofError('not-a-violation', `The replay does not show ${d.code}: ${why}`) }
  if (r.head.length !== head.length || r.head.fork !== head.fork || r.head.treeHash !== head.treeHash) {
    throw new InvalidProofError('evidence-mismatch', 'The replay evidence is against another signed head than the proof')
  }
  if ((d.data.origin !== undefined && d.data.origin !== r.ack.origin) || (d.data.opSeq !== undefined && d.data.opSeq !== r.ack.seq)) {
    throw new InvalidProofError('evidence-mismatch', 'The replayed ack is for another op than the details name')
  }
  const x = r.expected
  if (!x.ok && RESOURCE_FAILURES.has(x.code) && r.ack.success) {
    throw new InvalidProofError('inconclusive', `The offline replay hit a resource limit (${x.code}); that depends on the machine and proves nothing`)
  }
  const outcome = checkOutcome(r.ackSeq, r.ack, x)
  if (outcome !== null) {
    if (outcome.code !== d.code) return fail(`the replay finds ${outcome.code} at the ack`)
    if (d.seq !== r.ackSeq) return fail(`the violation is at the ack (${r.ackSeq}), the details say ${d.seq}`)
    return
  }
  if (d.code === FraudCode.RESULT_MISMATCH) return fail('the ack\'s outcome agrees with the replay')
  const changes: Change[] = x.ok && r.ack.success ? x.changes : []
  // The published writes that are in the evidence, compared one by one as replay.ts does.
  const published = r.published
  if (published.length > changes.length) return fail(`the evidence shows ${published.length} writes after the ack, the transaction has ${changes.length}`)
  const differs = published.findIndex((e, i) => !sameChange(changes[i]!, e))
  if (d.code === FraudCode.CHANGE_MISMATCH) {
    if (differs === -1) return fail('every published write equals the replayed one')
    const first = published[differs]!
    if (differs !== published.length - 1 || d.seq !== first.seq) return fail(`the first differing write is at ${first.seq}, the details say ${d.seq}`)
    return
  }
  // CHANGE_COUNT_MISMATCH with an agreeing ack: the transaction is cut off by the signed head.
  if (differs !== -1) return fail(`write ${published[differs]!.seq} differs from the replay (that is CHANGE_MISMATCH)`)
  if (published.length === changes.length) return fail('all announced writes were published')
  if (r.upTo !== head.length || d.seq !== head.length) return fail(`the evidence ends at ${r.upTo} and the details at ${d.seq}, not at the signed head length ${head.length}`)
}

function sameChange (expected: Change, e: ReplayedEntry): boolean {
  const published: Change = e.type === 'put' && e.value !== null ? { type: 'put', key: e.key, value: e.value } : { type: 'del', key: e.key }
  if (expected.type !== published.type || expected.key !== published.key) return false
  return expected.type === 'del' || (published.type === 'put' && expected.value.equals(published.value))
}

