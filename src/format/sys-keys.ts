/**
 * The stored keys of the `/.sys/` entries that contracts reach through `tx` (a path's
 * segments joined by NUL, see paths.ts). Defined once: the host (schemas.ts), the
 * sandbox's authoritative check of recorded actions (sandbox/json.ts) and the guest
 * runtime that runs inside each contract's isolate (interpolated into its source) all
 * use these. A leaf: it imports only paths.ts.
 */
import { SEP } from './paths.js'

/** `/.sys`: reserved for the system; contracts write under it only through `tx`'s system mutators. */
export const SYS_KEY = '.sys'
/** `/.sys/inputs`: the participants, one entry per oplog key (`tx.addOplog`, `tx.removeOplog`). */
export const INPUTS_DIR = SYS_KEY + SEP + 'inputs'
/** `/.sys/contract/source` (`tx.setContractSource`). */
export const CONTRACT_SOURCE_KEY = SYS_KEY + SEP + 'contract' + SEP + 'source'
/** `/.sys/servers` (`tx.setServers`). */
export const SERVERS_KEY = SYS_KEY + SEP + 'servers'
/** `/.sys/witnesses`: the witness policy (genesis, or `tx.setWitnesses`). */
export const WITNESSES_KEY = SYS_KEY + SEP + 'witnesses'
