/**
 * Sizes before bytes: how large a remote block is, learned from the Merkle tree the
 * peer proves, before the block itself is downloaded. Every tree node carries the byte
 * size of its subtree, so:
 *
 * - the byte offset of block i is the total size of the roots of the tree at length i;
 * - seeking one byte past that offset makes Hypercore fetch (and store) the nodes down
 *   to block i's leaf, which holds block i's size, without the block;
 * - the blocks [i, length) hold `byteLength − offset(i)` bytes together, so when that
 *   is at most `max`, none of them can be over `max` and the range can be downloaded.
 *
 * The executor uses this so that an op over the database's maxOpBytes is refused
 * unread (acked OP_TOO_LARGE) instead of being downloaded whole first.
 */
import type Hypercore from 'hypercore'
import { readLocalBlocksBounded } from './blocks.js'

/** The byte offset of block `index` from the locally stored tree; null when the nodes are not here. */
export async function byteOffset (core: Hypercore, index: number): Promise<number | null> {
  if (index === 0) return 0
  try {
    const p = await core.proof({ upgrade: { start: 0, length: index } })
    return p.upgrade === null ? 0 : p.upgrade.nodes.reduce((sum, n) => sum + n.size, 0)
  } catch {
    return null
  }
}

/** The size of block `index` from its stored leaf, or null when the leaf is not stored here. */
export async function storedBlockSize (core: Hypercore, index: number): Promise<number | null> {
  const r = await readLocalBlocksBounded(core, index, index + 1, { maxBlockBytes: 0, budget: 0 })
  return r?.sizes[0] ?? null
}

/**
 * The size of block `index`, fetching only tree nodes from peers (within `timeoutMs`)
 * when its leaf is not stored here. Null when it cannot be learned that way (the nodes
 * before it are not here either, or no peer answered): the caller decides.
 */
export async function remoteBlockSize (core: Hypercore, index: number, timeoutMs: number): Promise<number | null> {
  const known = await storedBlockSize(core, index)
  if (known !== null) return known
  const offset = await byteOffset(core, index)
  if (offset === null) return null
  try {
    await core.seek(offset + 1, { timeout: timeoutMs })
  } catch {
    // past the end (a block of 0 bytes at the tip) or no answer: whatever is stored now counts
  }
  return await storedBlockSize(core, index)
}

/**
 * Whether no block of [start, end) can be over `max` bytes, judged from the tree alone
 * (their total size); false when it cannot be told without looking block by block.
 */
export async function rangeWithin (core: Hypercore, start: number, end: number, max: number): Promise<boolean> {
  if (end <= start) return true
  const [from, to] = await Promise.all([byteOffset(core, start), byteOffset(core, end)])
  return from !== null && to !== null && to - from <= max
}

/**
 * Downloads a remote log as it grows, never a block over `max` bytes. The range still
 * to fetch is walked in windows of `max` bytes: one seek to `offset(a) + max` (tree
 * nodes only) finds the block j holding that byte, so every block of [a, j) lies
 * inside the window and is downloaded; when j = a, block a alone is larger than the
 * window and is skipped (its leaf is now stored: the executor refuses it unread).
 * One round trip per window, so a history of small ops costs a seek per `max` bytes.
 * Blocks it cannot size (nodes not available yet) are left to on-demand reads.
 */
export class SizedDownload {
  private readonly core: Hypercore
  private readonly max: number
  private readonly timeoutMs: number
  private next = 0
  private running: Promise<void> | null = null
  private again = false
  private stopped = false
  private readonly ranges = new Set<{ destroy: () => void, done: () => Promise<void> }>()
  private readonly onAppend = (): void => this.kick()

  constructor (core: Hypercore, opts: { max: number, timeoutMs?: number, start?: number }) {
    this.core = core
    this.max = opts.max
    this.timeoutMs = opts.timeoutMs ?? 10_000
    this.next = opts.start ?? 0
  }

  /** Start following the log (idempotent). */
  start (): void {
    this.core.on('append', this.onAppend)
    this.kick()
  }

  /** Stop: downloads under way are cancelled (a synchronous handle: see src/lifecycle/resource.ts). */
  close (): void {
    this.stopped = true
    this.core.off('append', this.onAppend)
    for (const r of this.ranges) r.destroy()
    this.ranges.clear()
  }

  /** Resolves when the walk up to the current length has been done (downloads started, not finished). */
  async idle (): Promise<void> {
    while (this.running !== null) await this.running
  }

  private kick (): void {
    if (this.stopped) return
    if (this.running !== null) { this.again = true; return }
    this.running = this.walk().catch(() => {}).finally(() => {
      this.running = null
      if (this.again && !this.stopped) { this.again = false; this.kick() }
    })
  }

  private async walk (): Promise<void> {
    const end = this.core.length
    if (this.next >= end) return
    const total = await byteOffset(this.core, end) // the bytes of [0, end): the same for every window
    while (!this.stopped && this.next < end) {
      const a = this.next
      const offset = await byteOffset(this.core, a)
      if (offset === null || total === null) return // sized later, or on demand
      if (total - offset <= this.max) { this.fetch(a, end); this.next = end; return }
      let j: number
      try {
        const found = await this.core.seek(offset + this.max, { timeout: this.timeoutMs })
        if (found === null) return
        j = found[0]
      } catch {
        return // no answer: tried again on the next append
      }
      if (j > a) this.fetch(a, j)
      this.next = Math.max(j, a + 1) // j === a: block a is over max, never fetched here
    }
  }

  private fetch (start: number, end: number): void {
    const r = this.core.download({ start, end }) as { destroy: () => void, done: () => Promise<void> }
    this.ranges.add(r)
    r.done().catch(() => {}).finally(() => this.ranges.delete(r))
  }
}
