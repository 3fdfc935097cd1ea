/**
 * Reading many blocks of a Hypercore at once.
 *
 * `core.get()` makes one storage read batch per block; reading thousands of
 * blocks that way costs more than replaying them. Blocks already stored locally
 * are read here in one batch of the core's storage (hypercore 11's
 * `core.state.storage.read()`, the one internal this project touches; if it is
 * not there, plain `core.get` is used). Blocks not stored locally go through
 * `core.get`, which fetches them from peers (with `opts.timeout`).
 */
import type Hypercore from 'hypercore'

interface ReadBatch { getBlock (index: number): Promise<Buffer | null>, tryFlush (): void }

/** Blocks [start, end) of `core` that are stored locally, in order; null for each one that is not (nothing is fetched). */
export async function readLocalBlocks (core: Hypercore, start: number, end: number): Promise<Array<Buffer | null>> {
  return await readThrough(core, start, end, { wait: false })
}

/** Blocks [start, end) of `core`, in order. */
export async function readBlocks (core: Hypercore, start: number, end: number, opts: { timeout?: number } = {}): Promise<Buffer[]> {
  return await readThrough(core, start, end, opts) as Buffer[]
}

/** The stored blocks in one storage batch; each one not stored through `core.get(index, getOpts)`. */
async function readThrough (core: Hypercore, start: number, end: number, getOpts: { wait?: boolean, timeout?: number }): Promise<Array<Buffer | null>> {
  const n = Math.max(0, end - start)
  const local = await readLocal(core, start, n)
  return await Promise.all(local.map(async (b, i) => b ?? await core.get(start + i, getOpts) as Buffer | null))
}

async function readLocal (core: Hypercore, start: number, n: number): Promise<Array<Buffer | null>> {
  const storage = (core.state as { storage?: { read?: () => ReadBatch } } | undefined)?.storage
  if (storage?.read === undefined || n === 0) return new Array<Buffer | null>(n).fill(null)
  const rx = storage.read()
  const out: Array<Promise<Buffer | null>> = []
  for (let i = 0; i < n; i++) out.push(rx.getBlock(start + i))
  rx.tryFlush()
  return await Promise.all(out)
}
