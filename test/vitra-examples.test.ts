// Vitra 0.1.3's documented examples, run verbatim (test/fixtures/vitra/): the
// README's counter program, the kv-store with its admin, and membership voting
// (as shipped it does not parse; corrected it runs). Each must give Vitra's
// answers, and verify() and a monitor must agree on every honest run.
import test from 'brittle'
import type { Assertion } from 'brittle'
import { readFileSync } from 'fs'
import { Database, StorageInMemory, ContractFraudProof, type ContractTransaction, type JsonValue } from '../src/compat.js'
import type { Database as BaseDatabase } from '../src/index.js'
import { eventually, follow } from './helpers.js'

function vitraExample (name: string): string {
  return readFileSync(new URL(`../../test/fixtures/vitra/${name}`, import.meta.url), 'utf8')
}

/** A JSON value read as an object (tests read fields of contract responses). */
function obj (v: JsonValue | undefined): Record<string, JsonValue> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {}
}

async function create (t: Assertion, source: string): Promise<BaseDatabase> {
  const db = await Database.create(new StorageInMemory(), { contract: { source } })
  t.teardown(() => db.close())
  return db
}

async function result (tx: ContractTransaction): Promise<{ success: boolean, error?: string }> {
  await tx.whenProcessed({ timeout: 10000 })
  const [r] = await tx.fetchResults()
  return { success: r?.success === true, error: r?.error }
}

/** verify() passes and a fresh monitor reaches the same length without a violation. */
async function verifyAgrees (t: Assertion, db: BaseDatabase): Promise<void> {
  const { length } = await db.verify()
  t.is(length, db.index.core.length, 'verify() checks the whole index')
  const mon = await db.monitor()
  let violation: unknown = null
  mon.on('violation', p => { violation = p })
  t.ok(await eventually(() => mon.verifiedLength === length - 1), 'the monitor verifies as far (Vitra counts entries after the header)')
  t.is(violation, null, 'the monitor sees no violation')
  await mon.close()
}

test('vitra examples - the README counter program', async t => {
  // README.md of Vitra, "Example": the contract and the program, with only the import changed
  const db = await create(t, vitraExample('readme-counter.js'))
  const tx1 = await db.call('get', {})
  t.is(tx1.response, 0)
  const tx2 = await db.call('increment', {})
  const tx3 = await db.call('increment', { amount: 2 })
  const tx4 = await db.call('increment', {})
  await Promise.all([tx2.whenProcessed(), tx3.whenProcessed(), tx4.whenProcessed()])
  const tx5 = await db.call('get', {})
  t.is(tx5.response, 4, 'get() after the increments: 4, as the README says')
  t.is((await db.index.get('/counter'))?.value, 4, 'the stored counter')

  await db.verify()
  const mon = await db.monitor()
  const violations: ContractFraudProof[] = []
  mon.on('violation', (p: ContractFraudProof) => violations.push(p))

  // "we'll force a violation to see what happens"
  await db.index.dangerousBatch([{ type: 'put', path: '/counter', value: 1 }])
  const err = await db.verify().then(() => null, (e: unknown) => e)
  t.ok(err instanceof ContractFraudProof, 'verify() throws a ContractFraudProof')
  t.is((err as ContractFraudProof).violation.code, 'UNPROMPTED_CHANGE')
  t.is((err as ContractFraudProof).details.code, 'ChangeNotProducedByMonitorError', 'Vitra\'s name for an unprompted change')
  t.ok(await eventually(() => violations.length === 1), 'the monitor reports it too')
  t.is(violations[0].violation.code, 'UNPROMPTED_CHANGE')
  await mon.close()
})

test('vitra examples - the contract-apis counter', async t => {
  const db = await create(t, vitraExample('counter.js'))
  for (let i = 0; i < 3; i++) await (await db.call('increment', {})).whenProcessed()
  t.is((await db.call('get', {})).response, 3, 'three increments give 3 (vitra 0.1 gave 0: its index.get returned bare values)')
  await verifyAgrees(t, db)
})

test('vitra examples - kv-store with its admin', async t => {
  const db = await create(t, vitraExample('kv-store.js'))
  const admin = db.localOplog?.hex as string
  t.is((await db.call('getAdmin', {})).response, undefined, 'no admin yet')

  t.ok((await result(await db.call('setAdmin', { pubkey: admin }))).success, 'the first admin is set')
  t.alike(obj((await db.call('getAdmin', {})).response).value, { pubkey: admin })
  t.ok((await result(await db.call('put', { key: 'foo', value: 'bar' }))).success)
  t.ok((await result(await db.call('put', { key: '/dir/a', value: 1 }))).success)
  const got = obj((await db.call('get', { key: 'foo' })).response)
  t.is(got.path, '/values/foo')
  t.is(got.value, 'bar')
  const listed = (await db.call('list', { prefix: '/' })).response as Array<{ path: string, container: boolean }>
  t.alike(listed.map(e => [e.path, e.container]), [['/values/dir', true], ['/values/foo', false]], 'a folder listing, the sub-folder as a container')

  // Vitra's del() emits { value }, a variable it never declares: the call fails
  await t.exception(db.call('del', { key: 'foo' }), /value is not defined/)

  // a second participant, admitted by the admin
  const peer = await follow(t, db)
  const other = await peer.createOplog()
  t.ok((await result(await db.call('addParticipant', { pubkey: other.hex }))).success)
  t.ok(await eventually(async () => { await peer.refresh(); return peer.isParticipant }), 'the new participant is active')
  t.ok((await result(await peer.call('put', { key: 'from-peer', value: 42 }))).success, 'and may write')
  t.is((await db.index.get('/values/from-peer'))?.value, 42)

  // only the admin changes the participant set
  const third = await (await follow(t, db)).createOplog()
  const refused = await result(await peer.call('addParticipant', { pubkey: third.hex }))
  t.is(refused.success, false)
  t.is(refused.error, 'AssertionError: Must be the admin to modify participants', 'the ack error reads as Vitra\'s')
  const notAdmin = await result(await peer.call('setAdmin', { pubkey: other.hex }))
  t.is(notAdmin.success, false, 'a participant cannot take over the admin')

  t.ok((await result(await db.call('removeParticipant', { pubkey: other.hex }))).success)
  t.ok(await eventually(async () => { await peer.refresh(); return !peer.isParticipant }), 'removed')
  await verifyAgrees(t, db)
})

test('vitra examples - membership voting: as shipped it does not parse', async t => {
  const err = await Database.create(new StorageInMemory(), { contract: { source: vitraExample('membership-voting.js') } }).then(async db => { await db.close(); return null }, (e: unknown) => e)
  t.is((err as { code?: string })?.code, 'CONTRACT_PARSE_ERROR', 'await inside the non-async PROPOSE: refused at create (Vitra emits the same ContractParseError as an event)')
})

test('vitra examples - membership voting, corrected', async t => {
  const db = await create(t, vitraExample('membership-voting.corrected.js'))
  const a = db.localOplog?.hex as string
  const bPeer = await follow(t, db)
  const b = (await bPeer.createOplog()).hex
  const cPeer = await follow(t, db)
  const c = (await cPeer.createOplog()).hex

  // one member: a proposal is accepted at once (Vitra's rule: up to two members)
  const p1 = await db.call('propose', { action: 'add', candidate: b })
  t.ok((await result(p1)).success)
  const prop1 = obj(obj((await db.call('getProposal', { propId: obj(p1.response).propId })).response).value)
  t.is(prop1.status, 'accepted')
  t.is(prop1.author, a)
  t.ok(await eventually(async () => { await bPeer.refresh(); return bPeer.isParticipant }), 'b is a member')

  // two members: still accepted at once
  const p2 = await bPeer.call('propose', { action: 'add', candidate: c })
  t.ok((await result(p2)).success)
  t.ok(await eventually(async () => { await cPeer.refresh(); return cPeer.isParticipant }), 'c is a member')

  // three members: a removal goes to a vote; the majority is floor(3 / 2) = 1 yes vote
  const p3 = await db.call('propose', { action: 'remove', candidate: c })
  t.ok((await result(p3)).success)
  const propId = obj(p3.response).propId as string
  t.is(obj(obj((await db.call('getProposal', { propId })).response).value).status, 'voting')
  t.ok((await result(await bPeer.call('vote', { propId, vote: 'yes' }))).success)
  const decided = obj(obj((await db.call('getProposal', { propId })).response).value)
  t.is(decided.status, 'accepted')
  t.alike(decided.votes, [{ vote: 'yes', author: a }, { vote: 'yes', author: b }], 'each vote with its author')
  t.ok(await eventually(async () => { await cPeer.refresh(); return !cPeer.isParticipant }), 'c is removed')

  const proposals = (await db.call('listProposals', {})).response as JsonValue[]
  t.is(proposals.length, 3, 'three proposals')
  const late = await result(await bPeer.call('vote', { propId, vote: 'no' }))
  t.is(late.success, false)
  t.ok(/no longer in voting period/.test(late.error ?? ''), late.error)
  await verifyAgrees(t, db)
})
