/**
 * One owner per directory, every command through it.
 *
 * The storage of a database directory is locked by the process that opens it, so two
 * processes cannot open one database. Whichever `vitra` process opens it first (`serve`,
 * `host`, `monitor`, a REPL, or a short `call`) becomes the directory's owner: it writes
 * `owner.json` (pid, command, socket, and the URL of `serve`) and listens on a Unix socket.
 * Every other `vitra` command on the directory sends its command line there; the owner
 * runs it on its open database with the same code it would run itself and streams the
 * output back, so the output and the exit code are those of the command run alone.
 *
 * Wire: newline-delimited JSON. The client sends one OwnerRequest, later perhaps
 * `{"abort":true}` (Ctrl-C); the owner answers with `{"out":…}` / `{"err":…}` chunks and
 * one final `{"exit":n}`. The socket is private to the user (mode 0600, made under umask
 * 077): whoever can connect could open the directory anyway. An owner.json whose
 * process is gone (killed with -9) is ignored, and its socket replaced.
 */
import { createHash } from 'crypto'
import { chmodSync, existsSync, readFileSync, rmSync } from 'fs'
import { connect, createServer, type Server, type Socket } from 'net'
import { tmpdir } from 'os'
import { join } from 'path'
import { Writable } from 'stream'
import { CliError } from './errors.js'
import { writeFileAtomic } from '../src/logs/atomic-file.js'

export const OWNER_FILE = 'owner.json'
const SOCKET_FILE = 'owner.sock'
/** Longest Unix socket path every platform takes (sun_path is 104–108 bytes). */
const MAX_SOCKET_PATH = 100

export interface OwnerRecord {
  version: 1
  /** The directory owned (a copy of the directory carries the original's owner.json: it is not its owner). */
  dir: string
  pid: number
  /** The command line that owns it, e.g. `vitra host`. */
  command: string
  socket: string
  database: string
  /** `vitra serve`: where its HTTP API listens. */
  url: string | null
  since: string
}

/** A command line sent to the owner, with what the caller's terminal and environment say. */
export interface OwnerRequest {
  version: 1
  argv: string[]
  /** The caller's working directory: relative paths in the command resolve against it. */
  cwd: string
  /** The caller's VITRA_* and NO_COLOR variables. */
  env: Record<string, string>
  tty: { stdout: boolean, stderr: boolean }
  color: boolean
}

/** What the owner gives the command it runs for a caller. */
export interface OwnerIo {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  /** Aborts on the caller's Ctrl-C, when it goes away, or when the owner stops. */
  signal: AbortSignal
}

export type OwnerRunner = (req: OwnerRequest, io: OwnerIo) => Promise<number>

/** The request for `argv` as a caller sends it: its VITRA_* and NO_COLOR settings come along. */
export function ownerRequest (argv: string[], o: { cwd: string, tty: OwnerRequest['tty'], color: boolean }): OwnerRequest {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && (k.startsWith('VITRA_') || k === 'NO_COLOR')) env[k] = v
  return { version: 1, argv, cwd: o.cwd, env, tty: o.tty, color: o.color }
}

/** Whether a stream is a terminal. */
export function isTTY (stream: NodeJS.WritableStream): boolean { return (stream as { isTTY?: boolean }).isTTY === true }

/** The owner of `dir` when it is another live process, else null. */
export function findOwner (dir: string): OwnerRecord | null {
  const file = join(dir, OWNER_FILE)
  if (!existsSync(file)) return null
  let rec: OwnerRecord
  try { rec = JSON.parse(readFileSync(file, 'utf8')) as OwnerRecord } catch { return null }
  if (rec?.version !== 1 || rec.dir !== dir || !Number.isSafeInteger(rec.pid) || typeof rec.socket !== 'string' || typeof rec.command !== 'string') return null
  if (rec.pid === process.pid || !alive(rec.pid)) return null
  return rec
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM' // it exists, owned by someone else
  }
}

/** Who owns a directory, for messages: `process 123 (vitra serve at http://…)`. */
export function describeOwner (rec: OwnerRecord): string {
  return `process ${rec.pid} (\`${rec.command}\`${rec.url === null ? '' : ` at ${rec.url}`})`
}

/** The database is open in another process, which this command cannot go through. */
export class OwnedError extends CliError {
  readonly dir: string
  readonly owner: OwnerRecord
  constructor (dir: string, owner: OwnerRecord, what = 'stop it first') {
    super('DATABASE_OWNED', `The database in ${dir} is open in ${describeOwner(owner)}: ${what}`)
    this.dir = dir
    this.owner = owner
  }
}

/** The owner went away before it answered (it was stopping): open the directory again. */
export class OwnerGoneError extends Error {}

/** The socket path for `dir`: in the directory, or under the temp directory when that path is too long. */
function socketPath (dir: string): string {
  const inDir = join(dir, SOCKET_FILE)
  if (Buffer.byteLength(inDir) <= MAX_SOCKET_PATH) return inDir
  return join(tmpdir(), `vitra-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.sock`)
}

export interface Ownership {
  readonly record: OwnerRecord
  /** Rewrite owner.json (serve: once its URL is known). */
  update: (patch: Partial<Pick<OwnerRecord, 'url'>>) => void
  /** Stop taking commands, remove owner.json, stop the commands running for callers and wait for them. */
  close: () => Promise<void>
}

/**
 * Become the owner of `dir` (whose database this process has just opened, so it
 * holds the storage's lock): listen, then publish owner.json. `run` runs each caller's command.
 */
export async function claimOwnership (dir: string, about: { command: string, database: string }, run: OwnerRunner): Promise<Ownership> {
  const socket = socketPath(dir)
  rmSync(socket, { force: true }) // a socket left by a killed owner: the lock proves it is dead
  const callers: Callers = { closing: false, waiting: new Set(), running: new Set() }
  const server: Server = createServer(conn => serveCaller(conn, run, callers))
  await listenPrivately(server, socket)
  const record: OwnerRecord = { version: 1, dir, pid: process.pid, command: about.command, socket, database: about.database, url: null, since: new Date().toISOString() }
  const file = join(dir, OWNER_FILE)
  const write = (): void => { writeFileAtomic(file, JSON.stringify(record, null, 2) + '\n') }
  write()
  let closing: Promise<void> | null = null
  return {
    record,
    update: patch => { Object.assign(record, patch); if (closing === null) write() },
    close: async () => {
      closing ??= (async () => {
        callers.closing = true
        rmSync(file, { force: true })
        const stopped = new Promise<void>(resolve => server.close(() => resolve()))
        for (const conn of callers.waiting) conn.destroy()
        for (const r of callers.running) r.abort.abort()
        await Promise.all([...callers.running].map(r => r.done))
        await stopped
        rmSync(socket, { force: true })
      })()
      await closing
    }
  }
}

/** Listen on a Unix socket only this user can connect to. */
async function listenPrivately (server: Server, path: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    const mask = process.umask(0o077) // the bind happens inside listen(): the socket is born 0600
    try {
      server.listen(path, () => { server.off('error', reject); resolve() })
    } finally {
      process.umask(mask)
    }
  })
  chmodSync(path, 0o600)
}

/** The commands running for callers; once closing, a request that arrives is turned away unanswered (the caller retries). */
interface Callers { closing: boolean, waiting: Set<Socket>, running: Set<{ abort: AbortController, done: Promise<void> }> }

/** One caller: read its request, run it, stream the output, send the exit code. */
function serveCaller (conn: Socket, run: OwnerRunner, callers: Callers): void {
  const abort = new AbortController()
  let started = false
  let buffered = ''
  const send = (frame: Record<string, unknown>): void => { if (!conn.destroyed) conn.write(JSON.stringify(frame) + '\n') }
  callers.waiting.add(conn)
  conn.on('error', () => abort.abort())
  conn.on('close', () => { callers.waiting.delete(conn); abort.abort() })
  conn.setEncoding('utf8')
  conn.on('data', (chunk: string) => {
    buffered += chunk
    let nl: number
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      let msg: unknown
      try { msg = JSON.parse(line) } catch { conn.destroy(); return }
      if (started) {
        if ((msg as { abort?: unknown }).abort === true) abort.abort()
        continue
      }
      started = true
      callers.waiting.delete(conn)
      if (callers.closing) { conn.destroy(); return }
      const req = msg as OwnerRequest
      if (req?.version !== 1 || !Array.isArray(req.argv) || !req.argv.every(a => typeof a === 'string') || typeof req.cwd !== 'string') {
        send({ err: 'vitra: the owner of this directory could not read the request (a different vitra version?)\n' })
        send({ exit: 1 })
        conn.end()
        return
      }
      const io: OwnerIo = { stdout: stream(send, 'out', req.tty?.stdout === true), stderr: stream(send, 'err', req.tty?.stderr === true), signal: abort.signal }
      const entry = { abort, done: Promise.resolve() }
      entry.done = run(req, io).then(code => code, () => 1).then(code => {
        send({ exit: code })
        conn.end()
      }).finally(() => callers.running.delete(entry))
      callers.running.add(entry)
    }
  })
}

/** A writable that sends what is written as `{ [key]: text }` frames. */
function stream (send: (frame: Record<string, unknown>) => void, key: 'out' | 'err', isTTY: boolean): NodeJS.WritableStream {
  const w = new Writable({
    write (chunk: Buffer | string, _enc, cb) { send({ [key]: String(chunk) }); cb() }
  })
  return Object.assign(w, { isTTY })
}

/**
 * Run a command line in the owner of a directory; resolves with its exit code. Ctrl-C
 * (SIGINT/SIGTERM) asks the owner to stop the command, which then ends as it would alone.
 * Throws OwnerGoneError when the owner is gone before it took the command.
 */
export async function runInOwner (owner: OwnerRecord, req: OwnerRequest, out: { stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream }): Promise<number> {
  const conn = connect(owner.socket)
  conn.setEncoding('utf8')
  let answered = false
  let buffered = ''
  const onSignal = (): void => { if (!conn.destroyed && conn.writable) conn.write(JSON.stringify({ abort: true }) + '\n') }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    return await new Promise<number>((resolve, reject) => {
      let exit: number | null = null
      conn.on('connect', () => conn.write(JSON.stringify(req) + '\n'))
      conn.on('data', (chunk: string) => {
        answered = true
        buffered += chunk
        let nl: number
        while ((nl = buffered.indexOf('\n')) !== -1) {
          const frame = JSON.parse(buffered.slice(0, nl)) as { out?: string, err?: string, exit?: number }
          buffered = buffered.slice(nl + 1)
          if (typeof frame.out === 'string') out.stdout.write(frame.out)
          if (typeof frame.err === 'string') out.stderr.write(frame.err)
          if (typeof frame.exit === 'number') exit = frame.exit
        }
      })
      conn.on('error', err => {
        if (exit !== null) resolve(exit) // the answer came; a late write (a second Ctrl-C) may meet the closed socket
        else if (!answered) reject(new OwnerGoneError(err.message))
        else reject(new CliError('OWNER_GONE', `${describeOwner(owner)}, which ran the command, went away before it finished: ${err.message}`))
      })
      conn.on('close', () => {
        if (exit !== null) resolve(exit)
        else if (!answered) reject(new OwnerGoneError('closed'))
        else reject(new CliError('OWNER_GONE', `${describeOwner(owner)}, which ran the command, stopped before it finished`))
      })
    })
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    conn.destroy()
  }
}
