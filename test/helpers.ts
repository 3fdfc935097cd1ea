// Shared test helpers: databases on throwaway storage, in-process replication,
// contract sources. Everything opened here is closed in t.teardown.
import type { Assertion } from 'brittle'
import { ContractFraudProof, Database, StorageInMemory, readShippedContract, type CreateOptions, type DatabaseOptions, type JsonValue } from '../src/index.js'
import type Corestore from 'corestore'
import type Hypercore from 'hypercore'
import { adoptCopy } from '../src/db/backup.js'
import { closeCorestore, openCorestore } from '../src/logs/storage.js'
import { spawn, type ChildProcess } from 'child_process'
import { fileURLToPath } from 'url'
import { cpSync, writeFileSync } from 'fs'
import { join } from 'path'

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

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const VITRA_BIN = fileURLToPath(new URL('../../bin/vitra.js', import.meta.url))

export interface Run { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }
export interface Running { child: ChildProcess, done: Promise<Run>, output: () => string, waitFor: (re: RegExp, ms?: number) => Promise<string> }

/** The environment of a child: no VITRA_* settings leak in from the outside, no colour. */
function childEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITRA_')) env[k] = v
  return { ...env, NO_COLOR: '1', ...extra }
}

/** Start `vitra args…` (the launcher, which re-executes node with --no-node-snapshot); killed at teardown. */
export function startVitra (t: Assertion, args: string[], o: { cwd?: string, input?: string, env?: Record<string, string>, timeout?: number } = {}): Running {
  // its own process group: a kill reaches the launcher and the node it started
  const child = spawn(process.execPath, [VITRA_BIN, ...args], { cwd: o.cwd ?? ROOT, env: childEnv(o.env), stdio: ['pipe', 'pipe', 'pipe'], detached: true })
  const killAll = (): void => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL')
    } catch (err) {
      if ((err as { code?: string }).code !== 'ESRCH') throw err // ESRCH: the group has already exited
    }
  }
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', d => { stdout += String(d) })
  child.stderr?.on('data', d => { stderr += String(d) })
  child.stdin?.on('error', () => {})
  if (o.input !== undefined) child.stdin?.end(o.input)
  const timer = setTimeout(killAll, o.timeout ?? 60_000)
  const done = new Promise<Run>(resolve => child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) }))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) { killAll(); await done }
  })
  const waitFor = async (re: RegExp, ms = 30_000): Promise<string> => {
    const end = Date.now() + ms
    while (Date.now() < end) {
      const m = re.exec(stdout)
      if (m !== null) return m[0]
      if (child.exitCode !== null) break
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    throw new Error(`timed out waiting for ${String(re)}; stdout: ${stdout} stderr: ${stderr}`)
  }
  return { child, done, output: () => stdout, waitFor }
}



/** Run the `vitra` command (bin/vitra.js) to its end, without the caller's VITRA_* settings and colours. */
export async function runVitra (args: string[], extraEnv: Record<string, string> = {}, o: { cwd?: string } = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITRA_')) env[k] = v
  const child = spawn(process.execPath, [VITRA_BIN, ...args], { cwd: o.cwd, env: { ...env, NO_COLOR: '1', ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += String(d) })
  child.stderr.on('data', d => { stderr += String(d) })
  const code = await new Promise<number | null>(resolve => child.on('close', c => resolve(c)))
  return { code, stdout, stderr }
}

/** A counter database made by `vitra init` in a temporary directory; returns its --dir. */
export async function counterDir (t: Assertion): Promise<string> {
  const root = await t.tmp()
  const file = join(root, 'counter.js')
  writeFileSync(file, contract('counter'))
  const dir = join(root, 'db')
  t.is((await runVitra(['init', file, '--dir', dir])).code, 0, 'vitra init')
  return dir
}

/** The fraud proof a verification rejects with (ContractFraudProof); throws when it passes or fails otherwise. */
export async function fraudOf (p: Promise<unknown>): Promise<ContractFraudProof> {
  try { await p } catch (err) {
    if (err instanceof ContractFraudProof) return err
    throw err
  }
  throw new Error('no violation')
}

/**
 * A counter database on disk after three calls, closed, and a copy of its storage made
 * then: the executor's key twice, as a key holder who kept a copy could sign another
 * history with it (the copy opens once its stale device file is gone, as after vitra restore).
 */
export async function counterAndCopy (t: Assertion, opts: Omit<CreateOptions, 'contract'> = {}): Promise<{ dir: string, copy: string }> {
  const dir = join(await t.tmp(), 'db')
  const db = await Database.create(dir, { contract: { source: contract('counter') }, ...opts })
  for (let i = 0; i < 3; i++) await db.call('increment', {})
  await db.executor?.sync()
  await db.close()
  const copy = join(await t.tmp(), 'copy')
  cpSync(dir, copy, { recursive: true })
  await adoptCopy(copy)
  return { dir, copy }
}

/**
 * The copy's index signing another history: `blocks` other entries appended after the
 * common prefix (same key, same fork counter). Its store is closed at teardown.
 */
export async function forkedIndex (t: Assertion, copy: string, blocks: number): Promise<{ store: Corestore, core: Hypercore }> {
  const store = openCorestore(copy)
  t.teardown(() => closeCorestore(store))
  const core = store.get({ name: 'index' })
  await core.ready()
  await core.append(Array.from({ length: blocks }, (_, i) => Buffer.from(`another history ${i}`)))
  return { store, core }
}
