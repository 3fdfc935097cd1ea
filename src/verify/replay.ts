/**
 * The replay state machine. `step(state, entry, env)` checks one index entry
 * against the contract and the oplogs and returns the next state or a
 * violation. All I/O goes through `env`, so the transitions are unit-testable
 * and the same code serves `verify()`, the monitor and offline fraud proofs.
 *
 * After genesis the index must be a sequence of transactions: an ack for the
 * next unprocessed op of an active oplog, followed by exactly the writes that
 * re-running `apply` produces (byte for byte). See whitepaper/verification.md.
 */
import { decodeValue, type JsonValue } from '../format/encoding.js'
import { VitraError, errors } from '../errors/errors.js'
import {
  actionsToChanges, CONTRACT_SOURCE_KEY, decodeAck, decodeInput, decodeOp, GENESIS_KEY, GOVERNANCE_KEY, WITNESSES_KEY,
  INPUTS_PREFIX, isSysKey, parseAckKey, type Ack, type Change
} from '../format/schemas.js'
import type { AckInfo, TxAction } from '../../sandbox/types.js'
import type { Overlay, StateReader } from './state-view.js'
import { keyToPath } from '../format/paths.js'
import { checkMaxOpBytes, DEFAULT_MAX_OP_BYTES, opTooLarge, parseGenesisMarker } from '../format/limits.js'
import { parseGovernance, type Governance } from '../exec/database-contracts.js'
import { FraudCode, UNREPRODUCIBLE_FAILURES, type FraudCodeName, type Violation } from '../proofs/fraud/fraud-codes.js'
import { readWitnessPolicy } from '../proofs/witness/policy.js'

export { FraudCode, UNREPRODUCIBLE_FAILURES, type FraudCodeName, type Violation } from '../proofs/fraud/fraud-codes.js'

interface InputState {
  active: boolean
  nextSeq: number
  /** Index seq of this oplog's last ack (-1 for none). */
  ackAt: number
}

/** The transaction whose writes are being checked. */
interface Pending { ackSeq: number, origin: string, seq: number, expected: Change[], next: number }

/** Replay state. Kept in memory by the verifier; `serializeState` gives the checkpoint form. */
export interface ReplayState {
  /** Index seqs below this are verified; the next entry must have this seq. */
  length: number
  genesisDone: boolean
  source: string | null
  governance: JsonValue | null
  /** The database's maxOpBytes, from the genesis marker. */
  maxOpBytes: number
  /** The ack encoding of the index, the genesis marker's protocol version (1: JSON, 2: binary). */
  ackVersion: 1 | 2
  /** Index seq of the genesis marker (0 before it): a fraud proof of an ack in the wrong version shows it. */
  genesisSeq: number
  inputs: Record<string, InputState>
  /** batchStart of the last ack (0 before the first). */
  batchStart: number
  /** Index seq of the last ack (or of the genesis marker). */
  lastAck: number
  /** Writes since batchStart (including acks): key → the entry (seq, bytes), null for a delete. */
  overlay: Overlay
  pending: Pending | null
}

/** JSON form of a ReplayState (a monitor checkpoint). */
export interface SerializedState {
  v: 2
  length: number
  genesisDone: boolean
  source: string | null
  governance: JsonValue | null
  /** Absent in checkpoints written before the limit existed: the default. */
  maxOpBytes?: number
  /** Absent in checkpoints written before protocol version 2: 1. */
  ackVersion?: 1 | 2
  genesisSeq?: number
  inputs: Record<string, InputState>
  batchStart: number
  lastAck: number
  overlay: Array<[string, [number, string] | null]>
  pending: { ackSeq: number, origin: string, seq: number, expected: Array<{ type: 'put' | 'del', key: string, value: string | null }>, next: number } | null
}

/** A history entry of the index (untrusted). */
export interface IndexBlock { seq: number, type: 'put' | 'del', key: string, value: Buffer | null }

/** What a replay needs from the world. Implementations must throw CouldNotVerifyError when data is missing. */
export interface ReplayEnv {
  /** The raw op block `seq` of oplog `origin`. */
  getOp (origin: string, seq: number): Promise<Buffer>
  /** Hex tree hash of oplog `origin` at `length` (throws CouldNotVerifyError when the replica is shorter). */
  oplogTreeHash (origin: string, length: number): Promise<string>
  /** The state at `batchStart` with `overlay` applied. */
  stateAt (batchStart: number, overlay: Overlay): Promise<StateReader>
  /** Run `apply` of the contracts (`source` + governance), routed as the executor does (throws a VitraError when the contract fails). */
  apply (source: string, op: JsonValue, ack: AckInfo, state: StateReader, governance: Governance | null, opJson?: string): Promise<TxAction[]>
  /** Throws a VitraError when `source` (with the governance's system contract) does not compile. */
  compile (source: string, governance: Governance | null): Promise<void>
  /**
   * Optional: the replay accepted an op without its writes (a failure the verifier
   * cannot reproduce): results `apply` computed ahead on top of those writes are void.
   */
  forgetAhead?: () => void
  /** Optional: the ack the env already decoded (decodeAck) from these very bytes at index seq `seq`, else null. */
  knownAck?: (seq: number, bytes: Buffer) => Ack | null
  /** Optional: the op the env already decoded (decodeOp) from this very block, else null. */
  knownOp?: (block: Buffer) => JsonValue | null
}

export function initialState (): ReplayState {
  return { length: 1, genesisDone: false, source: null, governance: null, maxOpBytes: DEFAULT_MAX_OP_BYTES, ackVersion: 1, genesisSeq: 0, inputs: {}, batchStart: 0, lastAck: 0, overlay: new Map(), pending: null }
}

/**
 * Check one index entry (the entry at `state.length`). Returns null and advances
 * `state` in place when the entry is valid; returns the violation and leaves
 * `state` untouched when not. Throws CouldNotVerifyError when data is missing.
 */
export async function step (state: ReplayState, entry: IndexBlock, env: ReplayEnv): Promise<Violation | null> {
  if (entry.seq !== state.length) throw errors.REPLAY_ORDER(`Replay expected index seq ${state.length}, got ${entry.seq}`)
  const violation = !state.genesisDone
    ? await genesisStep(state, entry, env)
    : state.pending !== null ? changeStep(state, entry) : await ackStep(state, entry, env)
  if (violation === null) state.length = entry.seq + 1
  return violation
}

/**
 * `step` for an entry that needs no I/O (a write of the transaction being checked),
 * without a promise; undefined when the entry needs `step`.
 */
export function stepWrite (state: ReplayState, entry: IndexBlock): Violation | null | undefined {
  if (!state.genesisDone || state.pending === null || entry.seq !== state.length) return undefined
  const violation = changeStep(state, entry)
  if (violation === null) state.length = entry.seq + 1
  return violation
}

function fraud (code: FraudCodeName, seq: number, description: string, data: Record<string, JsonValue> = {}): Violation {
  return { code, seq, description, data }
}

async function genesisStep (state: ReplayState, e: IndexBlock, env: ReplayEnv): Promise<Violation | null> {
  const path = keyToPath(e.key)
  const bad = (why: string): Violation => fraud(FraudCode.GENESIS_MALFORMED, e.seq, `Malformed genesis: ${why}`, { path })
  if (e.type !== 'put' || e.value === null) return bad(`a delete of ${path}`)
  let value: JsonValue
  try { value = decodeValue(e.value) } catch { return bad(`${path} is not a JSON value`) }
  if (e.key === CONTRACT_SOURCE_KEY) {
    if (state.source !== null || typeof value !== 'string') return bad('the contract source is repeated or not a string')
    state.source = value
  } else if (e.key === GOVERNANCE_KEY) {
    try { parseGovernance(value) } catch { return bad('/.sys/governance is malformed') }
    state.governance = value
  } else if (e.key === WITNESSES_KEY) {
    try { readWitnessPolicy(value) } catch { return bad('/.sys/witnesses is not a witness policy') }
  } else if (e.key.startsWith(INPUTS_PREFIX)) {
    let rec: ReturnType<typeof decodeInput>
    try { rec = decodeInput(e.value) } catch { return bad(`${path} is not an input record`) }
    if (e.key !== INPUTS_PREFIX + rec.pubkey) return bad(`${path} names another key than its record`)
    state.inputs[rec.pubkey] = { active: rec.active, nextSeq: 0, ackAt: -1 }
  } else if (e.key === GENESIS_KEY) {
    try {
      const marker = parseGenesisMarker(value)
      state.maxOpBytes = marker.maxOpBytes
      state.ackVersion = marker.v
    } catch (err) { return bad((err as Error).message) }
    if (state.source === null) return bad('no contract source before the genesis marker')
    if (!Object.values(state.inputs).some(i => i.active)) return bad('no active participant')
    try { await env.compile(state.source, parseGovernance(state.governance)) } catch (err) {
      if (err instanceof VitraError) return bad(`the contract does not compile: ${err.message}`)
      throw err
    }
    state.genesisDone = true
    state.genesisSeq = e.seq
    state.lastAck = e.seq
  } else {
    return bad(`unexpected path ${path}`)
  }
  return null
}

function changeStep (state: ReplayState, e: IndexBlock): Violation | null {
  const p = state.pending as Pending
  const expected = p.expected[p.next]!
  const published: Change = e.type === 'put' && e.value !== null ? { type: 'put', key: e.key, value: e.value } : { type: 'del', key: e.key }
  if (expected.type !== published.type || expected.key !== published.key || (expected.type === 'put' && published.type === 'put' && !expected.value.equals(published.value))) {
    return fraud(FraudCode.CHANGE_MISMATCH, e.seq, `Write ${p.next + 1} of op ${p.seq} of oplog ${short(p.origin)} differs from what apply produces`, {
      origin: p.origin, opSeq: p.seq, ackSeq: p.ackSeq, index: p.next, expectedChange: readable(expected), publishedChange: readable(published)
    })
  }
  state.overlay.set(e.key, published.type === 'put' ? { seq: e.seq, value: published.value } : null)
  p.next++
  if (p.next === p.expected.length) finishTransaction(state)
  return null
}

async function ackStep (state: ReplayState, e: IndexBlock, env: ReplayEnv): Promise<Violation | null> {
  const where = parseAckKey(e.key)
  if (where === null || e.type !== 'put' || e.value === null) {
    const system = e.key === CONTRACT_SOURCE_KEY || e.key.startsWith(INPUTS_PREFIX)
    return fraud(system ? FraudCode.UNPROMPTED_SYSTEM_CHANGE : FraudCode.UNPROMPTED_CHANGE, e.seq,
      `${e.type === 'put' ? 'Write to' : 'Delete of'} ${keyToPath(e.key)} that no op explains`, { type: e.type, path: keyToPath(e.key), sys: isSysKey(e.key) })
  }
  let ack: Ack
  try { ack = env.knownAck?.(e.seq, e.value) ?? decodeAck(e.value) } catch (err) {
    return fraud(FraudCode.MALFORMED_ACK, e.seq, `Ack at ${keyToPath(e.key)} is malformed: ${(err as Error).message}`, { path: keyToPath(e.key) })
  }
  const ackData = ack as unknown as JsonValue
  if (ack.v !== state.ackVersion) {
    return fraud(FraudCode.MALFORMED_ACK, e.seq, `Ack at ${keyToPath(e.key)} is a version ${ack.v} ack in a version ${state.ackVersion} index (the genesis marker sets one encoding for every ack)`, { path: keyToPath(e.key), genesisSeq: state.genesisSeq })
  }
  if (ack.origin !== where.origin || ack.seq !== where.seq) {
    return fraud(FraudCode.ACK_KEY_MISMATCH, e.seq, `Ack path ${keyToPath(e.key)} disagrees with its fields (origin ${short(ack.origin)}, seq ${ack.seq})`, { path: keyToPath(e.key), ack: ackData })
  }
  const input = state.inputs[ack.origin]
  if (input === undefined || !input.active) {
    return fraud(FraudCode.NON_PARTICIPANT, e.seq, `Op ${ack.seq} of ${short(ack.origin)} was executed, but that oplog is not an active participant`, { origin: ack.origin, opSeq: ack.seq, ack: ackData })
  }
  if (ack.seq !== input.nextSeq) {
    const code = ack.seq < input.nextSeq ? FraudCode.PROCESSED_OUT_OF_ORDER : FraudCode.OP_SKIPPED
    return fraud(code, e.seq, `Oplog ${short(ack.origin)}: expected op ${input.nextSeq} next, the executor processed op ${ack.seq}`, { origin: ack.origin, expectedSeq: input.nextSeq, executedSeq: ack.seq, ack: ackData })
  }
  if (ack.seq >= ack.oplogLength) {
    return fraud(FraudCode.ACK_FOR_MISSING_OP, e.seq, `Ack for op ${ack.seq} of ${short(ack.origin)}, but the oplog length it names is ${ack.oplogLength}`, { origin: ack.origin, opSeq: ack.seq, ack: ackData })
  }
  const sameBatch = state.batchStart > 0 && ack.batchStart === state.batchStart
  if (!sameBatch && ack.batchStart !== e.seq) {
    return fraud(FraudCode.INVALID_BATCH_START, e.seq, `Ack names batch start ${ack.batchStart}; it must be the previous ack's (${state.batchStart}) or its own seq (${e.seq})`, { ack: ackData })
  }
  const treeHash = await env.oplogTreeHash(ack.origin, ack.oplogLength)
  if (treeHash !== ack.oplogTreeHash) {
    return fraud(FraudCode.OPLOG_MISMATCH, e.seq, `Ack names oplog ${short(ack.origin)} at length ${ack.oplogLength} with a tree hash the oplog does not have`, { origin: ack.origin, opSeq: ack.seq, oplogTreeHash: treeHash, ack: ackData })
  }
  const overlay: Overlay = sameBatch ? state.overlay : new Map()
  const replay = await replayOp(state.source as string, parseGovernance(state.governance), ack, e.seq, overlay, env, state.maxOpBytes)
  const v = checkOutcome(e.seq, ack, replay)
  if (v !== null) return v
  if (replay.ok && !ack.success) env.forgetAhead?.()
  state.batchStart = ack.batchStart
  state.overlay = overlay
  overlay.set(e.key, { seq: e.seq, value: e.value })
  input.nextSeq = ack.seq + 1
  input.ackAt = e.seq
  state.lastAck = e.seq
  const expected = replay.ok && ack.success ? replay.changes : []
  state.pending = { ackSeq: e.seq, origin: ack.origin, seq: ack.seq, expected, next: 0 }
  if (expected.length === 0) finishTransaction(state)
  return null
}

/** The outcome of re-running one op: its writes, or the error `apply` (or the new source's compile) failed with. */
export type Replay = { ok: true, changes: Change[] } | { ok: false, code: string, message: string }

/**
 * Re-run the op against the state the executor saw: the op block from `env.getOp`,
 * `apply` of `source` over `env.stateAt(ack.batchStart, overlay)` with the ack's ts and
 * metadata, the actions turned into writes, and a new contract source compiled.
 * Contract failures become `{ ok: false }`; COULD_NOT_VERIFY and non-vitra errors are
 * thrown. Shared by the replay and the offline check of replay evidence.
 */
export async function replayOp (source: string, governance: Governance | null, ack: Ack, height: number, overlay: Overlay, env: ReplayEnv, maxOpBytes: number): Promise<Replay> {
  const block = await env.getOp(ack.origin, ack.seq)
  const view = await env.stateAt(ack.batchStart, overlay)
  try {
    if (block.byteLength > maxOpBytes) throw opTooLarge(block.byteLength, maxOpBytes)
    const op = env.knownOp?.(block) ?? decodeOp(block)
    const actions = await env.apply(source, op, { origin: ack.origin, seq: ack.seq, ts: ack.ts, metadata: ack.metadata, height }, view, governance, block.toString('utf8'))
    const changes = await actionsToChanges(actions, k => view.has(k))
    for (const c of changes) if (c.key === CONTRACT_SOURCE_KEY && c.type === 'put') await env.compile(decodeValue(c.value) as string, governance)
    return { ok: true, changes }
  } catch (err) {
    if (!(err instanceof VitraError)) throw err
    if (err.code === 'COULD_NOT_VERIFY') throw err
    return { ok: false, code: err.code, message: err.message }
  }
}

/**
 * Compare the ack at index seq `seq` with the replayed outcome (verification.md §2 step 10):
 * RESULT_MISMATCH, CHANGE_COUNT_MISMATCH, or null when they agree (the writes are then
 * checked one by one). Pure.
 */
export function checkOutcome (seq: number, ack: Ack, replay: Replay): Violation | null {
  const ackData = ack as unknown as JsonValue
  if (!replay.ok) {
    if (ack.success) {
      return fraud(FraudCode.RESULT_MISMATCH, seq, `Op ${ack.seq} of ${short(ack.origin)} is acked as a success, but apply fails: ${replay.message}`, { origin: ack.origin, opSeq: ack.seq, expectedError: replay.message, ack: ackData })
    }
    if (ack.numChanges !== 0) {
      return fraud(FraudCode.CHANGE_COUNT_MISMATCH, seq, `A failed op must have no writes; the ack announces ${ack.numChanges}`, { origin: ack.origin, opSeq: ack.seq, expected: 0, published: ack.numChanges, ack: ackData })
    }
    return null
  }
  if (!ack.success) {
    if (UNREPRODUCIBLE_FAILURES.has(ack.errorCode ?? '') && ack.numChanges === 0) return null
    return fraud(FraudCode.RESULT_MISMATCH, seq, `Op ${ack.seq} of ${short(ack.origin)} is acked as failed (${ack.error ?? 'no error'}), but apply succeeds`, { origin: ack.origin, opSeq: ack.seq, ack: ackData })
  }
  if (ack.numChanges !== replay.changes.length) {
    return fraud(FraudCode.CHANGE_COUNT_MISMATCH, seq, `Op ${ack.seq} of ${short(ack.origin)}: apply produces ${replay.changes.length} writes, the ack announces ${ack.numChanges}`, { origin: ack.origin, opSeq: ack.seq, expected: replay.changes.length, published: ack.numChanges, expectedChanges: replay.changes.map(readable), ack: ackData })
  }
  return null
}

/** The op's writes are all verified: apply their effect on the participant set and the contract. */
function finishTransaction (state: ReplayState): void {
  const p = state.pending as Pending
  for (const c of p.expected) {
    if (c.type !== 'put') continue
    const bytes = c.value
    if (c.key === CONTRACT_SOURCE_KEY) state.source = decodeValue(bytes) as string
    else if (c.key.startsWith(INPUTS_PREFIX)) {
      const rec = decodeInput(bytes)
      const cur = state.inputs[rec.pubkey]
      state.inputs[rec.pubkey] = { active: rec.active, nextSeq: cur?.nextSeq ?? 0, ackAt: cur?.ackAt ?? -1 }
    }
  }
  state.pending = null
}

/** Check that the index did not end in the middle of a transaction (acks announce writes that never came). */
export function checkComplete (state: ReplayState): Violation | null {
  const p = state.pending
  if (p === null) return null
  return fraud(FraudCode.CHANGE_COUNT_MISMATCH, state.length, `The index ends after ${p.next} of the ${p.expected.length} writes of op ${p.seq} of ${short(p.origin)}`, {
    origin: p.origin, opSeq: p.seq, ackSeq: p.ackSeq, expected: p.expected.length, published: p.next
  })
}

function readable (c: Change): JsonValue {
  if (c.type === 'del') return { type: 'del', path: keyToPath(c.key), value: null, bytes: null }
  let value: JsonValue
  try { value = decodeValue(c.value) } catch { value = { undecodable: true } }
  return { type: 'put', path: keyToPath(c.key), value, bytes: c.value.toString('hex') }
}

/** The checkpoint form of a state. */
export function serializeState (s: ReplayState): SerializedState {
  return {
    v: 2,
    length: s.length,
    genesisDone: s.genesisDone,
    source: s.source,
    governance: s.governance,
    maxOpBytes: s.maxOpBytes,
    ackVersion: s.ackVersion,
    genesisSeq: s.genesisSeq,
    inputs: JSON.parse(JSON.stringify(s.inputs)) as Record<string, InputState>,
    batchStart: s.batchStart,
    lastAck: s.lastAck,
    overlay: [...s.overlay].map(([k, v]) => [k, v === null ? null : [v.seq, v.value.toString('hex')]]),
    pending: s.pending === null
      ? null
      : { ...s.pending, expected: s.pending.expected.map(c => ({ type: c.type, key: c.key, value: c.type === 'put' ? c.value.toString('hex') : null })) }
  }
}

/** Rebuild a state from its checkpoint form (validated: checkpoints are files a user can edit). */
export function deserializeState (j: SerializedState): ReplayState {
  if (j !== null && typeof j === 'object' && (j as { v: unknown }).v === 1) {
    throw errors.UNSUPPORTED_FORMAT('This monitor checkpoint was written by vitra 0.1 for its old index layout (keys joined by "/"), which this version does not read: delete the checkpoint file and verify from the start')
  }
  if (j === null || typeof j !== 'object' || j.v !== 2 || !Number.isSafeInteger(j.length) || !Array.isArray(j.overlay)) {
    throw errors.INVALID_CHECKPOINT('Not a vitra monitor checkpoint')
  }
  const buf = (v: string | null): Buffer | null => v === null ? null : Buffer.from(v, 'hex')
  return {
    length: j.length,
    genesisDone: j.genesisDone,
    source: j.source,
    governance: j.governance,
    maxOpBytes: j.maxOpBytes === undefined ? DEFAULT_MAX_OP_BYTES : checkCheckpointMaxOpBytes(j.maxOpBytes),
    ackVersion: j.ackVersion === undefined ? 1 : checkCheckpointAckVersion(j.ackVersion),
    genesisSeq: Number.isSafeInteger(j.genesisSeq) ? j.genesisSeq as number : 0,
    inputs: JSON.parse(JSON.stringify(j.inputs)) as Record<string, InputState>,
    batchStart: j.batchStart,
    lastAck: j.lastAck,
    overlay: new Map(j.overlay.map(([k, v]) => [k, v === null ? null : { seq: v[0], value: Buffer.from(v[1], 'hex') }])),
    pending: j.pending === null
      ? null
      : {
          ...j.pending,
          expected: j.pending.expected.map(c => c.type === 'put' ? { type: 'put' as const, key: c.key, value: buf(c.value) as Buffer } : { type: 'del' as const, key: c.key })
        }
  }
}

function short (hex: string): string { return hex.slice(0, 8) + '…' }

function checkCheckpointMaxOpBytes (n: unknown): number {
  try { return checkMaxOpBytes(n) } catch { throw errors.INVALID_CHECKPOINT('Not a vitra monitor checkpoint: maxOpBytes is out of range') }
}


function checkCheckpointAckVersion (v: unknown): 1 | 2 {
  if (v !== 1 && v !== 2) throw errors.INVALID_CHECKPOINT('Not a vitra monitor checkpoint: ackVersion is not 1 or 2')
  return v
}
