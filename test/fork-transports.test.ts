// A fork is evidence on every transport (issue 32): an executor (or a participant)
// that signs two histories of one log is caught as a LogForkFraudProof whether the
// copies meet over a plain replication stream between two Corestores, over the swarm,
// or on disk at load. Real databases on disk; the two histories come from a copy of
// the executor's directory (the same key pairs in two storages), as a cheating
// executor would make them.
import test, { type Assertion } from 'brittle'
import { cpSync, writeFileSync } from 'fs'
import { basename, join } from 'path'
import HyperDHT from 'hyperdht'
import { Database, LogForkFraudProof, StorageInMemory, verifyLogForkProof, verifySignedHead, type LogForkSource } from '../src/index.js'
import { coreManifest } from '../src/logs/proof-builders.js'
import { contract, eventually, pipe, runVitra } from './helpers.js'

const KV = contract('kv-store')

/** Hypercore prints a line on each conflict it detects: keep test output readable. */
function quietConflicts (t: Assertion): void {
  const log = console.log
  console.log = (...args: unknown[]) => { if (!String(args[0]).startsWith('[hypercore] conflict')) log(...args) }
  t.teardown(() => { console.log = log })
}

async function put (db: Database, key: string, value: unknown): Promise<void> {
  await (await db.call('put', { key, value })).whenProcessed()
}

interface Histories {
  key: Buffer
  /** History A, open without its executor (it only serves its logs). */
  a: Database
  /** History B, signed with the same keys in another storage. */
  b: Database
  dirA: string
  dirB: string
}

/**
 * Two histories of one database. Both start with 3 puts; then A executes `x = A`, and
 * B (a copy of A's directory taken before) executes `x = B` and `extraB` more puts.
 * With `oplogOnly`, B executes nothing: its participant appends another op 3 to the
 * shared oplog, so only the oplog forks.
 */
async function histories (t: Assertion, o: { extraB?: number, oplogOnly?: boolean } = {}): Promise<Histories> {
  quietConflicts(t)
  const dirA = await t.tmp()
  const dirB = await t.tmp()
  const first = await Database.create(dirA, { contract: { source: KV } })
  for (let i = 0; i < 3; i++) await put(first, `k${i}`, i)
  await first.close()
  // Corestore's device file refuses a copied directory: a cheater leaves it behind
  cpSync(dirA, dirB, { recursive: true, filter: src => basename(src) !== 'CORESTORE' })
  const execA = await Database.load(dirA)
  await put(execA, 'x', 'A')
  await execA.close()
  if (o.oplogOnly === true) {
    const twin = await Database.load(dirB, undefined, { executor: false })
    await twin.localOplog?.core.append(Buffer.from(JSON.stringify({ op: 'PUT', key: 'x', value: 'B' })))
    await twin.close()
  } else {
    const execB = await Database.load(dirB)
    await put(execB, 'x', 'B')
    for (let i = 0; i < (o.extraB ?? 0); i++) await put(execB, `b${i}`, i)
    await execB.close()
  }
  const a = await Database.load(dirA, undefined, { executor: false })
  t.teardown(() => a.close())
  const b = await Database.load(dirB, undefined, { executor: false })
  t.teardown(() => b.close())
  return { key: a.pubkey, a, b, dirA, dirB }
}

/** A reader (in memory) following history A over a plain replication pipe. */
async function readerOfA (t: Assertion, h: Histories): Promise<{ r: Database, forks: Array<{ proof: LogForkFraudProof, source: LogForkSource }> }> {
  const r = await Database.load(new StorageInMemory(), h.key, { timeout: 5000, onCorestore: s => pipe(h.a.store, s) })
  t.teardown(() => r.close())
  const forks: Array<{ proof: LogForkFraudProof, source: LogForkSource }> = []
  r.on('log-fork', (proof: LogForkFraudProof, source: LogForkSource) => forks.push({ proof, source }))
  await r.syncAll()
  t.is(r.index.core.length, h.a.index.core.length, 'the reader holds history A')
  return { r, forks }
}

function checkFork (t: Assertion, proof: unknown, key: Buffer | string, kind: string, what: string): void {
  t.ok(proof instanceof LogForkFraudProof, `${what}: a LogForkFraudProof (got ${(proof as Error)?.constructor?.name}: ${(proof as Error)?.message})`)
  if (!(proof instanceof LogForkFraudProof)) return
  const v = verifyLogForkProof(JSON.stringify(proof.toJSON()), { key })
  t.is(v.kind, kind, `${what}: verified offline from its JSON: ${kind}`)
}

async function rejection (p: Promise<unknown>): Promise<unknown> {
  try { await p; return null } catch (err) { return err }
}

test('fork over a pipe - two index histories of the same length: the reader proves the fork, verify answers with it', async t => {
  const h = await histories(t)
  t.is(h.a.index.core.length, h.b.index.core.length, 'A and B have the same length')
  t.unlike((await h.a.index.core.treeHash()).toString('hex'), (await h.b.index.core.treeHash()).toString('hex'), 'with other tree hashes')
  const { r, forks } = await readerOfA(t, h)
  pipe(h.b.store, r.store)
  t.ok(await eventually(() => forks.some(f => f.source.role === 'index'), 10_000), 'a log-fork event for the index')
  const index = forks.find(f => f.source.role === 'index')
  checkFork(t, index?.proof, h.key, 'equivocation', 'the index fork')
  t.alike(index?.proof.heads.map(x => x.length), [h.a.index.core.length, h.a.index.core.length], 'two heads of one length')
  t.is(index?.source.key, h.key.toString('hex'))
  const err = await rejection(r.verify({ blockTimeoutMs: 2000 }))
  checkFork(t, err, h.key, 'equivocation', 'verify() rejects with the index fork, not UNPROMPTED_CHANGE')
  t.ok(r.forks.length >= 1, 'db.forks lists it')
})

test('fork over a pipe - the other index history is longer: sync rejects with the fork proof, not SESSION_CLOSED', async t => {
  const h = await histories(t, { extraB: 2 })
  t.ok(h.b.index.core.length > h.a.index.core.length, 'B is longer')
  const { r, forks } = await readerOfA(t, h)
  pipe(h.b.store, r.store)
  const err = await rejection(r.sync())
  checkFork(t, err, h.key, 'equivocation', 'sync()')
  t.ok(forks.some(f => f.source.role === 'index'), 'and the event was emitted')
  checkFork(t, await rejection(r.verify({ blockTimeoutMs: 1000 })), h.key, 'equivocation', 'verify() after it')
})

test('fork at load - a copy on disk meets the other history: load refuses with the fork proof', async t => {
  const h = await histories(t, { extraB: 2 })
  const dir = await t.tmp()
  const r0 = await Database.load(dir, h.key, { onCorestore: s => pipe(h.a.store, s) })
  await r0.syncAll()
  await r0.close()
  // the same directory, now replicating with history B only
  const err = await rejection(Database.load(dir, h.key, { timeout: 5000, onCorestore: s => pipe(h.b.store, s) }).then(async db => { await db.sync(); return await db.close() }))
  checkFork(t, err, h.key, 'equivocation', 'load (or its first sync) of a copy that meets the longer other history')
})

/** An executor whose index a reader copied to `old`, then truncated and rewritten (fork 1); open, serving nothing yet. */
async function rewrittenIndex (t: Assertion): Promise<{ key: Buffer, old: string, cheat: Database }> {
  quietConflicts(t)
  const dirA = await t.tmp()
  const exec = await Database.create(dirA, { contract: { source: KV } })
  for (let i = 0; i < 4; i++) await put(exec, `k${i}`, i)
  const key = exec.pubkey
  const old = await t.tmp()
  const r0 = await Database.load(old, key, { onCorestore: s => pipe(exec.store, s) })
  await r0.syncAll()
  await r0.close()
  // the executor rewrites its index from a batch end: a truncate, then other entries
  const end = exec.index.core.length
  await exec.close()
  const cheat = await Database.load(dirA, undefined, { executor: false })
  t.teardown(() => cheat.close())
  await cheat.index.core.truncate(end - 2)
  for (let i = 0; i < 3; i++) await cheat.index.bee.put(`rewritten/${i}`, Buffer.from('x'))
  t.is(cheat.index.core.fork, 1, 'the index is at fork 1')
  return { key, old, cheat }
}

test('fork at load - truncate-and-rewrite of the index: a copy that saw the old history gets a truncation proof; a fresh reader LOG_TRUNCATED', async t => {
  const { key, old, cheat } = await rewrittenIndex(t)

  const t0 = Date.now()
  const err = await rejection(Database.load(old, key, { timeout: 5000, onCorestore: s => pipe(cheat.store, s) }))
  checkFork(t, err, key, 'truncation', 'the old copy')
  t.comment(`refused in ${Date.now() - t0} ms`)

  const fresh = await rejection(Database.load(new StorageInMemory(), key, { timeout: 5000, onCorestore: s => pipe(cheat.store, s) })) as { code?: string, details?: { head?: unknown, role?: string } }
  t.is(fresh?.code, 'LOG_TRUNCATED', 'a fresh reader: LOG_TRUNCATED, not DATABASE_NOT_FOUND')
  t.is(fresh?.details?.role, 'index')
  const head = fresh?.details?.head as { key: string, fork: number }
  t.is(head?.fork, 1, 'with the signed head at fork 1')
  t.execution(() => verifySignedHead(head as never, coreManifest(cheat.index.core)), 'whose signature checks with the log\'s manifest')
})

test('fork over a pipe - an oplog equivocation is the participant\'s fork, reported with role oplog', async t => {
  const h = await histories(t, { oplogOnly: true })
  const shorter = h.b.index.core.length
  t.ok(shorter < h.a.index.core.length, 'B\'s index is a prefix of A\'s (B executed nothing)')
  t.is((await h.a.index.core.treeHash(shorter)).toString('hex'), (await h.b.index.core.treeHash()).toString('hex'), 'one index history')
  const { r, forks } = await readerOfA(t, h)
  pipe(h.b.store, r.store)
  t.ok(await eventually(() => forks.some(f => f.source.role === 'oplog'), 10_000), 'a log-fork event for the oplog')
  const f = forks.find(x => x.source.role === 'oplog')
  const oplog = h.a.localOplog?.hex as string
  t.is(f?.source.key, oplog, 'the participant\'s oplog')
  checkFork(t, f?.proof, oplog, 'equivocation', 'the oplog fork')
  t.absent(forks.some(x => x.source.role === 'index'), 'the index did not fork')
  const err = await rejection(r.verify({ blockTimeoutMs: 2000 }))
  t.ok(err === null || (err instanceof LogForkFraudProof && err.key === oplog), `verify blames no one else (${(err as Error | null)?.message ?? 'valid'})`)
})

test('fork over a pipe - vitra proof verify accepts the proof a pipe produced', { timeout: 60_000 }, async t => {
  const h = await histories(t, { extraB: 1 })
  const { r } = await readerOfA(t, h)
  pipe(h.b.store, r.store)
  const err = await rejection(r.sync())
  t.ok(err instanceof LogForkFraudProof)
  const file = join(await t.tmp(), 'fork.json')
  writeFileSync(file, JSON.stringify((err as LogForkFraudProof).toJSON()))
  const out = await runVitra(['proof', 'verify', file])
  t.is(out.code, 0, `proof verify exits 0: ${out.stdout.trim().split('\n')[0]}`)
  t.ok(/fork/i.test(out.stdout), 'and says it is a fork')
})

for (const extraB of [0, 2]) {
  test(`fork over the swarm - a reader meets both index histories (${extraB === 0 ? 'same length' : 'one longer'}): a fork proof, at load or right after`, { timeout: 90_000 }, async t => {
    const h = await histories(t, { extraB })
    // A and B only announce (so they never meet each other, which would freeze the shorter one);
    // the copied storage would give both the same swarm identity: the cheater gives B another
    await h.a.swarm({ local: true, client: false })
    await h.b.swarm({ local: true, client: false, keyPair: HyperDHT.keyPair() })
    const loaded = await Database.load(await t.tmp(), h.key, { timeout: 20_000, swarm: true, swarmOptions: { local: true } }).catch((err: unknown) => err)
    let proof: unknown = loaded
    if (loaded instanceof Database) {
      t.teardown(() => loaded.close())
      loaded.on('warning', (e: Error) => t.comment('warning: ' + e.message))
      const synced = await rejection(loaded.syncAll())
      await eventually(() => loaded.forks.some(f => f.source.role === 'index'), 20_000)
      proof = loaded.forks.find(f => f.source.role === 'index')?.proof ?? synced
      t.comment(`loaded, then the fork (${(synced as Error | null)?.message ?? 'syncAll went through'})`)
    } else {
      t.comment('load refused with the fork')
    }
    checkFork(t, proof, h.key, 'equivocation', 'the reader on the swarm')
  })
}

test('fork over the swarm - the copy that saw the old index meets the rewritten one: a truncation proof', { timeout: 90_000 }, async t => {
  const { key, old, cheat } = await rewrittenIndex(t)
  await cheat.swarm({ local: true })
  const loaded = await Database.load(old, key, { timeout: 20_000, swarm: true, swarmOptions: { local: true } }).catch((err: unknown) => err)
  let proof: unknown = loaded
  if (loaded instanceof Database) {
    t.teardown(() => loaded.close())
    const synced = await rejection(loaded.sync())
    await eventually(() => loaded.forks.some(f => f.source.role === 'index'), 20_000)
    proof = loaded.forks.find(f => f.source.role === 'index')?.proof ?? synced
  }
  checkFork(t, proof, key, 'truncation', 'the old copy on the swarm')
})

test('fork over HTTP - a reader following history A from one host meets history B at another: the fork proof, whatever the transport', async t => {
  const h = await histories(t, { extraB: 1 })
  const { createApi } = await import('../src/http/api.js')
  const urls: string[] = []
  for (const db of [h.a, h.b]) {
    const app = await createApi({ databases: [db], monitor: false })
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    urls.push(`http://127.0.0.1:${(app.server.address() as { port: number }).port}`)
  }
  const r = await Database.load(new StorageInMemory(), h.key, { timeout: 5000, from: [urls[0]] })
  t.teardown(() => r.close())
  const forks: Array<{ proof: LogForkFraudProof, source: LogForkSource }> = []
  r.on('log-fork', (proof: LogForkFraudProof, source: LogForkSource) => forks.push({ proof, source }))
  await r.syncAll()
  t.is(r.index.core.length, h.a.index.core.length, 'over HTTP alone, the reader holds history A')
  r.syncFrom(urls[1])
  t.ok(await eventually(() => forks.some(f => f.source.role === 'index'), 10_000), 'the other host\'s history: a log-fork event for the index')
  checkFork(t, forks.find(f => f.source.role === 'index')?.proof, h.key, 'equivocation', 'the index fork seen over HTTP')
})
