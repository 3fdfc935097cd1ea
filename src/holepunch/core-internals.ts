/**
 * Hypercore fields this project reads that hypercore does not document. Each is read
 * here only, checked for its shape, and stands in for nothing when it is not there
 * (null: the caller falls back to the documented API, or does without); the shapes are
 * pinned by test/holepunch.test.ts against a live core, so an upgrade that moves one
 * fails there by name.
 *
 * - `core.state.storage.read()`: one storage read batch for many blocks and tree nodes
 *   (src/logs/blocks.ts reads thousands of blocks in one batch).
 * - `core.replicator._inflight` and `.peers`: the open block requests, each with its peer
 *   and start time (src/net/peer-watchdog.ts drops peers that leave requests unanswered).
 * - a peer's `remoteLength` and `remoteSynced`: how long its copy of the core is, and
 *   whether it has told us (the CLI waits for a peer's head before it reads).
 * - `Hypercore.treeHashFromStorage(core, length)`: the tree hash at a length from the
 *   stored roots, without fetching a block (`core.treeHash(length)` would first fetch
 *   block length − 1); the executor and the head gossip use it.
 */
import Hypercore from 'hypercore'

/** A storage read batch: queue reads, then flush them together. */
export interface ReadBatch {
  getBlock: (index: number) => Promise<Buffer | null>
  getTreeNode: (index: number) => Promise<{ size: number } | null>
  tryFlush: () => void
}

/** The core's storage, whose `read()` opens a read batch, or null when this hypercore has none. */
export function coreStorage (core: Hypercore): { read: () => ReadBatch } | null {
  const storage = (core as unknown as { state?: { storage?: { read?: unknown } } }).state?.storage
  return typeof storage?.read === 'function' ? storage as { read: () => ReadBatch } : null
}

/** A peer on the wire: its stream, and its per-message counters. */
export interface WirePeer {
  stream: { destroy: (err?: Error) => void }
  stats?: Record<string, { rx?: number } | number | null>
}
/** An open block request: which peer has it, since when. */
export interface OpenRequest { peer?: WirePeer | null, timestamp?: number }

/** The core's replication state: its peers and open requests, or null when this hypercore does not expose them. */
export function replicationState (core: Hypercore): { peers: WirePeer[], inflight: Iterable<OpenRequest> } | null {
  const rep = (core as unknown as { replicator?: { peers?: WirePeer[], _inflight?: Iterable<OpenRequest> } | null }).replicator
  if (rep === null || rep === undefined || rep._inflight === undefined) return null
  return { peers: rep.peers ?? [], inflight: rep._inflight }
}

/** What each peer of `core` says of its copy: its length, and whether it has said it yet (synced). */
export function remoteHeads (core: Hypercore): Array<{ length: number, synced: boolean }> {
  const out: Array<{ length: number, synced: boolean }> = []
  for (const peer of core.peers as unknown as Array<{ remoteLength?: unknown, remoteSynced?: unknown }>) {
    out.push({ length: typeof peer.remoteLength === 'number' ? peer.remoteLength : 0, synced: peer.remoteSynced === true })
  }
  return out
}

/** The tree hash of `core` at `length`, from the stored Merkle roots only (no block fetched). */
export async function treeHashFromStorage (core: Hypercore, length: number): Promise<Buffer> {
  return await Hypercore.treeHashFromStorage(core, length)
}
