/**
 * A read-only stand-in for a Hypercore that Hyperbee 2 reads through. Hyperbee documents
 * its constructor as taking a Hypercore; which members it then reads (length, fork,
 * `get` with a value encoding for b-tree nodes and without for the header,
 * snapshot/session/close, ready, events, `opened`/`closing`/`closed`, `replicator`,
 * `globalCache`) is its own business, so this class lives behind the door of
 * src/holepunch/ and test/holepunch.test.ts pins it: a Hyperbee over a BlockCore that
 * serves a real bee's blocks answers as that bee does.
 *
 * The index read proofs use it twice (src/proofs/bee/bee-proofs.ts): to record which blocks
 * a read touches when a proof is made, and to replay the reads over the proven blocks
 * only when it is checked. It has no `core` member, so Hyperbee does not try to
 * preload or download.
 */
import { EventEmitter } from 'events'
import Hyperbee from 'hyperbee'
import type Hypercore from 'hypercore'

/** A decoded b-tree node as Hyperbee reads it (`index`: the encoded levels). */
export interface NodeView { key: Buffer, value: Buffer | null, index: Buffer }

/** Where a BlockCore's blocks come from. Both throw for a block it must not serve. */
export interface BlockSource {
  /** Block `seq` as stored (Hyperbee reads the header, block 0, this way). */
  raw: (seq: number) => Promise<Buffer>
  /** Block `seq` decoded as a b-tree node (checked by the source). */
  node: (seq: number) => Promise<NodeView>
}

export class BlockCore extends EventEmitter {
  readonly opened = true
  closing = false
  closed = false
  readonly replicator = {}
  readonly globalCache = null
  readonly writable = false
  readonly readable = true

  constructor (readonly key: Buffer, readonly length: number, readonly fork: number, private readonly source: BlockSource) {
    super()
  }

  get discoveryKey (): Buffer { return this.key }
  get id (): string { return this.key.toString('hex') }

  async ready (): Promise<void> {}

  async close (): Promise<void> {
    this.closing = this.closed = true
  }

  snapshot (): BlockCore { return new BlockCore(this.key, this.length, this.fork, this.source) }

  session (): BlockCore { return this.snapshot() }

  async update (): Promise<boolean> { return false }

  /** Hyperbee asks for b-tree nodes with its node codec as `valueEncoding`, for the header without one. */
  async get (seq: number, opts?: { valueEncoding?: unknown }): Promise<Buffer | NodeView> {
    const encoding = opts?.valueEncoding
    if (encoding === undefined || encoding === null) return await this.source.raw(seq)
    return { ...(await this.source.node(seq)) }
  }
}

/** A read-only Hyperbee (utf-8 keys, binary values) at version `at` over a BlockCore. */
export function hyperbeeOver (core: BlockCore, at: number): Hyperbee {
  return new Hyperbee(core as unknown as Hypercore, { keyEncoding: 'utf-8', valueEncoding: 'binary', extension: false, readonly: true, checkout: at })
}
