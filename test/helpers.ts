// Shared test helpers: databases on throwaway storage, in-process replication,
// contract sources. Everything opened here is closed in t.teardown.
import type { Assertion } from 'brittle'
import { Database, StorageInMemory, readShippedContract, type CreateOptions, type DatabaseOptions, type JsonValue } from '../src/index.js'
import type Corestore from 'corestore'
import { spawn } from 'child_process'
import { fileURLToPath } from 'url'

/** A new database (executor) on StorageInMemory, closed at teardown. */
export async function createDb (t: Assertion, source: string, opts: Omit<CreateOptions, 'contract'> = {}): Promise<Database> {
  const db = await Database.create(new StorageInMemory(), { ...opts, contract: { source } })
  t.teardown(() => db.close())
  return db
}

/** A second instance following `db` (a reader / would-be participant), replicated in-process. */
export async function follow (t: Assertion, db: Database, opts: DatabaseOptions = {}): Promise<Database> {
  const peer = await Database.load(new StorageInMemory(), db.pubkey, {
    ...opts,
    onCorestore: store => pipe(db.store, store)
  })
  t.teardown(() => peer.close())
  return peer
}

/** Replicate two Corestores over an in-memory duplex pipe; returns a function that cuts it. */
export function pipe (a: Corestore, b: Corestore): () => void {
  const s1 = a.replicate(true) as NodeJS.ReadWriteStream & { on: (e: string, f: (...x: unknown[]) => void) => void }
  const s2 = b.replicate(false) as NodeJS.ReadWriteStream & { on: (e: string, f: (...x: unknown[]) => void) => void }
  s1.pipe(s2).pipe(s1)
  // replication streams end with an error when either store closes first: expected at teardown
  s1.on('error', () => undefined)
  s2.on('error', () => undefined)
  return () => {
    (s1 as unknown as { destroy: () => void }).destroy()
    ;(s2 as unknown as { destroy: () => void }).destroy()
  }
}

export function contract (name: string): string { return readShippedContract(name) }

/** Poll `fn` until it returns true or `ms` pass. */
export async function eventually (fn: () => Promise<boolean> | boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await fn()) return true
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return false
}

/** The value stored at an index path, or null when the path holds no entry (state checks in tests). */
export async function valueAt (db: Database, path: string): Promise<JsonValue | null> {
  const e = await db.index.get(path)
  return e === undefined ? null : e.value ?? null
}

const VITRA_BIN = fileURLToPath(new URL('../../bin/vitra.js', import.meta.url))

/** Run the `vitra` command (bin/vitra.js) to its end, without the caller's VITRA_* settings and colours. */
export async function runVitra (args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITRA_')) env[k] = v
  const child = spawn(process.execPath, [VITRA_BIN, ...args], { env: { ...env, NO_COLOR: '1', ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += String(d) })
  child.stderr.on('data', d => { stderr += String(d) })
  const code = await new Promise<number | null>(resolve => child.on('close', c => resolve(c)))
  return { code, stdout, stderr }
}
