/**
 * The index state an op's `apply` saw: the Hyperbee checked out at the ack's
 * `batchStart` (a batch end, where checkouts are valid) with the writes already
 * verified in the same batch laid over it.
 *
 * The base is anything with Hyperbee's two read calls (`StateBase`): a Hyperbee
 * checkout on the logs, or, offline, the proven blocks of an index read proof
 * (`proofBase`). `recordingBase` wraps a base and records the exact calls made on
 * it as `IndexRead`s, so that a replay's reads can be packaged as an index read
 * proof (see replay-evidence.ts).
 */
import { decodeValue, type JsonValue } from '../encoding.js'
import { prefixRange } from '../logs/index-log.js'
import type { IndexEntry, ListOptions } from '../../sandbox/types.js'
import type { IndexProofReader, IndexRange, IndexRead } from './bee-proofs.js'

/** Writes since the batch start: key → bytes, or null for a delete. */
export type Overlay = Map<string, Buffer | null>

export interface StateReader {
  get (key: string): Promise<JsonValue | null>
  has (key: string): Promise<boolean>
  list (prefix: string, opts: ListOptions): Promise<IndexEntry[]>
}

/**
 * What the state view reads from: the two calls of a Hyperbee (checkout) it uses.
 * `range` holds only defined fields among gt, gte, lt, lte (strings), limit, reverse.
 */
export interface StateBase {
  get (key: string): Promise<{ value: Buffer } | null>
  createReadStream (range: IndexRange): AsyncIterable<{ key: string, value: Buffer }>
}

/**
 * A reader over `base` (the index at batchStart) plus `overlay`. Keys read are
 * recorded in `reads` (overlay hits included). The calls made on `base` are
 * deterministic in the calls made on the view and the overlay.
 */
export function stateView (base: StateBase, overlay: Overlay, reads?: Set<string>): StateReader {
  async function raw (key: string): Promise<Buffer | null> {
    reads?.add(key)
    if (overlay.has(key)) return overlay.get(key) ?? null
    const e = await base.get(key)
    return e === null ? null : e.value
  }
  return {
    async get (key) {
      const v = await raw(key)
      return v === null ? null : decodeValue(v)
    },
    async has (key) { return (await raw(key)) !== null },
    async list (prefix, opts) {
      const range = prefixRange(prefix, { ...opts, limit: undefined, reverse: undefined })
      const inRange = (k: string): boolean => inside(k, range)
      const merged = new Map<string, Buffer>()
      const extra = [...overlay.keys()].filter(inRange).length
      const limit = opts.limit === undefined ? undefined : opts.limit + extra
      for await (const e of base.createReadStream(baseRange(range, limit, opts.reverse === true))) merged.set(e.key, e.value)
      for (const [k, v] of overlay) {
        if (!inRange(k)) continue
        if (v === null) merged.delete(k)
        else merged.set(k, v)
      }
      let keys = [...merged.keys()].sort(compareKeys)
      if (opts.reverse === true) keys.reverse()
      if (opts.limit !== undefined) keys = keys.slice(0, opts.limit)
      for (const k of keys) reads?.add(k)
      return keys.map(k => ({ key: k, value: decodeValue(merged.get(k) as Buffer) }))
    }
  }
}

/** The range passed to the base: only defined fields (as an index read proof records them). */
function baseRange (range: Record<string, unknown>, limit: number | undefined, reverse: boolean): IndexRange {
  const out: IndexRange = {}
  for (const k of ['gt', 'gte', 'lt', 'lte'] as const) if (typeof range[k] === 'string') out[k] = range[k]
  if (limit !== undefined) out.limit = limit
  out.reverse = reverse
  return out
}

/**
 * `base` with every call made on it appended to `into`, as the IndexRead an index
 * read proof takes: `{ kind: 'get', key }` or `{ kind: 'list', range }` with the exact
 * range passed (a copy).
 */
export function recordingBase (base: StateBase, into: IndexRead[]): StateBase {
  return {
    async get (key) {
      into.push({ kind: 'get', key })
      return await base.get(key)
    },
    createReadStream (range) {
      into.push({ kind: 'list', range: { ...range } })
      return base.createReadStream(range)
    }
  }
}

/** A base over the proven blocks of an index read proof (offline). Reads it does not cover throw InvalidProofError('incomplete'). */
export function proofBase (reader: IndexProofReader): StateBase {
  return {
    async get (key) {
      const e = await reader.get(key)
      return e === null ? null : { value: e.value }
    },
    createReadStream (range) {
      return (async function * () {
        for (const e of await reader.list(range)) yield { key: e.key, value: e.value }
      })()
    }
  }
}

/** Hyperbee orders keys by their UTF-8 bytes; so do we. */
export function compareKeys (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

function inside (k: string, r: Record<string, unknown>): boolean {
  if (typeof r.gt === 'string' && !(compareKeys(k, r.gt) > 0)) return false
  if (typeof r.gte === 'string' && !(compareKeys(k, r.gte) >= 0)) return false
  if (typeof r.lt === 'string' && !(compareKeys(k, r.lt) < 0)) return false
  if (typeof r.lte === 'string' && !(compareKeys(k, r.lte) <= 0)) return false
  return true
}
