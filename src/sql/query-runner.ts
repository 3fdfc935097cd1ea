/**
 * Runs SQL queries over a read model in child processes (query-process.ts), each query
 * bounded by a time limit: past it, its process is killed (SIGKILL) and the query fails
 * with QUERY_TIMEOUT. Up to `processes` queries run at once (default 2), each in its own
 * process, so one slow query delays no other for long; more wait their turn. Nothing
 * in this process waits on SQLite, so the executor and an HTTP host keep going.
 */
import { Resource } from '../lifecycle/resource.js'
import { fork, type ChildProcess } from 'child_process'
import { fileURLToPath } from 'url'
import { ClosedError, InvalidArgumentError, VitraError, errors, isErrorCode } from '../errors/errors.js'

export interface QueryResult {
  columns: string[]
  rows: Array<Record<string, unknown>>
  /** True when the query had more rows than `maxRows`. */
  truncated: boolean
  /** The index length the read model reflected when the query read it. */
  at: number
}

export interface QueryOptions {
  /** Time limit in ms (default 5000). */
  timeoutMs?: number
  /** Most rows returned (default 10000); more set `truncated`. */
  maxRows?: number
}

const CHILD = fileURLToPath(new URL('./query-process.js', import.meta.url))

interface Worker { child: ChildProcess, busy: boolean, stderr: string }
interface Job { sql: string, params: unknown, timeoutMs: number, maxRows: number, resolve: (r: QueryResult) => void, reject: (e: Error) => void }

export class QueryRunner extends Resource {
  private readonly file: string
  private readonly max: number
  private readonly workers = new Set<Worker>()
  private readonly waiting: Job[] = []

  constructor (file: string, opts: { processes?: number } = {}) {
    super()
    this.file = file
    this.max = Math.max(1, opts.processes ?? 2)
  }

  /** Run one read-only query. */
  async query (sql: string, params?: unknown, opts: QueryOptions = {}): Promise<QueryResult> {
    if (typeof sql !== 'string' || sql.trim() === '') throw new InvalidArgumentError('query: sql must be a non-empty string')
    if (params !== undefined && params !== null && typeof params !== 'object') throw new InvalidArgumentError('query: params must be an array or an object')
    const timeoutMs = opts.timeoutMs ?? 5000
    const maxRows = opts.maxRows ?? 10_000
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw new InvalidArgumentError('query: timeoutMs must be a positive integer')
    if (!Number.isSafeInteger(maxRows) || maxRows < 1) throw new InvalidArgumentError('query: maxRows must be a positive integer')
    if (this.stopping) throw new ClosedError()
    return await new Promise<QueryResult>((resolve, reject) => {
      this.waiting.push({ sql, params: params ?? null, timeoutMs, maxRows, resolve, reject })
      this.dispatch()
    })
  }

  /** Give waiting jobs to idle processes, starting new ones up to the limit. */
  private dispatch (): void {
    while (this.waiting.length > 0 && !this.stopping) {
      let w = [...this.workers].find(x => !x.busy)
      if (w === undefined) {
        if (this.workers.size >= this.max) return
        w = this.spawn()
      }
      this.run(w, this.waiting.shift() as Job)
    }
  }

  private run (w: Worker, job: Job): void {
    w.busy = true
    let settled = false
    const done = (): void => {
      settled = true
      clearTimeout(timer)
      w.child.removeListener('message', onMessage)
      w.child.removeListener('exit', onExit)
      w.busy = false
      this.dispatch()
    }
    const onMessage = (m: { error?: { code: string, message: string } } & QueryResult): void => {
      if (settled) return
      done()
      // the query process reports SQL_ERROR or SQL_NOT_READ_ONLY; anything else is its failure
      if (m.error !== undefined) job.reject(new VitraError(isErrorCode(m.error.code) ? m.error.code : 'QUERY_FAILED', m.error.message))
      else job.resolve({ columns: m.columns, rows: m.rows, truncated: m.truncated, at: m.at })
    }
    const onExit = (): void => {
      if (settled) return
      done()
      job.reject(errors.QUERY_FAILED(`The query process ended${w.stderr === '' ? '' : `: ${w.stderr.trim().split('\n').pop() ?? ''}`}`))
    }
    const timer = setTimeout(() => {
      if (settled) return
      done()
      this.kill(w)
      job.reject(errors.QUERY_TIMEOUT(`The query ran past its time limit of ${job.timeoutMs} ms and was stopped`))
    }, job.timeoutMs)
    w.child.on('message', onMessage)
    w.child.once('exit', onExit)
    w.child.send({ sql: job.sql, params: job.params, maxRows: job.maxRows })
  }

  private spawn (): Worker {
    const child = fork(CHILD, [this.file], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [] })
    const w: Worker = { child, busy: false, stderr: '' }
    child.stderr?.on('data', d => { w.stderr = (w.stderr + String(d)).slice(-2000) })
    child.once('exit', () => { this.workers.delete(w) })
    this.workers.add(w)
    return w
  }

  private kill (w: Worker): void {
    this.workers.delete(w)
    w.child.kill('SIGKILL')
  }

  /** Refuses what waits and kills the query processes; close() runs it once. */
  protected override async _close (): Promise<void> {
    for (const job of this.waiting.splice(0)) job.reject(new ClosedError())
    const gone: Array<Promise<void>> = []
    for (const w of this.workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) gone.push(new Promise<void>(resolve => w.child.once('exit', () => resolve())))
      w.child.kill('SIGKILL')
    }
    this.workers.clear()
    await Promise.all(gone)
  }
}
