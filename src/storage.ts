/**
 * Where a database keeps its logs: a Corestore in a directory (the default), or
 * StorageInMemory. Corestore 7 is RocksDB-backed and has no RAM mode, so
 * StorageInMemory is a fresh temporary directory that is deleted on close.
 * Next to the Corestore lives `vitra.json`: which database this is and which
 * local cores are ours.
 */
import { mkdtempSync, rmSync, readFileSync, writeFileSync, renameSync, mkdirSync, existsSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import Corestore from 'corestore'
import { InvalidEntryError } from './errors.js'

/** Throwaway storage: a temporary directory removed when the database closes. */
export class StorageInMemory {
  private _dir: string | null = null

  /** The directory in use (created on first use). */
  get dir (): string {
    if (this._dir === null) this._dir = mkdtempSync(join(tmpdir(), 'vitra-mem-'))
    return this._dir
  }

  /** Remove everything. Called by Database.close(). */
  destroy (): void {
    if (this._dir !== null) rmSync(this._dir, { recursive: true, force: true })
    this._dir = null
  }
}

export type Storage = string | StorageInMemory

/** The local bookkeeping file of a database directory. */
export interface LocalMeta {
  version: 1
  /** Index public key (hex). */
  pubkey: string
  /** True when this storage holds the index key pair (this instance is the executor). */
  executor: boolean
  /** Oplogs this storage can write: core name in the Corestore and public key (hex). */
  oplogs: Array<{ name: string, pubkey: string }>
  /** Number of the next local oplog core name (`oplog-N`); names are never reused. */
  nextOplog?: number
}

const META_FILE = 'vitra.json'

export function storageDir (storage: Storage): string {
  return typeof storage === 'string' ? storage : storage.dir
}

export function openCorestore (storage: Storage): Corestore {
  const dir = storageDir(storage)
  mkdirSync(dir, { recursive: true })
  return new Corestore(join(dir, 'corestore'))
}

export function readMeta (storage: Storage): LocalMeta | null {
  const file = join(storageDir(storage), META_FILE)
  if (!existsSync(file)) return null
  let v: LocalMeta
  try { v = JSON.parse(readFileSync(file, 'utf8')) as LocalMeta } catch (err) {
    throw new InvalidEntryError(`${file} is not valid JSON: ${(err as Error).message}`)
  }
  if (v === null || v.version !== 1 || typeof v.pubkey !== 'string' || !Array.isArray(v.oplogs)) {
    throw new InvalidEntryError(`${file} is not a vitra database file`)
  }
  return v
}

/** Write vitra.json atomically (write to a temp file, then rename), so a crash never leaves it half-written. */
export function writeMeta (storage: Storage, meta: LocalMeta): void {
  const dir = storageDir(storage)
  const file = join(dir, META_FILE)
  writeFileSync(file + '.tmp', JSON.stringify(meta, null, 2) + '\n')
  renameSync(file + '.tmp', file)
}
