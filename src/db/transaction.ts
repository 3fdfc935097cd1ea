/**
 * ContractTransaction: what `db.call` returns. It holds the method's response,
 * the ops it appended (each with an inclusion proof in its oplog), and lets the
 * caller wait for execution and read the acks and writes that resulted.
 */
import type Hypercore from 'hypercore'
import { canonicalJson, parseJson, type JsonValue } from '../format/encoding.js'
import { CouldNotVerifyError, InvalidArgumentError, InvalidProofError, VitraError, errors } from '../errors/errors.js'
import { LogForkFraudProof } from '../proofs/fraud/log-fork-proof.js'
import { verifyConsistencyProof, type SignedHead } from '../proofs/log/signed-head.js'
import type { IndexLog } from '../logs/index-log.js'
import { encodeOp, type Ack } from '../format/schemas.js'
import { verifyInclusionProof, type InclusionProof } from '../proofs/log/inclusion-proofs.js'
import { captureSignedHead, createConsistencyProof, createInclusionProof, logForkProofFromConflict } from '../logs/proof-builders.js'

/** One op appended by a call (its JSON form). */
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

/**
 * An op of a transaction: the TxOp fields, and `verifyInclusion()` (Vitra's
 * `tx.ops[i].verifyInclusion()`), which checks the proof offline and then against
 * the oplog as this instance holds it now: the oplog must still hold the op under
 * a history that extends the proof's signed head. A log that was truncated or
 * rewritten since yields (throws) a LogForkFraudProof; a local copy too short to
 * tell throws COULD_NOT_VERIFY.
 */
export class Operation implements TxOp {
  readonly value: JsonValue
  readonly oplog: string
  readonly seq: number
  readonly proof: InclusionProof | null
  private readonly host: TxHost

  constructor (host: TxHost, op: TxOp) {
    this.host = host
    this.value = op.value
    this.oplog = op.oplog
    this.seq = op.seq
    this.proof = op.proof === null ? null : withToJSON(op.proof)
  }

  async verifyInclusion (): Promise<void> {
    if (this.proof === null) throw new InvalidArgumentError('This op has no inclusion proof (the call was made with { proofs: false })')
    await verifyAgainstLog(this.proof, this.host.oplogCore(this.oplog))
  }

  toJSON (): TxOp { return { value: this.value, oplog: this.oplog, seq: this.seq, proof: this.proof } }
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
  /** The core of an oplog as this instance holds it (null when it does not). */
  oplogCore: (hex: string) => Hypercore | null
}

export class ContractTransaction {
  readonly method: string
  readonly params: JsonValue
  readonly response: JsonValue | undefined
  readonly ops: Operation[]
  private readonly host: TxHost
  private processed = false

  constructor (host: TxHost, init: { method: string, params: JsonValue, response: JsonValue | undefined, ops: TxOp[] }) {
    this.host = host
    this.method = init.method
    this.params = init.params
    this.response = init.response
    this.ops = init.ops.map(op => new Operation(host, op))
  }

  /** Vitra's `Transaction.fromJSON(db, json)`: the same as `db.transaction(json)`. */
  static fromJSON (db: { transaction: (json: unknown) => ContractTransaction }, json: unknown): ContractTransaction {
    return db.transaction(json)
  }

  /** `verifyInclusion()` of every op (Vitra's `tx.verifyInclusion()`). */
  async verifyInclusion (): Promise<void> {
    for (const op of this.ops) await op.verifyInclusion()
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
  /**
   * The results of the ops so far (null: not executed yet). With `head` (a signed index
   * head, e.g. a witnessed checkpoint's): the results as of that head, their proofs
   * under it; an op whose ack or writes lie beyond it counts as not executed yet.
   */
  async fetchResults (opts: { proofs?: boolean, head?: SignedHead } = {}): Promise<Array<TxResult | null>> {
    return await Promise.all(this.ops.map(async op => await this.fetchResult(op, opts.proofs === true, opts.head)))
  }

  private async fetchResult (op: TxOp, proofs: boolean, head: SignedHead | undefined): Promise<TxResult | null> {
    const index = this.host.index
    const found = await index.getAck(op.oplog, op.seq)
    if (found === null) return null
    const { ack, seq: ackSeq } = found
    if (head !== undefined && ackSeq + ack.numChanges >= head.length) return null
    const changes: TxChange[] = []
    for (const e of await index.entries(ackSeq + 1, ackSeq + 1 + ack.numChanges)) {
      const change: TxChange = { type: e.type, seq: e.seq, path: e.path, value: e.value }
      if (proofs) change.proof = await createInclusionProof(index.core, e.seq, { head })
      changes.push(change)
    }
    const result: TxResult = {
      success: ack.success, seq: ack.seq, ackSeq, ts: ack.ts, metadata: ack.metadata, numChanges: ack.numChanges, changes
    }
    if (ack.error !== undefined) result.error = ack.error
    if (proofs) result.ackProof = await createInclusionProof(index.core, ackSeq, { head })
    return result
  }

  /**
   * The transaction as JSON, to save and reopen with `db.transaction(json)`. Called with
   * options (Vitra's `await tx.toJSON({ includeValues })`), it gives Vitra's form
   * instead, with the acks or results fetched (a promise); `db.transaction` takes both.
   */
  toJSON (): TransactionJSON
  toJSON (opts: { includeValues?: boolean }): Promise<VitraTransactionJSON>
  toJSON (opts?: unknown): TransactionJSON | Promise<VitraTransactionJSON> {
    if (opts !== null && typeof opts === 'object') return this.toVitraJSON((opts as { includeValues?: boolean }).includeValues === true)
    return { method: this.method, params: this.params, response: this.response ?? null, ops: this.ops.map(op => op.toJSON()) }
  }

  private async toVitraJSON (includeValues: boolean): Promise<VitraTransactionJSON> {
    const results = await this.fetchResults()
    return {
      vitraTransaction: 1,
      databasePubkey: this.host.index.key.toString('hex'),
      isProcessed: results.every(r => r !== null),
      call: { method: this.method, params: this.params },
      response: includeValues ? this.response ?? null : null,
      operations: this.ops.map((op, i) => {
        const r = results[i] ?? null
        return {
          value: includeValues ? op.value : null,
          proof: op.proof,
          oplog: op.oplog,
          seq: op.seq,
          result: r === null ? null : { success: r.success, error: r.error ?? null, processedAt: r.ts, changes: includeValues ? r.changes : [] }
        }
      })
    }
  }
}

/** Vitra's transaction JSON (`vitraTransaction: 1`), with vitra's `oplog` and `seq` in each operation. */
export interface VitraTransactionJSON {
  vitraTransaction: 1
  databasePubkey: string
  isProcessed: boolean
  call: { method: string, params: JsonValue }
  response: JsonValue | null
  operations: Array<{ value: JsonValue | null, proof: InclusionProof | null, oplog: string, seq: number, result: { success: boolean, error: string | null, processedAt: number, changes: TxChange[] } | null }>
}

/** The proof with a `toJSON()` method (not enumerable), as Vitra's proof objects have: `tx.ops[i].proof.toJSON()`. */
function withToJSON (proof: InclusionProof): InclusionProof {
  const copy = { ...proof }
  Object.defineProperty(copy, 'toJSON', { value: () => ({ ...proof }), enumerable: false })
  return copy
}

/** Whether the history `core` holds now has the tree hash `treeHash` at `length`. */
async function extendsHead (core: Hypercore, length: number, treeHash: string): Promise<boolean> {
  try {
    if (core.length === length) return (await captureSignedHead(core)).treeHash === treeHash
    verifyConsistencyProof(await createConsistencyProof(core, length), { older: { length, treeHash } })
    return true
  } catch (err) {
    if (err instanceof VitraError && err.code === 'INVALID_PROOF') return false
    throw err
  }
}

/**
 * The proof checked offline, then against `core` (the oplog as held here): the core must
 * hold the proven block under a history that extends the proof's head.
 */
export async function verifyAgainstLog (proof: InclusionProof, core: Hypercore | null): Promise<void> {
  const proven = verifyInclusionProof(proof, { key: proof.key })
  if (core === null) throw new CouldNotVerifyError(`This instance does not hold oplog ${proof.key.slice(0, 8)}…`, { key: proof.key })
  await core.ready()
  const { roots: _roots, ...signed } = proof.head
  const head: SignedHead = { key: proof.key, ...signed }
  if (core.fork === proven.fork && core.length >= proven.length) {
    const block = await core.get(proven.index, { wait: false }) as Buffer | null
    if (block !== null && block.equals(proven.value) && await extendsHead(core, proven.length, proven.treeHash.toString('hex'))) return
  }
  if (core.length === 0 && core.fork !== proven.fork) {
    // a log truncated to nothing holds no signed head: the fork shows locally, but two signed heads are needed to prove it to anyone
    throw errors.LOG_TRUNCATED(`Oplog ${proof.key.slice(0, 8)}… was truncated to length 0 (fork ${proven.fork} → ${core.fork}) after it proved block ${proven.index}; a portable LogForkFraudProof needs a signed head of the new history, which an empty log does not have`, { key: proof.key, index: proven.index, fork: core.fork })
  }
  let fork: LogForkFraudProof
  try {
    fork = await logForkProofFromConflict(core, head)
  } catch (err) {
    if (err instanceof VitraError && (err.code === 'INVALID_PROOF' || err.code === 'INVALID_ARGUMENT')) {
      throw new CouldNotVerifyError(`Oplog ${proof.key.slice(0, 8)}… as held here (length ${core.length}) cannot confirm block ${proven.index}: ${err.message}`, { key: proof.key, index: proven.index, length: core.length })
    }
    throw err
  }
  throw fork
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
    try { v = parseJson(v as string, 'The transaction') } catch (err) { throw new InvalidArgumentError(`The transaction is not JSON: ${(err as Error).message}`) }
  }
  if (v !== null && typeof v === 'object' && 'vitraTransaction' in v) v = fromVitraForm(v as Record<string, unknown>)
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

/** Vitra's form (`toJSON({ includeValues })`) as vitra's: an op left out (includeValues false) is read from its proof. */
function fromVitraForm (v: Record<string, unknown>): Record<string, unknown> {
  if (v.vitraTransaction !== 1) throw new InvalidArgumentError(`Unknown transaction format vitraTransaction: ${JSON.stringify(v.vitraTransaction)}`)
  const call = exactObject(v.call, 'transaction.call', ['method', 'params'])
  if (!Array.isArray(v.operations)) throw new InvalidArgumentError('transaction.operations must be an array')
  const ops = v.operations.map((raw, i) => {
    const op = exactObject(raw, `transaction.operations[${i}]`, ['value', 'proof', 'oplog', 'seq', 'result'])
    let value = op.value
    if (value === null && op.proof !== null && typeof op.proof === 'object') {
      const block = (op.proof as { value?: unknown }).value
      if (typeof block === 'string') {
        try { value = JSON.parse(Buffer.from(block, 'hex').toString('utf8')) as JsonValue } catch { throw new InvalidArgumentError(`transaction.operations[${i}]: the proven block is not an op`) }
      }
    }
    return { value, oplog: op.oplog, seq: op.seq, proof: op.proof }
  })
  return { method: call.method, params: call.params, response: v.response ?? null, ops }
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
