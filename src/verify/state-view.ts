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
import type { JsonValue } from '../format/encoding.js'
import { compareKeys } from '../format/paths.js'
import { listFolder, type FolderListOptions, type PeekRange } from '../format/shallow-list.js'
import type { ListedItem } from '../../sandbox/types.js'
import type { IndexProofReader, IndexRange, IndexRead } from '../proofs/bee/bee-proofs.js'
import { decodeIndexValue } from '../format/ack-v2.js'

/** Writes since the batch start: key → the entry written (seq, bytes), or null for a delete. */
export type Overlay = Map<string, { seq: number, value: Buffer } | null>

export interface StateReader {
  get (key: string): Promise<{ seq: number, value: JsonValue } | null>
  has (key: string): Promise<boolean>
  list (dir: string, opts: FolderListOptions): Promise<ListedItem[]>
}

/**
 * What the state view reads from: the two calls of a Hyperbee (checkout) it uses.
 * `range` holds only defined fields among gt, gte, lt, lte (strings), limit, reverse.
 */
export interface StateBase {
  get (key: string): Promise<{ seq: number, value: Buffer } | null>
  createReadStream (range: IndexRange): AsyncIterable<{ key: string, seq: number, value: Buffer }>
}

/**
 * A reader over `base` (the index at batchStart) plus `overlay`. Keys read are
 * recorded in `reads` (overlay hits included). The calls made on `base` are
 * deterministic in the calls made on the view and the overlay.
 */
export function stateView (base: StateBase, overlay: Overlay, reads?: Set<string>): StateReader {
  async function raw (key: string): Promise<{ seq: number, value: Buffer } | null> {
    reads?.add(key)
    if (overlay.has(key)) return overlay.get(key) ?? null
    return await base.get(key)
  }
  /** The first key of the range (last with reverse) in base + overlay. */
  async function peek (range: PeekRange): Promise<{ key: string, seq: number, value: Buffer } | null> {
    const inRange = (k: string): boolean => inside(k, range)
    let shadowed = 0
    let mine: { key: string, seq: number, value: Buffer } | null = null
    for (const [k, v] of overlay) {
      if (!inRange(k)) continue
      shadowed++
      if (v !== null && (mine === null || (compareKeys(k, mine.key) < 0) !== range.reverse)) mine = { key: k, ...v }
    }
    let theirs: { key: string, seq: number, value: Buffer } | null = null
    for await (const e of base.createReadStream(baseRange(range, shadowed + 1))) {
      if (overlay.has(e.key)) continue
      theirs = e
      break
    }
    let first = mine
    if (theirs !== null && (first === null || (compareKeys(theirs.key, first.key) < 0) !== range.reverse)) first = theirs
    if (first !== null) reads?.add(first.key)
    return first
  }
  return {
    async get (key) {
      const e = await raw(key)
      return e === null ? null : { seq: e.seq, value: decodeIndexValue(e.value) }
    },
    async has (key) { return (await raw(key)) !== null },
    async list (dir, opts) {
      const items = await listFolder(peek, dir, opts)
      return items.map(it => it.value === undefined ? { key: it.key, container: it.container } : { key: it.key, seq: it.seq, value: decodeIndexValue(it.value), container: it.container })
    }
  }
}

/** The range passed to the base: only defined fields (as an index read proof records them). */
function baseRange (range: PeekRange, limit: number): IndexRange {
  const out: IndexRange = {}
  for (const k of ['gt', 'gte', 'lt'] as const) if (typeof range[k] === 'string') out[k] = range[k]
  out.limit = limit
  out.reverse = range.reverse
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
      return e === null ? null : { seq: e.seq, value: e.value }
    },
    createReadStream (range) {
      return (async function * () {
        for (const e of await reader.list(range)) yield { key: e.key, seq: e.seq, value: e.value }
      })()
    }
  }
}

export { compareKeys } from '../format/paths.js'

function inside (k: string, r: PeekRange): boolean {
  if (typeof r.gt === 'string' && !(compareKeys(k, r.gt) > 0)) return false
  if (typeof r.gte === 'string' && !(compareKeys(k, r.gte) >= 0)) return false
  if (typeof r.lt === 'string' && !(compareKeys(k, r.lt) < 0)) return false
  return true
}
