/**
 * ReplayEnv over real logs: a read-only view of the index Hyperbee, the oplog
 * cores, and a sandbox of the verifier's own (never the executor's).
 */
import type Hyperbee from 'hyperbee'
import type Hypercore from 'hypercore'
import { CouldNotVerifyError } from '../errors.js'
import { readBlocks } from '../logs/blocks.js'
import { ContractRuntime, type Governance } from '../contract-runtime.js'
import type { AckInfo, Json, SandboxLimits, TxAction } from '../../sandbox/types.js'
import type { ReplayEnv } from './replay.js'
import { stateView, type StateReader } from './state-view.js'

export interface LogEnvOptions {
  /** The index (a read-only session is fine). */
  bee: Hyperbee
  /** Open the core of oplog `hex` (read-only is fine). The env does not close it. */
  openOplog: (hex: string) => Promise<Hypercore>
  limits?: SandboxLimits
  /** How long to wait for a missing block from peers before "could not verify" (default 10000 ms). */
  blockTimeoutMs?: number
}

/** Oplog blocks read ahead of the replay. */
const READ_AHEAD = 256

export class LogReplayEnv implements ReplayEnv {
  private readonly opts: LogEnvOptions
  private readonly sandboxes = new Map<string, ContractRuntime>()
  private checkout: { version: number, bee: Hyperbee } | null = null
  private readonly treeHashes = new Map<string, string>()
  /** The runtime used last (the common case: the same contract op after op). */
  private last: { source: string, governance: Governance | null, runtime: ContractRuntime } | null = null

  constructor (opts: LogEnvOptions) { this.opts = opts }

  async getOp (origin: string, seq: number): Promise<Buffer> {
    const core = await this.opts.openOplog(origin)
    let ahead = this.readAhead.get(origin)
    if (ahead === undefined || seq < ahead.start || seq >= ahead.start + ahead.blocks.length) {
      // ops are replayed in seq order per oplog: read a window of them in one go
      ahead = { start: seq, blocks: await this.readOps(core, origin, seq, Math.min(core.length, seq + READ_AHEAD)) }
      this.readAhead.set(origin, ahead)
    }
    return ahead.blocks[seq - ahead.start]
  }

  private readonly readAhead = new Map<string, { start: number, blocks: Buffer[] }>()

  private async readOps (core: Hypercore, origin: string, start: number, end: number): Promise<Buffer[]> {
    try {
      return await readBlocks(core, start, Math.max(end, start + 1), { timeout: this.opts.blockTimeoutMs ?? 10_000 })
    } catch (err) {
      throw new CouldNotVerifyError(`Ops ${start}..${end - 1} of oplog ${origin} are not available: ${(err as Error).message}`, { origin, start })
    }
  }

  async oplogTreeHash (origin: string, length: number): Promise<string> {
    const id = `${origin}/${length}`
    const cached = this.treeHashes.get(id)
    if (cached !== undefined) return cached
    const core = await this.opts.openOplog(origin)
    if (core.length < length) {
      try { await core.update({ wait: true }) } catch (err) {
        throw new CouldNotVerifyError(`Oplog ${origin} could not be updated: ${(err as Error).message}`, { origin, length })
      }
    }
    if (core.length < length) {
      throw new CouldNotVerifyError(`Oplog ${origin} is known up to length ${core.length}, the ack names length ${length}`, { origin, length, have: core.length })
    }
    let hash: string
    try { hash = (await withTimeout(core.treeHash(length), this.opts.blockTimeoutMs ?? 10_000)).toString('hex') } catch (err) {
      throw new CouldNotVerifyError(`Tree of oplog ${origin} at length ${length} is not available: ${(err as Error).message}`, { origin, length })
    }
    if (this.treeHashes.size > 10_000) this.treeHashes.clear()
    this.treeHashes.set(id, hash)
    return hash
  }

  async stateAt (batchStart: number, overlay: Map<string, Buffer | null>): Promise<StateReader> {
    if (this.checkout === null || this.checkout.version !== batchStart) {
      await this.checkout?.bee.close()
      this.checkout = { version: batchStart, bee: this.opts.bee.checkout(batchStart) }
    }
    return stateView(this.checkout.bee, overlay)
  }

  async apply (source: string, op: Json, ack: AckInfo, state: StateReader, governance: Governance | null, opJson?: string): Promise<TxAction[]> {
    return await (await this.runtime(source, governance)).apply(op, ack, { index: state, opJson })
  }

  async compile (source: string, governance: Governance | null): Promise<void> { await this.runtime(source, governance) }

  /** The verifier's own contract runtime for this source (a few are cached). */
  private async runtime (source: string, governance: Governance | null): Promise<ContractRuntime> {
    const last = this.last
    if (last !== null && last.source === source && last.governance === governance) return last.runtime
    const id = JSON.stringify([source, governance])
    const have = this.sandboxes.get(id)
    if (have !== undefined) { this.last = { source, governance, runtime: have }; return have }
    const r = await ContractRuntime.open(source, governance, this.opts.limits)
    if (this.sandboxes.size >= 4) {
      const [oldest, old] = this.sandboxes.entries().next().value as [string, ContractRuntime]
      this.sandboxes.delete(oldest)
      if (this.last?.runtime === old) this.last = null
      await old.close()
    }
    this.sandboxes.set(id, r)
    this.last = { source, governance, runtime: r }
    return r
  }

  async close (): Promise<void> {
    await this.checkout?.bee.close()
    this.checkout = null
    for (const s of this.sandboxes.values()) await s.close()
    this.sandboxes.clear()
    this.last = null
  }
}

/** `p`, or a rejection after `ms` (core.treeHash waits for peers without a timeout of its own). */
async function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms) })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}
