/**
 * The owners of what one process shares between the databases it opens. Each of these
 * used to be a module-level map or set with a counter beside it; here each is an object
 * with one rule for taking and giving back:
 * - SharedPool: a resource per key, opened by the first user that acquires it and closed
 *   when the last lease is released (one SQL read model per directory, one local testnet).
 * - ProcessClaims: keys that at most one user in the process may hold at a time (the
 *   executor of a database).
 * A leaf: it imports nothing.
 */

/**
 * What acquire() hands out: the shared value and a way to give it back. release()
 * resolves true when it was the last lease and the resource is closed; a second call
 * does nothing (and resolves false).
 */
export interface Lease<V> {
  readonly value: V
  release (): Promise<boolean>
}

export class SharedPool<K, V> {
  private readonly entries = new Map<K, { value: V, leases: number }>()

  /** @param close releases a resource when its last lease is released. */
  constructor (private readonly close: (value: V) => Promise<void>) {}

  /**
   * A lease on the resource for `key`; when nobody holds one, `open` makes it
   * (synchronously: an async resource is a promise as the value).
   */
  acquire (key: K, open: (key: K) => V): Lease<V> {
    let entry = this.entries.get(key)
    if (entry === undefined) {
      entry = { value: open(key), leases: 0 }
      this.entries.set(key, entry)
    }
    entry.leases++
    const held = entry
    let released = false
    return {
      value: held.value,
      release: async () => {
        if (released) return false
        released = true
        if (--held.leases > 0) return false
        if (this.entries.get(key) === held) this.entries.delete(key)
        await this.close(held.value)
        return true
      }
    }
  }

  /** The resource open for `key`, without taking a lease (undefined when none is). */
  peek (key: K): V | undefined { return this.entries.get(key)?.value }

  /** How many leases on `key` are held. */
  leases (key: K): number { return this.entries.get(key)?.leases ?? 0 }

  /** The keys with a resource open now. */
  keys (): K[] { return [...this.entries.keys()] }
}

export class ProcessClaims<K> {
  private readonly held = new Set<K>()

  /** Claims `key`: a release function, or null when another user of the process holds it. */
  claim (key: K): (() => void) | null {
    if (this.held.has(key)) return null
    this.held.add(key)
    let released = false
    return () => {
      if (released) return
      released = true
      this.held.delete(key)
    }
  }

  has (key: K): boolean { return this.held.has(key) }
}
