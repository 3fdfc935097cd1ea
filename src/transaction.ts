/**
 * ContractTransaction: what `db.call` returns. It holds the method's response,
 * the ops it appended (each with an inclusion proof in its oplog), and lets the
 * caller wait for execution and read the acks and writes that resulted.
 */
import { canonicalJson, type JsonValue } from './encoding.js'
import { InvalidArgumentError, InvalidProofError } from './errors.js'
import type { IndexLog } from './logs/index-log.js'
import { encodeOp, type Ack } from './schemas.js'
import { createInclusionProof, verifyInclusionProof, type InclusionProof } from './verify/inclusion-proofs.js'

/** One op appended by a call. */
export interface TxOp {
  /** The op as appended. */
  value: JsonValue
  /** Hex key of the oplog it was appended to. */
  oplog: string
  /** Its index in that oplog. */
  seq: number
  /** Inclusion proof of the op block in the oplog (null when the call asked for no proofs). */
  proof: InclusionProof | null
}

/** One write produced by an op, as published in the index. */
export interface TxChange {
  type: 'put' | 'del'
  /** Index seq of the write's block. */
  seq: number
  path: string
  value: JsonValue | null
  proof?: InclusionProof
}

/** The outcome of one op. */
export interface TxResult {
  success: boolean
  error?: string
  /** The op's seq in its oplog. */
  seq: number
  /** Index seq of the ack. */
  ackSeq: number
  ts: number
  metadata: JsonValue
  numChanges: number
  changes: TxChange[]
  /** Inclusion proof of the ack block in the index (with `{ proofs: true }`). */
  ackProof?: InclusionProof
}

/** What a transaction needs from its database. */
export interface TxHost {
  index: IndexLog
  waitForAck: (origin: string, seq: number, timeoutMs: number) => Promise<void>
}

export class ContractTransaction {
  readonly method: string
  readonly params: JsonValue
  readonly response: JsonValue | undefined
  readonly ops: TxOp[]
  private readonly host: TxHost
  private processed = false

  constructor (host: TxHost, init: { method: string, params: JsonValue, response: JsonValue | undefined, ops: TxOp[] }) {
    this.host = host
    this.method = init.method
    this.params = init.params
    this.response = init.response
    this.ops = init.ops
  }

  /** Resolves when every op of this call has an ack in the index; rejects with TimeoutError (code TIMEOUT) after `timeout` ms (default 30000). */
  async whenProcessed (opts: { timeout?: number } = {}): Promise<void> {
    const timeout = opts.timeout ?? 30_000
    await Promise.all(this.ops.map(op => this.host.waitForAck(op.oplog, op.seq, timeout)))
    this.processed = true
  }

  /** True when every op has an ack (checks the index). */
  async isProcessed (): Promise<boolean> {
    if (this.processed) return true
    for (const op of this.ops) {
      if (await this.host.index.getAck(op.oplog, op.seq) === null) return false
    }
    this.processed = true
    return true
  }

  /** The ack of each op, or null for an op not processed yet. */
  async fetchAcks (): Promise<Array<Ack | null>> {
    return await Promise.all(this.ops.map(async op => (await this.host.index.getAck(op.oplog, op.seq))?.ack ?? null))
  }

  /**
   * The result of each op (null for one not processed yet): its ack fields and the
   * writes that follow the ack. With `{ proofs: true }`, the ack and each write carry
   * an inclusion proof in the index (transaction-result proofs).
   */
  async fetchResults (opts: { proofs?: boolean } = {}): Promise<Array<TxResult | null>> {
    return await Promise.all(this.ops.map(async op => await this.fetchResult(op, opts.proofs === true)))
  }

  private async fetchResult (op: TxOp, proofs: boolean): Promise<TxResult | null> {
    const index = this.host.index
    const found = await index.getAck(op.oplog, op.seq)
    if (found === null) return null
    const { ack, seq: ackSeq } = found
    const changes: TxChange[] = []
    for (const e of await index.entries(ackSeq + 1, ackSeq + 1 + ack.numChanges)) {
      const change: TxChange = { type: e.type, seq: e.seq, path: e.key, value: e.value }
      if (proofs) change.proof = await createInclusionProof(index.core, e.seq)
      changes.push(change)
    }
    const result: TxResult = {
      success: ack.success, seq: ack.seq, ackSeq, ts: ack.ts, metadata: ack.metadata, numChanges: ack.numChanges, changes
    }
    if (ack.error !== undefined) result.error = ack.error
    if (proofs) result.ackProof = await createInclusionProof(index.core, ackSeq)
    return result
  }

  toJSON (): TransactionJSON {
    return { method: this.method, params: this.params, response: this.response ?? null, ops: this.ops }
  }
}

/** What `ContractTransaction.toJSON()` gives, and `db.transaction()` takes back. */
export interface TransactionJSON { method: string, params: JsonValue, response: JsonValue | null, ops: TxOp[] }

/**
 * Checks a transaction saved with `toJSON()` (or its JSON text) and returns a fresh
 * copy. The shape must be exact (InvalidArgumentError, code INVALID_ARGUMENT): a
 * method name, JSON params and response, and ops of `{ value, oplog, seq, proof }`
 * with an op as value, a 64-hex oplog key and a seq. A proof that is not null must
 * verify offline as the inclusion of exactly that op at that seq of that oplog
 * (InvalidProofError otherwise), so a reopened transaction carries only proofs that hold.
 */
export function transactionFromJSON (json: unknown): TransactionJSON {
  let v = json
  if (typeof v === 'string') {
    try { v = JSON.parse(v) } catch (err) { throw new InvalidArgumentError(`The transaction is not JSON: ${(err as Error).message}`) }
  }
  const o = exactObject(v, 'transaction', ['method', 'params', 'response', 'ops'])
  if (typeof o.method !== 'string' || o.method === '') throw new InvalidArgumentError('transaction.method must be a non-empty string')
  if (!Array.isArray(o.ops)) throw new InvalidArgumentError('transaction.ops must be an array')
  const ops = o.ops.map((raw, i): TxOp => {
    const op = exactObject(raw, `transaction.ops[${i}]`, ['value', 'oplog', 'seq', 'proof'])
    if (typeof op.oplog !== 'string' || !/^[0-9a-f]{64}$/.test(op.oplog)) throw new InvalidArgumentError(`transaction.ops[${i}].oplog must be 64 lowercase hex characters`)
    if (!Number.isSafeInteger(op.seq) || (op.seq as number) < 0) throw new InvalidArgumentError(`transaction.ops[${i}].seq must be a non-negative integer`)
    let block: Buffer
    try { block = encodeOp(op.value) } catch (err) { throw new InvalidArgumentError(`transaction.ops[${i}].value: ${(err as Error).message}`) }
    const value = JSON.parse(block.toString('utf8')) as JsonValue
    let proof: InclusionProof | null = null
    if (op.proof !== null) {
      const proven = verifyInclusionProof(op.proof, { key: op.oplog })
      if (proven.index !== op.seq) throw new InvalidProofError('evidence-mismatch', `transaction.ops[${i}]: the proof is for seq ${proven.index}, the op is at ${String(op.seq)}`)
      if (!proven.value.equals(block)) throw new InvalidProofError('evidence-mismatch', `transaction.ops[${i}]: the proven block is not this op`)
      proof = JSON.parse(JSON.stringify(op.proof)) as InclusionProof
    }
    return { value, oplog: op.oplog, seq: op.seq as number, proof }
  })
  return { method: o.method, params: jsonCopy(o.params, 'params'), response: jsonCopy(o.response, 'response'), ops }
}

function exactObject (v: unknown, what: string, keys: string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InvalidArgumentError(`${what} must be an object`)
  const o = v as Record<string, unknown>
  for (const k of keys) if (!Object.hasOwn(o, k)) throw new InvalidArgumentError(`${what}.${k} is missing`)
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new InvalidArgumentError(`${what} has an unknown field "${k}"`)
  return o
}

function jsonCopy (v: unknown, what: string): JsonValue {
  try { return JSON.parse(canonicalJson(v)) as JsonValue } catch (err) { throw new InvalidArgumentError(`transaction.${what}: ${(err as Error).message}`) }
}
