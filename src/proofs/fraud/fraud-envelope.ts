/**
 * The envelope of a ContractFraudProof, checked without the engine: its shape, the
 * index head signature, every inclusion proof (against the index key, or the op's
 * oplog key), that the evidence sits where the details say, and, for the codes the
 * signed evidence alone decides (SELF_EVIDENT), the violation itself. For
 * CHANGE_MISMATCH, CHANGE_COUNT_MISMATCH and RESULT_MISMATCH (REPLAY_CHECKED) the
 * transaction must also be re-run from `evidence.replay`, which needs the contract
 * sandbox: `verifyFraudProof` of the main API does that (src/verify/fraud-proofs.ts).
 * whitepaper/verification.md §4.
 */
import { beeNode } from '../bee/bee-schema.js'
import { decodeValue, parseJson, type JsonValue } from '../../format/encoding.js'
import { parseGenesisMarker } from '../../format/limits.js'
import { InvalidProofError } from '../../errors/errors.js'
import { decodeAck, GENESIS_KEY, parseAckKey } from '../../format/schemas.js'
import { keyToPath } from '../../format/paths.js'
import { verifyInclusionProof, inclusionProofFromJSON, type InclusionProof } from '../log/inclusion-proofs.js'
import { readSignedHead, readManifest, verifySignedHead, type ManifestJSON, type SignedHead } from '../log/signed-head.js'
import { FraudCode, type FraudCodeName } from './fraud-codes.js'
import { readReplayEvidence, type ReplayEvidence } from './replay-evidence-json.js'

export const FRAUD_PROOF_TYPE = 'vitra/contract-fraud-proof'

/** Codes whose verdict follows from the signed evidence alone. */
export const SELF_EVIDENT: ReadonlySet<string> = new Set([
  FraudCode.MALFORMED_ACK, FraudCode.ACK_KEY_MISMATCH, FraudCode.ACK_FOR_MISSING_OP, FraudCode.PROCESSED_OUT_OF_ORDER,
  FraudCode.UNPROMPTED_CHANGE, FraudCode.UNPROMPTED_SYSTEM_CHANGE, FraudCode.INVALID_BATCH_START
])

/** Codes confirmed offline by re-running the transaction from `evidence.replay` (which they require). */
export const REPLAY_CHECKED: ReadonlySet<string> = new Set([
  FraudCode.CHANGE_MISMATCH, FraudCode.CHANGE_COUNT_MISMATCH, FraudCode.RESULT_MISMATCH
])

/** Signed evidence carried by a fraud proof (each an inclusion proof). */
export interface FraudEvidence {
  /** The index entry at `details.seq`. */
  entry?: InclusionProof
  /** The ack of the transaction involved (for mismatches inside a transaction, and for unprompted writes: the last ack before them). */
  ack?: InclusionProof
  /** An earlier ack that conflicts (same origin, seq not below the executed one). */
  previous?: InclusionProof
  /** The op, in its oplog. */
  op?: InclusionProof
  /** Everything needed to re-run the transaction offline (CHANGE_MISMATCH, CHANGE_COUNT_MISMATCH, RESULT_MISMATCH). */
  replay?: ReplayEvidence
}

export interface FraudProofJSON {
  version: 1
  type: typeof FRAUD_PROOF_TYPE
  index: { key: string, manifest: ManifestJSON, head: SignedHead }
  details: { code: FraudCodeName, description: string, seq: number, data: Record<string, JsonValue> }
  evidence: FraudEvidence
}

/** An index entry that an inclusion proof of the fraud proof proves, as far as it was checked. */
export interface ProvenIndexFact {
  seq: number
  /** The stored key and its path ('/counter', '/.sys/acks/…'). */
  key: string
  path: string
  /** The entry decoded as an ack, when it is one that decodes (else null). */
  ack: { origin: string, opSeq: number, oplogLength: number, success: boolean, numChanges: number, batchStart: number } | null
}

/**
 * What the evidence of a fraud proof proves: only data read from the checked inclusion
 * proofs. The proof's own `details.description` and `details.data` are claims; nothing
 * here repeats them.
 */
export interface ProvenFraudFacts {
  /** The index seq where the violation shows, when a checked proof pins it (else null: claimed, not checked). */
  seq: number | null
  /** The entry at `seq`. */
  entry: ProvenIndexFact | null
  /** The transaction's ack (for unprompted writes: the last ack before them). */
  ack: ProvenIndexFact | null
  /** An earlier ack (PROCESSED_OUT_OF_ORDER). */
  previous: ProvenIndexFact | null
  /** The op block, in its oplog. */
  op: { oplog: string, seq: number } | null
}

/** What the envelope check establishes. */
export interface CheckedEnvelope {
  /** The proof, read and shape-checked. */
  proof: FraudProofJSON
  /** The code the proof names (proven when selfEvident; for the REPLAY_CHECKED codes only once the replay confirms it). */
  code: FraudCodeName
  /** What the checked evidence proves (see ProvenFraudFacts). */
  proven: ProvenFraudFacts
  /** The index key (hex). */
  key: string
  head: SignedHead
  /** True when the signed evidence alone proves the violation (the SELF_EVIDENT codes). */
  selfEvident: boolean
  /** True for the REPLAY_CHECKED codes: the violation is confirmed only by re-running the transaction from evidence.replay. */
  replayRequired: boolean
}

/**
 * Check everything in a fraud proof that needs no contract sandbox (see the module
 * comment). Throws InvalidProofError when something does not check out.
 */
export function checkFraudProofEnvelope (json: unknown): CheckedEnvelope {
  const p = readFraudProof(json)
  const key = p.index.key
  verifySignedHead(p.index.head, p.index.manifest, { key })
  const ev = p.evidence
  const entry = ev.entry === undefined ? null : indexEntry(ev.entry, key)
  const ack = ev.ack === undefined ? null : indexEntry(ev.ack, key)
  const previous = ev.previous === undefined ? null : indexEntry(ev.previous, key)
  const op = ev.op === undefined ? null : verifyInclusionProof(ev.op)
  const d = p.details
  if (entry !== null && entry.seq !== d.seq) throw new InvalidProofError('evidence-mismatch', `The entry proof is for index seq ${entry.seq}, the violation is at ${d.seq}`)
  const selfEvident = SELF_EVIDENT.has(d.code)
  if (selfEvident) checkSelfEvident(d.code, entry, ack, previous)
  const replayRequired = REPLAY_CHECKED.has(d.code)
  if (replayRequired && ev.replay === undefined) throw new InvalidProofError('not-a-violation', `A ${d.code} proof must carry evidence.replay`)
  const proven: ProvenFraudFacts = {
    seq: entry?.seq ?? null,
    entry: fact(entry),
    ack: fact(ack),
    previous: fact(previous),
    op: op === null ? null : { oplog: op.key.toString('hex'), seq: op.index }
  }
  return { proof: p, code: d.code, proven, key, head: p.index.head, selfEvident, replayRequired }
}

/** A proven entry as facts (its key as a path, its ack decoded when it is one). */
export function fact (e: ProvenEntry | null): ProvenIndexFact | null {
  if (e === null) return null
  let ack: ProvenIndexFact['ack'] = null
  if (parseAckKey(e.key) !== null && e.value !== null) {
    try {
      const a = decodeAck(e.value)
      ack = { origin: a.origin, opSeq: a.seq, oplogLength: a.oplogLength, success: a.success, numChanges: a.numChanges, batchStart: a.batchStart }
    } catch { /* a malformed ack: not an ack */ }
  }
  return { seq: e.seq, key: e.key, path: keyToPath(e.key), ack }
}

export interface ProvenEntry { seq: number, key: string, value: Buffer | null }

function indexEntry (proof: InclusionProof, key: string): ProvenEntry {
  const v = verifyInclusionProof(proof, { key })
  const node = beeNode.decode(v.value)
  return { seq: v.index, key: node.key.toString('utf8'), value: node.value ?? null }
}

function checkSelfEvident (code: FraudCodeName, entry: ProvenEntry | null, ack: ProvenEntry | null, previous: ProvenEntry | null): void {
  const fail = (why: string): never => { throw new InvalidProofError('not-a-violation', `The evidence does not show ${code}: ${why}`) }
  if (entry === null) return fail('no entry proof')
  switch (code) {
    case FraudCode.MALFORMED_ACK: {
      if (parseAckKey(entry.key) === null || entry.value === null) return fail('the entry is not at an ack key')
      let decoded: { v: number }
      try { decoded = decodeAck(entry.value) } catch { return }
      // an ack that decodes but in another version than the index's (its genesis marker, shown as `previous`)
      if (previous !== null && previous.key === GENESIS_KEY && previous.seq < entry.seq && previous.value !== null) {
        let marker: { v: number }
        try { marker = parseGenesisMarker(decodeValue(previous.value)) } catch { return fail('the genesis marker shown is malformed') }
        if (marker.v !== decoded.v) return
      }
      return fail('the ack decodes fine')
    }
    case FraudCode.ACK_KEY_MISMATCH: {
      const where = parseAckKey(entry.key)
      const a = decodeAck(entry.value ?? Buffer.alloc(0))
      if (where === null || (where.origin === a.origin && where.seq === a.seq)) fail('key and fields agree')
      return
    }
    case FraudCode.ACK_FOR_MISSING_OP: {
      const a = decodeAck(entry.value ?? Buffer.alloc(0))
      if (a.seq < a.oplogLength) fail('the op is within the oplog length the ack names')
      return
    }
    case FraudCode.PROCESSED_OUT_OF_ORDER: {
      if (previous === null) return fail('no earlier ack')
      const a = decodeAck(entry.value ?? Buffer.alloc(0))
      const b = decodeAck(previous.value ?? Buffer.alloc(0))
      if (!(previous.seq < entry.seq && b.origin === a.origin && b.seq >= a.seq)) fail('the earlier ack does not cover this op')
      return
    }
    case FraudCode.INVALID_BATCH_START: {
      const a = decodeAck(entry.value ?? Buffer.alloc(0))
      if (a.batchStart === entry.seq) fail('the ack starts its own batch')
      if (ack !== null && ack.seq < entry.seq && decodeAck(ack.value ?? Buffer.alloc(0)).batchStart === a.batchStart) fail('the previous ack has the same batch start')
      if (ack === null) fail('no previous ack')
      return
    }
    default: { // UNPROMPTED_CHANGE, UNPROMPTED_SYSTEM_CHANGE
      if (parseAckKey(entry.key) !== null && entry.value !== null) fail('the entry is an ack')
      if (ack === null) return fail('no previous ack')
      if (ack.key === GENESIS_KEY) { if (ack.seq + 1 !== entry.seq) fail('entries between the genesis marker and the change are not shown'); return }
      const a = decodeAck(ack.value ?? Buffer.alloc(0))
      if (ack.seq + a.numChanges >= entry.seq) fail('the previous ack announces this write')
      if (ack.seq + a.numChanges + 1 !== entry.seq) fail('entries between the ack and the change are not shown')
    }
  }
}

/** Validate the shape of untrusted fraud-proof JSON. */
export function readFraudProof (json: unknown): FraudProofJSON {
  const v = (typeof json === 'string' ? parseJson(json, 'The fraud proof') : json) as Record<string, unknown>
  const bad = (why: string): never => { throw new InvalidProofError('malformed', `Not a vitra fraud proof: ${why}`) }
  if (v === null || typeof v !== 'object') return bad('not an object')
  if (v.version !== 1 || v.type !== FRAUD_PROOF_TYPE) return bad('unknown version or type')
  const index = v.index as Record<string, unknown>
  const details = v.details as Record<string, unknown>
  const evidence = (v.evidence ?? {}) as Record<string, unknown>
  if (index === null || typeof index !== 'object' || typeof index.key !== 'string') return bad('index missing')
  if (details === null || typeof details !== 'object' || typeof details.code !== 'string' || !Object.values(FraudCode).includes(details.code as FraudCodeName)) return bad('unknown details.code')
  if (typeof details.description !== 'string' || !Number.isSafeInteger(details.seq)) return bad('details incomplete')
  const ev: FraudEvidence = {}
  for (const name of ['entry', 'ack', 'previous', 'op'] as const) {
    if (evidence[name] !== undefined && evidence[name] !== null) ev[name] = inclusionProofFromJSON(evidence[name])
  }
  if (evidence.replay !== undefined && evidence.replay !== null) ev.replay = readReplayEvidence(evidence.replay)
  return {
    version: 1,
    type: FRAUD_PROOF_TYPE,
    index: { key: index.key, manifest: readManifest(index.manifest), head: readSignedHead(index.head, 'index.head') },
    details: { code: details.code as FraudCodeName, description: details.description, seq: details.seq as number, data: (details.data ?? {}) as Record<string, JsonValue> },
    evidence: ev
  }
}
