/**
 * A participant's oplog: one Hypercore whose blocks are canonically encoded ops.
 * Appends that arrive while one is in flight are coalesced into a single
 * `core.append([...])` (one signature for many ops). Appends that ask for
 * inclusion proofs get them from the append itself (see append-proofs.ts).
 */
import { Resource } from '../lifecycle/resource.js'
import type Hypercore from 'hypercore'
import { decodeOp, encodeOp, type Op } from '../format/schemas.js'
import { opTooLarge } from '../format/limits.js'
import { createHypercore, type Storage } from './storage.js'
import { type InclusionProof } from '../proofs/log/inclusion-proofs.js'
import { AppendProver } from './append-proofs.js'
import { createInclusionProof } from './proof-builders.js'
import { InvalidArgumentError } from '../errors/errors.js'

/** Hex ed25519 public key of the signer of a core's manifest (a Corestore-made core has one). */
export function signerKey (core: Hypercore): string {
  const signer = core.manifest?.signers[0]
  if (signer === undefined) throw new InvalidArgumentError(`Core ${core.key.toString('hex').slice(0, 8)}… has no manifest signer`)
  return Buffer.from(signer.publicKey).toString('hex')
}

/** An appended op: its seq, and its inclusion proof when one was asked for. */
export interface Appended { seq: number, proof: InclusionProof | null }

interface PendingAppend { block: Buffer, proof: boolean, resolve: (a: Appended) => void, reject: (err: Error) => void }

export class Oplog extends Resource {
  readonly core: Hypercore
  private queue: PendingAppend[] = []
  private flushing = false
  private prover: AppendProver | null = null

  constructor (core: Hypercore) {
    super()
    this.core = core
  }

  /** Vitra's `OpLog.create(storage)`: an oplog on a new writable Hypercore of the storage (see `db.setLocalOplog`). */
  static async create (storage: Storage): Promise<Oplog> {
    return new Oplog(await createHypercore(storage))
  }

  /** Opens the core; ready() runs it once. */
  protected override async _open (): Promise<void> { await this.core.ready() }

  get key (): Buffer { return this.core.key }
  get hex (): string { return this.core.key.toString('hex') }
  /** The key, as Vitra names it. */
  get pubkey (): Buffer { return this.core.key }
  get length (): number { return this.core.length }
  /** Hex ed25519 public key of the oplog's signer (what PoA signatories are named by). */
  get publicKey (): string { return signerKey(this.core) }
  get writable (): boolean { return this.core.writable }

  /** Append one op; resolves with its seq (index in the oplog). Throws InvalidEntryError for a malformed op. */
  async append (op: unknown): Promise<number> {
    const [seq] = await this.appendMany([op])
    return seq!
  }

  /**
   * Append several ops; all are validated before any is queued, and they land in
   * the same `core.append` (consecutive seqs). Resolves with their seqs.
   */
  async appendMany (ops: unknown[]): Promise<number[]> {
    return (await this.appendWithProofs(ops, { proofs: false })).map(a => a.seq)
  }

  /**
   * As appendMany, and (unless `proofs: false`) each op's inclusion proof against the
   * head its append produced, verified before it is returned.
   */
  appendWithProofs (ops: unknown[], opts: { proofs?: boolean, maxOpBytes?: number } = {}): Promise<Appended[]> {
    const blocks = ops.map(op => encodeOp(op))
    // the executor would refuse an op over the database's maxOpBytes unread: refuse it here, before anything is queued
    const max = opts.maxOpBytes ?? Infinity
    for (const block of blocks) if (block.byteLength > max) return Promise.reject(opTooLarge(block.byteLength, max))
    const proof = opts.proofs !== false
    const done = Promise.all(blocks.map(block => new Promise<Appended>((resolve, reject) => {
      this.queue.push({ block, proof, resolve, reject })
    })))
    if (!this.flushing) void this.flush()
    return done
  }

  private async flush (): Promise<void> {
    this.flushing = true
    while (this.queue.length > 0) {
      const batch = this.queue
      this.queue = []
      try {
        const blocks = batch.map(p => p.block)
        let proofs: InclusionProof[] | null = null
        let opts: { postappend?: () => Promise<void> } = {}
        if (batch.some(p => p.proof)) {
          if (this.prover === null) this.prover = new AppendProver(this.core)
          const prover = this.prover
          await prover.prime()
          opts = { postappend: async () => { proofs = await prover.prove(blocks) } }
        }
        const { length } = await this.core.append(blocks, opts)
        const first = length - batch.length
        const made = proofs as InclusionProof[] | null
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i]!
          if (!p.proof) p.resolve({ seq: first + i, proof: null })
          else if (made !== null) p.resolve({ seq: first + i, proof: made[i] ?? null })
          else createInclusionProof(this.core, first + i).then(proof => p.resolve({ seq: first + i, proof }), p.reject)
        }
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

  /** Closes the core; close() runs it once. */
  protected override async _close (): Promise<void> { await this.core.close() }
}
