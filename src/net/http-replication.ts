/**
 * Hypercore replication over HTTP: a database followed from a host's HTTP API alone,
 * with no swarm (networks that block UDP hole punching still pass HTTP).
 *
 * Wire: the reader sends `GET /v1/databases/<key>/replicate` with `Connection: Upgrade`
 * and `Upgrade: vitra-replication`; the host answers `101 Switching Protocols` and both
 * ends run Hypercore's own replication protocol (Noise-encrypted, the same as over a
 * Hyperswarm connection) on the upgraded connection, as WebSockets do on theirs. So
 * everything the reader stores was verified by Hypercore against the database key and
 * the logs' keys exactly as over the swarm: a block must hash into the signed tree, a
 * head must carry its writer's signature, and a head that disagrees with one the reader
 * already holds is a conflict, which the database's fork watcher turns into a log fork
 * proof (src/net/fork-watch.ts) whatever the transport.
 *
 * HttpSync (the reader's side) keeps one connection per URL and reconnects after a
 * failure (1, 2, 4 … 30 s) until closed. serveReplication (the host's side) answers the
 * upgrade for the databases an API serves.
 */
import { Resource } from '../lifecycle/resource.js'
import { request, type IncomingMessage, type Server } from 'http'
import type { Duplex } from 'stream'
import { InvalidArgumentError } from '../errors/errors.js'

export const REPLICATION_PROTOCOL = 'vitra-replication'

/** The path a database's replication answers on. */
export function replicationPath (key: string): string { return `/v1/databases/${key}/replicate` }

interface ReplicationStream extends Duplex { destroy: (err?: Error) => this, opened?: Promise<boolean> }

/** What replicates: a Corestore, or a Database (`db.replicate()`). */
export interface Replicable {
  replicate: (isInitiator: boolean) => unknown
  /** Corestore: reads and updates wait for the peers being found until the returned function is called. */
  findingPeers?: () => () => void
}

/** Join a replication stream of `store` with a raw byte stream (the upgraded socket) until either ends. */
function join (store: Replicable, isInitiator: boolean, socket: Duplex): ReplicationStream {
  const stream = store.replicate(isInitiator) as ReplicationStream
  stream.pipe(socket).pipe(stream)
  const end = (): void => { stream.destroy(); socket.destroy() }
  stream.on('error', end)
  socket.on('error', end)
  stream.on('close', end)
  socket.on('close', end)
  return stream
}

/**
 * Answer replication upgrades on `server` for the databases `find` returns by key
 * (null: 404). Returns a function that closes every connection it made.
 */
export function serveReplication (server: Server, find: (key: string) => Replicable | null): () => void {
  const sockets = new Set<Duplex>()
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const m = /^\/v1\/databases\/([0-9a-f]{64})\/replicate$/.exec(req.url ?? '')
    if (m === null || String(req.headers.upgrade).toLowerCase() !== REPLICATION_PROTOCOL) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
      return
    }
    const db = find(m[1]!)
    if (db === null) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n')
      return
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${REPLICATION_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`)
    if (head.length > 0) socket.unshift(head)
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    join(db, false, socket)
  }
  server.on('upgrade', onUpgrade)
  return () => {
    server.off('upgrade', onUpgrade)
    for (const s of sockets) s.destroy()
  }
}

export interface HttpSyncOptions {
  /** First wait before reconnecting after a failure (doubles up to 30 s). Default 1000 ms. */
  retryMs?: number
  /** A host that has not finished the replication handshake by then is dropped (and retried). Default 5000 ms. */
  handshakeMs?: number
}

/**
 * The reader's side: replicate `store` with the hosts at `urls` (http://host:port, the
 * API's origin) over HTTP. Events: 'connection' (url), 'disconnect' (url, error or null).
 */
export class HttpSync extends Resource {
  readonly urls: string[]
  private readonly store: Replicable
  private readonly key: string
  private readonly retryMs: number
  private readonly handshakeMs: number
  private readonly live = new Map<string, Duplex>()
  /** URLs whose first attempt has not ended yet; reads wait for them (Corestore's findingPeers). */
  private readonly finding: Set<string>
  private doneFinding: () => void
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor (store: Replicable, key: string, urls: string[], opts: HttpSyncOptions = {}) {
    super()
    this.store = store
    this.key = key
    this.urls = [...new Set(urls.map(httpOrigin))] // one connection per host
    this.retryMs = opts.retryMs ?? 1000
    this.handshakeMs = opts.handshakeMs ?? 5000
    this.finding = new Set(this.urls)
    this.doneFinding = store.findingPeers?.() ?? (() => {})
    for (const url of this.urls) this.connect(url, 0)
  }

  /** The first attempt at `url` ended (replicating, or failed): once all have, reads stop waiting for more peers. */
  private found (url: string): void {
    if (!this.finding.delete(url) || this.finding.size > 0) return
    this.doneFinding()
    this.doneFinding = () => {}
  }

  /** Hosts connected now. */
  get connections (): number { return this.live.size }

  private connect (url: string, failures: number): void {
    if (this.stopping) return
    const target = new URL(replicationPath(this.key), url)
    const req = request(target, { headers: { Connection: 'Upgrade', Upgrade: REPLICATION_PROTOCOL } })
    let settled = false
    const retry = (err: Error | null): void => {
      if (settled) return
      settled = true
      this.found(url)
      this.live.delete(url)
      this.emit('disconnect', url, err)
      if (this.stopping) return
      const timer = setTimeout(() => { this.timers.delete(timer); this.connect(url, failures + 1) }, Math.min(30_000, this.retryMs * 2 ** Math.min(5, failures)))
      timer.unref()
      this.timers.add(timer)
    }
    req.on('upgrade', (_res: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.stopping) { socket.destroy(); return }
      if (head.length > 0) socket.unshift(head)
      this.live.set(url, socket)
      failures = 0
      this.emit('connection', url)
      const stream = join(this.store, true, socket)
      socket.on('close', () => retry(null))
      // a host that never finishes the handshake (or speaks something else) is dropped, and retried later
      const timer = setTimeout(() => socket.destroy(), this.handshakeMs)
      timer.unref()
      void (stream.opened ?? Promise.resolve(true)).then(ok => {
        clearTimeout(timer)
        if (ok) this.found(url)
      }, () => clearTimeout(timer))
    })
    req.on('response', res => { res.resume(); retry(new Error(`${url} answered ${res.statusCode ?? '?'} instead of replicating`)) })
    req.on('error', err => retry(err))
    req.end()
  }

  /** Stops reconnecting and closes every connection, at once (nothing here waits); close() runs it once. */
  protected override async _close (): Promise<void> {
    this.doneFinding()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    for (const s of this.live.values()) s.destroy()
    this.live.clear()
  }
}

/** The origin of an http:// URL (where a `vitra serve` listens); INVALID_ARGUMENT otherwise. */
export function httpOrigin (url: string): string {
  let u: URL
  try { u = new URL(url) } catch { throw new InvalidArgumentError(`Not an http(s) URL: ${JSON.stringify(url)}`) }
  if (u.protocol !== 'http:') throw new InvalidArgumentError(`Sync URLs are http://host:port (the origin of a vitra serve), not ${JSON.stringify(url)}`)
  return u.origin
}
