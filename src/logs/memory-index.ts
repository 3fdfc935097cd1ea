/**
 * An index held in a Map (stored key → value), for tests and benchmarks of the
 * sandbox: the same reads the executor's index gives a contract (entries with a
 * seq, folder listings), without a Hyperbee. Seqs are the order keys were first
 * set in (1, 2, …), enough to tell entries apart.
 */
import type { IndexReader, Json } from '../../sandbox/types.js'
import { compareKeys } from '../format/paths.js'
import { listFolder } from '../format/shallow-list.js'

export function memoryIndex (map: Map<string, Json>): IndexReader {
  const seqs = new Map<string, number>()
  const seqOf = (key: string): number => {
    let s = seqs.get(key)
    if (s === undefined) { s = seqs.size + 1; seqs.set(key, s) }
    return s
  }
  const within = (k: string, r: { gt?: string, gte?: string, lt?: string }): boolean =>
    (r.gt === undefined || compareKeys(k, r.gt) > 0) && (r.gte === undefined || compareKeys(k, r.gte) >= 0) && (r.lt === undefined || compareKeys(k, r.lt) < 0)
  return {
    async get (key) { return map.has(key) ? { seq: seqOf(key), value: map.get(key) as Json } : null },
    async has (key) { return map.has(key) },
    async list (dir, opts) {
      return await listFolder(async range => {
        const keys = [...map.keys()].filter(k => within(k, range)).sort(compareKeys)
        const key = range.reverse ? keys[keys.length - 1] : keys[0]
        return key === undefined ? null : { key, seq: seqOf(key), value: map.get(key) as Json }
      }, dir, opts)
    }
  }
}
