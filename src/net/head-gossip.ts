/**
 * Signed-head gossip: peers tell each other the newest signed head they hold of
 * every log they replicate, and check each head they are told against their own
 * tree. It closes the gap Hypercore's replication leaves open: Hypercore only
 * exchanges proofs when one side asks for a longer log, so a log owner who shows
 * two peers two different histories of the SAME length is never noticed (until
 * one history grows). With gossip, any peer that holds one history and is told
 * the other's signed head makes a LogForkFraudProof at once.
 *
 * Wire: the Hypercore extension `vitra/signed-head@1` on each log; one message is
 * the JSON `{ length, fork, treeHash, signature }` (the head without its key: the
 * channel names the log), at most 1 KiB. A peer sends its head when a peer joins
 * the log and after the log grows (coalesced, at most one message per `delayMs`).
 *
 * A received head is checked only when it is validly signed by the log's signer.
 * Then: another fork counter, or the same length with another tree hash, or a
 * shorter length whose tree hash differs from the one this peer's own tree has at
 * that length, is a fork → `onProof`. A longer head: Hypercore asks that peer for
 * the upgrade, and a conflicting one is caught by watchForConflicts; the head is also
 * kept and checked once this log reaches its length another way.
 * A sparse replica without the tree nodes at a head's length fetches the block before
 * that length (its proof brings them), within a deadline; a head that still cannot be
 * checked (unknown manifest, no peer serves the block) is skipped until it is sent again.
 * Garbage is ignored; it never reaches the log.
 */
import { Resource } from '../lifecycle/resource.js'
import { treeHashFromStorage } from '../holepunch/core-internals.js'
import c from 'compact-encoding'
import Hypercore from 'hypercore'
import { parseJson } from '../format/encoding.js'
import { LogForkFraudProof } from '../proofs/fraud/log-fork-proof.js'
import { signedHeadFromJSON, verifySignedHead, type SignedHead } from '../proofs/log/signed-head.js'
import { captureSignedHead, coreManifest, logForkProofFromConflict } from '../logs/proof-builders.js'
import { withinDeadline } from './peer-wait.js'

export const HEAD_GOSSIP_EXTENSION = 'vitra/signed-head@1'

const MAX_MESSAGE_BYTES = 1024
/** Heads longer than this log, kept to check once it reaches them. */
const MAX_AHEAD = 16
/** Heads already checked (or reported) per log, forgotten past this many. */
const MAX_REMEMBERED = 1024

interface Extension {
  send (message: Buffer, peer: unknown): void
  broadcast (message: Buffer): void
  destroy (): void
}

export interface HeadGossipOptions {
  /** A fork proven from a head a peer sent. */
  onProof: (proof: LogForkFraudProof) => void
  /** A check that failed for another reason than the head (best effort: reported, never thrown). */
  onError?: (err: Error) => void
  /** Milliseconds to coalesce appends before telling peers the new head (default 100). */
  delayMs?: number
  /** Milliseconds to wait for the tree nodes a check needs, on a sparse replica (default 10000). */
  fetchTimeoutMs?: number
}

/** Gossip of one log's signed heads with the peers it replicates with. */
export class HeadGossip extends Resource {
  private readonly core: Hypercore
  private readonly opts: HeadGossipOptions
  private ext: Extension | null = null
  private timer: NodeJS.Timeout | null = null
  private readonly seen = new Set<string>()
  private readonly answered = new WeakSet<object>()
  private ahead: SignedHead[] = []
  private checking: Promise<void> = Promise.resolve()
  private readonly onPeerAdd = (peer: unknown): void => { void this.tell(peer) }
  private readonly onAppend = (): void => {
    this.schedule()
    this.recheck()
  }

  constructor (core: Hypercore, opts: HeadGossipOptions) {
    super()
    this.core = core
    this.opts = opts
  }

  /** Registers the extension on the log and starts telling and listening (at once: nothing here waits); ready() runs it once. */
  protected override async _open (): Promise<void> {
    this.ext = this.core.registerExtension(HEAD_GOSSIP_EXTENSION, {
      encoding: c.raw,
      onmessage: (message: Buffer, peer: unknown) => this.receive(message, peer)
    }) as Extension
    this.core.on('peer-add', this.onPeerAdd)
    this.core.on('append', this.onAppend)
    for (const peer of this.core.peers) void this.tell(peer)
  }

  /** Stops gossiping (the log stays open); waits for a check under way. close() runs it once. */
  protected override async _close (): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.core.off('peer-add', this.onPeerAdd)
    this.core.off('append', this.onAppend)
    this.ext?.destroy()
    this.ext = null
    await this.checking
  }

  private schedule (): void {
    if (this.timer !== null || this.stopping) return
    this.timer = setTimeout(() => {
      this.timer = null
      void this.tell(null)
    }, this.opts.delayMs ?? 100)
    this.timer.unref()
  }

  /** Send the newest signed head to `peer`, or to every peer. */
  private async tell (peer: unknown): Promise<void> {
    try {
      if (this.stopping || this.core.closed || this.core.length === 0) return
      if (peer === null && this.core.peers.length === 0) return // nobody to tell
      const head = await captureSignedHead(this.core)
      if (this.stopping || this.ext === null) return
      this.remember(id(head))
      const message = Buffer.from(JSON.stringify({ length: head.length, fork: head.fork, treeHash: head.treeHash, signature: head.signature }))
      if (peer === null) this.ext.broadcast(message)
      else this.ext.send(message, peer)
    } catch (err) {
      if (!this.stopping && !this.core.closed) this.opts.onError?.(err as Error)
    }
  }

  private receive (message: Buffer, peer: unknown): void {
    if (this.stopping || message.byteLength > MAX_MESSAGE_BYTES) return
    // a peer that registered the extension after ours told it (its message to us was then
    // dropped) hears our head now: the first message from each peer is answered once
    if (peer !== null && typeof peer === 'object' && !this.answered.has(peer)) {
      this.answered.add(peer)
      void this.tell(peer)
    }
    let head: SignedHead
    try {
      head = signedHeadFromJSON({ ...(parseJson(message.toString(), 'A gossiped head') as object), key: this.core.key.toString('hex') })
    } catch {
      return // not a head
    }
    if (this.seen.has(id(head))) return
    this.checking = this.checking.then(async () => await this.check(head))
  }

  /** Compare a peer's head with this log; report a fork when they cannot both be true. */
  private async check (theirs: SignedHead): Promise<void> {
    const core = this.core
    try {
      if (this.stopping || core.closed || core.manifest === null || core.length === 0) return
      const manifest = coreManifest(core)
      try { verifySignedHead(theirs, manifest, { key: core.key }) } catch { this.remember(id(theirs)); return } // not the log's signer
      // a longer head on this fork: Hypercore will ask that peer for the upgrade; kept to be
      // checked should this log reach that length another way
      if (theirs.fork === core.fork && theirs.length > core.length) {
        this.ahead = this.ahead.filter(h => id(h) !== id(theirs)).concat(theirs).slice(-MAX_AHEAD)
        return
      }
      this.remember(id(theirs))
      if (theirs.fork === core.fork) {
        let mine: string
        try {
          mine = (await treeHashFromStorage(core, theirs.length)).toString('hex')
        } catch {
          // a sparse replica without the tree nodes at that length: fetch the block before
          // that length, whose proof brings them (bounded: src/net/peer-wait.ts)
          try {
            mine = (await withinDeadline(core.treeHash(theirs.length), { ms: this.opts.fetchTimeoutMs ?? 10_000, what: `the tree at length ${theirs.length}` })).toString('hex')
          } catch {
            this.seen.delete(id(theirs)) // unchecked: a later copy of this head is checked again
            return
          }
        }
        if (mine === theirs.treeHash) return
      }
      const proof = await logForkProofFromConflict(core, theirs)
      if (!this.stopping) this.opts.onProof(proof)
    } catch (err) {
      if (!this.stopping && !core.closed) this.opts.onError?.(err as Error)
    }
  }

  /** Check the heads kept for later that this log has now reached. */
  private recheck (): void {
    const due = this.ahead.filter(h => h.length <= this.core.length)
    if (due.length === 0) return
    this.ahead = this.ahead.filter(h => h.length > this.core.length)
    for (const h of due) this.checking = this.checking.then(async () => await this.check(h))
  }

  private remember (key: string): void {
    if (this.seen.size >= MAX_REMEMBERED) this.seen.clear()
    this.seen.add(key)
  }
}

function id (h: { length: number, fork: number, treeHash: string }): string {
  return `${h.fork}:${h.length}:${h.treeHash}`
}
