/**
 * Runs SQL queries over a read model in a child process (query-process.ts), one at a
 * time, each bounded by a time limit: past it, the child is killed (SIGKILL) and the
 * query fails with QUERY_TIMEOUT; the next query starts a new child. Nothing in this
 * process waits on SQLite, so the executor and an HTTP host keep going meanwhile.
 */
import { fork, type ChildProcess } from 'child_process'
import { fileURLToPath } from 'url'
import { VitraError } from '../errors.js'

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

interface Pending { child: ChildProcess, resolve: (r: QueryResult) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }

export class QueryRunner {
  private readonly file: string
  private child: ChildProcess | null = null
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false

  constructor (file: string) { this.file = file }

  /** Run one read-only query (queued behind any running one). */
  async query (sql: string, params?: unknown, opts: QueryOptions = {}): Promise<QueryResult> {
    if (typeof sql !== 'string' || sql.trim() === '') throw new VitraError('INVALID_ARGUMENT', 'query: sql must be a non-empty string')
    if (params !== undefined && params !== null && typeof params !== 'object') throw new VitraError('INVALID_ARGUMENT', 'query: params must be an array or an object')
    const timeoutMs = opts.timeoutMs ?? 5000
    const maxRows = opts.maxRows ?? 10_000
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw new VitraError('INVALID_ARGUMENT', 'query: timeoutMs must be a positive integer')
    if (!Number.isSafeInteger(maxRows) || maxRows < 1) throw new VitraError('INVALID_ARGUMENT', 'query: maxRows must be a positive integer')
    const run = this.queue.then(async () => await this.ask(sql, params, timeoutMs, maxRows))
    this.queue = run.catch(() => {})
    return await run
  }

  private async ask (sql: string, params: unknown, timeoutMs: number, maxRows: number): Promise<QueryResult> {
    if (this.closed) throw new VitraError('CLOSED', 'The database is closed')
    const child = this.spawn()
    const id = this.nextId++
    return await new Promise<QueryResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        this.kill()
        reject(new VitraError('QUERY_TIMEOUT', `The query ran past its time limit of ${timeoutMs} ms and was stopped`))
      }, timeoutMs)
      this.pending.set(id, { child, resolve, reject, timer })
      child.send({ id, sql, params: params ?? null, maxRows })
    })
  }

  private spawn (): ChildProcess {
    if (this.child !== null) return this.child
    const child = fork(CHILD, [this.file], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [] })
    let stderr = ''
    child.stderr?.on('data', d => { stderr = (stderr + String(d)).slice(-2000) })
    child.on('message', (m: { id: number, error?: { code: string, message: string } } & QueryResult) => {
      const p = this.pending.get(m.id)
      if (p === undefined) return
      this.pending.delete(m.id)
      clearTimeout(p.timer)
      if (m.error !== undefined) p.reject(new VitraError(m.error.code, m.error.message))
      else p.resolve({ columns: m.columns, rows: m.rows, truncated: m.truncated, at: m.at })
    })
    child.on('exit', () => {
      if (this.child === child) this.child = null
      for (const [id, p] of this.pending) {
        if (p.child !== child) continue // a query of the next process
        clearTimeout(p.timer)
        p.reject(new VitraError('QUERY_FAILED', `The query process ended${stderr === '' ? '' : `: ${stderr.trim().split('\n').pop() ?? ''}`}`))
        this.pending.delete(id)
      }
    })
    this.child = child
    return child
  }

  private kill (): void {
    const child = this.child
    this.child = null
    child?.kill('SIGKILL')
  }

  async close (): Promise<void> {
    this.closed = true
    const child = this.child
    this.child = null
    if (child === null || child.exitCode !== null) return
    const gone = new Promise<void>(resolve => child.once('exit', () => resolve()))
    child.kill('SIGKILL')
    await gone
  }
}
