/**
 * The CLI's side of a running `vitra serve`. A served directory is locked, so a
 * command on it cannot open the database; `serve` leaves `serve.json` (its url,
 * pid, database key and token file) in the directory, and the commands that can
 * (info, methods, source, get, list, history, call, query) go through the host's HTTP API
 * instead. A `serve.json` whose process is gone is ignored (a host killed with -9).
 */
import { existsSync, readFileSync } from 'fs'
import { join } from 'path'
import { VitraError } from '../src/errors.js'
import type { JsonValue, TxOp, TxResult } from '../src/index.js'

export const SERVE_FILE = 'serve.json'

export interface ServeRecord { version: 1, url: string, pid: number, database: string, tokenFile: string | null }

/** The host serving `dir`, or null when none runs (no serve.json, or its process is gone). */
export function findHost (dir: string): HostClient | null {
  const file = join(dir, SERVE_FILE)
  if (!existsSync(file)) return null
  let rec: ServeRecord
  try { rec = JSON.parse(readFileSync(file, 'utf8')) as ServeRecord } catch { return null }
  if (rec?.version !== 1 || typeof rec.url !== 'string' || !Number.isSafeInteger(rec.pid) || typeof rec.database !== 'string') return null
  if (rec.pid === process.pid || !alive(rec.pid)) return null
  return new HostClient(rec)
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM' // it exists, owned by someone else
  }
}

export interface RemoteInfo {
  key: string
  isExecutor: boolean
  isParticipant: boolean
  length: number
  maxOpBytes: number
  methods: string[]
  participants: Array<{ pubkey: string, active: boolean, length: number | null, processed: number }>
  peers: number
  verification: { verifiedLength: number, violation: unknown } | null
  contract: string | null
}

export interface RemoteEntry { seq: number, path: string, value?: JsonValue, container?: boolean, type?: 'put' | 'del' }

export class HostClient {
  readonly rec: ServeRecord
  constructor (rec: ServeRecord) { this.rec = rec }

  get url (): string { return this.rec.url }
  get base (): string { return `${this.rec.url}/v1/databases/${this.rec.database}` }

  async info (): Promise<RemoteInfo> { return await this.request<RemoteInfo>('') }
  async verification (): Promise<{ verifiedLength: number, violation: unknown }> { return await this.request('/verification') }

  /** The entry at `path`, or null (the host answers 404 ENTRY_NOT_FOUND). */
  async get (path: string): Promise<RemoteEntry | null> {
    try {
      return (await this.request<{ entry: RemoteEntry }>(`/entry?${new URLSearchParams({ path })}`)).entry
    } catch (err) {
      if ((err as { code?: string }).code === 'ENTRY_NOT_FOUND') return null
      throw err
    }
  }

  async list (path: string, o: { reverse?: boolean } = {}): Promise<RemoteEntry[]> {
    return (await this.request<{ entries: RemoteEntry[] }>(`/list?${new URLSearchParams({ path: path === '' ? '/' : path, reverse: String(o.reverse === true) })}`)).entries
  }

  /** Index entries [start, end), page by page. */
  async history (start: number, end: number): Promise<RemoteEntry[]> {
    const out: RemoteEntry[] = []
    let at: number | null = start
    while (at !== null && at < end) {
      const page: { entries: RemoteEntry[], next: number | null } = await this.request(`/history?start=${at}&limit=${Math.min(1000, end - at)}`)
      out.push(...page.entries)
      at = page.next
    }
    return out
  }

  async call (method: string, params: JsonValue, o: { wait: boolean, timeoutMs: number }): Promise<{ id: string | null, transaction: { method: string, params: JsonValue, response: JsonValue | null, ops: TxOp[] }, results: Array<TxResult | null> | null }> {
    const token = this.rec.tokenFile === null ? null : readFileSync(this.rec.tokenFile, 'utf8').trim()
    return await this.request('/call', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ method, params, wait: o.wait, timeoutMs: Math.min(120_000, o.timeoutMs) })
    }, o.timeoutMs + 5_000)
  }

  async query (sql: string, params: JsonValue | undefined, o: { proofs?: boolean, timeoutMs?: number, maxRows?: number }): Promise<{ columns: string[], rows: Array<Record<string, unknown>>, truncated: boolean, at: number, proofs?: unknown[] }> {
    return await this.request('/query', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql, params, proofs: o.proofs === true, timeoutMs: o.timeoutMs, maxRows: o.maxRows })
    }, (o.timeoutMs ?? 5000) + 10_000)
  }

  private async request<T> (path: string, init: RequestInit = {}, timeoutMs = 60_000): Promise<T> {
    let res: Response
    try {
      res = await fetch(this.base + path, { ...init, signal: AbortSignal.timeout(timeoutMs) })
    } catch (err) {
      throw new VitraError('HOST_UNREACHABLE', `The database is served by process ${this.rec.pid} at ${this.rec.url}, which did not answer: ${(err as Error).message}`)
    }
    const body = await res.json().catch(() => null) as { error?: { code: string, message: string } } | null
    if (!res.ok) {
      const e = body?.error
      throw new VitraError(e?.code ?? 'HOST_ERROR', e?.message ?? `The host answered ${res.status}`)
    }
    return body as T
  }
}
