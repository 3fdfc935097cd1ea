/**
 * Folder listings over the index, as Vitra 0.1.3 defines them: `list('/a')`
 * gives the entries directly under `/a`, in key order, and each sub-folder once,
 * as an entry with `container: true`. A path that holds a value and also has
 * children is one entry: its value and seq, with `container: true`.
 *
 * Keys are path segments joined by NUL (paths.ts), so the children of `a` are the
 * keys in [`a\x00`, `a\x01`), right after `a` itself. The walk asks the index for
 * one key at a time (`peek`), skipping each sub-folder in one step, so a listing
 * costs one lookup per listed item, however many entries the sub-folders hold.
 * It is deterministic in what `peek` answers: the executor, the verifier and an
 * offline replay over proven blocks list alike.
 */
import { SEP } from './paths.js'

/** A key range for one peek; keys compare as Hyperbee compares them (UTF-8 bytes). */
export interface PeekRange { gt?: string, gte?: string, lt?: string, reverse: boolean }

/** The first key in a range (the last with reverse), or null. */
export type Peek<V> = (range: PeekRange) => Promise<{ key: string, seq: number, value: V } | null>

/** One listed item: an entry (`seq`, `value`), a folder (`container`), or both. */
export interface ListedEntry<V> { key: string, seq?: number, value?: V, container: boolean }

export interface FolderListOptions { reverse?: boolean, offset?: number, limit?: number }

/**
 * The listing of the folder whose stored key is `dir` ('' for `/`), with Vitra's
 * `reverse`, `offset` and `limit` (applied after reversing).
 */
export async function listFolder<V> (peek: Peek<V>, dir: string, opts: FolderListOptions = {}): Promise<Array<ListedEntry<V>>> {
  const offset = opts.offset ?? 0
  // one item more than needed: the last one may still merge with the next peek
  const want = opts.limit === undefined ? Infinity : offset + opts.limit + 1
  const items = opts.reverse === true ? await walkBackward(peek, dir, want) : await walkForward(peek, dir, want)
  const end = opts.limit === undefined ? items.length : offset + opts.limit
  return items.slice(offset, end)
}

function bounds (dir: string): { low: string | undefined, high: string | undefined } {
  return dir === '' ? { low: undefined, high: undefined } : { low: dir + SEP, high: dir + '\x01' }
}

/** The child of `dir` that `key` lies in: its stored key, and whether `key` is deeper than it. */
function childOf (dir: string, key: string): { child: string, deeper: boolean } {
  const start = dir === '' ? 0 : dir.length + 1
  const i = key.indexOf(SEP, start)
  return i === -1 ? { child: key, deeper: false } : { child: key.slice(0, i), deeper: true }
}

async function walkForward<V> (peek: Peek<V>, dir: string, want: number): Promise<Array<ListedEntry<V>>> {
  const { low, high } = bounds(dir)
  const out: Array<ListedEntry<V>> = []
  let from: { gt?: string, gte?: string } = low === undefined ? {} : { gte: low }
  while (out.length < want) {
    const e = await peek({ ...from, ...(high === undefined ? {} : { lt: high }), reverse: false })
    if (e === null) break
    const { child, deeper } = childOf(dir, e.key)
    if (!deeper) {
      out.push({ key: child, seq: e.seq, value: e.value, container: false })
      from = { gt: child }
      continue
    }
    const last = out[out.length - 1]
    if (last !== undefined && last.key === child) last.container = true
    else out.push({ key: child, container: true })
    from = { gte: child + '\x01' } // past every key under child
  }
  return out
}

async function walkBackward<V> (peek: Peek<V>, dir: string, want: number): Promise<Array<ListedEntry<V>>> {
  const { low, high } = bounds(dir)
  const out: Array<ListedEntry<V>> = []
  let below: string | undefined = high
  // a folder just listed whose own entry (if any) is the next key down
  let open: ListedEntry<V> | null = null
  while (out.length < want) {
    const range: PeekRange = { reverse: true }
    if (low !== undefined) range.gte = low
    if (below !== undefined) range.lt = below
    const e = await peek(range)
    if (e === null) break
    const { child, deeper } = childOf(dir, e.key)
    if (!deeper && open !== null && open.key === child) {
      open.seq = e.seq
      open.value = e.value
      open = null
      below = child
      continue
    }
    open = null
    if (!deeper) {
      out.push({ key: child, seq: e.seq, value: e.value, container: false })
      below = child
      continue
    }
    open = { key: child, container: true }
    out.push(open)
    below = child + SEP // the folder's own entry, if any, is the next key below this bound
  }
  return out
}
