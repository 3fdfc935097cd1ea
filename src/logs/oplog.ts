/**
 * A participant's oplog: one Hypercore whose blocks are canonically encoded ops.
 * Appends that arrive while one is in flight are coalesced into a single
 * `core.append([...])` (one signature for many ops).
 */
import type Hypercore from 'hypercore'
import { decodeOp, encodeOp, type Op } from '../schemas.js'

interface PendingAppend { block: Buffer, resolve: (seq: number) => void, reject: (err: Error) => void }

export class Oplog {
  readonly core: Hypercore
  private queue: PendingAppend[] = []
  private flushing = false

  constructor (core: Hypercore) {
    this.core = core
  }

  async ready (): Promise<void> { await this.core.ready() }

  get key (): Buffer { return this.core.key }
  get hex (): string { return this.core.key.toString('hex') }
  get length (): number { return this.core.length }
  /** Hex ed25519 public key of the oplog's signer (what PoA signatories are named by). */
  get publicKey (): string { return Buffer.from(this.core.manifest.signers[0].publicKey as Uint8Array).toString('hex') }
  get writable (): boolean { return this.core.writable }

  /** Append one op; resolves with its seq (index in the oplog). Throws InvalidEntryError for a malformed op. */
  async append (op: unknown): Promise<number> {
    return (await this.appendMany([op]))[0]
  }

  /**
   * Append several ops; all are validated before any is queued, and they land in
   * the same `core.append` (consecutive seqs). Resolves with their seqs.
   */
  appendMany (ops: unknown[]): Promise<number[]> {
    const blocks = ops.map(op => encodeOp(op))
    const seqs = Promise.all(blocks.map(block => new Promise<number>((resolve, reject) => {
      this.queue.push({ block, resolve, reject })
    })))
    if (!this.flushing) void this.flush()
    return seqs
  }

  private async flush (): Promise<void> {
    this.flushing = true
    while (this.queue.length > 0) {
      const batch = this.queue
      this.queue = []
      try {
        const { length } = await this.core.append(batch.map(p => p.block))
        const first = length - batch.length
        batch.forEach((p, i) => p.resolve(first + i))
      } catch (err) {
        for (const p of batch) p.reject(err as Error)
      }
    }
    this.flushing = false
  }

  /** The raw block at `seq` (waits for replication when remote; `opts.wait: false` to fail fast). */
  async getBlock (seq: number, opts?: { wait?: boolean, timeout?: number }): Promise<Buffer> {
    return await this.core.get(seq, opts) as Buffer
  }

  /** The decoded op at `seq`. Throws InvalidEntryError when the entry is not a valid op. */
  async get (seq: number): Promise<Op> {
    return decodeOp(await this.getBlock(seq))
  }

  async close (): Promise<void> { await this.core.close() }
}
