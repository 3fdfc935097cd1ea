/**
 * The index log: a Hyperbee (keys: path segments joined by NUL, see paths.ts;
 * values: canonical JSON bytes) that only the executor can sign. Its public
 * reads speak Vitra's language: paths and entries (`{ seq, container, name, path,
 * value }`), folder listings, history entries with paths. Reading helpers for the
 * `/.sys/` layout (by stored key) live here too; writing the ack/write
 * transactions is the executor's job.
 */
import { randomBytes } from 'crypto'
import { Resource } from '../lifecycle/resource.js'
import Hyperbee from 'hyperbee'
import { beeNode, beeYoloIndex } from '../proofs/bee/bee-schema.js'
import { readBlocks } from './blocks.js'
import type Hypercore from 'hypercore'
import { decodeValue, encodeValue, type JsonValue } from '../format/encoding.js'
import { InvalidArgumentError, PermissionError } from '../errors/errors.js'
import { InvalidPathError, isSysKey, keyName, keyToPath, pathToKey } from '../format/paths.js'
import { listFolder, type FolderListOptions } from '../format/shallow-list.js'
import { closeCorestore, openCorestore, type Storage } from './storage.js'
import type { ListedItem } from '../../sandbox/types.js'
import { parseGenesisMarker, type GenesisMarker } from '../format/limits.js'
import {
  ackKey, ackPrefix, CONTRACT_SOURCE_KEY, decodeAck, decodeInput, GENESIS_KEY, INPUTS_PREFIX,
  type Ack, type InputRecord
} from '../format/schemas.js'
import { decodeIndexValue } from '../format/ack-v2.js'

/** An entry as `get` and `list` return it (Vitra's IndexLogEntry). A folder in a listing has `container: true` (and no seq or value unless the path holds a value too). */
export interface IndexEntry { seq: number | undefined, container: boolean, name: string, path: string, value: JsonValue | undefined }
/** One index write as `history` yields it (Vitra's IndexHistoryEntry). */
export interface HistoryEntry { type: 'put' | 'del', seq: number, path: string, name: string, value: JsonValue | null }
/** Options of `list` (Vitra's). */
export type ListOptions = FolderListOptions
/** Options of `history` (Hyperbee's history stream: seq bounds, live, reverse, limit). */
export interface HistoryOptions { gt?: number, gte?: number, lt?: number, lte?: number, live?: boolean, reverse?: boolean, limit?: number }
/** A direct write, for `dangerousBatch`. */
export type DirectWrite = { type: 'put', path: string, value: unknown } | { type: 'del', path: string }
/** An internal read by stored key: its seq and decoded value. */
export interface KeyedEntry { seq: number, key: string, value: JsonValue }

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
  const node = beeNode.decode(block)
  const value = node.value === null || node.value === undefined ? null : Buffer.from(node.value)
  const del = value === null && !beeYoloIndex.decode(node.index ?? Buffer.alloc(0)).levels.some(l => l.keys.includes(seq))
  return { seq, type: del ? 'del' : 'put', key: Buffer.from(node.key).toString('utf8'), value }
}

export function openBee (core: Hypercore): Hyperbee {
  return new Hyperbee(core, { keyEncoding: 'utf-8', valueEncoding: 'binary' })
}

/** Key-range options (stored keys, relative to a prefix). */
export interface RangeOptions { limit?: number, reverse?: boolean, gt?: string, gte?: string, lt?: string, lte?: string }

/** Range options covering every key that starts with `prefix`, narrowed by opts. */
export function prefixRange (prefix: string, opts: RangeOptions = {}): Record<string, unknown> {
  const range: Record<string, unknown> = { gte: prefix, lt: prefix + '\uffff' }
  if (opts.gt !== undefined) { delete range.gte; range.gt = prefix + opts.gt }
  if (opts.gte !== undefined) range.gte = prefix + opts.gte
  if (opts.lt !== undefined) range.lt = prefix + opts.lt
  if (opts.lte !== undefined) { delete range.lt; range.lte = prefix + opts.lte }
  if (opts.limit !== undefined) range.limit = opts.limit
  if (opts.reverse !== undefined) range.reverse = opts.reverse
  return range
}

export class IndexLog extends Resource {
  readonly bee: Hyperbee

  constructor (bee: Hyperbee) {
    super()
    this.bee = bee
  }

  /**
   * A standalone index log in `storage` (Vitra's `IndexLog.create`): a new writable
   * Hyperbee with no genesis, for trying paths and listings; not a database. close()
   * closes its storage too.
   */
  static async create (storage: Storage): Promise<IndexLog> {
    const store = openCorestore(storage)
    const core = store.get({ name: 'standalone-index-' + randomBytes(16).toString('hex') })
    const log = new IndexLog(openBee(core))
    log.onClose = async () => { await closeCorestore(store) }
    await log.ready()
    return log
  }

  private onClose: (() => Promise<void>) | null = null

  /** Blocks in the log (header included), as Vitra's `length`. */
  get length (): number { return this.bee.core.length }

  get core (): Hypercore { return this.bee.core }
  get key (): Buffer { return this.bee.core.key }
  get writable (): boolean { return this.bee.core.writable }
  /** Index length (Hyperbee version): blocks including the header at 0. */
  get version (): number { return this.bee.version }

  /** Opens the bee; ready() runs it once. */
  protected override async _open (): Promise<void> { await this.bee.ready() }

  /** The entry at `path` (`/a/b`, `a/b` and `/a/b/` are one path), or undefined. */
  async get (path: string): Promise<IndexEntry | undefined> {
    const key = checkedKey(path, 'get')
    if (key === '') return undefined
    const e = await this.bee.get(key)
    return e === null ? undefined : toEntry(key, e.seq, decodeIndexValue(e.value), false)
  }

  /** The folder listing of `path`: its entries and sub-folders (`container: true`), in key order. */
  async list (path = '/', opts: ListOptions = {}): Promise<IndexEntry[]> {
    const items = await this.listKeys(checkedKey(path, 'list'), checkListOptions(opts))
    return items.map(it => toEntry(it.key, it.seq, it.value, it.container))
  }

  /** Every put and del since genesis (or within the seq bounds), in index order. */
  async * history (opts: HistoryOptions = {}): AsyncGenerator<HistoryEntry> {
    for await (const e of this.bee.createHistoryStream(opts)) {
      const key = e.key as string
      yield { type: e.type, seq: e.seq, path: keyToPath(key), name: keyName(key), value: e.value === null ? null : decodeIndexValue(e.value) }
    }
  }

  /** The seq and value at a stored key, or null (the host side of a contract's index.get). */
  async getKeyed (key: string): Promise<{ seq: number, value: JsonValue } | null> {
    const e = await this.bee.get(key)
    return e === null ? null : { seq: e.seq, value: decodeIndexValue(e.value) }
  }

  /** The folder listing of a stored key ('' for the root), as the host gives it to a contract. */
  async listKeys (dir: string, opts: ListOptions = {}): Promise<ListedItem[]> {
    const items = await listFolder(async range => {
      const e = await this.bee.peek(range)
      return e === null ? null : { key: e.key as string, seq: e.seq, value: e.value as Buffer }
    }, dir, opts)
    return items.map(it => it.value === undefined ? { key: it.key, container: it.container } : { key: it.key, seq: it.seq, value: decodeIndexValue(it.value), container: it.container })
  }

  /** The value at a stored key (internal reads of the `/.sys/` layout), or null. */
  async getValue (key: string, opts: { at?: number } = {}): Promise<JsonValue | null> {
    if (opts.at === undefined || opts.at >= this.bee.version) {
      const e = await this.bee.get(key)
      return e === null ? null : decodeValue(e.value)
    }
    // as of an earlier version (the index length then)
    const snapshot = this.bee.checkout(opts.at)
    try {
      const e = await snapshot.get(key)
      return e === null ? null : decodeValue(e.value)
    } finally {
      await snapshot.close()
    }
  }

  /** The raw entry at a stored key (seq and undecoded bytes), or null. */
  async getEntry (key: string): Promise<{ seq: number, value: Buffer } | null> {
    const e = await this.bee.get(key)
    return e === null ? null : { seq: e.seq, value: e.value as Buffer }
  }

  /** The contract source stored in the index. */
  async contractSource (): Promise<string | null> {
    const v = await this.getValue(CONTRACT_SOURCE_KEY)
    return typeof v === 'string' ? v : null
  }

  async hasGenesis (): Promise<boolean> { return (await this.bee.get(GENESIS_KEY)) !== null }

  /** The genesis marker (with the database's maxOpBytes), or null before genesis. Throws InvalidEntryError when malformed. */
  async genesis (): Promise<GenesisMarker | null> {
    const v = await this.getValue(GENESIS_KEY)
    return v === null ? null : parseGenesisMarker(v)
  }

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
    return (await readEntries(this.core, start, end)).map(e => ({
      type: e.type, seq: e.seq, path: keyToPath(e.key), name: keyName(e.key), value: e.value === null || e.value.length === 0 ? null : decodeIndexValue(e.value)
    }))
  }

  /**
   * Write straight to the index, bypassing the contract. For demos and for testing
   * the verifier: a verifier reports such writes as unprompted changes.
   */
  async dangerousBatch (writes: DirectWrite[]): Promise<void> {
    if (!this.writable) throw new PermissionError('NOT_EXECUTOR', 'Only the executor can write to the index')
    const checked = writes.map(w => {
      if (w === null || typeof w !== 'object' || (w.type !== 'put' && w.type !== 'del')) throw new InvalidArgumentError(`dangerousBatch: unknown write type ${JSON.stringify((w as { type?: unknown })?.type)} (put or del)`)
      const key = checkedKey(w.path, 'dangerousBatch')
      if (key === '') throw new InvalidArgumentError('dangerousBatch: cannot write to / (give a path such as /counter)')
      // a value given as bytes is stored as they are (a forged binary ack, for a test of the verifier)
      return w.type === 'put' ? { type: 'put' as const, key, value: w.value instanceof Uint8Array ? Buffer.from(w.value) : encodeValue(w.value) } : { type: 'del' as const, key }
    })
    const b = this.bee.batch()
    for (const w of checked) {
      if (w.type === 'put') await b.put(w.key, w.value)
      else await b.del(w.key)
    }
    await b.flush()
  }

  /** Copy every entry of `other` outside `/.sys/` into this index, bypassing the contract (for Database.createSandbox). */
  async dangerousCopyState (other: IndexLog): Promise<void> {
    if (!this.writable) throw new PermissionError('NOT_EXECUTOR', 'Only the executor can write to the index')
    let b = this.bee.batch()
    let n = 0
    for await (const e of other.bee.createReadStream()) {
      if (isSysKey(e.key as string)) continue
      await b.put(e.key, e.value)
      if (++n % 1000 === 0) { await b.flush(); b = this.bee.batch() }
    }
    await b.flush()
  }

  /** Closes the bee (and a standalone log's storage); close() runs it once. */
  protected override async _close (): Promise<void> {
    await this.bee.close()
    await this.onClose?.()
  }
}

/** The stored key of a path given to the API (INVALID_ARGUMENT when it cannot name an entry). */
function checkedKey (path: unknown, fn: string): string {
  try {
    return pathToKey(path as string)
  } catch (err) {
    if (err instanceof InvalidPathError) throw new InvalidArgumentError(`${fn}: ${err.message}`)
    throw err
  }
}

function checkListOptions (opts: unknown): ListOptions {
  if (opts === undefined || opts === null) return {}
  if (typeof opts !== 'object') throw new InvalidArgumentError('list: options must be an object')
  const o = opts as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (k !== 'reverse' && k !== 'offset' && k !== 'limit') throw new InvalidArgumentError(`list: unknown option "${k}" (the options are reverse, offset and limit)`)
  }
  if (o.reverse !== undefined && typeof o.reverse !== 'boolean') throw new InvalidArgumentError('list: reverse must be a boolean')
  for (const k of ['offset', 'limit']) {
    if (o[k] !== undefined && (!Number.isSafeInteger(o[k]) || (o[k] as number) < 0)) throw new InvalidArgumentError(`list: ${k} must be a non-negative integer`)
  }
  return o as ListOptions
}

/** A stored key and what was read at it, as `list` and `get` give it. */
export function toEntry (key: string, seq: number | undefined, value: JsonValue | undefined, container: boolean): IndexEntry {
  return { seq, container, name: keyName(key), path: keyToPath(key), value }
}
