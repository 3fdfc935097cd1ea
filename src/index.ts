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
