/**
 * Reading many blocks of a Hypercore at once.
 *
 * `core.get()` makes one storage read batch per block; reading thousands of
 * blocks that way costs more than replaying them. Blocks already stored locally
 * are read here in one batch of the core's storage (hypercore 11's
 * `core.state.storage.read()`, an internal read through src/holepunch/; if it is
 * not there, plain `core.get` is used). Blocks not stored locally go through
 * `core.get`, which fetches them from peers (with `opts.timeout`).
 */
import type Hypercore from 'hypercore'
import { coreStorage } from '../holepunch/core-internals.js'

/** Blocks [start, end) of `core`, in order. */
export async function readBlocks (core: Hypercore, start: number, end: number, opts: { timeout?: number } = {}): Promise<Buffer[]> {
  return await readThrough(core, start, end, opts) as Buffer[]
}

/** Blocks [start, end) that are stored here, read in one storage batch; null for each one that is not. */
export async function readLocalBlocks (core: Hypercore, start: number, end: number): Promise<Array<Buffer | null>> {
  return await readThrough(core, start, end, { wait: false })
}

/** The stored blocks in one storage batch; each one not stored through `core.get(index, getOpts)`. */
async function readThrough (core: Hypercore, start: number, end: number, getOpts: { wait?: boolean, timeout?: number }): Promise<Array<Buffer | null>> {
  const n = Math.max(0, end - start)
  const local = await readLocal(core, start, n)
  return await Promise.all(local.map(async (b, i) => b ?? await core.get(start + i, getOpts) as Buffer | null))
}

/** What readLocalBlocksBounded read: blocks [start, end) (null: not read), and each one's byte length when known. */
export interface BoundedBlocks { start: number, end: number, blocks: Array<Buffer | null>, sizes: Array<number | null> }

/**
 * The locally stored blocks from `start`, in order, in at most `budget` bytes (but at
 * least one block), up to `end`; blocks over `maxBlockBytes` are not read at all. Sizes
 * come first, from the stored Merkle tree leaves (one storage batch, a few dozen bytes a
 * block), then the blocks that fit (a second batch). A block whose leaf is not stored
 * locally (a remote block not downloaded yet) comes back null with size null. Null when
 * this hypercore has no storage read batch (the caller then reads one block at a time).
 */
export async function readLocalBlocksBounded (core: Hypercore, start: number, end: number, opts: { maxBlockBytes: number, budget: number }): Promise<BoundedBlocks | null> {
  const storage = coreStorage(core)
  if (storage === null) return null
  const n = Math.max(0, end - start)
  const rx = storage.read()
  const nodes: Array<Promise<{ size: number } | null>> = []
  for (let i = 0; i < n; i++) nodes.push(rx.getTreeNode(2 * (start + i)))
  rx.tryFlush()
  const sizes = (await Promise.all(nodes)).map(node => node === null ? null : node.size)
  let bytes = 0
  let stop = n
  for (let i = 0; i < n; i++) {
    const size = sizes[i] ?? null
    if (size === null || size > opts.maxBlockBytes) continue
    if (bytes > 0 && bytes + size > opts.budget) { stop = i; break }
    bytes += size
  }
  sizes.length = stop
  const rb = storage.read()
  const blocks: Array<Promise<Buffer | null> | null> = sizes.map((size, i) => size !== null && size > opts.maxBlockBytes ? null : rb.getBlock(start + i))
  rb.tryFlush()
  return { start, end: start + stop, blocks: await Promise.all(blocks.map(b => b ?? null)), sizes }
}

async function readLocal (core: Hypercore, start: number, n: number): Promise<Array<Buffer | null>> {
  const storage = coreStorage(core)
  if (storage === null || n === 0) return new Array<Buffer | null>(n).fill(null)
  const rx = storage.read()
  const out: Array<Promise<Buffer | null>> = []
  for (let i = 0; i < n; i++) out.push(rx.getBlock(start + i))
  rx.tryFlush()
  return await Promise.all(out)
}
