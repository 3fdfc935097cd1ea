/**
 * `vitra host`: keep the database online in the foreground. In the executor's
 * directory it runs the executor; in any directory it joins the swarm and
 * serves (and fetches) every log of the database. Stops cleanly on SIGINT or
 * SIGTERM. With --json it prints one JSON event per line.
 */
import type { Database } from '../../src/index.js'
import { EXIT } from '../errors.js'
import { short } from '../output.js'
import type { Session } from '../session.js'

export interface HostOptions {
  signal?: AbortSignal
  /** Instead of waiting for a signal, run this (the REPL of `vitra host --repl`) and stop when it returns. */
  whileHosting?: () => Promise<unknown>
}

export async function hostCommand (s: Session, o: HostOptions = {}): Promise<number> {
  s.longRunning()
  const db = await s.open({ network: 'always', sync: 'none', announce: true })
  const key = db.pubkey.toString('hex')
  const role = db.isExecutor ? 'executor' : db.isParticipant ? 'participant' : 'reader'
  const where = db.network === null ? ' (offline: not on the swarm)' : ''
  const stop = o.whileHosting === undefined ? 'Ctrl-C to stop.' : 'The REPL below works on it; .exit stops.'
  s.out.event({ event: 'hosting', database: key, role, indexLength: db.index.core.length, swarmKey: db.network?.publicKey?.toString('hex') ?? null },
    `Hosting ${key} as ${role}${where}; index length ${db.index.core.length}. ${stop}`)
  reportEvents(s, db)
  if (o.whileHosting !== undefined) await o.whileHosting()
  else await untilStopped(o.signal)
  s.out.event({ event: 'stopped' }, 'Stopped.')
  return EXIT.OK
}

/** Peers coming and going, ops executed, index growth (readers). */
function reportEvents (s: Session, db: Database): void {
  const net = db.network
  const peer = (info: { publicKey: Buffer }): string => info.publicKey.toString('hex')
  net?.on('connection', (_c: unknown, info: { publicKey: Buffer }) => s.out.event({ event: 'peer-add', peer: peer(info), peers: net.connections.length },
    `peer connected ${short(peer(info))} (${net.connections.length} connected)`))
  net?.on('peer-remove', (info: { publicKey: Buffer }) => s.out.event({ event: 'peer-remove', peer: peer(info), peers: net.connections.length },
    `peer left ${short(peer(info))} (${net.connections.length} connected)`))
  db.executor?.on('batch', (done: Array<{ origin: string, seq: number }>) => s.out.event({ event: 'executed', ops: done.length, indexLength: db.index.core.length },
    `executed ${done.length} op(s); index length ${db.index.core.length}`))
  if (!db.isExecutor) followAppends(s, db)
}

function followAppends (s: Session, db: Database): void {
  let last = db.index.core.length
  db.index.core.on('append', () => {
    const length = db.index.core.length
    if (length === last) return
    last = length
    s.out.event({ event: 'index', indexLength: length }, `index length ${length}`)
  })
}

/** Resolves on SIGINT/SIGTERM (or when `signal` aborts); keeps the process alive until then. */
export function untilStopped (signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal?.aborted === true) { resolve(); return }
    const keepAlive = setInterval(() => {}, 1 << 30) // signal listeners alone do not keep Node running
    const done = (): void => {
      clearInterval(keepAlive)
      process.off('SIGINT', done)
      process.off('SIGTERM', done)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    process.on('SIGINT', done)
    process.on('SIGTERM', done)
    signal?.addEventListener('abort', done)
  })
}
