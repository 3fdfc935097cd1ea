/**
 * Where a database keeps its logs: a Corestore in a directory (the default), or
 * StorageInMemory. Corestore 7 is RocksDB-backed and has no RAM mode, so
 * StorageInMemory is a fresh temporary directory that is deleted on close.
 * Next to the Corestore lives `vitra.json`: which database this is and which
 * local cores are ours.
 *
 * One process opens a directory's Corestore once: every Database on that
 * storage gets a session of it (as in Vitra, two instances may share one
 * storage), and the Corestore closes with the last of them.
 */
import { randomBytes } from 'crypto'
import { SharedPool, type Lease } from '../lifecycle/shared.js'
import { writeFileAtomic } from './atomic-file.js'
import { mkdtempSync, rmSync, readFileSync, mkdirSync, existsSync } from 'fs'
import { tmpdir } from 'os'
import { join, resolve } from 'path'
import Corestore from 'corestore'
import CoreStorage from 'hypercore-storage'
import Rache from 'rache'
import type Hypercore from 'hypercore'
import { InvalidArgumentError, InvalidEntryError, errors } from '../errors/errors.js'

/** Throwaway storage: a temporary directory removed when the database closes. */
export class StorageInMemory {
  private _dir: string | null = null

  /** The directory in use (created on first use). */
  get dir (): string {
    if (this._dir === null) this._dir = mkdtempSync(join(tmpdir(), 'vitra-mem-'))
    return this._dir
  }

  /** Vitra's `storage.createHypercore()`: a new writable Hypercore in this storage (see createHypercore). */
  async createHypercore (): Promise<Hypercore> { return await createHypercore(this) }

  /** Vitra's `storage.getHypercore(key)`: the Hypercore with this key in this storage (writable when it was made here). */
  async getHypercore (key: Buffer | string): Promise<Hypercore> { return await getHypercore(this, key) }

  /** Remove everything. Called when the storage's Corestore closes (its last database or log closed). */
  destroy (): void {
    if (this._dir !== null) rmSync(this._dir, { recursive: true, force: true })
    this._dir = null
  }
}

/**
 * A database directory as an object (Vitra's `new Storage(path)`): the same as
 * giving the path, plus Vitra's `createHypercore()` / `getHypercore(key)`.
 */
export class StorageOnDisk {
  readonly dir: string
  constructor (path: string) {
    if (typeof path !== 'string' || path === '') throw new InvalidArgumentError('new Storage(path) needs a directory path')
    this.dir = resolve(path)
  }

  async createHypercore (): Promise<Hypercore> { return await createHypercore(this) }
  async getHypercore (key: Buffer | string): Promise<Hypercore> { return await getHypercore(this, key) }
}

export type Storage = string | StorageInMemory | StorageOnDisk

/** The local bookkeeping file of a database directory. */
export interface LocalMeta {
  /** 2: the index layout of paths (NUL-joined keys, whitepaper/protocol.md). 1 was vitra 0.1's layout, which this version does not open. */
  version: 2
  /** Index public key (hex). */
  pubkey: string
  /** True when this storage holds the index key pair (this instance is the executor). */
  executor: boolean
  /** Oplogs this storage can write: core name in the Corestore (none: a core made by createHypercore, opened by key) and public key (hex). */
  oplogs: Array<{ name?: string, pubkey: string }>
  /** Number of the next local oplog core name (`oplog-N`); names are never reused. */
  nextOplog?: number
}

const META_FILE = 'vitra.json'

export function storageDir (storage: Storage): string {
  return typeof storage === 'string' ? storage : storage.dir
}

/**
 * RocksDB under the Corestore, sized for a process that runs for months (issue 27,
 * measured with `npm run bench:scale`):
 * - a write buffer (memtable) of 8 MiB instead of 64: RocksDB keeps up to two, so
 *   the swing is 16 MiB instead of 128, and glibc does not end up holding the freed
 *   64 MiB blocks in its arenas;
 * - 2 background jobs instead of 6: fewer threads, so fewer glibc per-thread arenas
 *   (each keeps what it freed). With 8 MiB buffers, flushes are small and 2 keep up.
 */
const ROCKS_OPTIONS = { writeBufferSize: 8 * 1024 * 1024, maxBackgroundJobs: 2 }
/**
 * Entries of the cache Hyperbee keeps of decoded nodes and keys, shared by every bee
 * of the Corestore (its own default is 65,536 per bee, about 36 MB once full).
 * Index reads are mostly near the tip, and the oplog blocks have their own cache.
 */
const BEE_CACHE_ENTRIES = 8192

/**
 * The process's Corestore per storage directory, shared by every database (and backup)
 * that opens it there: one RocksDB per directory. `helper` is the session that holds the
 * cores made by createHypercore/getHypercore.
 */
interface CorestoreRoot { root: Corestore, helper: Corestore | null, memory: StorageInMemory | null }
const CORESTORES = new SharedPool<string, CorestoreRoot>(async r => {
  await r.root.close()
  r.memory?.destroy() // in-memory storage lives as long as its Corestore
})
/** The lease each session from openCorestore holds on its Corestore. */
const SESSION_LEASES = new WeakMap<Corestore, Lease<CorestoreRoot>>()

function corestoreDir (storage: Storage): string { return join(storageDir(storage), 'corestore') }

/** A session of the process's Corestore in this storage (opened on first use). Close it with closeCorestore. */
export function openCorestore (storage: Storage): Corestore {
  const lease = CORESTORES.acquire(corestoreDir(storage), dir => {
    mkdirSync(dir, { recursive: true })
    const root = new Corestore(new CoreStorage(dir, ROCKS_OPTIONS), { globalCache: new Rache({ maxSize: BEE_CACHE_ENTRIES }) })
    return { root, helper: null, memory: storage instanceof StorageInMemory ? storage : null }
  })
  const session = lease.value.root.session()
  SESSION_LEASES.set(session, lease)
  return session
}

function helperStore (storage: Storage): Corestore {
  const r = CORESTORES.peek(corestoreDir(storage))
  if (r !== undefined && r.helper !== null) return r.helper
  const session = openCorestore(storage)
  ;(SESSION_LEASES.get(session) as Lease<CorestoreRoot>).value.helper = session
  return session
}

/**
 * A new writable Hypercore in the storage's Corestore (Vitra's `storage.createHypercore()`),
 * under a random name. Corestore remembers it: the same storage reopens it by key,
 * writable. Give it to a database with `db.setLocalOplog(new Oplog(core))` to append ops to it.
 */
export async function createHypercore (storage: Storage): Promise<Hypercore> {
  const core = helperStore(storage).get({ name: 'core-' + randomBytes(16).toString('hex') })
  await core.ready()
  return core
}

/** The Hypercore with `key` in the storage's Corestore (Vitra's `storage.getHypercore(key)`). */
export async function getHypercore (storage: Storage, key: Buffer | string): Promise<Hypercore> {
  const buf = typeof key === 'string' ? Buffer.from(key, 'hex') : key
  if (!Buffer.isBuffer(buf) || buf.byteLength !== 32) throw new InvalidArgumentError('getHypercore(key): key must be 32 bytes (a Buffer or 64 hex characters)')
  const core = helperStore(storage).get({ key: buf })
  await core.ready()
  return core
}

/**
 * Close the cores made by createHypercore/getHypercore when the storage's Corestore has
 * no other user left (the last database on it closed). Resolves true when the Corestore closed.
 */
export async function releaseHelpers (storage: Storage): Promise<boolean> {
  const dir = corestoreDir(storage)
  const r = CORESTORES.peek(dir)
  if (r === undefined || r.helper === null || CORESTORES.leases(dir) > 1) return false
  const h = r.helper
  r.helper = null
  return await closeCorestore(h)
}

/** Close a session from openCorestore; the Corestore itself closes with its last session. Resolves true when it did. */
export async function closeCorestore (session: Corestore): Promise<boolean> {
  await session.close()
  const lease = SESSION_LEASES.get(session)
  if (lease === undefined) return true
  SESSION_LEASES.delete(session)
  return await lease.release()
}

export function readMeta (storage: Storage): LocalMeta | null {
  const file = join(storageDir(storage), META_FILE)
  if (!existsSync(file)) return null
  let v: LocalMeta
  try { v = JSON.parse(readFileSync(file, 'utf8')) as LocalMeta } catch (err) {
    throw new InvalidEntryError(`${file} is not valid JSON: ${(err as Error).message}`)
  }
  if (v !== null && (v as { version: unknown }).version === 1) {
    throw errors.UNSUPPORTED_FORMAT(`${storageDir(storage)} holds a database made by vitra 0.1, whose index layout (keys joined by "/", value-returning index.get) this version does not read; see "Coming from Vitra" in the README`)
  }
  if (v === null || v.version !== 2 || typeof v.pubkey !== 'string' || !Array.isArray(v.oplogs)) {
    throw new InvalidEntryError(`${file} is not a vitra database file`)
  }
  return v
}

/** Write vitra.json atomically (write to a temp file, then rename), so a crash never leaves it half-written. */
export function writeMeta (storage: Storage, meta: LocalMeta): void {
  const dir = storageDir(storage)
  const file = join(dir, META_FILE)
  writeFileAtomic(file, JSON.stringify(meta, null, 2) + '\n')
}
