// Public API of vitra. Only what is exported here is supported.
export { Database, type DatabaseOptions, type CreateOptions, type CallOptions } from './database.js'
export { StorageInMemory, type Storage } from './storage.js'
export { ContractTransaction, type TxOp, type TxResult, type TxChange } from './transaction.js'
export { IndexLog, type IndexEntry, type HistoryEntry, type ListOptions, type DirectWrite } from './logs/index-log.js'
export { Oplog } from './logs/oplog.js'
export { Executor } from './executor.js'
export { canonicalJson, encodeValue, decodeValue, type JsonValue } from './encoding.js'
export * from './errors.js'
export {
  ackKey, parseAckKey, inputKey, CONTRACT_SOURCE_KEY, INPUTS_PREFIX, ACKS_PREFIX, GENESIS_KEY,
  type Ack, type InputRecord, type Op, type Change
} from './schemas.js'
export { createInclusionProof, verifyInclusionProof, type InclusionProof } from './verify/inclusion-proofs.js'
export type { SandboxLimits } from '../sandbox/types.js'
export { readShippedContract, shippedContractPath } from './shipped-contracts.js'
export { ContractFraudProof, verifyFraudProof, type FraudProofJSON, type VerifiedFraud } from './verify/fraud-proofs.js'
export { ContractMonitor, type MonitorOptions } from './verify/monitor.js'
export { Verifier, verifyIndex, type Checkpoint, type VerifierOptions } from './verify/verifier.js'
export { FraudCode, type FraudCodeName, type Violation } from './verify/replay.js'
export { LogForkFraudProof, verifyLogForkProof, watchForConflicts } from './verify/log-fork-proof.js'
export { captureSignedHead, verifySignedHead, createConsistencyProof, verifyConsistencyProof, type SignedHead } from './verify/signed-head.js'
export { inclusionProofFromJSON, inclusionProofToJSON } from './verify/inclusion-proofs.js'
export { keyId, toKeyId, quorum, approvalMessage, signApproval, verifyApproval, oplogKeyFor, QUORUM_START_HEIGHT, APPROVAL_MESSAGE_PREFIX, type ApprovalKind, type ApprovalSignature } from './poa.js'
