// Deadlines on every wait on peers (src/net/peer-wait.ts): a peer that holds a log's head
// but not its blocks (a sparse replica) is connected and answers nothing useful; every
// wait on it (sync, syncAll, reads, verify, monitor) ends in COULD_NOT_VERIFY instead
// of a hang. Real Hypercores over an in-process replication pipe.
import test, { type Assertion } from 'brittle'
import { Database, StorageInMemory } from '../src/index.js'
import { downloadWithin, updateWithin, withinDeadline } from '../src/net/peer-wait.js'
import { contract, createDb, pipe } from './helpers.js'

const KV = contract('kv-store')

async function codeOf (p: Promise<unknown>): Promise<string | null> {
  try { await p; return null } catch (err) { return (err as { code?: string }).code ?? String(err) }
}

test('peer wait - withinDeadline: a promise that never settles expires as COULD_NOT_VERIFY; REQUEST_TIMEOUT is the same', async t => {
  const never = new Promise<void>(() => {})
  const err = await withinDeadline(never, { ms: 50, what: 'the moon' }).catch((e: Error & { code?: string }) => e)
  t.is((err as { code?: string }).code, 'COULD_NOT_VERIFY')
  t.ok(/No peer served the moon within 50 ms/.test((err as Error).message), (err as Error).message)
  const timeout = Object.assign(new Error('timed out'), { code: 'REQUEST_TIMEOUT' })
  t.is(await codeOf(withinDeadline(Promise.reject(timeout), { ms: 1000, what: 'a block' })), 'COULD_NOT_VERIFY', 'a read that timed out')
  t.is(await codeOf(withinDeadline(Promise.reject(Object.assign(new Error('x'), { code: 'OTHER' })), { ms: 1000, what: 'a block' })), 'OTHER', 'other failures pass through')
  t.is(await withinDeadline(Promise.resolve(7), { ms: 1000, what: 'seven' }), 7)
})

/**
 * An executor with `n` entries; a sparse replica that has its head (and the blocks the
 * load read) and is then cut off from it; a fresh reader connected to the sparse one only.
 */
async function behindSparsePeer (t: Assertion, n: number): Promise<{ exec: Database, sparse: Database, reader: Database }> {
  const exec = await createDb(t, KV)
  for (let i = 0; i < n; i++) await (await exec.call('put', { key: `k${i}`, value: i })).whenProcessed()
  let cut = (): void => {}
  const sparse = await Database.load(new StorageInMemory(), exec.pubkey, { onCorestore: s => { cut = pipe(exec.store, s) } })
  t.teardown(() => sparse.close())
  await sparse.sync()
  t.is(sparse.index.core.length, exec.index.core.length, 'the sparse replica knows the whole length')
  cut()
  const reader = await Database.load(new StorageInMemory(), exec.pubkey, { timeout: 600, onCorestore: s => pipe(sparse.store, s) })
  t.teardown(() => reader.close())
  return { exec, sparse, reader }
}

test('peer wait - a connected peer without the blocks: syncAll, a read and verify end in COULD_NOT_VERIFY, not a hang', async t => {
  const { exec, sparse, reader } = await behindSparsePeer(t, 40)
  await reader.sync()
  t.is(reader.index.core.length, exec.index.core.length, 'the head came from the sparse peer')
  t.is(await codeOf(reader.syncAll()), 'COULD_NOT_VERIFY', 'syncAll: the blocks never come')
  t.is(await codeOf(reader.verify({ blockTimeoutMs: 300 })), 'COULD_NOT_VERIFY', 'verify: could not verify, not fraud')
  let missing = 1
  while (await sparse.index.core.has(missing)) missing++
  t.ok(missing < exec.index.core.length, `block ${missing} is not on the sparse peer`)
  const read = await codeOf(reader.index.core.get(missing))
  t.is(read, 'REQUEST_TIMEOUT', 'a block read on the reader gives up after the load timeout')
})

test('peer wait - updateWithin and downloadWithin on a core whose peer never answers', async t => {
  const { exec, reader } = await behindSparsePeer(t, 10)
  const core = reader.index.core
  t.is(await codeOf(downloadWithin(core, 0, exec.index.core.length, { ms: 200, what: 'the index' })), 'COULD_NOT_VERIFY', 'download without progress expires')
  t.is(await updateWithin(core, { ms: 2000, what: 'the index head' }).then(() => 'ok'), 'ok', 'an update that the peer answers (nothing newer) resolves')
})
