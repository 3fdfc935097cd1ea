import test from 'brittle'
import type { Assertion } from 'brittle'
import type { Database, ContractTransaction } from '../src/index.js'
import { contract, createDb, eventually, follow, valueAt } from './helpers.js'

async function done (tx: ContractTransaction): Promise<{ success: boolean, error?: string }> {
  await tx.whenProcessed({ timeout: 10000 })
  const [r] = await tx.fetchResults()
  return { success: r?.success === true, error: r?.error }
}

/** A follower with its own oplog (not yet a participant). */
async function member (t: Assertion, db: Database): Promise<{ peer: Database, hex: string }> {
  const peer = await follow(t, db)
  const log = await peer.createOplog()
  return { peer, hex: log.hex }
}

async function becomesParticipant (peer: Database): Promise<boolean> {
  return await eventually(async () => { await peer.refresh(); return peer.isParticipant }, 5000)
}

test('counter - increment with amount, bad amount refused at call time', async t => {
  const db = await createDb(t, contract('counter'))
  await done(await db.call('increment', { amount: 5 }))
  await done(await db.call('increment', { amount: -2 }))
  t.is((await db.call('get')).response, 3)
  await t.exception(db.call('increment', { amount: 'x' }), /integer/)
})

test('kv-store - put, get, list, del', async t => {
  const db = await createDb(t, contract('kv-store'))
  t.ok((await done(await db.call('put', { key: 'a', value: { n: 1 } }))).success)
  t.ok((await done(await db.call('put', { key: 'b', value: [1, 2] }))).success)
  t.alike((await db.call('get', { key: 'a' })).response, { n: 1 })
  t.ok((await done(await db.call('put', { key: 'c/d', value: 3 }))).success)
  t.alike((await db.call('list')).response, [{ key: 'a', value: { n: 1 }, container: false }, { key: 'b', value: [1, 2], container: false }, { key: 'c', value: null, container: true }])
  t.alike((await db.call('list', { prefix: 'c' })).response, [{ key: 'c/d', value: 3, container: false }])
  t.alike((await db.call('list', { limit: 1 })).response, [{ key: 'a', value: { n: 1 }, container: false }])
  t.ok((await done(await db.call('del', { key: 'a' }))).success)
  t.is((await db.call('get', { key: 'a' })).response, null)
  t.is((await db.call('getAdmin')).response, db.localOplog?.hex, 'the creator is the admin')
  await t.exception(db.call('put', { key: '', value: 1 }), /key/)
})

test('kv-store - the admin adds and removes participants; others cannot', async t => {
  const db = await createDb(t, contract('kv-store'))
  const b = await member(t, db)
  const c = await member(t, db)
  t.ok((await done(await db.call('addParticipant', { pubkey: b.hex }))).success)
  t.ok(await becomesParticipant(b.peer))
  t.ok((await done(await b.peer.call('put', { key: 'from-b', value: 1 }))).success, 'participant writes')
  t.is(await valueAt(db, '/values/from-b'), 1)
  const refused = await done(await b.peer.call('addParticipant', { pubkey: c.hex }))
  t.is(refused.success, false)
  t.ok(/admin/.test(refused.error ?? ''), refused.error)
  t.ok((await done(await db.call('removeParticipant', { pubkey: b.hex }))).success)
  t.ok(await eventually(async () => { await b.peer.refresh(); return !b.peer.isParticipant }))
})

test('membership-voting - majority with 1, 2, 3 and 5 participants', async t => {
  const db = await createDb(t, contract('membership-voting'))
  const A = { peer: db, hex: db.localOplog?.hex as string }
  const [B, C, D, E] = [await member(t, db), await member(t, db), await member(t, db), await member(t, db)]
  const members = async (): Promise<string[]> => (await db.call('listMembers')).response as string[]
  const vote = async (who: typeof A, action: 'voteAdd' | 'voteRemove', target: string): Promise<{ success: boolean, error?: string }> =>
    await done(await who.peer.call(action, { pubkey: target }))

  // 1 member: one vote passes
  t.ok((await vote(A, 'voteAdd', B.hex)).success)
  t.is((await members()).length, 2)
  t.ok(await becomesParticipant(B.peer))
  // 2 members: both are needed
  await vote(A, 'voteAdd', C.hex)
  t.is((await members()).length, 2, '1 of 2 is not a majority')
  const dup = await vote(A, 'voteAdd', C.hex)
  t.is(dup.success, false, 'a second vote by the same member is refused')
  await vote(B, 'voteAdd', C.hex)
  t.is((await members()).length, 3, '2 of 2 pass')
  t.ok(await becomesParticipant(C.peer))
  // 3 members: two are needed
  await vote(A, 'voteAdd', D.hex)
  t.is((await members()).length, 3, '1 of 3 is not a majority')
  await vote(C, 'voteAdd', D.hex)
  t.is((await members()).length, 4, '2 of 3 pass')
  t.ok(await becomesParticipant(D.peer))
  // 4 members: three are needed
  await vote(A, 'voteAdd', E.hex)
  await vote(B, 'voteAdd', E.hex)
  t.is((await members()).length, 4, '2 of 4 is not a majority')
  await vote(D, 'voteAdd', E.hex)
  t.is((await members()).length, 5, '3 of 4 pass')
  t.ok(await becomesParticipant(E.peer))
  // 5 members: removing needs three
  await vote(A, 'voteRemove', E.hex)
  await vote(B, 'voteRemove', E.hex)
  t.is((await members()).length, 5, '2 of 5 is not a majority')
  await vote(C, 'voteRemove', E.hex)
  t.alike((await members()).includes(E.hex), false, '3 of 5 remove')
  t.ok(await eventually(async () => { await E.peer.refresh(); return !E.peer.isParticipant }))
  // non-members cannot vote; their ops are not even executed once removed
  await t.exception(E.peer.call('voteAdd', { pubkey: E.hex }), /participant/)
})
