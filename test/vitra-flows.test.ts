// The flows of pfrazee/vitra 0.1.3's own test suite (test/*.ts there: base,
// contract-code, debugging, index, networking, oplogs, proofs, transactions,
// verification; 31 tests), each run here with this package through `vitra/compat`:
// the same steps, the same contracts, the same expectations. Written here from
// reading them. Where vitra differs from Vitra on purpose, the flow runs the same
// steps and checks vitra's documented outcome instead; each such place says so and
// names its row in README "Coming from Vitra".
import test from 'brittle'
import type { Assertion } from 'brittle'
import {
  Database, StorageInMemory, IndexLog, OpLog, Transaction, ExecutorBehavior, ContractFraudProof, ContractParseError,
  BlocksNotAvailableError, ContractRuntimeError, LogForkFraudProof, verifyInclusionProof, type HistoryEntry, type JsonValue
} from '../src/compat.js'
import type { Database as BaseDatabase } from '../src/index.js'
import { pipe } from './helpers.js'

type Db = BaseDatabase

/** A database closed at teardown (Vitra's tests close theirs at the end; a failed assertion must not leak one). */
async function created (t: Assertion, source: string, opts: Record<string, unknown> = {}, storage = new StorageInMemory()): Promise<Db> {
  const db = await Database.create(storage, { contract: { source }, ...opts })
  t.teardown(() => db.close())
  return db
}

/** The `value` of an entry a contract method returned (Vitra's `res.response.value`). */
function valueAt (response: JsonValue | undefined): JsonValue | undefined {
  return response !== null && typeof response === 'object' && !Array.isArray(response) ? response.value : undefined
}

const SIMPLE = `
import assert from 'assert'
import { index } from 'contract'

export async function get ({ path }) {
  assert(typeof path === 'string' && path.length > 0)
  return await index.get(path)
}
export function put ({ path, value }, emit) {
  assert(typeof path === 'string' && path.length > 0)
  emit({ op: 'PUT', path, value })
}
export const apply = {
  PUT (tx, op, ack) {
    assert(typeof op.path === 'string' && op.path.length > 0)
    tx.put(op.path, op.value)
  }
}
`

// ------------------------------------------------------------------ base

test('vitra flows - base: simple full db run', async t => {
  const db = await created(t, SIMPLE)
  t.ok(db.opened)
  t.absent(db.opening)
  t.absent(db.closing)
  t.absent(db.closed)
  t.ok(db.pubkey)
  t.ok(db.isExecutor)
  t.ok(db.isParticipant)
  t.ok(db.localOplog)
  const before = await db.call('get', { path: '/foo' })
  const put = await db.call('put', { path: '/foo', value: 'hello world' })
  await db.executor?.sync()
  const after = await db.call('get', { path: '/foo' })
  t.absent(before.response)
  t.alike(put.ops[0].value, { op: 'PUT', path: '/foo', value: 'hello world' })
  t.is(valueAt(after.response), 'hello world')
})

test('vitra flows - base: a second instance loaded on the same storage runs', async t => {
  const storage = new StorageInMemory()
  const db = await created(t, SIMPLE, {}, storage)
  await db.call('put', { path: '/foo', value: 'hello world' })
  await db.call('put', { path: '/bar', value: 'hello world' })
  await db.executor?.sync()
  const second = await Database.load(storage, db.pubkey)
  t.teardown(() => second.close())
  t.is(valueAt((await second.call('get', { path: '/foo' })).response), 'hello world')
  await db.call('put', { path: '/foo', value: 'hello world!!' })
  await db.executor?.sync()
  t.is(valueAt((await second.call('get', { path: '/foo' })).response), 'hello world!!', 'it sees the first one\'s writes')
})

test('vitra flows - base: simple db run with verification', async t => {
  const db = await created(t, SIMPLE)
  const r1 = await db.call('get', { path: '/foo' })
  const r2 = await db.call('put', { path: '/foo', value: 'hello world' })
  await db.executor?.sync()
  const r3 = await db.call('put', { path: '/foo', value: 'hello world!' })
  await db.executor?.sync()
  const r4 = await db.call('get', { path: '/foo' })
  t.absent(r1.response)
  t.alike(r2.ops[0].value, { op: 'PUT', path: '/foo', value: 'hello world' })
  t.alike(r3.ops[0].value, { op: 'PUT', path: '/foo', value: 'hello world!' })
  t.is(valueAt(r4.response), 'hello world!')
  await db.verify()
})

test('vitra flows - base: simple db run with active monitoring', async t => {
  const db = await created(t, SIMPLE)
  const monitor = await db.monitor()
  t.teardown(() => monitor.close())
  const events: HistoryEntry[] = []
  const validated = new Promise<void>(resolve => {
    monitor.on('validated', (e: HistoryEntry) => {
      events.push(e)
      if (monitor.verifiedLength === 5) resolve()
    })
  })
  const r1 = await db.call('get', { path: '/foo' })
  const r2 = await db.call('put', { path: '/foo', value: 'hello world' })
  await db.executor?.sync()
  const r3 = await db.call('get', { path: '/foo' })
  t.absent(r1.response)
  t.alike(r2.ops[0].value, { op: 'PUT', path: '/foo', value: 'hello world' })
  t.is(valueAt(r3.response), 'hello world')
  await validated
  t.alike(events.slice(0, 5).map(e => e.type), ['put', 'put', 'put', 'put', 'put'])
  t.is(events[2].path, '/.sys/acks/genesis')
  t.is(events[4].path, '/foo')
})

// ------------------------------------------------------------------ contract-code

const V1 = `
import { index } from 'contract'

export async function get ({ path }) { return await index.get(path) }
export function put ({ path, value }, emit) { emit({ op: 'PUT', path, value }) }
export function setSource ({ code }, emit) { emit({ op: 'SET_SOURCE', code }) }
export const apply = {
  PUT (tx, op) { tx.put(op.path, op.value) },
  SET_SOURCE (tx, op) { tx.setContractSource({ code: op.code }) }
}
`
const V2 = `
import { index } from 'contract'

export async function getValue ({ path }) { return await index.get(path) }
export function putValue ({ path, value }, emit) { emit({ op: 'PUT', path, value }) }
export const apply = { PUT (tx, op) { tx.put(op.path, op.value) } }
`

test('vitra flows - contract-code: change the contract source during execution', async t => {
  const db = await created(t, V1)
  const r1 = await db.call('get', { path: '/foo' })
  const r2 = await db.call('put', { path: '/foo', value: 'hello world' })
  await r2.whenProcessed()
  const r3 = await db.call('get', { path: '/foo' })
  t.absent(r1.response)
  t.alike(r2.ops[0].value, { op: 'PUT', path: '/foo', value: 'hello world' })
  t.is(valueAt(r3.response), 'hello world')
  const r4 = await db.call('setSource', { code: V2 })
  await r4.whenProcessed()
  const results = await r4.fetchResults()
  t.is(results[0]?.changes[0]?.path, '/.sys/contract/source')
  t.is(results[0]?.changes[0]?.value, V2)
  const r5 = await db.call('putValue', { path: '/foo', value: 'hello world!' })
  await r5.whenProcessed()
  const r6 = await db.call('getValue', { path: '/foo' })
  t.alike(r5.ops[0].value, { op: 'PUT', path: '/foo', value: 'hello world!' })
  t.is(valueAt(r6.response), 'hello world!')
  await db.verify()
})

// ------------------------------------------------------------------ debugging

const SIMPLE_UPPER = SIMPLE.replace('tx.put(op.path, op.value)', 'tx.put(op.path, op.value.toUpperCase())')

test('vitra flows - debugging: test sandboxes of an active contract leave the deployment alone', async t => {
  const db = await created(t, SIMPLE)
  await db.call('put', { path: '/foo', value: 'hello world' })
  await db.executor?.sync()
  const sbx = await Database.createSandbox({ from: db })
  t.teardown(() => sbx.close())
  const r1 = await sbx.call('get', { path: '/foo' })
  await sbx.call('put', { path: '/foo', value: 'hello sandbox' })
  await sbx.executor?.sync()
  const sbx2 = await Database.createSandbox({ from: db, contract: { source: SIMPLE_UPPER } })
  t.teardown(() => sbx2.close())
  await sbx2.call('put', { path: '/foo', value: 'hello sandbox 2' })
  await sbx2.executor?.sync()
  t.is(valueAt(r1.response), 'hello world')
  t.is(valueAt((await db.call('get', { path: '/foo' })).response), 'hello world')
  t.is(valueAt((await sbx.call('get', { path: '/foo' })).response), 'hello sandbox')
  t.is(valueAt((await sbx2.call('get', { path: '/foo' })).response), 'HELLO SANDBOX 2')
})

// README "Coming from Vitra", first row: Vitra creates the database and emits 'error'
// when the VM starts; vitra refuses to create it, with line and column.
test('vitra flows - debugging: a parse error in the contract code (refused at create)', async t => {
  const err = await Database.create(new StorageInMemory(), { contract: { source: '!@#$IASDFklj;14li3kjzs' } }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof ContractParseError, 'ContractParseError')
})

test('vitra flows - debugging: a runtime error in the contract\'s module code (refused at create)', async t => {
  const err = await Database.create(new StorageInMemory(), { contract: { source: 'foo()' } }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof ContractParseError, `refused at create: ${(err as Error | null)?.message ?? ''}`)
})

test('vitra flows - debugging: a runtime error in a contract call', async t => {
  const db = await created(t, 'export function test () { foo() }')
  const err = await db.call('test', {}).then(() => null, (e: unknown) => e)
  t.ok(err instanceof ContractRuntimeError)
})

// README "Coming from Vitra", second row: the ack says what failed; no 'error' event.
test('vitra flows - debugging: runtime errors in apply()', async t => {
  const db = await created(t, `
export function normalError (_, emit) { emit({ op: 'NORMAL_ERROR' }) }
export function runtimeError (_, emit) { emit({ op: 'RUNTIME_ERROR' }) }
export const apply = {
  NORMAL_ERROR () { throw new Error('Expected') },
  RUNTIME_ERROR () { foo() }
}`)
  let errorEvent: unknown = null
  db.on('error', (e: unknown) => { errorEvent = e })
  const tx1 = await db.call('normalError', {})
  await tx1.whenProcessed()
  const tx2 = await db.call('runtimeError', {})
  await tx2.whenProcessed()
  t.is((await tx1.fetchResults())[0]?.error, 'Error: Expected')
  t.is((await tx2.fetchResults())[0]?.error, 'ReferenceError: foo is not defined')
  t.is((await tx2.fetchAcks())[0]?.errorCode, 'CONTRACT_RUNTIME_ERROR')
  t.is(errorEvent, null, 'no error event (an unheard one would crash the host)')
})

// README "Coming from Vitra", third row: a process() that throws fails the op (PROCESS_FAILED).
test('vitra flows - debugging: runtime errors in process()', async t => {
  const db = await created(t, `
export function normalError (_, emit) { emit({ op: 'NORMAL_ERROR' }) }
export function runtimeError (_, emit) { emit({ op: 'RUNTIME_ERROR' }) }
export function process (op) {
  if (op.op === 'NORMAL_ERROR') throw new Error('Expected')
  else foo()
}
export const apply = { NORMAL_ERROR () {}, RUNTIME_ERROR () {} }`)
  let errorEvent: unknown = null
  db.on('error', (e: unknown) => { errorEvent = e })
  const tx1 = await db.call('normalError', {})
  await tx1.whenProcessed()
  const tx2 = await db.call('runtimeError', {})
  await tx2.whenProcessed()
  t.is((await tx1.fetchAcks())[0]?.errorCode, 'PROCESS_FAILED')
  t.is((await tx2.fetchAcks())[0]?.errorCode, 'PROCESS_FAILED')
  t.is(errorEvent, null)
})

// ------------------------------------------------------------------ index

test('vitra flows - index: batch modifications', async t => {
  const idx = await IndexLog.create(new StorageInMemory())
  t.teardown(() => idx.close())
  await idx.dangerousBatch([
    { type: 'put', path: '/foo', value: 1 },
    { type: 'put', path: 'bar', value: 2 },
    { type: 'put', path: '/baz/buz', value: 3 },
    { type: 'del', path: 'nothing' }
  ])
  t.is(idx.length, 4)
  await t.exception(async () => await idx.dangerousBatch([{ type: 'wrong', path: '/foo', value: 100 } as never]))
  await t.exception(async () => await idx.dangerousBatch([{ type: 'put', path: '', value: 100 }]))
})

test('vitra flows - index: list', async t => {
  const idx = await IndexLog.create(new StorageInMemory())
  t.teardown(() => idx.close())
  const paths = ['/a', '/a/a', '/a/b', '/a/c', '/a/c/a', '/a/d/a', '/a/d/b', '/a/e', '/b', '/c', '/d', '/e/a/a/a', '/e/a/a/b', '/e/a/a/c']
  await idx.dangerousBatch(paths.map(path => ({ type: 'put' as const, path, value: path })))
  // a trailing '/' in the expectation: a folder
  const expect = async (got: Promise<Array<{ path: string, container: boolean }>>, want: string[], what: string): Promise<void> => {
    t.alike((await got).map(e => e.container ? e.path + '/' : e.path), want, what)
  }
  await expect(idx.list('/'), ['/a/', '/b', '/c', '/d', '/e/'], "'/'")
  await expect(idx.list(''), ['/a/', '/b', '/c', '/d', '/e/'], "''")
  await expect(idx.list('/a'), ['/a/a', '/a/b', '/a/c/', '/a/d/', '/a/e'], '/a')
  await expect(idx.list('/a/'), ['/a/a', '/a/b', '/a/c/', '/a/d/', '/a/e'], '/a/')
  await expect(idx.list('/a/b'), [], '/a/b')
  await expect(idx.list('/a/b/'), [], '/a/b/')
  await expect(idx.list('/a/c'), ['/a/c/a'], '/a/c')
  await expect(idx.list('/a/c/'), ['/a/c/a'], '/a/c/')
  await expect(idx.list('/a/d'), ['/a/d/a', '/a/d/b'], '/a/d')
  await expect(idx.list('/e'), ['/e/a/'], '/e')
  await expect(idx.list('/e/a'), ['/e/a/a/'], '/e/a')
  await expect(idx.list('/e/a/a'), ['/e/a/a/a', '/e/a/a/b', '/e/a/a/c'], '/e/a/a')
  await expect(idx.list('/', { offset: 1 }), ['/b', '/c', '/d', '/e/'], 'offset')
  await expect(idx.list('/', { limit: 4 }), ['/a/', '/b', '/c', '/d'], 'limit')
  await expect(idx.list('/', { offset: 1, limit: 3 }), ['/b', '/c', '/d'], 'offset + limit')
  await expect(idx.list('/', { reverse: true }), ['/e/', '/d', '/c', '/b', '/a/'], 'reverse')
  await expect(idx.list('/', { reverse: true, offset: 1 }), ['/d', '/c', '/b', '/a/'], 'reverse + offset')
  await expect(idx.list('/', { reverse: true, limit: 4 }), ['/e/', '/d', '/c', '/b'], 'reverse + limit')
  await expect(idx.list('/', { reverse: true, offset: 1, limit: 3 }), ['/d', '/c', '/b'], 'reverse + offset + limit')
})

test('vitra flows - index: get', async t => {
  const idx = await IndexLog.create(new StorageInMemory())
  t.teardown(() => idx.close())
  await idx.dangerousBatch(['/a', '/a/a', '/a/b', '/a/c', '/a/c/a'].map(path => ({ type: 'put' as const, path, value: path })))
  for (const [asked, name, path] of [['/a', 'a', '/a'], ['a', 'a', '/a'], ['/a/', 'a', '/a'], ['a/', 'a', '/a'], ['/a/a', 'a', '/a/a'], ['/a/b', 'b', '/a/b'], ['/a/c', 'c', '/a/c'], ['/a/c/a', 'a', '/a/c/a']]) {
    const e = await idx.get(asked)
    t.ok(e !== undefined && e.name === name && e.path === path && e.value === path, `get(${JSON.stringify(asked)})`)
  }
})

// ------------------------------------------------------------------ networking

test('vitra flows - networking: load and read over the network (swarm({ local: true }))', { timeout: 60_000 }, async t => {
  const db1 = await created(t, SIMPLE)
  await db1.swarm({ local: true })
  const tx1 = await db1.call('put', { path: '/foo', value: 'hello world' })
  await tx1.whenProcessed()
  const db2 = await Database.load(new StorageInMemory(), db1.pubkey)
  t.teardown(() => db2.close())
  await db2.swarm({ local: true })
  await db2.whenConnected()
  t.is(valueAt((await db2.call('get', { path: '/foo' })).response), 'hello world')
})

// ------------------------------------------------------------------ oplogs

const OPLOGS = `
import assert from 'assert'
import { index } from 'contract'

const isKey = (k) => typeof k === 'string' && k.length === 64
export function get ({ key }) { assert(typeof key === 'string' && key.length > 0); return index.get(key) }
export function put ({ key, value }, emit) { assert(typeof key === 'string' && key.length > 0); emit({ op: 'PUT', key, value }) }
export function addOplog ({ pubkey }, emit) { assert(isKey(pubkey)); emit({ op: 'ADD_OPLOG', pubkey }) }
export function addOplogs ({ pubkeys }, emit) { assert(Array.isArray(pubkeys) && pubkeys.every(isKey)); emit({ op: 'ADD_OPLOGS', pubkeys }) }
export function removeOplog ({ pubkey }, emit) { assert(isKey(pubkey)); emit({ op: 'REMOVE_OPLOG', pubkey }) }
export function removeOplogs ({ pubkeys }, emit) { assert(Array.isArray(pubkeys) && pubkeys.every(isKey)); emit({ op: 'REMOVE_OPLOGS', pubkeys }) }
export const apply = {
  PUT (tx, op) { tx.put(op.key, op.value) },
  ADD_OPLOG (tx, op) { tx.addOplog({ pubkey: op.pubkey }) },
  ADD_OPLOGS (tx, op) { for (const pubkey of op.pubkeys) tx.addOplog({ pubkey }) },
  REMOVE_OPLOG (tx, op) { tx.removeOplog({ pubkey: op.pubkey }) },
  REMOVE_OPLOGS (tx, op) { for (const pubkey of op.pubkeys) tx.removeOplog({ pubkey }) }
}
`

const hexOf = (core: { key: Buffer }): string => core.key.toString('hex')

test('vitra flows - oplogs: add oplogs', async t => {
  const storage1 = new StorageInMemory()
  const storage2 = new StorageInMemory()
  t.teardown(() => storage2.destroy())
  const db = await created(t, OPLOGS, {}, storage1)
  const cores: Array<{ key: Buffer }> = []
  for (let i = 0; i < 10; i++) cores.push(await storage2.createHypercore())
  await db.call('addOplog', { pubkey: hexOf(cores[0]) })
  await db.executor?.sync()
  t.is(db.oplogs.length, 2)
  t.is(db.oplogs.at(1)?.pubkey.toString('hex'), hexOf(cores[0]))
  await db.call('addOplog', { pubkey: hexOf(cores[1]) })
  await db.call('addOplog', { pubkey: hexOf(cores[2]) })
  await db.executor?.sync()
  t.is(db.oplogs.length, 4)
  t.is(db.oplogs.at(2)?.pubkey.toString('hex'), hexOf(cores[1]))
  t.is(db.oplogs.at(3)?.pubkey.toString('hex'), hexOf(cores[2]))
  await db.call('addOplogs', { pubkeys: cores.slice(3).map(hexOf) })
  await db.executor?.sync()
  t.is(db.oplogs.length, 11)
  t.ok(cores.slice(3).every(c => db.oplogs.some(o => o.pubkey.equals(c.key))))
  const db2 = await Database.load(storage1, db.pubkey, { executorBehavior: ExecutorBehavior.DISABLED })
  t.teardown(() => db2.close())
  t.is(db2.oplogs.length, 11, 'a fresh instance reads the same participants')
  t.ok(cores.every(c => db2.oplogs.some(o => o.pubkey.equals(c.key))))
})

test('vitra flows - oplogs: remove oplogs', async t => {
  const storage1 = new StorageInMemory()
  const storage2 = new StorageInMemory()
  t.teardown(() => storage2.destroy())
  const db = await created(t, OPLOGS, {}, storage1)
  const cores: Array<{ key: Buffer }> = []
  for (let i = 0; i < 10; i++) cores.push(await storage2.createHypercore())
  const has = (d: Db, i: number): boolean => d.oplogs.some(o => o.pubkey.equals(cores[i].key))
  await db.call('addOplogs', { pubkeys: cores.slice(0, 5).map(hexOf) })
  await db.executor?.sync()
  t.is(db.oplogs.length, 6)
  t.ok([0, 1, 2, 3, 4].every(i => has(db, i)))
  await db.call('removeOplog', { pubkey: hexOf(cores[0]) })
  await db.executor?.sync()
  t.is(db.oplogs.length, 5)
  t.absent(has(db, 0))
  await db.call('removeOplog', { pubkey: hexOf(cores[1]) })
  await db.call('removeOplog', { pubkey: hexOf(cores[2]) })
  await db.executor?.sync()
  t.is(db.oplogs.length, 3)
  t.absent(has(db, 1) || has(db, 2))
  await db.call('addOplogs', { pubkeys: cores.slice(5).map(hexOf) })
  await db.executor?.sync()
  t.is(db.oplogs.length, 8)
  t.ok([3, 4, 5, 6, 7, 8, 9].every(i => has(db, i)))
  await db.call('removeOplogs', { pubkeys: cores.slice(0, 9).map(hexOf) })
  await db.executor?.sync()
  t.is(db.oplogs.length, 2)
  t.ok([0, 1, 2, 3, 4, 5, 6, 7, 8].every(i => !has(db, i)))
  t.ok(has(db, 9))
  const db2 = await Database.load(storage1, db.pubkey, { executorBehavior: ExecutorBehavior.DISABLED })
  t.teardown(() => db2.close())
  t.is(db2.oplogs.length, 2)
  t.ok(has(db2, 9))
})

test('vitra flows - oplogs: execute ops on added oplogs', async t => {
  const storage = new StorageInMemory()
  const db = await created(t, OPLOGS, {}, storage)
  const second = await storage.createHypercore()
  await db.call('addOplog', { pubkey: hexOf(second) })
  await db.executor?.sync()
  t.is(db.oplogs.length, 2)
  t.is(db.oplogs.at(1)?.pubkey.toString('hex'), hexOf(second))
  await db.setLocalOplog(db.oplogs.at(1) as InstanceType<typeof OpLog>)
  const tx = await db.call('put', { key: 'foo', value: 'bar' })
  await tx.whenProcessed()
  t.is(valueAt((await db.call('get', { key: 'foo' })).response), 'bar')
  const tx3 = await db.call('put', { key: 'foo', value: 'baz' })
  await tx3.whenProcessed()
  t.is(valueAt((await db.call('get', { key: 'foo' })).response), 'baz')
  t.is(db.oplogs.at(0)?.length, 1)
  t.is(db.oplogs.at(1)?.length, 2)
})

test('vitra flows - oplogs: ops on a removed oplog are not executed', async t => {
  const storage = new StorageInMemory()
  const db = await created(t, OPLOGS, {}, storage)
  const secondCore = await storage.createHypercore()
  await db.call('addOplog', { pubkey: hexOf(secondCore) })
  await db.executor?.sync()
  t.is(db.oplogs.length, 2)
  const secondKey = db.oplogs.at(1)?.pubkey as Buffer
  t.is(secondKey.toString('hex'), hexOf(secondCore))
  await db.setLocalOplog(db.oplogs.at(1) as InstanceType<typeof OpLog>)
  const tx = await db.call('put', { key: 'foo', value: 'bar' })
  await tx.whenProcessed()
  t.is(valueAt((await db.call('get', { key: 'foo' })).response), 'bar')
  await db.setLocalOplog(db.oplogs.at(0) as InstanceType<typeof OpLog>)
  const tx3 = await db.call('removeOplog', { pubkey: secondKey.toString('hex') })
  await tx3.whenProcessed()
  const secondOplog = new OpLog(await storage.getHypercore(secondKey))
  await db.setLocalOplog(secondOplog)
  await db.call('put', { key: 'foo', value: 'baz' })
  await db.executor?.sync()
  t.is(valueAt((await db.call('get', { key: 'foo' })).response), 'bar', 'not changed')
  t.is(secondOplog.length, 2, 'although the op is in the removed oplog')
})

// ------------------------------------------------------------------ proofs

const PROOFS = `
import assert from 'assert'
export function put ({ path, value }, emit) { emit({ op: 'PUT', path, value }); return { done: true } }
export const apply = {
  PUT (tx, op, ack) {
    assert(typeof op.path === 'string' && op.path.length > 0)
    tx.put(op.path, op.value)
  }
}
`

async function provenPut (t: Assertion, db: Db, params: Record<string, JsonValue>): Promise<Awaited<ReturnType<Db['call']>>> {
  const tx = await db.call('put', params)
  t.is(tx.ops.length, 1)
  await tx.ops[0].verifyInclusion()
  const json = (tx.ops[0].proof as unknown as { toJSON: () => unknown }).toJSON()
  await verifyInclusionProof(json, { database: db as never })
  await tx.whenProcessed()
  return tx
}

test('vitra flows - proofs: op inclusion proof of a successful transaction', async t => {
  const db = await created(t, PROOFS)
  const tx = await provenPut(t, db, { path: '/foo', value: 'hello world' })
  const obj = await tx.toJSON({ includeValues: true })
  t.is(obj.isProcessed, true)
  t.is(obj.operations[0]?.result?.success, true)
  t.is(obj.operations[0]?.result?.changes?.length, 1)
  const clone = Transaction.fromJSON(db, obj)
  await clone.verifyInclusion()
  t.pass('the reopened transaction verifies')
})

test('vitra flows - proofs: op inclusion proof of an unsuccessful transaction', async t => {
  const db = await created(t, PROOFS)
  const tx = await provenPut(t, db, { value: 'hello world' })
  const obj = await tx.toJSON({ includeValues: true })
  t.is(obj.isProcessed, true)
  t.is(obj.operations[0]?.result?.success, false)
  t.is(obj.operations[0]?.result?.changes?.length, 0)
  await Transaction.fromJSON(db, obj).verifyInclusion()
  t.pass('the reopened transaction verifies')
})

// README "Coming from Vitra" (LogForkFraudProof row): a log truncated to nothing holds
// no signed head to prove anything with: LOG_TRUNCATED. Truncated and rewritten, it is a
// LogForkFraudProof of two signed heads (the next flow).
test('vitra flows - proofs: the oplog truncated away an op after publishing it', async t => {
  const db = await created(t, PROOFS)
  const tx = await provenPut(t, db, { path: '/foo', value: 'hello world' })
  await db.localOplog?.core.truncate(0)
  const err = await tx.ops[0].verifyInclusion().then(() => null, (e: { code?: string }) => e)
  t.is(err?.code, 'LOG_TRUNCATED')
})

// Vitra's flow swaps the oplog's core for one of another storage through its internals
// (storage.keyPairs, assigning oplog.core); the same fact here: the oplog now holds
// another op at that seq, signed by the same key.
test('vitra flows - proofs: the oplog replaced a published op (fraud proof)', async t => {
  const db = await created(t, PROOFS)
  const tx = await provenPut(t, db, { path: '/foo', value: 'hello world' })
  await db.localOplog?.core.truncate(0)
  await db.localOplog?.append({ op: 'PUT', path: '/foo', value: 'hello world!' })
  const err = await tx.ops[0].verifyInclusion().then(() => null, (e: unknown) => e)
  t.ok(err instanceof LogForkFraudProof, 'LogForkFraudProof')
  const obj = (err as LogForkFraudProof).toJSON() as unknown as Record<string, unknown>
  t.is(obj.type, 'vitra/log-fork-proof')
})

// Vitra's flow gives the database an empty copy of its own oplog through its internals;
// the same situation here: an instance that holds the oplog's key but not its blocks.
test('vitra flows - proofs: an oplog copy too short to tell cannot verify', async t => {
  const db = await created(t, PROOFS)
  const tx = await provenPut(t, db, { path: '/foo', value: 'hello world' })
  const json = JSON.parse(JSON.stringify(tx)) as unknown
  let cut = (): void => {}
  const reader = await Database.load(new StorageInMemory(), db.pubkey, { onCorestore: store => { cut = pipe(db.store, store) } })
  t.teardown(() => reader.close())
  cut() // nothing more reaches it
  const e = await reader.transaction(json).verifyInclusion().then(() => null, (x: { code?: string }) => x)
  t.is(e?.code, 'COULD_NOT_VERIFY')
  t.ok(e instanceof BlocksNotAvailableError, 'Vitra\'s BlocksNotAvailableError')
})

// ------------------------------------------------------------------ transactions

const META = `
export async function succeed (_, emit) { emit({ op: 'SUCCEED' }) }
export async function fail (_, emit) { emit({ op: 'FAIL' }) }
export function process (op) { return { foo: 'bar' } }
export const apply = {
  SUCCEED (tx, op, ack) { tx.put('/success', ack.metadata) },
  FAIL (tx, op, ack) { throw new Error('TX failed') }
}
`

test('vitra flows - transactions: process() metadata', async t => {
  const db = await created(t, META)
  await db.call('succeed', {})
  await db.executor?.sync()
  t.alike((await db.index.get('/success'))?.value, { foo: 'bar' })
})

test('vitra flows - transactions: await call results (success)', async t => {
  const db = await created(t, META)
  const tx = await db.call('succeed', {})
  await tx.whenProcessed()
  const results = await tx.fetchResults()
  t.is(results.length, 1)
  const r = results[0]
  t.ok(r?.success)
  t.absent(r?.error)
  t.is(typeof r?.seq, 'number')
  t.is(typeof r?.ts, 'number')
  t.alike(r?.metadata, { foo: 'bar' })
  t.is(r?.numChanges, 1)
  t.is(r?.changes.length, 1)
  t.alike(r?.changes[0], { type: 'put', seq: 5, path: '/success', value: { foo: 'bar' } })
})

test('vitra flows - transactions: await call results (failure)', async t => {
  const db = await created(t, META)
  const tx = await db.call('fail', {})
  await tx.whenProcessed()
  const results = await tx.fetchResults()
  t.is(results.length, 1)
  const r = results[0]
  t.absent(r?.success)
  t.is(r?.error, 'Error: TX failed')
  t.is(typeof r?.seq, 'number')
  t.is(typeof r?.ts, 'number')
  t.alike(r?.metadata, { foo: 'bar' })
  t.is(r?.numChanges, 0)
  t.is(r?.changes.length, 0)
})

// ------------------------------------------------------------------ verification

const PLAIN = `
import { index } from 'contract'

export async function get ({ path }) { return await index.get(path) }
export function put ({ path, value }, emit) { emit({ op: 'PUT', path, value }) }
export const apply = { PUT (tx, op) { tx.put(op.path, op.value) } }
`

/** A database with a misbehaving executor and a monitor; resolves the first violation the monitor reports. */
async function cheating (t: Assertion, behavior: string): Promise<{ db: Db, violation: Promise<ContractFraudProof> }> {
  const db = await created(t, PLAIN, { executorBehavior: behavior })
  const monitor = await db.monitor()
  t.teardown(() => monitor.close())
  const violation = new Promise<ContractFraudProof>(resolve => monitor.on('violation', (p: ContractFraudProof) => resolve(p)))
  return { db, violation }
}

async function verifyFails (db: Db): Promise<ContractFraudProof | null> {
  return await db.verify().then(() => null, (e: unknown) => e as ContractFraudProof)
}

test('vitra flows - verification: the executor processed an op twice', async t => {
  const { db, violation } = await cheating(t, ExecutorBehavior.TEST_PROCESS_OP_MULTIPLE_TIMES)
  await db.call('put', { path: '/foo', value: 'hello world' })
  await db.executor?.sync()
  for (const v of [await violation, await verifyFails(db)]) {
    t.is(v?.details.code, 'ProcessedOutOfOrderError')
    t.is(v?.details.data.expectedSeq, 1)
    t.is(v?.details.data.executedSeq, 0)
  }
})

test('vitra flows - verification: the executor skipped an op', async t => {
  const { db, violation } = await cheating(t, ExecutorBehavior.TEST_SKIP_OPS)
  await db.call('put', { path: '/foo', value: 'hello world' })
  await db.call('put', { path: '/bar', value: 'hello world!' })
  await db.call('put', { path: '/baz', value: 'hello world!!' })
  await db.executor?.sync()
  for (const v of [await violation, await verifyFails(db)]) {
    t.is(v?.details.code, 'ProcessedOutOfOrderError')
    t.is(v?.details.data.expectedSeq, 1)
    t.is(v?.details.data.executedSeq, 2)
  }
})

test('vitra flows - verification: the executor\'s writes do not match the contract', async t => {
  const { db, violation } = await cheating(t, ExecutorBehavior.TEST_WRONG_OP_MUTATIONS)
  await db.call('put', { path: '/foo', value: 'hello world' })
  await db.call('put', { path: '/bar', value: 'hello world!' })
  await db.call('put', { path: '/baz', value: 'hello world!!' })
  await db.executor?.sync()
  for (const v of [await violation, await verifyFails(db)]) {
    t.is(v?.details.code, 'ChangeMismatchError')
    t.alike(v?.details.data.expectedChange, { path: '/foo', type: 'put', value: 'hello world' })
  }
})

test('vitra flows - verification: the executor processed an op of a non-participant', async t => {
  const { db, violation } = await cheating(t, ExecutorBehavior.TEST_WRONG_OP_MUTATIONS)
  const evil = await OpLog.create(db.storage)
  void db.oplogs.add(evil)
  await db.setLocalOplog(evil)
  await db.call('put', { path: '/foo', value: 'hello world' })
  await db.executor?.sync()
  for (const v of [await violation, await verifyFails(db)]) t.is(v?.details.code, 'NonParticipantError')
})

// ------------------------------------------------------------------ beyond the suite: the rest of Vitra's exports

test('vitra compat - new Storage(path), its hypercores, keyToBuf / keyToStr', async t => {
  const { Storage, keyToBuf, keyToStr } = await import('../src/compat.js')
  const dir = await t.tmp()
  const storage = new Storage(dir)
  const db = await Database.create(storage, { contract: { source: SIMPLE } })
  const core = await storage.createHypercore()
  t.ok(core.writable, 'createHypercore gives a writable core')
  await (await db.call('put', { path: '/foo', value: 1 })).whenProcessed()
  await db.setLocalOplog(new OpLog(core))
  const refused = await db.call('put', { path: '/foo', value: 2 }).then(() => null, (e: { code?: string }) => e)
  t.is(refused, null, 'vitra/compat appends to an oplog that does not take part')
  await db.close()
  const again = await Database.load(new Storage(dir))
  t.teardown(() => again.close())
  t.ok((await again.openOplog(core.key.toString('hex'))).writable, 'after a restart the oplog set with setLocalOplog is still a local, writable one')
  t.is(keyToStr(core.key), core.key.toString('hex'))
  t.ok(keyToBuf(core.key.toString('hex')).equals(core.key))
  t.exception(() => keyToBuf('abc'), /Invalid key/)
})
