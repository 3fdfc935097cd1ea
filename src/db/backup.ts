/**
 * Backups, moves and restores of a database directory.
 *
 * The storage (hypercore-storage on RocksDB) keeps a device file, `corestore/CORESTORE`,
 * that pins it to one place on one disk: a directory copied with `cp -r`, `cp -a` or
 * rsync refuses to open ("moved unsafely", "modified"). The check exists because two
 * live copies of a writer's storage can sign two histories of the same log (a fork:
 * fraud for an index, equivocation for an oplog). So a copy is never opened silently:
 *
 * - `backupDatabase(db, dest)` copies a live database consistently: the storage is
 *   suspended (writes wait, RocksDB flushed and idle) while its files are copied, without
 *   the device file; the copy opens as it is, as the same database. Rebuildable or
 *   per-process files (the SQL read model, owner.json and its socket) are left out.
 * - a copied directory that still carries the original's device file fails to open with
 *   STORAGE_COPIED, which names the one command that adopts it (`vitra restore`);
 * - `adoptCopy(dir)` is that command: it deletes the stale device file, so the next open
 *   writes one for this place. Run it only for the copy that will be the only one to run.
 */
import { cpSync, existsSync, readdirSync, rmSync } from 'fs'
import { basename, join, relative } from 'path'
import { InvalidArgumentError, VitraError } from '../errors/errors.js'
import { closeCorestore, openCorestore, readMeta, storageDir, type Storage } from '../logs/storage.js'

/** The device file of a storage directory (relative to the database directory). */
const DEVICE_FILE = join('corestore', 'CORESTORE')

/** The CLI's files about the process that has the directory open (cli/owner.ts), and owner.json's temporary file (named for its writer's process). */
const PER_PROCESS = new Set(['owner.json', 'owner.sock'])
const OWNER_TMP = /^owner\.json\.\d+\.tmp$/

/** Files a backup leaves out: the device file, per-process state, and what is rebuilt from the logs. */
function leftOut (rel: string): boolean {
  const name = basename(rel)
  return rel === DEVICE_FILE || PER_PROCESS.has(name) || OWNER_TMP.test(name) || name.startsWith('read-model.sqlite')
}

/** A database directory that was copied or moved unsafely (its device file does not match). */
export class StorageCopiedError extends VitraError {
  constructor (dir: string, cause: string) {
    super('STORAGE_COPIED', `${dir} is a copy of a database directory (its storage was copied or moved from elsewhere: ${cause}). If this copy is the only one that will run from now on, adopt it with \`vitra restore --dir ${dir}\` (library: adoptCopy(dir)); never run two copies of one database: they would sign two histories`, { dir })
  }
}

/** Whether `err` is the storage's refusal of a copied directory. */
export function isDeviceFileError (err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'DEVICE_FILE'
}

export interface BackupResult {
  /** Where the copy is. */
  dest: string
  /** Files copied. */
  files: number
  /** The index length the copy holds (the storage was suspended at it). */
  indexLength: number
}

/**
 * Copy the open database `db` to `dest` (a directory that does not exist yet, or is
 * empty), consistently: writes wait while the storage is suspended and its files are
 * copied. The copy opens as the same database (`Database.load(dest)`); only one of the
 * two may ever write again.
 */
export async function backupDatabase (db: { storage: Storage, store: { suspend: () => Promise<void>, resume: () => Promise<void> }, index: { core: { length: number } } }, dest: string): Promise<BackupResult> {
  const src = storageDir(db.storage)
  if (existsSync(dest) && readdirSync(dest).length > 0) throw new InvalidArgumentError(`The backup destination ${dest} is not empty: give a new directory`)
  if (relative(src, dest) === '' || !relative(src, dest).startsWith('..')) throw new InvalidArgumentError(`The backup destination ${dest} is inside the database directory ${src}`)
  let files = 0
  await db.store.suspend()
  const indexLength = db.index.core.length
  try {
    cpSync(src, dest, {
      recursive: true,
      filter: from => {
        const rel = relative(src, from)
        if (rel !== '' && leftOut(rel)) return false
        files++
        return true
      }
    })
  } finally {
    await db.store.resume()
  }
  return { dest, files, indexLength }
}

/**
 * Adopt a copied database directory: delete its stale device file so that it opens here.
 * STORAGE_COPIED's fix. Refuses a directory that holds no database, and one whose device
 * file is still valid (it was not copied, or is open: nothing to adopt).
 */
export async function adoptCopy (dir: string): Promise<{ dir: string, pubkey: string }> {
  const meta = readMeta(dir)
  if (meta === null) throw new InvalidArgumentError(`${dir} holds no database to restore`)
  const store = openCorestore(dir)
  let copied = false
  try {
    await store.ready()
  } catch (err) {
    if (!isDeviceFileError(err)) throw err // in use by another process, or broken: not ours to touch
    copied = true
  } finally {
    await closeCorestore(store)
  }
  if (!copied) throw new InvalidArgumentError(`${dir} opens as it is (its storage's device file is its own): nothing to restore`)
  rmSync(join(dir, DEVICE_FILE), { force: true })
  return { dir, pubkey: meta.pubkey }
}
