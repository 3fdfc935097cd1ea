/**
 * Networking: every core of a database (the index and every declared oplog)
 * replicates over Hyperswarm. A DatabaseSwarm joins the swarm on the index's
 * discovery key (announce and lookup), replicates the whole Corestore on each
 * connection, keeps a session open on every core of the database (so Corestore
 * serves and fetches it, including oplogs declared later), and watches each of
 * those cores for forks (a truncate-and-rewrite or two signed histories, also of
 * the same length, through signed-head gossip with every peer), reporting each as
 * a LogForkFraudProof. Reconnection is Hyperswarm's own.
 *
 * Lifecycle: `new DatabaseSwarm(store, indexKey, opts)`, `ready()` (joins),
 * `track(db)` once the database is open, `close()` (leaves, destroys the swarm,
 * its DHT node and every connection, stops the fork watchers).
 */
import type { EventEmitter } from 'events'
import { Resource } from '../lifecycle/resource.js'
import Hyperswarm from 'hyperswarm'
import HyperDHT from 'hyperdht'
import createTestnet from 'hyperdht/testnet.js'
import type Corestore from 'corestore'
import type Hypercore from 'hypercore'
import { ClosedError, InvalidArgumentError, NetworkError } from '../errors/errors.js'
import type { IndexLog } from '../logs/index-log.js'
import type { Oplog } from '../logs/oplog.js'
import { SizedDownload } from '../logs/block-sizes.js'
import { DEFAULT_MAX_OP_BYTES } from '../format/limits.js'
import { PeerWatchdog } from './peer-watchdog.js'
import { type LogForkFraudProof } from '../proofs/fraud/log-fork-proof.js'
import { ForkWatch, type LogForkSource } from './fork-watch.js'
import { SharedPool, type Lease } from '../lifecycle/shared.js'

/** A DHT node address (a bootstrap node). */
export interface DhtAddress { host: string, port: number }

/** Options of `db.swarm()`, `DatabaseSwarm` and the `swarm` settings of create/load. */
export interface SwarmOptions {
  /** Bootstrap nodes of a private DHT (`[{ host, port }]` or `'host:port'`); default: the public HyperDHT bootstrap. */
  bootstrap?: Array<DhtAddress | string>
  /** The address this DHT node binds to (`'127.0.0.1'` for a loopback-only network). */
  host?: string
  /**
   * Whether this DHT node is behind a firewall/NAT and must holepunch (default: true,
   * except for a node bound to a loopback `host`). Set false for a node peers can reach
   * directly at its bound address (a server on a private network).
   */
  firewalled?: boolean
  /** A HyperDHT node to use instead of making one. Hyperswarm destroys it when the swarm closes. */
  dht?: HyperDHT
  /** The swarm's Noise key pair (default: one derived from the storage's primary key, the same at every start). */
  keyPair?: { publicKey: Buffer, secretKey: Buffer }
  /** Announce this peer on the topic (default true). */
  server?: boolean
  /** Look up other peers on the topic (default true). */
  client?: boolean
  /** Watch every core for forks and emit 'log-fork' (default true). */
  detectForks?: boolean
  /** Download every oplog in full and live, as it grows (default: true on the executor, whose index is writable). */
  eagerOplogs?: boolean
  /**
   * Milliseconds a new connection has to open the replication channel of the index
   * (default 5000); a peer that does not is dropped with PEER_TIMEOUT. Such a stalled
   * peer would otherwise make `update({ wait: true })` (and so `db.sync()`) wait for it forever.
   */
  handshakeTimeoutMs?: number
  /**
   * Milliseconds a request may stay unanswered while its peer sends nothing on that
   * core (default 10000; 0 turns the watchdog off). Such a peer is dropped with
   * PEER_TIMEOUT, so the request goes to another peer: see src/net/peer-watchdog.ts.
   */
  requestTimeoutMs?: number
  /** Milliseconds to coalesce index appends before re-reading the declared oplogs (default 50). */
  refreshDelayMs?: number
  /**
   * Vitra's `swarm({ local: true })`: join a DHT testnet on 127.0.0.1 that this process
   * starts on first use and shares among every swarm that asks for it (for tests and
   * demos: such a swarm only meets peers of the same process). Not with bootstrap, host or dht.
   */
  local?: boolean
}

/** The Corestore key pair name of a storage's swarm identity. */
const SWARM_KEY_PAIR_NAME = 'vitra/swarm'

const SWARM_OPTIONS = new Set(['bootstrap', 'host', 'firewalled', 'dht', 'keyPair', 'server', 'client', 'detectForks', 'eagerOplogs', 'handshakeTimeoutMs', 'requestTimeoutMs', 'refreshDelayMs', 'local'])

/** Swarm options checked: an unknown option is an error (ignoring one could put a test swarm on the public DHT). */
export function checkSwarmOptions (opts: unknown): SwarmOptions {
  if (opts === undefined || opts === null) return {}
  if (typeof opts !== 'object') throw new InvalidArgumentError('Swarm options must be an object')
  const o = opts as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (o[k] !== undefined && !SWARM_OPTIONS.has(k)) throw new InvalidArgumentError(`Unknown swarm option "${k}" (known: ${[...SWARM_OPTIONS].join(', ')})`)
  }
  if (o.local !== undefined && typeof o.local !== 'boolean') throw new InvalidArgumentError('Swarm option local must be a boolean')
  if (o.local === true && (o.bootstrap !== undefined || o.host !== undefined || o.dht !== undefined)) throw new InvalidArgumentError('Swarm option local cannot be combined with bootstrap, host or dht')
  return o as SwarmOptions
}

/** The process's local testnet (swarm option `local`): started by its first user, stopped when its last user leaves. */
type LocalNet = Promise<{ bootstrap: DhtAddress[], destroy: () => Promise<void> }>
const LOCAL_TESTNET = new SharedPool<'local', LocalNet>(async net => { await (await net).destroy() })

/** What a swarm needs from a database: its index and a way to open oplogs by key. */
export interface SwarmSource {
  readonly index: IndexLog
  /** The oplogs open right now. */
  readonly oplogs: Oplog[]
  /** Open (once) the oplog with this hex key. */
  openOplog: (hex: string) => Promise<Oplog>
  /** True when the source watches its own logs for forks (a Database does: src/net/fork-watch.ts); the swarm then does not. */
  readonly watchesForks?: boolean
  /** The largest op the database executes: eager downloads never fetch a larger block (src/logs/block-sizes.ts). */
  maxOpBytes?: () => Promise<number>
}

/** Who is on the other end of a connection. */
export interface PeerInfo { publicKey: Buffer }

/** A Hyperswarm connection (a Noise secret stream; `userData` is its Protomux once replicating). */
export interface SwarmConnection extends EventEmitter {
  readonly remotePublicKey: Buffer
  readonly userData: { getLastChannel (channel: { protocol: string, id: Buffer }): { opened: boolean } | null } | null
  destroy (err?: Error): void
}

export type { LogForkSource } from './fork-watch.js'

/**
 * Replicates one database over Hyperswarm.
 *
 * Events:
 * - 'connection' (conn, info): a peer connected; the Corestore replicates over it.
 * - 'peer-remove' (info): a connection closed (Hyperswarm reconnects when it can).
 * - 'peer-error' (err, info): a connection failed (garbage, reset, PEER_TIMEOUT: no handshake in time, or
 *   a request left unanswered: see requestTimeoutMs); the connection is dropped, nothing else.
 * - 'oplog' (hex): an oplog is now tracked (opened and replicated).
 * - 'log-fork' (proof, source): a core of the database forked: a LogForkFraudProof.
 * - 'warning' (err): a background step failed (reading the declared oplogs, a fork watcher).
 */
export class DatabaseSwarm extends Resource {
  readonly store: Corestore
  /** The index public key: the swarm topic is its discovery key. */
  readonly key: Buffer
  private opts: SwarmOptions
  private swarm: Hyperswarm | null = null
  private ownDht: HyperDHT | null = null
  private localNet: Lease<LocalNet> | null = null
  private indexCore: Hypercore | null = null
  private discovery: { flushed (): Promise<void>, refresh (): Promise<void>, destroy (): Promise<void> } | null = null
  private readonly conns = new Set<SwarmConnection>()
  /** Hex keys of the cores `watch` took on. */
  private readonly tracked = new Set<string>()
  /** Fork watching, when the source does not watch its own logs (src/net/fork-watch.ts). */
  private forks: ForkWatch | null = null
  /** Every core of the database this swarm keeps open (the request watchdog looks at these). */
  private readonly cores = new Map<string, Hypercore>()
  private watchdog: PeerWatchdog | null = null
  private readonly downloads: Array<{ close (): void }> = []
  private source: SwarmSource | null = null
  private refreshTimer: NodeJS.Timeout | null = null
  private refreshing = false
  private refreshAgain = false
  private readonly onIndexAppend = (): void => this.scheduleRefresh()

  constructor (store: Corestore, key: Buffer | string, opts: SwarmOptions = {}) {
    super()
    this.store = store
    this.key = typeof key === 'string' ? Buffer.from(key, 'hex') : key
    if (this.key.length !== 32) throw new InvalidArgumentError('DatabaseSwarm needs the 32-byte index public key')
    this.opts = checkSwarmOptions(opts)
  }

  /** The open connections. */
  get connections (): SwarmConnection[] { return [...this.conns] }
  /** This swarm's public key (how peers see it). */
  get publicKey (): Buffer | null { return this.swarm?.keyPair?.publicKey ?? null }
  /** The swarm topic: the index core's discovery key. */
  get topic (): Buffer | null { return this.indexCore?.discoveryKey ?? null }

  /** Joins the swarm on the index's discovery key; ready() runs it once. Does not wait for peers: see flushed(). */
  protected override async _open (): Promise<void> {
    await this.openOrRelease(async () => { await this.join() })
  }

  private async join (): Promise<void> {
    if (this.opts.local === true) {
      this.localNet = LOCAL_TESTNET.acquire('local', () => createTestnet(3, { host: '127.0.0.1' }))
      this.opts = { ...this.opts, bootstrap: (await this.localNet.value).bootstrap, host: '127.0.0.1' }
    }
    const core = this.store.get({ key: this.key })
    this.indexCore = core
    await core.ready()
    if (this.stopping) throw new ClosedError('swarm')
    // One identity per storage, the same after every restart: the DHT then replaces this
    // peer's announcement instead of piling up records of dead identities, which every
    // lookup tries one by one (measured in `npm run soak`: an executor restarted 13 times
    // with fresh keys took 24 s, and growing, until its participant reached it again).
    const keyPair = this.opts.keyPair ?? await this.store.createKeyPair(SWARM_KEY_PAIR_NAME)
    const swarm = new Hyperswarm({ dht: this.makeDht(), keyPair })
    this.swarm = swarm
    swarm.on('connection', (conn: SwarmConnection, info: PeerInfo) => this.onConnection(conn, info))
    this.cores.set(core.key.toString('hex'), core)
    await this.startWatchdog()
    this.discovery = swarm.join(core.discoveryKey, { server: this.opts.server !== false, client: this.opts.client !== false })
    // reads that wait for peers (update({ wait: true }), get) wait until the first lookup is done
    const done = this.store.findingPeers()
    swarm.flush().then(done, done)
  }

  private makeDht (): HyperDHT | undefined {
    if (this.opts.dht !== undefined) return this.opts.dht
    if (this.opts.bootstrap === undefined && this.opts.host === undefined) return undefined
    // A node bound to loopback is reachable by every peer it can ever meet (same machine):
    // no holepunching. Holepunching between two loopback processes was measured to leave
    // about one connection in four open on one side only, until a 13 s timeout.
    const firewalled = this.opts.firewalled ?? !isLoopback(this.opts.host)
    const dht = new HyperDHT({ bootstrap: this.opts.bootstrap, host: this.opts.host, firewalled })
    this.ownDht = dht
    return dht
  }

  private onConnection (conn: SwarmConnection, info: PeerInfo): void {
    if (this.stopping) { conn.destroy(); return }
    this.conns.add(conn)
    conn.on('error', (err: Error) => this.emit('peer-error', err, info))
    conn.once('close', () => {
      this.conns.delete(conn)
      if (!this.stopping) this.emit('peer-remove', info)
    })
    this.store.replicate(conn)
    this.guard(conn)
    this.emit('connection', conn, info)
  }

  /** Drop the connection unless the peer opens the index's replication channel in time. */
  private guard (conn: SwarmConnection): void {
    const ms = this.opts.handshakeTimeoutMs ?? 5000
    const timer = setTimeout(() => {
      if (this.stopping || this.replicatesIndex(conn)) return
      conn.destroy(new NetworkError('PEER_TIMEOUT', `The peer did not open the database's replication channel within ${ms} ms`))
    }, ms)
    timer.unref()
    conn.once('close', () => clearTimeout(timer))
  }

  private async startWatchdog (): Promise<void> {
    const timeoutMs = this.opts.requestTimeoutMs ?? 10_000
    if (timeoutMs <= 0) return
    this.watchdog = new PeerWatchdog({
      timeoutMs,
      cores: () => this.cores.values(),
      // the drop reaches 'peer-error' through the connection's own 'error' event
      owns: stream => this.conns.has(stream as SwarmConnection)
    })
    await this.watchdog.ready()
  }

  private replicatesIndex (conn: SwarmConnection): boolean {
    const id = this.indexCore?.discoveryKey
    // a channel is `opened` once both sides opened it (the remote's capability checked)
    return id !== undefined && conn.userData?.getLastChannel({ protocol: 'hypercore/alpha', id })?.opened === true
  }

  /**
   * Start keeping every core of `source` open and replicated: the index, the oplogs
   * open now, and every oplog the index declares, now and whenever the index grows.
   */
  track (source: SwarmSource): void {
    if (this.stopping) throw new ClosedError('swarm')
    if (this.source !== null) throw new InvalidArgumentError('This swarm already tracks a database')
    if (!source.index.key.equals(this.key)) throw new InvalidArgumentError('The database is not the one this swarm was made for')
    this.source = source
    this.watch(source.index.core, 'index')
    for (const o of source.oplogs) this.watch(o.core, 'oplog')
    source.index.core.on('append', this.onIndexAppend)
    this.scheduleRefresh(0)
  }

  private scheduleRefresh (delay = this.opts.refreshDelayMs ?? 50): void {
    if (this.stopping || this.source === null) return
    if (this.refreshing) { this.refreshAgain = true; return }
    if (this.refreshTimer !== null) return
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null
      void this.runRefresh()
    }, delay)
  }

  private async runRefresh (): Promise<void> {
    this.refreshing = true
    try {
      await this.openDeclared()
    } catch (err) {
      if (!this.stopping) this.emit('warning', err)
    } finally {
      this.refreshing = false
      if (this.refreshAgain) { this.refreshAgain = false; this.scheduleRefresh() }
    }
  }

  /** Open every oplog the index declares (a writer's executor opens its own; only the watchers are synced then). */
  private async openDeclared (): Promise<void> {
    const source = this.source as SwarmSource
    if (!source.index.writable) {
      for (const rec of await source.index.inputs()) {
        if (this.stopping) return
        await source.openOplog(rec.pubkey)
      }
    }
    for (const o of source.oplogs) if (!this.stopping) this.watch(o.core, 'oplog')
  }

  private watch (core: Hypercore, role: LogForkSource['role']): void {
    const hex = core.key.toString('hex')
    if (this.tracked.has(hex) || this.stopping) return
    this.tracked.add(hex)
    if (!this.cores.has(hex)) this.cores.set(hex, core)
    if (role === 'oplog') this.emit('oplog', hex)
    if (role === 'oplog' && this.eager()) this.downloadSized(core)
    if (this.opts.detectForks === false || this.source?.watchesForks === true) return
    if (this.forks === null) {
      const forks = new ForkWatch({ reopen: key => this.store.get({ key }) })
      forks.on('fork', (proof: LogForkFraudProof, source: LogForkSource) => { if (!this.stopping) this.emit('log-fork', proof, source) })
      forks.on('warning', (err: Error) => { if (!this.stopping) this.emit('warning', err) })
      this.forks = forks
    }
    this.forks.watch(core, role)
  }

  /** Download an oplog in full and live, except blocks over the database's maxOpBytes (sizes before bytes). */
  private downloadSized (core: Hypercore): void {
    const max = this.source?.maxOpBytes ?? (async () => DEFAULT_MAX_OP_BYTES)
    void max().then(bytes => {
      if (this.stopping) return
      const d = new SizedDownload(core, { max: bytes })
      d.start()
      this.downloads.push(d)
    }, (err: Error) => { if (!this.stopping) this.emit('warning', err) })
  }

  /** Keep full, live copies of the oplogs: the executor reads every op anyway (saves a round trip per op). */
  private eager (): boolean {
    return this.opts.eagerOplogs ?? this.source?.index.writable === true
  }

  /**
   * Announce and look up peers again now (Hyperswarm does so every 10 minutes): for a
   * peer that found nobody, since two peers that join at the same moment can miss each
   * other's announcement. Resolves once done.
   */
  async rediscover (): Promise<void> {
    await this.ready()
    await this.discovery?.refresh()
  }

  /** Resolves once this peer is announced and the peers found so far were tried. */
  async flushed (): Promise<void> {
    await this.ready()
    await this.discovery?.flushed()
    await this.swarm?.flush()
  }

  /** Leaves the swarm, destroys it (and the DHT node it made), closes every connection, stops the fork watchers; close() runs it once. */
  protected override async _close (): Promise<void> {
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer)
    this.refreshTimer = null
    this.source?.index.core.removeListener('append', this.onIndexAppend)
    await this.watchdog?.close()
    await this.discovery?.destroy()
    await this.swarm?.destroy()
    await this.ownDht?.destroy()
    await this.localNet?.release()
    for (const c of this.conns) c.destroy()
    this.conns.clear()
    for (const d of this.downloads.splice(0)) d.close()
    await this.forks?.close()
    this.tracked.clear()
    this.cores.clear()
    await this.indexCore?.close()
  }
}

function isLoopback (host: string | undefined): boolean {
  return host !== undefined && (host === 'localhost' || host === '::1' || host.startsWith('127.'))
}
