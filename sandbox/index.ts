/** The contract sandbox: public surface of the sandbox layer. */
export { ContractSandbox, MAX_RUN_ITEMS, type SandboxOptions } from './contract-sandbox.js'
export { resolveLimits, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_MS, type ResolvedLimits } from './limits.js'
export { GUEST_MODULE_NAMES } from './guest-sources.js'
export type {
  Json,
  SandboxLimits,
  IndexEntry,
  ListOptions,
  IndexReader,
  CallContext,
  AckInfo,
  TxAction,
  CallResult,
  RunItem,
  RunResult,
  RunOutcome
} from './types.js'
