/**
 * `vitra serve`: keep the database online (as `vitra host`: the executor in its
 * directory, the swarm unless --offline) and serve the HTTP API (src/http/api.ts, JSON
 * under /v1) on 127.0.0.1:8686 unless told otherwise, until SIGINT or SIGTERM; then it
 * stops the HTTP server first (requests in flight finish) and the database after, and
 * exits 0. First slice of issue 24: the read routes, one database (the one in --dir).
 */
import { createApi } from '../../src/http/api.js'
import { EXIT, usageError } from '../errors.js'
import type { Session } from '../session.js'
import { untilStopped } from './host.js'

export interface ServeOptions { port?: string, httpHost?: string, signal?: AbortSignal }

export async function serveCommand (s: Session, o: ServeOptions = {}): Promise<number> {
  const port = Number(o.port ?? 8686)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--port must be a port number (0-65535), not ${String(o.port)}`)
  const host = o.httpHost ?? '127.0.0.1'
  s.longRunning()
  const db = await s.open({ network: 'always', sync: 'none', announce: true })
  const app = await createApi({ databases: [db] })
  await app.listen({ port, host })
  const address = app.server.address()
  const actual = typeof address === 'object' && address !== null ? address.port : port
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`
  const key = db.pubkey.toString('hex')
  s.out.event({ event: 'serving', url, database: key, role: db.isExecutor ? 'executor' : db.isParticipant ? 'participant' : 'reader', offline: db.network === null },
    `Serving ${key} at ${url}/v1/databases/${key}${db.network === null ? ' (offline: not on the swarm)' : ''}. Ctrl-C to stop.`)
  await untilStopped(o.signal)
  await app.close() // in-flight requests finish first
  s.out.event({ event: 'stopped' }, 'Stopped.')
  return EXIT.OK
}
