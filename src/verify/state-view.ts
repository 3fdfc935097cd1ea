/**
 * The index state an op's `apply` saw: the Hyperbee checked out at the ack's
 * `batchStart` (a batch end, where checkouts are valid) with the writes already
 * verified in the same batch laid over it.
 */
import type Hyperbee from 'hyperbee'
import { decodeValue, type JsonValue } from '../encoding.js'
import { prefixRange } from '../logs/index-log.js'
import type { IndexEntry, ListOptions } from '../../sandbox/types.js'

/** Writes since the batch start: key → bytes, or null for a delete. */
export type Overlay = Map<string, Buffer | null>

export interface StateReader {
  get (key: string): Promise<JsonValue | null>
  has (key: string): Promise<boolean>
  list (prefix: string, opts: ListOptions): Promise<IndexEntry[]>
}

/** A reader over `checkout` (a Hyperbee at batchStart) plus `overlay`. Keys read are recorded in `reads`. */
export function stateView (checkout: Hyperbee, overlay: Overlay, reads?: Set<string>): StateReader {
  async function raw (key: string): Promise<Buffer | null> {
    reads?.add(key)
    if (overlay.has(key)) return overlay.get(key) ?? null
    const e = await checkout.get(key)
    return e === null ? null : e.value as Buffer
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
      for await (const e of checkout.createReadStream({ ...range, limit, reverse: opts.reverse === true })) merged.set(e.key as string, e.value as Buffer)
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
