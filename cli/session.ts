/**
 * Session: the global options of a `vitra` invocation and the database it works
 * on. A scriptable command opens the database, does one thing and closes it; the
 * REPL keeps one session (and its database) open across commands.
 *
 * Network policy: the executor's own directory never joins the swarm unless the
 * command needs it (`host`, `load`); a reader or remote participant joins it
 * (to fetch what it reads) unless `--offline`. Every wait on the network or on
 * the executor is bounded by `--timeout`.
 */
import { existsSync } from 'fs'
import { join, resolve } from 'path'
import { Database, LogForkFraudProof, StorageInMemory } from '../src/index.js'
import { CliError } from './errors.js'
import { Output } from './output.js'
import { parseBootstrap } from './params.js'
import { Records } from './records.js'
import { claimOwnership, findOwner, OwnedError, type OwnerRecord, type OwnerRunner, type Ownership } from './owner.js'
import { updateWithin } from '../src/net/peer-wait.js'
import { httpOrigin } from '../src/net/http-replication.js'
import { remoteHeads } from '../src/holepunch/core-internals.js'

/** Options every command takes (see main.ts). */
export interface GlobalOptions {
  /** The database directory. */
  dir: string
  json: boolean
  debug: boolean
  /** Never join the swarm. */
  offline: boolean
  /** Explicit bootstrap nodes (`--bootstrap` or VITRA_BOOTSTRAP); else the directory's cli.json, else the public DHT. */
  bootstrap?: string
  /** Hosts to replicate with over HTTP instead of the swarm (`--from`, VITRA_FROM); else the directory's cli.json. */
  from?: string[]
  /** Address the DHT node binds to (`--dht-host`, VITRA_DHT_HOST or VITRA_HOST). */
  host?: string
  /** Options given under an old name (`--host`): the warning to print. */
  renamed: string[]
  /** Bound on waits for peers and for the executor, in ms. */
  timeout: number
  /** `vitra verify` off a terminal: a progress line on stderr this often (VITRA_PROGRESS_MS; 0: none). */
  progressMs: number
}

/** Raw option values as commander gives them. */
export interface RawGlobals { dir?: string, json?: boolean, debug?: boolean, offline?: boolean, bootstrap?: string, from?: string[], dhtHost?: string, host?: string, timeout?: string }

export const DEFAULT_TIMEOUT = 30_000

export function resolveGlobals (raw: RawGlobals, env: NodeJS.ProcessEnv = process.env): GlobalOptions {
  const timeout = raw.timeout === undefined ? Number(env.VITRA_TIMEOUT ?? DEFAULT_TIMEOUT) : Number(raw.timeout)
  if (!Number.isSafeInteger(timeout) || timeout <= 0) throw new CliError('USAGE', `--timeout must be a positive number of milliseconds, got "${raw.timeout ?? env.VITRA_TIMEOUT ?? ''}"`, 2)
  const bootstrap = raw.bootstrap ?? nonEmpty(env.VITRA_BOOTSTRAP)
  if (bootstrap !== undefined) parseBootstrap(bootstrap) // fail early on a malformed list
  return {
    dir: resolve(raw.dir ?? nonEmpty(env.VITRA_DIR) ?? '.vitra'),
    json: raw.json === true,
    debug: raw.debug === true || env.VITRA_DEBUG === '1',
    offline: raw.offline === true,
    bootstrap,
    from: fromUrls(raw.from, env.VITRA_FROM),
    host: raw.dhtHost ?? raw.host ?? nonEmpty(env.VITRA_DHT_HOST) ?? nonEmpty(env.VITRA_HOST),
    renamed: raw.host !== undefined && raw.dhtHost === undefined ? ['--host is now --dht-host (the address the DHT node binds to)'] : [],
    timeout,
    progressMs: Number(env.VITRA_PROGRESS_MS ?? 5000)
  }
}

/** `--from` URLs (repeatable, or comma-separated), else VITRA_FROM; each an http:// origin. */
function fromUrls (given: string[] | undefined, env: string | undefined): string[] | undefined {
  const list = (given !== undefined && given.length > 0 ? given : [nonEmpty(env) ?? '']).flatMap(v => v.split(',')).map(v => v.trim()).filter(v => v !== '')
  if (list.length === 0) return undefined
  return list.map(u => {
    try {
      return httpOrigin(u)
    } catch {
      throw new CliError('USAGE', `--from takes http://host:port URLs (where a vitra serve listens), not "${u}"`, 2)
    }
  })
}

function nonEmpty (s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s.trim()
}

export interface OpenOptions {
  /** 'auto' (default): join the swarm unless this directory is the executor; 'always'; 'never'. --offline wins. */
  network?: 'auto' | 'always' | 'never'
  /** After joining: 'head' (default) brings the latest index head, 'all' downloads every log, 'none'. */
  sync?: 'none' | 'head' | 'all'
  /** Announce this peer on the DHT (long-running commands: host, monitor). */
  announce?: boolean
}

/** How long a command waits for a directory another process holds to get an owner (or be let go) before failing. */
const LOCK_WAIT_MS = 5000

export interface SessionOptions {
  keepOpen?: boolean
  out?: Output
  /** The command line, for owner.json (`vitra host`). */
  command?: string
  /** Runs the commands other processes send once this session owns its directory (main.ts). */
  runner?: (s: Session) => OwnerRunner
  /** A command run for another process: the owner's open database, never closed here. */
  borrow?: { db: Database, owner: OwnerRecord | null }
  /** Where relative paths resolve (a caller's working directory). */
  cwd?: string
  /** Stops long commands (verify, monitor) early: the caller's Ctrl-C. */
  signal?: AbortSignal
}

export class Session {
  opts: GlobalOptions
  out: Output
  /** The open database, if any. */
  db: Database | null = null
  /** The REPL keeps the database open between commands. */
  readonly keepOpen: boolean
  /** Log forks seen while replicating (each already printed and saved), for verify and monitor to report. */
  readonly forks: Array<{ proof: LogForkFraudProof, file: string }> = []
  /** Where relative paths resolve. */
  readonly cwd: string
  /** Set when the caller asks a long command (verify, monitor) to stop. */
  readonly signal: AbortSignal | undefined
  /** The owner this command runs in for another process (null: it runs on its own). */
  readonly ranFor: OwnerRecord | null
  private readonly borrowed: boolean
  private readonly command: string
  private readonly runner: ((s: Session) => OwnerRunner) | null
  private ownership: Ownership | null = null
  private memory: StorageInMemory | null = null
  private memoryName: string | null = null
  private unbounded = false
  private watchdog: NodeJS.Timeout | null = null
  private stall: (err: Error) => void = () => {}
  /**
   * Rejects when a command on a database whose data comes from peers makes no
   * progress for --timeout ms (a block no online peer serves would wait forever).
   * `run` in main.ts races every command against it.
   */
  readonly stalled: Promise<never> = new Promise<never>((_resolve, reject) => { this.stall = reject })

  constructor (opts: GlobalOptions, o: SessionOptions = {}) {
    this.stalled.catch(() => {}) // only meaningful to the race in main.ts
    this.opts = opts
    this.keepOpen = o.keepOpen === true
    this.out = o.out ?? new Output({ json: opts.json })
    this.cwd = o.cwd ?? process.cwd()
    this.signal = o.signal
    this.command = o.command ?? 'vitra'
    this.runner = o.runner ?? null
    this.borrowed = o.borrow !== undefined
    this.ranFor = o.borrow?.owner ?? null
    if (o.borrow !== undefined) this.borrowDb(o.borrow.db)
  }

  /** A session on another directory for the same command (serve's databases), owning it as this one would. */
  sub (dir: string): Session {
    return new Session({ ...this.opts, dir }, { out: this.out, command: this.command, runner: this.runner ?? undefined, cwd: this.cwd })
  }

  /** A path the user gave, resolved against their working directory. */
  path (p: string): string { return resolve(this.cwd, p) }

  /** This process owns the directory (other commands on it run here), when it does. */
  get owner (): Ownership | null { return this.ownership }

  /** True while working on a throwaway in-memory database (`vitra test`). */
  get isMemory (): boolean { return this.memory !== null }
  /** Where the database and the CLI's records live. */
  get dataDir (): string { return this.memory !== null ? this.memory.dir : this.opts.dir }
  /** A label for messages: the directory, or the throwaway database's contract. */
  get label (): string { return this.memoryName !== null ? `throwaway database (${this.memoryName})` : this.opts.dir }
  get records (): Records { return new Records(this.dataDir) }

  /** True when the directory holds a database (or a throwaway one is open). */
  hasDatabase (): boolean {
    return this.memory !== null || existsSync(join(this.opts.dir, 'vitra.json'))
  }

  requireDatabase (): void {
    if (this.hasDatabase()) return
    throw new CliError('NO_DATABASE', `No database in ${this.opts.dir}: create one with \`vitra init <contract.js>\`, follow one with \`vitra load <pubkey>\`, or point --dir (or VITRA_DIR) at one`)
  }

  /** Swarm settings: explicit options, else those remembered in the directory's cli.json. */
  swarmOptions (): { bootstrap?: Array<{ host: string, port: number }>, host?: string } {
    const saved = this.memory === null && existsSync(this.records.configFile) ? this.records.readConfig() : {}
    const bootstrap = this.opts.bootstrap ?? saved.bootstrap
    const host = this.opts.host ?? saved.host
    return { ...(bootstrap !== undefined ? { bootstrap: parseBootstrap(bootstrap) } : {}), ...(host !== undefined ? { host } : {}) }
  }

  /** The HTTP hosts to replicate with instead of the swarm: `--from`, else those `vitra load --from` remembered. */
  httpHosts (): string[] | undefined {
    if (this.opts.from !== undefined) return this.opts.from
    const saved = this.memory === null && existsSync(this.records.configFile) ? this.records.readConfig() : {}
    return saved.from
  }

  /** Open (or reuse) the database, join the swarm and sync as asked. */
  async open (o: OpenOptions = {}): Promise<Database> {
    if (this.db === null) {
      this.requireDatabase()
      this.attach(await this.loading(this.loadDir()))
      await this.claim()
    }
    const db = this.db as Database
    const network = o.network ?? 'auto'
    // a borrowed database stays on the network its owner chose
    const join = !this.opts.offline && this.memory === null && !this.borrowed && (network === 'always' || (network === 'auto' && !db.isExecutor))
    const http = join ? this.httpHosts() : undefined
    if (http !== undefined) {
      if (db.httpSync === null) db.syncFrom(http) // over HTTP instead of the swarm (src/net/http-replication.ts)
    } else if (join && db.network === null) {
      // short-lived commands look up peers without announcing themselves (no stale records on the DHT)
      await db.swarm({ ...this.swarmOptions(), server: o.announce === true })
    }
    if (join && o.sync !== 'none') {
      await this.bounded(this.syncHead(db), 'peers to serve the latest index')
      if (o.sync === 'all') prefetch(db)
    }
    if (db.executor !== null) await this.bounded(db.executor.sync(), 'the executor to process pending ops')
    if (!db.isExecutor && this.memory === null) this.arm()
    return db
  }

  /**
   * Load the directory's database. When another process holds it: OwnedError naming
   * that owner (main.ts then runs the command there); while it is only starting or
   * stopping (locked, no owner.json yet or any more), wait for one or the other.
   */
  private async loadDir (): Promise<Database> {
    const until = Date.now() + Math.min(this.opts.timeout, LOCK_WAIT_MS)
    for (;;) {
      try {
        return await Database.load(this.opts.dir)
      } catch (err) {
        if (!isLockError(err)) throw err
        const owner = findOwner(this.opts.dir)
        if (owner !== null) throw new OwnedError(this.opts.dir, owner)
        if (Date.now() > until) throw err
        await sleep(50)
      }
    }
  }

  /** Become the directory's owner: other commands on it run in this process (cli/owner.ts). */
  private async claim (): Promise<void> {
    if (this.runner === null || this.borrowed || this.memory !== null || this.db === null || this.ownership !== null) return
    this.ownership = await claimOwnership(this.opts.dir, { command: this.command, database: this.db.pubkey.toString('hex') }, this.runner(this))
  }

  /** The command runs as long as it likes (host, monitor, verify, the REPL): no stall watchdog. */
  longRunning (): void {
    this.unbounded = true
    this.disarm()
  }

  /** Stop the stall watchdog (before a wait that is bounded on its own). */
  disarm (): void {
    if (this.watchdog !== null) clearTimeout(this.watchdog)
    this.watchdog = null
  }

  private arm (): void {
    if (this.unbounded || this.keepOpen || this.watchdog !== null) return
    this.watchdog = setTimeout(() => {
      this.stall(new CliError('STALLED', `No peer served the data this command needs within ${this.opts.timeout} ms: the database's peers seem to be offline (try again later, or wait longer with --timeout)`))
    }, this.opts.timeout)
    this.watchdog.unref()
  }

  /**
   * Catch up with the peers that answer: wait for a first connection (or the end
   * of the DHT lookup without one), for a peer to tell its index length, and for
   * that head when it is ahead. Then re-read participants and contract.
   * (db.sync() waits for the whole swarm flush, seconds longer.)
   */
  async syncHead (db: Database): Promise<void> {
    const net = db.network
    if (net === null && db.httpSync !== null) { // over HTTP: an update waits for the hosts' first answers
      await updateWithin(db.index.core, { ms: this.opts.timeout, what: 'the index head' }).catch(() => this.out.warn('no HTTP host answered in time; using local data'))
      await db.refresh()
      return
    }
    if (net === null) return
    const core = db.index.core
    const deadline = Date.now() + this.opts.timeout // every loop here ends by it (src/net/peer-wait.ts)
    const lookup = net.flushed().then(() => 'done' as const)
    while (net.connections.length === 0) {
      if (await Promise.race([lookup, sleep(20)]) === 'done' && net.connections.length === 0) {
        await this.fromServers(db)
        return
      }
      if (Date.now() > deadline || db.closed) return
    }
    while (!remoteHeads(core).some(p => p.synced)) {
      if (Date.now() > deadline || db.closed) return
      await sleep(20)
    }
    const remote = Math.max(...remoteHeads(core).map(p => p.length))
    if (remote > core.length) await updateWithin(core, { ms: Math.max(1, deadline - Date.now()), what: 'the index head' })
    await db.refresh()
  }

  /**
   * No peer on the swarm: sync over HTTP from the primary servers the database recorded
   * (`/.sys/servers`, set by its contract with tx.setServers), when it names any.
   */
  private async fromServers (db: Database): Promise<void> {
    const urls = db.httpSync === null ? (await db.servers()).filter(u => u.startsWith('http://')) : [] // https needs a TLS proxy's client: not yet
    if (urls.length === 0) { this.out.warn('no peer of this database is online; using local data'); return }
    this.out.warn(`no peer of this database is online on the swarm; syncing over HTTP from its servers (${urls.join(', ')})`)
    db.syncFrom(urls)
    await updateWithin(db.index.core, { ms: this.opts.timeout, what: 'the index head' }).catch(() => this.out.warn('no server answered in time; using local data'))
    await db.refresh()
  }

  /** Follow a database that is not in the directory yet: load it by key over the swarm. */
  async follow (pubkey: string): Promise<Database> {
    if (this.db !== null) throw new CliError('DATABASE_OPEN', `A database is already open (${this.db.pubkey.toString('hex')})`)
    const http = this.httpHosts()
    const network = http !== undefined ? { from: http } : { swarm: true, ...this.swarmOptions() }
    const db = await this.loading(Database.load(this.opts.dir, pubkey, { ...network, timeout: this.opts.timeout }))
    this.attach(db)
    await this.claim()
    return db
  }

  /** Work on a throwaway database in memory (deleted on close). */
  async useMemory (source: string, name: string): Promise<Database> {
    await this.close()
    const storage = new StorageInMemory()
    const db = await Database.create(storage, { contract: { source } })
    this.memory = storage
    this.memoryName = name
    this.attach(db)
    return db
  }

  /** Switch to another directory (REPL `.use`). */
  async useDir (dir: string): Promise<void> {
    await this.close()
    this.opts = { ...this.opts, dir: this.path(dir) }
  }

  /** A load refused with a fork proof: the proof is saved and reported like one seen later (exit 3). */
  private async loading (p: Promise<Database>): Promise<Database> {
    try {
      return await p
    } catch (err) {
      if (err instanceof LogForkFraudProof) this.recordFork(err, { key: err.key, role: 'index' })
      throw err
    }
  }

  recordFork (proof: LogForkFraudProof, source: { key: string, role: string }): void {
    const file = this.records.saveFraud(proof.toJSON())
    this.forks.push({ proof, file })
    this.out.error(`FRAUD: the ${source.role} log ${source.key} forked (it signed two histories); proof saved to ${file}`)
  }

  /** Work on the owner's open database (a command run for another process): forks seen meanwhile count for it. */
  private borrowDb (db: Database): void {
    this.db = db
    const onFork = (proof: LogForkFraudProof, source: { key: string, role: string }): void => this.recordFork(proof, source)
    db.on('log-fork', onFork)
    this.unborrow = () => db.off('log-fork', onFork)
  }

  private unborrow: () => void = () => {}

  private attach (db: Database): void {
    this.db = db
    db.executor?.on('error', (err: Error) => this.out.warn(`executor: ${err.message}`))
    db.on('warning', (err: Error) => { if (this.opts.debug) this.out.warn(err.message) })
    for (const f of db.forks) this.recordFork(f.proof, f.source) // seen while it opened
    db.on('log-fork', (proof: LogForkFraudProof, source: { key: string, role: string }) => this.recordFork(proof, source))
  }

  /** Wait for `p` at most --timeout ms; on timeout warn and go on with what is local. */
  async bounded (p: Promise<unknown>, what: string): Promise<boolean> {
    let timer: NodeJS.Timeout | null = null
    const timedOut = new Promise<'timeout'>(resolve => { timer = setTimeout(() => resolve('timeout'), this.opts.timeout) })
    p.catch(() => undefined) // a late failure after the timeout is not news
    try {
      if (await Promise.race([p, timedOut]) === 'timeout') {
        this.out.warn(`gave up waiting for ${what} after ${this.opts.timeout} ms; going on with local data`)
        return false
      }
      return true
    } finally {
      if (timer !== null) clearTimeout(timer)
    }
  }

  /** After a command: close the database unless the session keeps it. */
  async release (): Promise<void> {
    if (!this.keepOpen) await this.close()
  }

  /** Close the database (a throwaway one is deleted). Idempotent. */
  async close (): Promise<void> {
    this.disarm()
    const db = this.db
    this.db = null
    this.memory = null
    this.memoryName = null
    if (this.borrowed) { this.unborrow(); return } // the owner's, not ours to close
    const ownership = this.ownership
    this.ownership = null
    await ownership?.close() // the commands run for others end first
    await db?.close()
  }
}

/** RocksDB (under Corestore) reports a held lock without a code: message text is all there is. */
export function isLockError (err: unknown): boolean {
  return /could not be locked/i.test(String((err as { message?: unknown } | null)?.message ?? ''))
}

/** Start downloading every log in the background (the verifier also fetches what it misses, block by block). */
function prefetch (db: Database): void {
  for (const core of [db.index.core, ...db.oplogs.map(o => o.core)]) {
    if (core.length > 0 && !core.writable) core.download({ start: 0, end: core.length })
  }
}

function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}
