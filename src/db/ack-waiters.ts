/**
 * Callers waiting for their ops to be acked. The executor reports what it
 * processed directly; a remote peer checks the index when it grows.
 */
import { TimeoutError } from '../errors/errors.js'
import type { IndexLog } from '../logs/index-log.js'

interface Waiter { seq: number, resolve: () => void, reject: (e: Error) => void, timer: NodeJS.Timeout }

export class AckWaiters {
  private readonly index: IndexLog
  private readonly waiting = new Map<string, Waiter[]>()
  /** Highest seq known acked per oplog. */
  private readonly acked = new Map<string, number>()
  private checking = false
  private recheck = false

  constructor (index: IndexLog) { this.index = index }

  get size (): number { let n = 0; for (const w of this.waiting.values()) n += w.length; return n }

  /** Resolves when op `seq` of `origin` has an ack; TimeoutError after `timeoutMs`. */
  async wait (origin: string, seq: number, timeoutMs: number): Promise<void> {
    if ((this.acked.get(origin) ?? -1) >= seq) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.remove(origin, w)
        reject(new TimeoutError(`Op ${seq} of oplog ${origin.slice(0, 8)}… was not processed within ${timeoutMs} ms`))
      }, timeoutMs)
      const w: Waiter = { seq, resolve, reject, timer }
      const list = this.waiting.get(origin) ?? []
      list.push(w)
      this.waiting.set(origin, list)
      // Look the ack up only once the waiter is registered: an index append that lands
      // while the lookup runs then finds the waiter (checking first could miss it forever).
      this.index.getAck(origin, seq).then(found => { if (found !== null) this.markAcked(origin, seq) }, err => {
        clearTimeout(timer)
        this.remove(origin, w)
        reject(err)
      })
    })
  }

  /** Every op of `origin` up to `seq` is acked (the executor says so). */
  markAcked (origin: string, seq: number): void {
    if ((this.acked.get(origin) ?? -1) < seq) this.acked.set(origin, seq)
    const list = this.waiting.get(origin)
    if (list === undefined) return
    const rest = list.filter(w => {
      if (w.seq > seq) return true
      clearTimeout(w.timer)
      w.resolve()
      return false
    })
    if (rest.length === 0) this.waiting.delete(origin)
    else this.waiting.set(origin, rest)
  }

  /** The index grew: look up the acks that waiters need (one lookup per oplog in the common case). */
  async check (): Promise<void> {
    if (this.checking) { this.recheck = true; return }
    this.checking = true
    try {
      do {
        this.recheck = false
        for (const [origin, list] of [...this.waiting]) await this.checkOrigin(origin, list)
      } while (this.recheck)
    } finally {
      this.checking = false
    }
  }

  private async checkOrigin (origin: string, list: Waiter[]): Promise<void> {
    const seqs = list.map(w => w.seq).sort((a, b) => a - b)
    const max = seqs[seqs.length - 1]
    if (max === undefined) return
    if (await this.index.getAck(origin, max) !== null) { this.markAcked(origin, max); return }
    for (const s of seqs) {
      if (await this.index.getAck(origin, s) === null) break
      this.markAcked(origin, s)
    }
  }

  private remove (origin: string, w: Waiter): void {
    const list = this.waiting.get(origin)
    if (list !== undefined) this.waiting.set(origin, list.filter(x => x !== w))
  }

  /** Reject every waiter (on close). */
  rejectAll (err: Error): void {
    for (const list of this.waiting.values()) for (const w of list) { clearTimeout(w.timer); w.reject(err) }
    this.waiting.clear()
  }
}
