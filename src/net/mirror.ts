/**
 * A bounded mirror of a log: keep the newest `keep` blocks (and block 0, the Hyperbee
 * header every index read proof names), clear the older ones, so that the disk a
 * reader's copy takes stays bounded while the log grows (Drayer's "mirror the most
 * recent N records").
 *
 * What stays: the Merkle tree of the whole log (Hypercore keeps it when blocks are
 * cleared), the signed head, and the newest blocks. So inclusion proofs of the newest
 * entries, and reads whose Hyperbee walk stays in them, are answered from disk as on a
 * full copy. An older block a read needs is fetched from a peer again on demand (and
 * cleared again afterwards); with no peer online the read fails with Hypercore's request
 * timeout (COULD_NOT_VERIFY where a proof was asked). What a bounded mirror cannot do is
 * replay the history: a full verification needs every block (see README "Bounded mirrors").
 */
import { Resource } from '../lifecycle/resource.js'
import type Hypercore from 'hypercore'

export class BoundedMirror extends Resource {
  readonly keep: number
  private readonly core: Hypercore
  /** Every block below this was cleared (or never held). */
  private cleared = 1
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> = Promise.resolve()
  /** Blocks below this were asked for already. */
  private requested = 1
  private readonly ranges = new Set<{ destroy: () => void }>()

  constructor (core: Hypercore, keep: number) {
    super()
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`keep must be a positive integer, not ${String(keep)}`)
    this.core = core
    this.keep = keep
  }

  /** Starts fetching the newest blocks as the log grows and clearing the older ones, at once (nothing here waits); ready() runs it once. */
  protected override async _open (): Promise<void> {
    this.core.on('append', this.schedule)
    this.core.on('download', this.onDownload)
    void this.core.get(0).catch(() => {}) // the header, named by every index read proof
    this.fetchNewest()
    this.schedule()
  }

  /**
   * Download the blocks appended since the last call (from the floor): bounded ranges, which
   * end once fetched. A live range would fetch the cleared blocks again, since it asks for
   * every block it does not find stored.
   */
  private fetchNewest (): void {
    const length = this.core.length
    const start = Math.max(this.requested, this.floor)
    if (length <= start) return
    this.requested = length
    const range = this.core.download({ start, end: length }) as unknown as { destroy: () => void, done: () => Promise<void> }
    this.ranges.add(range)
    void range.done().catch(() => {}).finally(() => this.ranges.delete(range))
  }

  /** The lowest block kept (besides block 0). */
  get floor (): number { return Math.max(1, this.core.length - this.keep) }

  private readonly schedule = (): void => {
    if (this.stopping) return
    this.fetchNewest()
    if (this.timer !== null) return
    this.timer = setTimeout(() => {
      this.timer = null
      this.running = this.running.then(async () => await this.trim()).catch(() => {})
    }, 200)
    this.timer.unref()
  }

  /** A block below the floor fetched for a read: cleared again at the next trim. */
  private readonly onDownload = (index: number): void => {
    if (index >= 1 && index < this.floor) {
      this.cleared = Math.min(this.cleared, index)
      this.schedule()
    }
  }

  /**
   * Clear [cleared, floor) one block at a time: Hypercore's clear of a range deletes the
   * tree nodes on the path up from its first block whose spans hold no block any more, so
   * clearing each block lets it delete the Merkle nodes of the whole cleared history
   * (up to the roots, which stay), and the disk stops growing with the log.
   */
  private async trim (): Promise<void> {
    const end = this.floor
    while (!this.stopping && this.cleared < end) {
      await this.core.clear(this.cleared, this.cleared + 1)
      this.cleared++
    }
  }

  /** Clear what is below the floor now (tests, and before measuring). */
  async flush (): Promise<void> {
    await this.running
    await this.trim()
  }

  /** Stops fetching and clearing; close() runs it once. */
  protected override async _close (): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer)
    this.core.off('append', this.schedule)
    this.core.off('download', this.onDownload)
    for (const r of this.ranges) r.destroy()
    this.ranges.clear()
  }
}
