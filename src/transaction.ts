/**
 * ContractTransaction: what `db.call` returns. It holds the method's response,
 * the ops it appended (each with an inclusion proof in its oplog), and lets the
 * caller wait for execution and read the acks and writes that resulted.
 */
import type { JsonValue } from './encoding.js'
import type { IndexLog } from './logs/index-log.js'
import type { Ack } from './schemas.js'
import { createInclusionProof, type InclusionProof } from './verify/inclusion-proofs.js'

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

  toJSON (): { method: string, params: JsonValue, response: JsonValue | null, ops: TxOp[] } {
    return { method: this.method, params: this.params, response: this.response ?? null, ops: this.ops }
  }
}
