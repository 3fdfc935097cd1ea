/**
 * SQL over a database (issue 26): a read model (read-model.ts) kept next to the
 * database and a query process (query-runner.ts). One per read-model file in a
 * process, shared by the Database instances on that storage.
 *
 * With `{ proofs: true }` each row that names an index block (a `seq` column, as
 * `state` and `history` rows have, or `index_seq` in a row with `origin`, as `acks`
 * rows have: rowIndexSeq) carries the
 * inclusion proof of that block, all under one signed head captured after the query
 * (`head.length ≥ at`). `verifyQueryRowProofs` in vitra/proofs checks them offline.
 * What that proves: each such row is an entry of the signed index (its seq, path, type
 * and value). What it does not: that the query returned every matching row.
 */
import { join } from 'path'
import { Resource } from '../lifecycle/resource.js'
import { ClosedError } from '../errors/errors.js'
import type Hypercore from 'hypercore'
import { captureSignedHead, createInclusionProof } from '../logs/proof-builders.js'
import type { InclusionProof } from '../proofs/log/inclusion-proofs.js'
import type { SignedHead } from '../proofs/log/signed-head.js'
import { rowIndexSeq } from '../proofs/records/query-proofs.js'
import { ReadModel, type ReadModelSource } from './read-model.js'
import { QueryRunner, type QueryOptions, type QueryResult } from './query-runner.js'
import { SharedPool, type Lease } from '../lifecycle/shared.js'

export const READ_MODEL_FILE = 'read-model.sqlite'

export interface SqlQueryOptions extends QueryOptions {
  /** Attach an inclusion proof to each row that names an index block (`seq` or `index_seq`). */
  proofs?: boolean
  /**
   * With `proofs`: prove the rows under this signed index head (e.g. a witnessed
   * checkpoint's) instead of the current one; a row whose block lies beyond it gets none.
   */
  head?: SignedHead
}

export interface SqlResult extends QueryResult {
  /** With `proofs`: a self-describing document that `vitra proof verify` checks. */
  type?: typeof QUERY_RESULT_TYPE
  version?: 1
  /** With `proofs`: the database key, the statement and its parameters. */
  database?: string
  sql?: string
  params?: unknown
  /** With `proofs`: one entry per row, the proof of the index block the row names, or null. */
  proofs?: Array<InclusionProof | null>
}

/** The `type` of a query result that carries row proofs. */
export const QUERY_RESULT_TYPE = 'vitra/query-result'

/** One read model and query runner per read-model file in the process, shared by every instance of the database. */
interface Shared { model: Promise<ReadModel>, runner: QueryRunner }
const READ_MODELS = new SharedPool<string, Shared>(async s => {
  await s.runner.close()
  await (await s.model.catch(() => null))?.close()
})

/** The SQL side of one database instance. */
export class SqlAccess extends Resource {
  private readonly file: string
  private readonly core: Hypercore
  private readonly key: string
  private lease: Lease<Shared> | null = null

  constructor (dir: string, source: ReadModelSource) {
    super()
    this.file = join(dir, READ_MODEL_FILE)
    this.core = source.core
    this.key = source.key
    this.lease = READ_MODELS.acquire(this.file, file => {
      const model = ReadModel.open(file, source).then(m => { m.follow(); return m })
      model.catch(() => {}) // surfaces on use
      return { model, runner: new QueryRunner(file) }
    })
  }

  /** The read model, once open (it follows the index from then on). */
  async readModel (): Promise<ReadModel> { return await this.open().model }

  /** Run a read-only query once the read model reflects the index as it is now. */
  async query (sql: string, params?: unknown, opts: SqlQueryOptions = {}): Promise<SqlResult> {
    const shared = this.open()
    const model = await shared.model
    await model.reach(this.core.length)
    const result: SqlResult = await shared.runner.query(sql, params, opts)
    if (opts.proofs !== true) return result
    const proofs = await this.rowProofs(result, opts.head)
    return { type: QUERY_RESULT_TYPE, version: 1, database: this.key, sql, params: params ?? null, ...result, proofs }
  }

  private async rowProofs (result: QueryResult, head?: SignedHead): Promise<Array<InclusionProof | null>> {
    const within = Math.min(result.at, head?.length ?? Infinity)
    const seqOf = (row: Record<string, unknown>): number | null => {
      const seq = rowIndexSeq(row)
      return seq !== null && seq < within ? seq : null
    }
    if (!result.rows.some(r => seqOf(r) !== null)) return result.rows.map(() => null)
    head ??= await captureSignedHead(this.core)
    const out: Array<InclusionProof | null> = []
    for (const row of result.rows) {
      const seq = seqOf(row)
      out.push(seq === null ? null : await createInclusionProof(this.core, seq, { head }))
    }
    return out
  }

  private open (): Shared {
    if (this.lease === null) throw new ClosedError('SQL read model')
    return this.lease.value
  }

  /** Leaves the shared read model; the last instance of the file closes it. close() runs it once. */
  protected override async _close (): Promise<void> {
    const lease = this.lease
    this.lease = null
    await lease?.release()
  }
}
