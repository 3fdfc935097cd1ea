/**
 * What the `vitra` command keeps next to a database, in its directory:
 *
 *   txs/<id>.json              tracked transactions (`vitra call`, and calls through `vitra serve`'s API), id =
 *                              <oplog key>-<seq of the first op>-<op count>, the id the HTTP API uses
 *   fraud/<code>-<seq>.json    fraud proofs found by verify/monitor (seq: the index seq of the violation)
 *   monitor-checkpoint.json    where `vitra monitor` resumes
 *   last-verify.json           outcome of the last `vitra verify`
 *   cli.json                   network settings remembered by `vitra load` (bootstrap, host, from)
 *
 * Every file is written atomically: to a temporary name, then renamed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'fs'
import { writeFileAtomic } from '../src/logs/atomic-file.js'
import { basename, join } from 'path'
import { parseJson, type FraudProofJSON, type JsonValue, type TxOp, type TxResult } from '../src/index.js'
import type { LogForkProofJSON } from '../src/proofs/fraud/log-fork-proof.js'
import { CliError, usageError } from './errors.js'

export const TX_RECORD_TYPE = 'vitra/tracked-tx'

/** A tracked transaction: the call as returned (tx.toJSON()) and, once known, its results. */
export interface TxRecord {
  version: 1
  type: typeof TX_RECORD_TYPE
  id: string
  /** Index key of the database. */
  database: string
  createdAt: string
  tx: { method: string, params: JsonValue, response: JsonValue | null, ops: TxOp[] }
  /** One per op (null while not executed); null when never looked up. With inclusion proofs. */
  results: Array<TxResult | null> | null
}

/** A saved fraud proof: a contract fraud proof or a log fork proof. */
export type SavedFraud = FraudProofJSON | LogForkProofJSON

export interface Found<T> { id: string, file: string, value: T }

/** Settings remembered for a directory. */
export interface DirConfig { bootstrap?: string, host?: string, from?: string[] }

export class Records {
  readonly dir: string

  constructor (dir: string) { this.dir = dir }

  get txDir (): string { return join(this.dir, 'txs') }
  get fraudDir (): string { return join(this.dir, 'fraud') }
  get checkpointFile (): string { return join(this.dir, 'monitor-checkpoint.json') }
  get lastVerifyFile (): string { return join(this.dir, 'last-verify.json') }
  get configFile (): string { return join(this.dir, 'cli.json') }

  saveTx (rec: TxRecord): string {
    const file = join(this.txDir, `${rec.id}.json`)
    writeJsonAtomic(file, rec)
    return file
  }

  /** Tracked transactions, oldest first. */
  listTxs (): Array<Found<TxRecord>> {
    return this.listDir<TxRecord>(this.txDir).sort((a, b) => a.value.createdAt.localeCompare(b.value.createdAt))
  }

  /** By id, a unique prefix of it, or its short form `<oplog key, 8 hex>-<seq>` (as older versions named them). */
  findTx (id: string): Found<TxRecord> {
    const all = this.listTxs()
    const short = /^([0-9a-f]{8})-(\d+)$/.exec(id)
    const byShort = short === null ? [] : all.filter(r => r.id.startsWith(short[1]!) && r.id.split('-')[1] === short[2])
    if (byShort.length === 1) return byShort[0]!
    return this.find(all, id, 'tracked transaction', 'vitra tx list')
  }

  /**
   * Save a fraud proof: a contract fraud proof under fraud/<code>-<index seq>.json,
   * a log fork proof under fraud/LOG_FORK-<key, 8 hex>.json. The same violation
   * overwrites itself.
   */
  saveFraud (proof: SavedFraud): string {
    const id = proof.type === 'vitra/log-fork-proof' ? `LOG_FORK-${proof.key.slice(0, 8)}` : `${proof.details.code}-${proof.details.seq}`
    const file = join(this.fraudDir, `${id}.json`)
    writeJsonAtomic(file, proof)
    return file
  }

  listFraud (): Array<Found<SavedFraud>> {
    return this.listDir<SavedFraud>(this.fraudDir).sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }))
  }

  findFraud (id: string): Found<SavedFraud> {
    return this.find(this.listFraud(), id, 'fraud proof', 'vitra fraud list')
  }

  readConfig (): DirConfig {
    return existsSync(this.configFile) ? readJson(this.configFile) as DirConfig : {}
  }

  writeConfig (cfg: DirConfig): void {
    writeJsonAtomic(this.configFile, cfg)
  }

  private listDir<T> (dir: string): Array<Found<T>> {
    if (!existsSync(dir)) return []
    return readdirSync(dir).filter(n => n.endsWith('.json')).map(n => {
      const file = join(dir, n)
      return { id: basename(n, '.json'), file, value: readJson(file) as T }
    })
  }

  /** Exact id, else a unique prefix. */
  private find<T> (all: Array<Found<T>>, id: string, what: string, listCmd: string): Found<T> {
    const exact = all.find(r => r.id === id)
    if (exact !== undefined) return exact
    const matches = all.filter(r => r.id.startsWith(id))
    if (matches.length === 1) return matches[0]!
    if (matches.length > 1) throw usageError(`"${id}" matches ${matches.length} ${what}s (${matches.map(m => m.id).join(', ')}): give more of the id`)
    throw new CliError('NOT_FOUND', `No ${what} "${id}" in ${this.dir}: see \`${listCmd}\``)
  }
}

/** Write JSON to `file` via a temporary file and a rename: never half-written. */
export function writeJsonAtomic (file: string, value: unknown): void {
  mkdirSync(join(file, '..'), { recursive: true })
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n')
}

/** Read a JSON file; a file that does not parse is a clear error naming it. */
export function readJson (file: string): unknown {
  const text = readFileSync(file, 'utf8')
  try {
    return parseJson(text, file)
  } catch (err) {
    throw new CliError('BAD_FILE', `${file} is not valid JSON: ${(err as Error).message}`)
  }
}
