/**
 * The contracts of one database, as the executor, the verifier and `db.call`
 * all run them: the user contract, and under proof-of-authority governance
 * the system contract (contracts/poa.js) that owns the participant set.
 *
 * Routing (whitepaper/poa.md): under PoA, ops whose `op` starts with `SYS_`
 * go to the system contract, all others to the user contract. The system
 * contract sees its own namespace: its paths are stored under `/.sys/poa/`
 * (paths it names under `/.sys/` are read as they are, and it cannot
 * write them). The user contract may not change the participant set under PoA.
 * Without governance, everything goes to the user contract, unchanged.
 */
import { Resource } from '../lifecycle/resource.js'
import { ContractRuntimeError } from '../errors/errors.js'
import { compareKeys, isSysKey, pathToKey, SEP } from '../format/paths.js'
import { actionKey } from '../format/schemas.js'
import { ContractSandbox } from '../../sandbox/contract-sandbox.js'
import type { AckInfo, CallContext, CallResult, IndexReader, Json, RunItem, RunOutcome, RunResult, SandboxLimits, TxAction } from '../../sandbox/types.js'

/** Stored keys of the system contract's own state: `/.sys/poa/…`. */
export const SYSTEM_DIR = pathToKey('/.sys/poa')
export const SYSTEM_PREFIX = SYSTEM_DIR + SEP
/** Ops routed to the system contract under PoA. */
export const SYSTEM_OP_PREFIX = 'SYS_'

/** What `.sys/governance` holds (absent: no governance, the user contract rules alone). */
export interface Governance {
  kind: 'poa'
  /** Source of the system contract. */
  source: string
  /** Ed25519 public keys (hex) of the genesis signatories. */
  signatories: string[]
  /** The index key (hex): approval signatures name it, so they count in this database only. */
  database: string
}

const parsed = new WeakMap<object, Governance>()

/** Validate a `.sys/governance` value (the same object always gives the same parsed object). */
export function parseGovernance (v: unknown): Governance | null {
  if (v === null || v === undefined) return null
  if (typeof v === 'object') {
    const have = parsed.get(v)
    if (have !== undefined) return have
  }
  const g = readGovernance(v)
  if (typeof v === 'object') parsed.set(v, g)
  return g
}

function readGovernance (v: unknown): Governance {
  const g = v as Record<string, unknown>
  const hex = (s: unknown): boolean => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s)
  if (g.kind !== 'poa' || typeof g.source !== 'string' || !Array.isArray(g.signatories) || !g.signatories.every(hex) || !hex(g.database)) {
    throw new ContractRuntimeError('Malformed .sys/governance record', 'INVALID_GOVERNANCE')
  }
  return { kind: 'poa', source: g.source, signatories: g.signatories as string[], database: g.database as string }
}

export class DatabaseContracts extends Resource {
  readonly user: ContractSandbox
  readonly system: ContractSandbox | null

  private constructor (user: ContractSandbox, system: ContractSandbox | null) {
    super()
    this.user = user
    this.system = system
  }

  /** Compile the contracts (ContractParseError when one does not compile). */
  static async open (source: string, governance: Governance | null, limits?: SandboxLimits): Promise<DatabaseContracts> {
    const user = await openSandbox(source, limits, 'contract.js')
    if (governance === null) return new DatabaseContracts(user, null)
    try {
      return new DatabaseContracts(user, await openSandbox(governance.source, limits, 'poa.js'))
    } catch (err) {
      await user.close()
      throw err
    }
  }

  /** Method names: the user contract's, then the system contract's that the user contract does not shadow. */
  get methods (): string[] {
    const own = this.user.methods
    return this.system === null ? own : [...own, ...this.system.methods.filter(m => !own.includes(m))]
  }

  get hasProcess (): boolean { return this.user.hasProcess }

  isSystemOp (op: Json): boolean {
    return this.system !== null && op !== null && typeof op === 'object' && !Array.isArray(op) &&
      typeof op.op === 'string' && op.op.startsWith(SYSTEM_OP_PREFIX)
  }

  async call (method: string, params: Json, ctx: CallContext): Promise<CallResult> {
    if (this.system !== null && !this.user.methods.includes(method) && this.system.methods.includes(method)) {
      return await this.system.call(method, params, { ...ctx, index: namespaced(ctx.index) })
    }
    return await this.user.call(method, params, ctx)
  }

  /** The user contract's `process(op)`; system ops have no process (null metadata). */
  async process (op: Json, ctx: { index: IndexReader }): Promise<Json> {
    if (this.isSystemOp(op)) return null
    return await this.user.process(op, ctx)
  }

  /** Run `apply` of the contract the op is routed to; actions come back in the index's own key space. */
  async apply (op: Json, ack: AckInfo, ctx: { index: IndexReader, opJson?: string }): Promise<TxAction[]> {
    if (this.isSystemOp(op)) {
      const actions = await (this.system as ContractSandbox).apply(op, ack, { index: namespaced(ctx.index), opJson: ctx.opJson })
      // its writes in the order of their keys in the index, as for any op
      return actions.map(systemAction).sort((a, b) => compareKeys(actionKey(a), actionKey(b)))
    }
    return this.checkUserActions(await this.user.apply(op, ack, ctx))
  }

  /**
   * Apply a run of user-contract ops in one go (see ContractSandbox.applyRun); the
   * caller keeps system ops out of it. Results are those `apply` gives op by op.
   */
  async applyRun (items: RunItem[], ctx: { index: IndexReader }): Promise<RunOutcome> {
    const outcome = await this.user.applyRun(items, ctx)
    if (this.system === null) return outcome
    const results = outcome.results.map((r): RunResult => {
      if (!r.ok) return r
      try {
        return { ...r, actions: this.checkUserActions(r.actions) }
      } catch (err) {
        return { ok: false, error: err as Error, numChanges: r.numChanges }
      }
    })
    return { results, stop: outcome.stop }
  }

  private checkUserActions (actions: TxAction[]): TxAction[] {
    if (this.system !== null && actions.some(a => a.type === 'addOplog' || a.type === 'removeOplog')) {
      throw new ContractRuntimeError('Under PoA governance the participant set changes only by signatory quorum (SYS_APPROVE_KEY / SYS_REVOKE_KEY)', 'GOVERNANCE_REFUSED')
    }
    if (this.system !== null && actions.some(a => a.type === 'setWitnesses')) {
      throw new ContractRuntimeError('Under PoA governance the witness policy is not the user contract\'s to change', 'GOVERNANCE_REFUSED')
    }
    return actions
  }

  /** Closes both sandboxes; close() runs it once. (open() makes it ready: the sandboxes are loaded there.) */
  protected override async _close (): Promise<void> {
    await this.user.close()
    await this.system?.close()
  }
}

async function openSandbox (source: string, limits: SandboxLimits | undefined, filename: string): Promise<ContractSandbox> {
  const s = new ContractSandbox(source, { limits, filename })
  try { await s.ready() } catch (err) { await s.close(); throw err }
  return s
}

function mapKey (key: string): string { return isSysKey(key) ? key : SYSTEM_PREFIX + key }

/** The index as the system contract sees it: its own paths under `/.sys/poa/` as if at the root; `/.sys/…` as they are. */
function namespaced (index: IndexReader): IndexReader {
  return {
    get: async key => await index.get(mapKey(key)),
    list: async (dir, opts) => {
      if (isSysKey(dir)) return await index.list(dir, opts)
      const items = await index.list(dir === '' ? SYSTEM_DIR : SYSTEM_PREFIX + dir, opts)
      return items.map(it => ({ ...it, key: it.key.slice(SYSTEM_PREFIX.length) }))
    }
  }
}

function systemAction (a: TxAction): TxAction {
  switch (a.type) {
    case 'put': return { ...a, key: SYSTEM_PREFIX + a.key }
    case 'del': return { ...a, key: SYSTEM_PREFIX + a.key }
    case 'setContractSource': throw new ContractRuntimeError('The system contract cannot replace the user contract', 'GOVERNANCE_REFUSED')
    default: return a
  }
}
