/**
 * The request watchdog: drops a connection whose peer takes requests and never
 * answers them.
 *
 * Hypercore keeps at most one upgrade request (the one `update()` and `db.sync()`
 * wait on) in flight, never re-sends it while it is in flight, and has no timeout
 * on it; keepalives keep a silent connection open. A peer that completes the
 * handshake, claims a longer log and then ignores requests therefore stalls a
 * fresh reader forever, even with honest peers connected (measured: 60 s and
 * counting). Block requests are rescued by hotswapping to another peer; upgrades
 * are not.
 *
 * Rule: a request to a peer that has been in flight for `timeoutMs`, on a channel
 * that received no replication message (data, sync, range, bitfield, want, ...)
 * for `timeoutMs`, marks the peer stalled: its whole connection is destroyed with
 * PEER_TIMEOUT. Hypercore then re-sends the open requests to the other peers.
 * A slow but working peer keeps its channel busy and is never dropped; an honest
 * peer answers every request (with data or "no data") and so clears it.
 *
 * This reads two fields hypercore does not document, through src/holepunch/:
 * `replicator._inflight` (the open requests, each with `peer` and `timestamp`) and
 * each peer's per-message `stats`. Both are read only, and a hypercore without them
 * is simply not watched.
 */
import { Resource } from '../lifecycle/resource.js'
import type Hypercore from 'hypercore'
import { NetworkError } from '../errors/errors.js'
import { replicationState, type WirePeer } from '../holepunch/core-internals.js'

/** A replication stream (a Hyperswarm connection). */
export interface WatchedStream { destroy (err?: Error): void }

export interface PeerWatchdogOptions {
  /** How long a request may wait, and a channel stay quiet, before the peer is dropped. */
  timeoutMs: number
  /** The cores to watch (read at every check, so cores opened later are watched too). */
  cores: () => Iterable<Hypercore>
  /** Whether the watchdog may drop this stream (only connections of our own swarm). */
  owns: (stream: WatchedStream) => boolean
  /** Called once per dropped stream, with the PEER_TIMEOUT error it was destroyed with. */
  onDrop?: (err: NetworkError, stream: WatchedStream) => void
}

export class PeerWatchdog extends Resource {
  private readonly opts: PeerWatchdogOptions
  private timer: NodeJS.Timeout | null = null
  /** Per peer channel: the total of received messages last seen, and when it last changed. */
  private readonly heard = new WeakMap<WirePeer, { rx: number, at: number }>()
  private readonly dropped = new WeakSet<WatchedStream>()

  constructor (opts: PeerWatchdogOptions) {
    super()
    this.opts = opts
  }

  /** Checks every quarter of the timeout until close(); ready() starts it once. */
  protected override async _open (): Promise<void> {
    this.timer = setInterval(() => this.check(), Math.max(25, Math.floor(this.opts.timeoutMs / 4)))
    this.timer.unref()
  }

  protected override async _close (): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** One pass over the watched cores; returns how many connections it dropped. */
  check (now = Date.now()): number {
    const { timeoutMs } = this.opts
    let drops = 0
    for (const core of this.opts.cores()) {
      const rep = replicationState(core)
      if (rep === null) continue
      for (const peer of rep.peers) this.listen(peer, now)
      for (const req of rep.inflight) {
        const peer = req.peer
        if (peer === null || peer === undefined || typeof req.timestamp !== 'number') continue
        if (now - req.timestamp < timeoutMs) continue
        const last = this.heard.get(peer)
        if (last === undefined || now - last.at < timeoutMs) continue
        if (this.dropped.has(peer.stream) || !this.opts.owns(peer.stream)) continue
        this.dropped.add(peer.stream)
        const err = new NetworkError('PEER_TIMEOUT', `The peer left a request unanswered for ${now - req.timestamp} ms and sent nothing for ${now - last.at} ms`)
        peer.stream.destroy(err)
        this.opts.onDrop?.(err, peer.stream)
        drops++
      }
    }
    return drops
  }

  /** Note whether the peer's channel received anything since the last check. */
  private listen (peer: WirePeer, now: number): void {
    const rx = received(peer)
    const last = this.heard.get(peer)
    if (last === undefined || last.rx !== rx) this.heard.set(peer, { rx, at: now })
  }
}

/** Every replication message counted as received on a peer channel. */
function received (peer: WirePeer): number {
  let n = 0
  for (const s of Object.values(peer.stats ?? {})) {
    if (s !== null && typeof s === 'object' && typeof s.rx === 'number') n += s.rx
  }
  return n
}
