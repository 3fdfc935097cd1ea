/**
 * Proofs of folder listings. A listing (`list('/a')`: the entries directly under
 * `/a` and each sub-folder once, see shallow-list.ts) is a walk of one-key range
 * reads ("peeks") over the index. Its proof is an index read proof of exactly those
 * peeks, at one version. To check it, the verifier walks the folder again with the
 * same rule, answering every peek from the proven blocks only: the listing it gets is
 * the one the signed index holds at that version, and a proof that lacks a block the
 * walk needs fails as `incomplete`. Nothing here trusts the listing the host sent.
 */
import type { JsonValue } from '../../format/encoding.js'
import { InvalidArgumentError } from '../../errors/errors.js'
import { keyName, keyToPath, pathToKey } from '../../format/paths.js'
import { listFolder, type FolderListOptions, type PeekRange } from '../../format/shallow-list.js'
import { proofReader, type IndexRange, type IndexReadProof, type VerifyIndexReadOptions } from './bee-proofs.js'
import { decodeIndexValue } from '../../format/ack-v2.js'

/** One listed item, as `db.index.list` gives it. */
export interface ProvenListItem { path: string, name: string, container: boolean, seq?: number, value?: JsonValue }

/** The range of one peek as an index read (limit 1). */
export function peekRead (range: PeekRange): { kind: 'list', range: IndexRange } {
  const r: IndexRange = { limit: 1, reverse: range.reverse }
  if (range.gt !== undefined) r.gt = range.gt
  if (range.gte !== undefined) r.gte = range.gte
  if (range.lt !== undefined) r.lt = range.lt
  return { kind: 'list', range: r }
}

/**
 * Checks offline that `proof` proves the listing of `path` with `opts` (reverse,
 * offset, limit) at its version, and returns that listing. Throws InvalidProofError
 * as verifyIndexReadProof does (`incomplete` when the walk needs a block the proof
 * lacks); `opts.key` / `opts.at` pin the index key and version.
 */
export async function verifyFolderListProof (proof: IndexReadProof | unknown, path: string, opts: FolderListOptions & VerifyIndexReadOptions = {}): Promise<{ at: number, entries: ProvenListItem[] }> {
  let dir: string
  try { dir = pathToKey(path) } catch (err) { throw new InvalidArgumentError(`path: ${(err as Error).message}`) }
  const reader = await proofReader(proof, { key: opts.key, at: opts.at })
  try {
    const items = await listFolder(async range => {
      const [e] = await reader.list(peekRead(range).range)
      return e === undefined ? null : e
    }, dir, { reverse: opts.reverse, offset: opts.offset, limit: opts.limit })
    const entries = items.map(it => {
      const item: ProvenListItem = { path: keyToPath(it.key), name: keyName(it.key), container: it.container }
      if (it.value !== undefined) {
        item.seq = it.seq
        item.value = decodeIndexValue(it.value)
      }
      return item
    })
    return { at: reader.at, entries }
  } finally {
    await reader.close()
  }
}
