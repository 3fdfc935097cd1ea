/**
 * `vitra/testing`: misbehaving executors, for tests and demos of the verifier.
 * Not part of the main API. An executor built with one of these behaviours
 * publishes wrong results on purpose; `db.verify()` and monitors must catch it.
 *
 *   import { Database, ExecutorBehavior } from 'vitra/testing'

 *   const db = await Database.create(storage, { contract, executorBehavior: ExecutorBehavior.TEST_SKIP_OPS })
 */
import { Database as BaseDatabase, type CreateOptions, type DatabaseOptions } from './db/database.js'
import { InvalidArgumentError } from './errors/errors.js'
import type { ExecutorHooks } from './exec/executor.js'
import { encodeValue } from './format/encoding.js'
import type { Storage } from './logs/storage.js'
import type { Oplog } from './logs/oplog.js'

export const ExecutorBehavior = {
  /** Honest. */
  HONEST: 'HONEST',
  /** No executor runs, even where the storage holds the index key (ops wait). */
  DISABLED: 'DISABLED',
  /** Every op is processed twice (its ack and writes are published again). */
  TEST_PROCESS_OP_MULTIPLE_TIMES: 'TEST_PROCESS_OP_MULTIPLE_TIMES',
  /** Every other op is skipped. */
  TEST_SKIP_OPS: 'TEST_SKIP_OPS',
  /** The first write of every op gets a wrong value. */
  TEST_WRONG_OP_MUTATIONS: 'TEST_WRONG_OP_MUTATIONS'
} as const
export type ExecutorBehaviorName = typeof ExecutorBehavior[keyof typeof ExecutorBehavior]

/** The executor hooks that implement a behaviour. */
export function behaviorHooks (behavior: ExecutorBehaviorName): ExecutorHooks {
  switch (behavior) {
    case 'HONEST': return {}
    case 'DISABLED': return {}
    case 'TEST_PROCESS_OP_MULTIPLE_TIMES': {
      const repeated = new Set<string>()
      return {
        nextSeq: (origin, seq) => {
          const id = `${origin}/${seq}`
          if (repeated.has(id)) return seq + 1
          repeated.add(id)
          return seq
        }
      }
    }
    case 'TEST_SKIP_OPS': return { nextSeq: (_origin, seq) => seq % 2 === 0 ? seq + 2 : seq + 1 }
    case 'TEST_WRONG_OP_MUTATIONS': return {
      changes: (_origin, _seq, changes) => changes.map((c, i) => i === 0 && c.type === 'put' ? { ...c, value: encodeValue({ tampered: true }) } : c)
    }
  }
}

/** The database options of a behaviour. */
function behaviorOptions (behavior: ExecutorBehaviorName | undefined): DatabaseOptions {
  const b = behavior ?? 'HONEST'
  if (!Object.values(ExecutorBehavior).includes(b)) throw new InvalidArgumentError(`Unknown executorBehavior ${JSON.stringify(behavior)} (one of ${Object.values(ExecutorBehavior).join(', ')})`)
  return b === 'DISABLED' ? { executor: false } : { executorHooks: behaviorHooks(b) }
}

/**
 * Database whose `create` and `load` honour `executorBehavior`, and whose
 * `oplogs.add(oplog)` on an executor makes it execute that oplog's ops whether the
 * contract admitted it or not (as Vitra's does): verifiers report them as NON_PARTICIPANT.
 */
export class Database extends BaseDatabase {
  override async addOplog (oplog: Oplog): Promise<void> {
    await super.addOplog(oplog)
    await this.executor?.dangerouslyAddInput(oplog.hex)
  }

  static override async create (storage: Storage, opts: CreateOptions & { executorBehavior?: ExecutorBehaviorName }): Promise<BaseDatabase> {
    const { executorBehavior, ...rest } = opts
    return await super.create(storage, { ...rest, ...behaviorOptions(executorBehavior) })
  }

  static override async load (storage: Storage, pubkey?: string | Buffer, opts: DatabaseOptions & { executorBehavior?: ExecutorBehaviorName } = {}): Promise<BaseDatabase> {
    const { executorBehavior, ...rest } = opts
    return await super.load(storage, pubkey, { ...rest, ...behaviorOptions(executorBehavior) })
  }
}
