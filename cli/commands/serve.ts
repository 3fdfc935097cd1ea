/**
 * `vitra serve`: keep the database online (as `vitra host`: the executor in its
 * directory, the swarm unless --offline) and serve the HTTP API (src/http/api.ts, JSON
 * under /v1) on 127.0.0.1:8686 unless told otherwise, until SIGINT or SIGTERM; then it
 * stops the HTTP server first (requests in flight finish) and the database after, and
 * exits 0. First slice of issue 24: the read routes, one database (the one in --dir).
 */
import { randomBytes } from 'crypto'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'fs'
import { join } from 'path'
import { createApi } from '../../src/http/api.js'
import { EXIT, usageError } from '../errors.js'
import type { Session } from '../session.js'
import { untilStopped } from './host.js'

export interface ServeOptions { port?: string, httpHost?: string, open?: boolean, signal?: AbortSignal }

/** The bearer token of `call`: `<dir>/http-token` (mode 0600), made at the first start. */
export function httpToken (dir: string): string {
  const file = join(dir, TOKEN_FILE)
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim()
    if (/^[0-9a-f]{64}$/.test(token)) return token
  }
  const token = randomBytes(32).toString('hex')
  writeFileSync(file, token + '\n', { mode: 0o600 })
  chmodSync(file, 0o600) // also when the file existed with other bits
  return token
}

const TOKEN_FILE = 'http-token'

export async function serveCommand (s: Session, o: ServeOptions = {}): Promise<number> {
  const port = Number(o.port ?? 8686)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--port must be a port number (0-65535), not ${String(o.port)}`)
  const host = o.httpHost ?? '127.0.0.1'
  s.longRunning()
  const db = await s.open({ network: 'always', sync: 'none', announce: true })
  const token = o.open === true ? null : httpToken(s.dataDir)
  const app = await createApi({ databases: [db], token })
  await app.listen({ port, host })
  const address = app.server.address()
  const actual = typeof address === 'object' && address !== null ? address.port : port
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`
  const key = db.pubkey.toString('hex')
  s.out.event({ event: 'serving', url, database: key, role: db.isExecutor ? 'executor' : db.isParticipant ? 'participant' : 'reader', offline: db.network === null },
    `Serving ${key} at ${url}/v1/databases/${key}${db.network === null ? ' (offline: not on the swarm)' : ''}; ` +
    `${token === null ? 'calls are open (--open)' : `calls need the bearer token in ${join(s.dataDir, TOKEN_FILE)}`}. Ctrl-C to stop.`)
  await untilStopped(o.signal)
  await app.close() // in-flight requests finish first
  s.out.event({ event: 'stopped' }, 'Stopped.')
  return EXIT.OK
}
