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
import type Hypercore from 'hypercore'

export class BoundedMirror {
  readonly keep: number
  private readonly core: Hypercore
  /** Every block below this was cleared (or never held). */
  private cleared = 1
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> = Promise.resolve()
  private stopped = false
  private range: { destroy: () => void } | null = null

  constructor (core: Hypercore, keep: number) {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`keep must be a positive integer, not ${String(keep)}`)
    this.core = core
    this.keep = keep
  }

  /** Start: fetch the newest blocks as the log grows, clear the older ones. */
  start (): void {
    this.core.on('append', this.schedule)
    this.core.on('download', this.onDownload)
    // the newest `keep` blocks, and every later one as it is appended (a live range)
    this.range = this.core.download({ start: Math.max(1, this.core.length - this.keep), end: -1 }) as unknown as { destroy: () => void }
    void this.core.get(0).catch(() => {}) // the header, named by every index read proof
    this.schedule()
  }

  /** The lowest block kept (besides block 0). */
  get floor (): number { return Math.max(1, this.core.length - this.keep) }

  private readonly schedule = (): void => {
    if (this.stopped || this.timer !== null) return
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

  private async trim (): Promise<void> {
    const end = this.floor
    if (this.stopped || end <= this.cleared) return
    await this.core.clear(this.cleared, end)
    this.cleared = end
  }

  /** Clear what is below the floor now (tests, and before measuring). */
  async flush (): Promise<void> {
    await this.running
    await this.trim()
  }

  stop (): void {
    this.stopped = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.core.off('append', this.schedule)
    this.core.off('download', this.onDownload)
    this.range?.destroy()
  }
}
