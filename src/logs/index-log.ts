/**
 * The index log: a Hyperbee (keys UTF-8, values canonical JSON bytes) that only
 * the executor can sign. Reading helpers for the `.sys/` layout live here;
 * writing the ack/write transactions is the executor's job.
 */
import Hyperbee from 'hyperbee'
import messages from 'hyperbee/lib/messages.js'
import { readBlocks } from './blocks.js'
import type Hypercore from 'hypercore'
import { decodeValue, encodeValue, type JsonValue } from '../encoding.js'
import { InvalidArgumentError, PermissionError } from '../errors.js'
import {
  ackKey, ackPrefix, CONTRACT_SOURCE_KEY, decodeAck, decodeInput, GENESIS_KEY, INPUTS_PREFIX,
  type Ack, type InputRecord
} from '../schemas.js'

/** An entry as returned by `list` and `history`. */
export interface IndexEntry { seq: number, key: string, value: JsonValue }
export interface HistoryEntry { type: 'put' | 'del', seq: number, key: string, value: JsonValue | null }
export interface ListOptions { limit?: number, reverse?: boolean, gt?: string, gte?: string, lt?: string, lte?: string }
/** A direct write, for `dangerousBatch`. */
export type DirectWrite = { type: 'put', path: string, value: unknown } | { type: 'del', path: string }

/** A raw index entry: what Hyperbee's history stream yields, without decoding the value. */
export interface RawEntry { seq: number, type: 'put' | 'del', key: string, value: Buffer | null }

/**
 * The index entries [start, end), read in one storage batch (see blocks.ts) and decoded as Hyperbee's
 * history stream does: a block is a delete when it has no value and its own
 * tree index does not hold it as a key.
 */
export async function readEntries (core: Hypercore, start: number, end: number, opts: { timeout?: number } = {}): Promise<RawEntry[]> {
  const blocks = await readBlocks(core, start, end, opts)
  return blocks.map((block, i) => {
    const e = decodeIndexBlock(start + i, block)
    return e.type === 'put' && e.value === null ? { ...e, value: Buffer.alloc(0) } : e
  })
}

/**
 * One index block decoded as Hyperbee's history stream does: a block without a
 * value whose own tree index does not list it is a delete. A put without a value
 * (vitra never writes one) keeps `value: null`. Throws on bytes that are not a
 * Hyperbee node.
 */
export function decodeIndexBlock (seq: number, block: Uint8Array): RawEntry {
  const node = messages.Node.decode(block)
  const value = node.value === null || node.value === undefined ? null : Buffer.from(node.value)
  const del = value === null && !messages.YoloIndex.decode(node.index ?? Buffer.alloc(0)).levels.some(l => l.keys.includes(seq))
  return { seq, type: del ? 'del' : 'put', key: Buffer.from(node.key).toString('utf8'), value }
}

export function openBee (core: Hypercore): Hyperbee {
  return new Hyperbee(core, { keyEncoding: 'utf-8', valueEncoding: 'binary' })
}

/** Range options covering every key that starts with `prefix`, narrowed by opts. */
export function prefixRange (prefix: string, opts: ListOptions = {}): Record<string, unknown> {
  const range: Record<string, unknown> = { gte: prefix, lt: prefix + '\uffff' }
  if (opts.gt !== undefined) { delete range.gte; range.gt = prefix + opts.gt }
  if (opts.gte !== undefined) range.gte = prefix + opts.gte
  if (opts.lt !== undefined) range.lt = prefix + opts.lt
  if (opts.lte !== undefined) { delete range.lt; range.lte = prefix + opts.lte }
  if (opts.limit !== undefined) range.limit = opts.limit
  if (opts.reverse !== undefined) range.reverse = opts.reverse
  return range
}

export class IndexLog {
  readonly bee: Hyperbee

  constructor (bee: Hyperbee) { this.bee = bee }

  get core (): Hypercore { return this.bee.core }
  get key (): Buffer { return this.bee.core.key }
  get writable (): boolean { return this.bee.core.writable }
  /** Index length (Hyperbee version): blocks including the header at 0. */
  get version (): number { return this.bee.version }

  async ready (): Promise<void> { await this.bee.ready() }

  /** The value at `key`, or null. */
  async get (key: string): Promise<JsonValue | null> {
    const e = await this.bee.get(key)
    return e === null ? null : decodeValue(e.value)
  }

  /** The raw entry at `key` (seq and undecoded bytes), or null. */
  async getEntry (key: string): Promise<{ seq: number, value: Buffer } | null> {
    const e = await this.bee.get(key)
    return e === null ? null : { seq: e.seq, value: e.value as Buffer }
  }

  /** Entries whose key starts with `prefix` (all keys for ''), in key order. */
  async list (prefix = '', opts: ListOptions = {}): Promise<IndexEntry[]> {
    const out: IndexEntry[] = []
    for await (const e of this.bee.createReadStream(prefixRange(prefix, opts))) {
      out.push({ seq: e.seq, key: e.key as string, value: decodeValue(e.value) })
    }
    return out
  }

  /** Every put and del since genesis (or from `gte`), in index order. */
  async * history (opts: { gte?: number, lt?: number, live?: boolean } = {}): AsyncGenerator<HistoryEntry> {
    for await (const e of this.bee.createHistoryStream(opts)) {
      yield { type: e.type, seq: e.seq, key: e.key as string, value: e.value === null ? null : decodeValue(e.value) }
    }
  }

  /** The contract source stored in the index. */
  async contractSource (): Promise<string | null> {
    const v = await this.get(CONTRACT_SOURCE_KEY)
    return typeof v === 'string' ? v : null
  }

  async hasGenesis (): Promise<boolean> { return (await this.bee.get(GENESIS_KEY)) !== null }

  /** Every `.sys/inputs/` record, in key order. */
  async inputs (): Promise<InputRecord[]> {
    const out: InputRecord[] = []
    for await (const e of this.bee.createReadStream(prefixRange(INPUTS_PREFIX))) out.push(decodeInput(e.value))
    return out
  }

  /** The ack of op `seq` of oplog `origin`, with the index seq where it sits, or null. */
  async getAck (origin: string, seq: number): Promise<{ seq: number, ack: Ack } | null> {
    const e = await this.bee.get(ackKey(origin, seq))
    return e === null ? null : { seq: e.seq, ack: decodeAck(e.value) }
  }

  /** The highest op seq of `origin` that has an ack, or -1. */
  async lastAckedSeq (origin: string): Promise<number> {
    const e = await this.bee.peek(prefixRange(ackPrefix(origin)), { reverse: true })
    return e === null ? -1 : decodeAck(e.value).seq
  }

  /** The entries at index seqs [start, end) (puts and dels), values decoded, read in one batch. */
  async entries (start: number, end: number): Promise<HistoryEntry[]> {
    if (start < 1 || end > this.core.length) throw new InvalidArgumentError(`No index entries at seqs ${start}..${end - 1} (index length ${this.core.length})`)
    return (await readEntries(this.core, start, end)).map(e => ({ type: e.type, seq: e.seq, key: e.key, value: e.value === null || e.value.length === 0 ? null : decodeValue(e.value) }))
  }

  /**
   * Write straight to the index, bypassing the contract. For demos and for testing
   * the verifier: a verifier reports such writes as unprompted changes.
   */
  async dangerousBatch (writes: DirectWrite[]): Promise<void> {
    if (!this.writable) throw new PermissionError('NOT_EXECUTOR', 'Only the executor can write to the index')
    const b = this.bee.batch()
    for (const w of writes) {
      if (w.type === 'put') await b.put(w.path, encodeValue(w.value))
      else if (w.type === 'del') await b.del(w.path)
      else throw new InvalidArgumentError(`dangerousBatch: unknown write type ${(w as { type: string }).type}`)
    }
    await b.flush()
  }

  async close (): Promise<void> { await this.bee.close() }
}
