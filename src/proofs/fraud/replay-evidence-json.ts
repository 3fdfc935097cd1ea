/**
 * Replay evidence in JSON form and its reader (the shape only; replay-evidence.ts
 * checks the proofs and re-runs the transaction). A leaf of pure modules, so that
 * `vitra/proofs` can read a fraud proof without the sandbox.
 */
import { indexReadProofFromJSON, type IndexReadProof } from '../bee/bee-proofs.js'
import { inclusionProofFromJSON, type InclusionProof } from '../log/inclusion-proofs.js'
import { rangeProofFromJSON, type RangeProof } from '../log/range-proofs.js'
import { consistencyProofFromJSON, parseMaybe, readConst, readObject, type ConsistencyProof } from '../log/signed-head.js'

export const REPLAY_EVIDENCE_TYPE = 'vitra/replay-evidence'

/** Replay evidence in JSON form. */
export interface ReplayEvidence {
  version: 2
  type: typeof REPLAY_EVIDENCE_TYPE
  /** A range proof of the index entries batchStart … upTo − 1. */
  batch: RangeProof
  /** Inclusion proof of the op in its oplog. */
  op: InclusionProof
  /** Consistency proof from the oplog tree the ack names (oplogLength) to the signed oplog head `op` is proven against. */
  oplog: ConsistencyProof
  /** Index read proof at the batch start: the replay's base reads, the contract source and the governance record. */
  reads: IndexReadProof
}

/** Parse (when given a string) and validate the shape of untrusted replay-evidence JSON. Throws InvalidProofError('malformed'). */
export function readReplayEvidence (json: unknown): ReplayEvidence {
  const o = readObject(parseMaybe(json), 'replay', ['version', 'type', 'batch', 'op', 'oplog', 'reads'])
  readConst(o.version, 2, 'replay.version')
  readConst(o.type, REPLAY_EVIDENCE_TYPE, 'replay.type')
  return {
    version: 2,
    type: REPLAY_EVIDENCE_TYPE,
    batch: rangeProofFromJSON(o.batch),
    op: inclusionProofFromJSON(o.op),
    oplog: consistencyProofFromJSON(o.oplog),
    reads: indexReadProofFromJSON(o.reads)
  }
}
