/**
 * `vitra/proofs`: the offline proof checks on their own. Importing this loads none of
 * the engine (no hypercore, corestore, hyperswarm, hyperbee or isolated-vm), needs no
 * Node flags, and checks a proof with the public keys alone:
 *
 *   import { verifyInclusionProof } from 'vitra/proofs'

 *   const { index, value, length } = verifyInclusionProof(json, { key })
 *
 * Hashing and signatures are injected (`setPrimitives`): Node's sodium-native and
 * OpenSSL by default, `noblePrimitives` (pure JavaScript) anywhere else.
 * whitepaper/proofs.md specifies every format.
 *
 * Here so far: Hypercore's hashing and manifests, signed heads, block inclusion,
 * consistency, range, log-fork and index read proofs (the last replay Hyperbee's own
 * lookup over the proven blocks: hyperbee is loaded, pure JavaScript, never a core).
 * Witnessed checkpoints (whitepaper/witness.md): `verifyWitnessedCheckpoint` checks a
 * checkpoint's head and its cosignatures against an N-of-M witness policy.
 * Fraud proofs: `checkFraudProofEnvelope` checks everything but the re-run of a
 * transaction (the codes in REPLAY_CHECKED need the contract sandbox: the main API's
 * `verifyFraudProof`).
 */
export { primitives, setPrimitives, type Primitives } from './crypto/primitives.js'
export { noblePrimitives } from './crypto/primitives-noble.js'
export { VitraError, InvalidProofError, CouldNotVerifyError, InvalidArgumentError } from '../errors/errors.js'
export { MAX_JSON_DEPTH, parseJson } from '../format/encoding.js'
export { verifyInclusionProof, inclusionProofFromJSON, inclusionProofToJSON, type InclusionProof, type VerifiedInclusion } from './log/inclusion-proofs.js'
export { verifyRangeProof, rangeProofFromJSON, RANGE_PROOF_TYPE, MAX_RANGE_BLOCKS, type RangeProof, type VerifiedRange } from './log/range-proofs.js'
export {
  verifySignedHead, signedHeadFromJSON, verifyConsistencyProof, consistencyProofFromJSON, defaultManifest,
  type SignedHead, type ManifestJSON, type ConsistencyProof, type VerifiedHead, type VerifiedConsistency
} from './log/signed-head.js'
export { verifyLogForkProof, LogForkFraudProof, type LogForkProofJSON, type VerifiedLogFork } from './fraud/log-fork-proof.js'
export {
  verifyIndexReadProof, indexReadProofFromJSON, proofReader, MAX_READS,
  type IndexReadProof, type IndexRead, type IndexRange, type VerifiedIndexReads, type ProvenGet, type ProvenEntry, type IndexProofReader
} from './bee/bee-proofs.js'
export { verifyFolderListProof, type ProvenListItem } from './bee/folder-list-proof.js'
export { verifyIndexEntryProof, verifyOpProof, type ProvenIndexEntry, type ProvenOpBlock } from './records/entry-proofs.js'
export { verifyQueryRowProofs, rowIndexSeq, type QueryRowsToCheck } from './records/query-proofs.js'
export {
  checkFraudProofEnvelope, readFraudProof, FRAUD_PROOF_TYPE, SELF_EVIDENT, REPLAY_CHECKED,
  type CheckedEnvelope, type FraudProofJSON, type FraudEvidence, type ProvenFraudFacts, type ProvenIndexFact
} from './fraud/fraud-envelope.js'
export { fraudStatement } from './fraud/fraud-statement.js'
export { FraudCode, type FraudCodeName } from './fraud/fraud-codes.js'
export { verifyTransactionProofs, type ProvenOp, type ProvenResult, type ProvenWrite } from './records/result-proofs.js'
export {
  verifyWitnessedCheckpoint, verifyUnderCheckpoint, readWitnessPolicy, witnessPolicyToJSON, MAX_WITNESSES,
  type WitnessPolicy, type WitnessPolicyJSON, type WitnessedCheckpoint
} from './witness/policy.js'
export { parseCheckpoint, verifyCheckpointHead, checkpointNote, checkpointBody, type Checkpoint } from './witness/checkpoint.js'
export { parseWitnessKey, formatWitnessKey, checkCosignature, cosignedMessage, type WitnessKey, type Cosigned } from './witness/cosignature.js'
export { parseNote, formatNote, noteKeyId, type Note, type NoteSignature } from './witness/note.js'
export { decideCheckpoint, parseAddCheckpoint, formatAddCheckpoint, type AddCheckpointRequest, type CheckpointDecision } from './witness/add-checkpoint.js'
export * as hypercore from './crypto/hypercore-crypto.js'
