/**
 * `vitra serve [dirs…] [--root DIR]`: keep one or more databases online (each as
 * `vitra host` keeps one: the executor where the directory holds the index key, the
 * swarm unless --offline, a monitor that alerts as `vitra monitor` does: prints the
 * violation, saves the proof under <dir>/fraud/, runs --on-violation) and serve them over the HTTP API
 * (src/http/api.ts, JSON under /v1) on 127.0.0.1:8686 unless told otherwise, until
 * SIGINT or SIGTERM. Then it stops taking requests, lets those in flight finish (a
 * call waiting for its result gets it), closes the databases and exits 0.
 *
 * Which databases: the directories given, plus every directory under --root that
 * holds one; with neither, the one in --dir. The host owns each served directory
 * (cli/owner.ts): its owner.json names the URL, and the other CLI commands on the
 * directory run in the host.
 *
 * The bearer token of `call` is one per host: `<root>/http-token` with --root, else
 * `http-token` in the first directory served (mode 0600, made at the first start).
 */
import { randomBytes } from 'crypto'
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'fs'
import { join, resolve } from 'path'
import type { Database } from '../../src/index.js'
import { createApi } from '../../src/http/api.js'
import { CliError, EXIT, usageError } from '../errors.js'
import { Session } from '../session.js'
import { untilStopped } from './host.js'
import { runHook } from './verify.js'
import { txRecord } from './data.js'
import { followInto } from './database.js'
import { parseCount, parseKey } from '../params.js'
import { BoundedMirror } from '../../src/net/mirror.js'

export interface ServeOptions {
  dirs?: string[]
  root?: string
  port?: string
  httpHost?: string
  /** Keys of databases to serve by key (a gateway): fetched from the swarm into <root or ./.vitra-follow>/<key>. */
  follow?: string[]
  /** Keep only the newest N index entries of the databases served as readers (`--mirror-last`). */
  mirrorLast?: string
  /** Calls without the bearer token (`--no-auth`). */
  noAuth?: boolean
  onViolation?: string
  /** The least time between two rounds of checkpoint submissions to the witnesses (`--checkpoint-interval`, ms). */
  checkpointIntervalMs?: number
  signal?: AbortSignal
}

/**
 * The bearer token of `call` kept in `file` (`http-token`, mode 0600), or a new one;
 * `save` writes a new one, once the server listens (a start that fails leaves no file).
 */
export function httpToken (file: string): { token: string, save: () => void } {
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim()
    if (/^[0-9a-f]{64}$/.test(token)) return { token, save: () => chmodSync(file, 0o600) } // also when it had other bits
  }
  const token = randomBytes(32).toString('hex')
  return {
    token,
    save: () => {
      writeFileSync(file, token + '\n', { mode: 0o600 })
      chmodSync(file, 0o600)
    }
  }
}

/** Whether an HTTP address reaches this machine only. */
function loopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

export const TOKEN_FILE = 'http-token'

/** Where `--follow <key>` keeps its copy without --root: `./.vitra-follow/<key>`. */
export const FOLLOW_DIR = '.vitra-follow'

/** A directory to serve; `follow`: the key of a database to fetch into it by key when it holds none yet. */
export interface Served { dir: string, follow?: string }

/**
 * The directories to serve: those given, then each database directory under root (sorted),
 * then one per followed key (`<root>/<key>`, else `./.vitra-follow/<key>`); with none, --dir.
 */
export function servedDirs (defaultDir: string, dirs: string[] = [], root?: string, follow: string[] = []): Served[] {
  const keys = follow.map(k => parseKey(k, '--follow key'))
  const base = root !== undefined ? resolve(root) : resolve(FOLLOW_DIR)
  const followed = keys.map(key => ({ dir: join(base, key), follow: key }))
  const out: Served[] = dirs.map(d => ({ dir: resolve(d) }))
  if (root !== undefined) {
    const r = resolve(root)
    if (!existsSync(r)) throw usageError(`--root ${root}: no such directory`)
    const found = readdirSync(r, { withFileTypes: true })
      .filter(e => e.isDirectory() && existsSync(join(r, e.name, 'vitra.json')))
      .map(e => join(r, e.name)).sort()
      .filter(d => !followed.some(f => f.dir === d)) // a key followed before: its copy is under root already
    if (found.length === 0 && followed.length === 0) throw new CliError('NO_DATABASE', `No database directory under ${r} (each needs a vitra.json: \`vitra init\` or \`vitra load\` in it)`)
    out.push(...found.map(dir => ({ dir })))
  }
  out.push(...followed)
  if (out.length === 0) out.push({ dir: defaultDir })
  const seen = new Set<string>()
  for (const { dir } of out) {
    if (seen.has(dir)) throw usageError(`${dir} is given twice`)
    seen.add(dir)
  }
  return out
}

export async function serveCommand (s: Session, o: ServeOptions = {}): Promise<number> {
  const port = Number(o.port ?? 8686)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--port must be a port number (0-65535), not ${String(o.port)}`)
  const host = o.httpHost ?? '127.0.0.1'
  const served = servedDirs(s.opts.dir, o.dirs, o.root, o.follow)
  const dirs = served.map(d => d.dir)
  if (s.opts.offline && served.some(d => d.follow !== undefined && !existsSync(join(d.dir, 'vitra.json')))) {
    throw usageError('--follow fetches a database by its key from the swarm: drop --offline (or serve a copy made before)')
  }
  const mirrorLast = o.mirrorLast === undefined ? null : parseCount(o.mirrorLast, '--mirror-last', 1)
  s.longRunning()
  const sessions: Session[] = []
  const mirrors = new Map<Database, BoundedMirror>()
  try {
    const databases: Database[] = []
    for (const { dir, follow } of served) {
      const sub = s.sub(dir)
      sessions.push(sub)
      sub.longRunning()
      if (follow !== undefined && !sub.hasDatabase()) await followInto(sub, follow) // a gateway: fetched by key, served read-only
      const db = await sub.open({ network: 'always', sync: 'none', announce: true })
      if (follow !== undefined && db.pubkey.toString('hex') !== follow) throw new CliError('DATABASE_EXISTS', `${dir} holds database ${db.pubkey.toString('hex')}, not ${follow}`)
      if (!db.isExecutor) await sub.bounded(sub.syncHead(db), 'peers to serve the latest index') // a reader serves the newest head it can get (swarm or --from)
      const key = db.pubkey.toString('hex')
      const twin = databases.findIndex(d => d.pubkey.equals(db.pubkey))
      if (twin !== -1) throw usageError(`${dirs[twin]} and ${dir} hold the same database ${key}: serve one of them`)
      databases.push(db)
      if (mirrorLast !== null) {
        if (db.isExecutor) throw usageError(`${dir} is the executor's directory: it keeps its whole history (--mirror-last is for copies of other databases)`)
        const mirror = new BoundedMirror(db.index.core, mirrorLast) // src/net/mirror.ts: newest N entries on disk, older ones fetched on demand
        await mirror.ready()
        mirrors.set(db, mirror)
        continue // no monitor, no SQL read model: both read the whole history
      }
      void db.sql // the SQL read model follows the index while served (GET|POST …/query)
    }
    const tokenFile = join(o.root !== undefined ? resolve(o.root) : dirs[0]!, TOKEN_FILE)
    const auth = o.noAuth === true ? null : httpToken(tokenFile)
    const token = auth?.token ?? null
    let url = ''
    const hooks: Array<Promise<void>> = []
    const app = await createApi({
      databases,
      token,
      monitor: db => !mirrors.has(db), // a bounded mirror cannot replay: it follows the signed heads and serves proofs
      checkpointIntervalMs: o.checkpointIntervalMs,
      onWitnessWarning: (db, err) => { s.out.warn(`witness, for ${db.pubkey.toString('hex').slice(0, 8)}…: ${err.message}`) },
      // as `vitra monitor` alerts: print the violation, save the proof under <dir>/fraud/; the host keeps serving it
      // a call made through the API is tracked in the directory as `vitra call` tracks one (vitra tx list)
      onCall: (db, tx, results) => {
        const rec = txRecord(db.pubkey.toString('hex'), tx, results)
        if (rec !== null) sessions[databases.indexOf(db)]!.records.saveTx(rec)
      },
      onViolation: (db, proof) => {
        const json = proof.toJSON()
        const i = databases.indexOf(db)
        const file = sessions[i]!.records.saveFraud(json)
        const key = db.pubkey.toString('hex')
        s.out.error(`FRAUD in ${key}: ${json.details.code} at index seq ${json.details.seq}; proof saved to ${file}, listed by GET ${url}/v1/databases/${key}/fraud-proofs`) // url is '' while the monitor catches up before listening
        if (o.onViolation !== undefined) hooks.push(runHook(s, o.onViolation, json, { file, code: json.details.code, database: key }))
      }
    })
    await app.listen({ port, host })
    auth?.save()
    if (token === null && !loopback(host)) s.out.warn(`calls are open to anyone who reaches ${host} (--no-auth on an address beyond this machine): anyone on the network can write through this host`)
    const address = app.server.address()
    const actual = typeof address === 'object' && address !== null ? address.port : port
    url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`
    for (const sub of sessions) sub.owner?.update({ url }) // owner.json: who serves the directory, and where
    const callers = token === null ? 'calls are open (--no-auth)' : `calls need the bearer token in ${tokenFile}`
    const offline = databases[0]!.network === null ? ' (offline: not on the swarm)' : ''
    const listed = databases.map((db, i) => ({ key: db.pubkey.toString('hex'), dir: dirs[i], role: db.isExecutor ? 'executor' : db.isParticipant ? 'participant' : 'reader' }))
    if (databases.length === 1) {
      const only = listed[0]!
      const key = only.key
      s.out.event({ event: 'serving', url, database: key, databases: listed, role: only.role, offline: offline !== '' },
        `Serving ${key} at ${url}/v1/databases/${key}${offline}; ${callers}. Ctrl-C to stop.`)
    } else {
      s.out.event({ event: 'serving', url, databases: listed, offline: offline !== '' },
        [`Serving ${databases.length} databases at ${url}/v1/databases${offline}; ${callers}. Ctrl-C to stop.`, ...listed.map(d => `  ${d.key}  ${d.role}  ${d.dir}`)].join('\n'))
    }
    await untilStopped(o.signal)
    await app.close() // no new requests; those in flight finish first
    await Promise.all(hooks) // an --on-violation command still running finishes (each is bounded to 60 s)
  } finally {
    for (const m of mirrors.values()) await m.close()
    for (const sub of sessions) await sub.close()
  }
  s.out.event({ event: 'stopped' }, 'Stopped.')
  return EXIT.OK
}
