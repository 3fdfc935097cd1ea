// One lifecycle (src/lifecycle): the owners of what a process shares between databases
// (SharedPool, ProcessClaims) on their own, and through real databases: two instances on
// one storage share its Corestore, one of them runs the executor, and in-memory storage
// is removed when its last user closes.
import test from 'brittle'
import { existsSync } from 'fs'
import { ProcessClaims, SharedPool } from '../src/lifecycle/shared.js'
import { Database, StorageInMemory } from '../src/index.js'
import { contract } from './helpers.js'

test('SharedPool: opened by the first lease, closed by the last release, once', async t => {
  const closed: string[] = []
  let opened = 0
  const pool = new SharedPool<string, { name: string }>(async v => { closed.push(v.name) })
  const open = (key: string): { name: string } => { opened++; return { name: key } }
  const a = pool.acquire('x', open)
  const b = pool.acquire('x', open)
  t.is(opened, 1, 'the second lease shares the first one\'s resource')
  t.is(a.value, b.value)
  t.is(pool.leases('x'), 2)
  t.is(await a.release(), false, 'a lease released while another is held does not close')
  t.is(await a.release(), false, 'a second release of the same lease does nothing')
  t.is(pool.leases('x'), 1, 'and does not count twice')
  t.alike(closed, [])
  t.is(await b.release(), true, 'the last release closes')
  t.alike(closed, ['x'])
  t.is(pool.peek('x'), undefined)
  const c = pool.acquire('x', open)
  t.is(opened, 2, 'after the close, the next lease opens afresh')
  await c.release()
  t.alike(pool.keys(), [])
})

test('ProcessClaims: one holder per key; a release frees it, once', t => {
  const claims = new ProcessClaims<string>()
  const release = claims.claim('k')
  t.ok(release !== null)
  t.is(claims.claim('k'), null, 'a second claim on a held key is refused')
  t.ok(claims.claim('other') !== null, 'other keys are independent')
  release?.()
  t.is(claims.has('k'), false)
  const again = claims.claim('k')
  t.ok(again !== null, 'free again after the release')
  release?.() // a stale release must not free the new holder's claim
  t.is(claims.has('k'), true)
})

test('two databases on one storage: one executor, one Corestore, the storage removed with the last', async t => {
  const storage = new StorageInMemory()
  const first = await Database.create(storage, { contract: { source: contract('counter') } })
  const second = await Database.load(storage, first.pubkey)
  t.ok(first.isExecutor, 'the first instance runs the executor')
  t.absent(second.isExecutor, 'the second one follows its writes')
  const tx = await second.call('increment', {})
  await tx.whenProcessed()
  t.is((await first.call('get', {})).response, 1, 'the second instance\'s op is executed by the first one\'s executor')
  const dir = storage.dir
  await first.close()
  t.ok(existsSync(dir), 'the storage stays while an instance uses it')
  t.is((await second.call('get', {})).response, 1, 'and the other instance still reads it')
  await second.close()
  t.absent(existsSync(dir), 'the last instance closed: the in-memory storage is gone')
})
