/**
 * The fraud proofs a host found for one database, in the order found: the
 * monitor's violation (a contract fraud proof), any log fork seen while
 * replicating, and any a witness refused a checkpoint with. Kept in memory for the host's lifetime; each is a self-contained
 * JSON document that checks offline with the public keys alone.
 */
import type { EventEmitter } from 'events'
import type { Database } from '../db/database.js'
import type { ContractMonitor } from '../verify/monitor.js'

interface Found { proof: unknown, code: string, foundAt: number }

export class FraudProofLog {
  private readonly found: Found[] = []
  private readonly undo: Array<() => void> = []

  constructor (db: Database, monitor: ContractMonitor | undefined, witnesses?: EventEmitter) {
    const add = (proof: { toJSON: () => unknown }): void => {
      const json = proof.toJSON()
      const o = json as { details?: { code?: unknown }, type?: unknown }
      const code = o.type === 'vitra/log-fork-proof' ? 'LOG_FORK' : o.details?.code
      this.found.push({ proof: json, code: typeof code === 'string' ? code : 'FRAUD', foundAt: Date.now() })
    }
    if (monitor !== undefined) {
      if (monitor.violation != null) add(monitor.violation)
      monitor.on('violation', add)
      this.undo.push(() => monitor.removeListener('violation', add))
    }
    db.on('log-fork', add)
    this.undo.push(() => db.removeListener('log-fork', add))
    // a witness that refused a checkpoint with a fork proof (src/witness/collector.ts)
    if (witnesses !== undefined) {
      witnesses.on('fork', add)
      this.undo.push(() => witnesses.removeListener('fork', add))
    }
  }

  list (): Array<{ n: number, code: string, foundAt: number }> {
    return this.found.map((f, n) => ({ n, code: f.code, foundAt: f.foundAt }))
  }

  get (n: number): unknown {
    return this.found[n]?.proof ?? null
  }

  /** Stops collecting (a synchronous handle: see src/lifecycle/resource.ts); idempotent. */
  close (): void {
    for (const u of this.undo.splice(0)) u()
  }
}
