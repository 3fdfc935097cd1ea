// Witnesses and a host (issue 37): a database whose genesis records a policy of 2 of 3
// witnesses, served over HTTP on 127.0.0.1 with three real witnesses; the host collects
// cosignatures and serves the latest witnessed checkpoint, which checks under the policy
// with vitra/proofs alone; witnesses going offline delay the checkpoint, never a call.
import test from 'brittle'
import type { Assertion } from 'brittle'
import { Database, StorageInMemory } from '../src/index.js'
import { createApi } from '../src/http/api.js'
import { readWitnessPolicy, verifyUnderCheckpoint, verifyWitnessedCheckpoint } from '../src/proofs/witness/policy.js'
import { verifyInclusionProof, verifyIndexReadProof, verifyQueryRowProofs, type ProvenGet } from '../src/proofs/index.js'
import { captureSignedHead, createConsistencyProof } from '../src/logs/proof-builders.js'
import { verifyLogForkProof, type LogForkFraudProof } from '../src/proofs/fraud/log-fork-proof.js'
import { CheckpointCollector } from '../src/witness/collector.js'
import { checkAgainstCheckpoint, gatherWitnessedCheckpoint } from '../src/witness/reader.js'
import { readdirSync } from 'fs'
import { join } from 'path'
import { createWitnessKey } from '../src/witness/keys.js'
import { Witness } from '../src/witness/witness.js'
import { contract, counterAndCopy, eventually, forkedIndex } from './helpers.js'

/** Generous: a bound for a test that would otherwise hang, not a timing claim. */
const PATIENCE_MS = 60_000

async function witnessAt (t: Assertion, dir: string, port = 0): Promise<Witness> {
  const w = new Witness({ dir, port })
  t.teardown(() => w.close())
  await w.ready()
  return w
}

interface CheckpointAnswer { status: number, body: { length?: number, checkpoint?: string, cosigned?: Array<{ name: string }>, error?: { code: string } } }

async function checkpointOf (base: string): Promise<CheckpointAnswer> {
  const res = await fetch(`${base}/checkpoint`)
  return { status: res.status, body: await res.json() as CheckpointAnswer['body'] }
}

test('witness host - a policy of 2 of 3 at genesis; the host serves checkpoints a quorum cosigned', async t => {
  const dirs = [await t.tmp(), await t.tmp(), await t.tmp()]
  dirs.forEach((d, i) => { createWitnessKey(d, `w${i}`) })
  const witnesses = [await witnessAt(t, dirs[0]!), await witnessAt(t, dirs[1]!), await witnessAt(t, dirs[2]!)]
  const policy = { version: 1 as const, quorum: 2, witnesses: witnesses.map(w => ({ key: w.key.vkey, url: w.url })) }

  const db = await Database.create(new StorageInMemory(), { contract: { source: contract('counter') }, witnesses: policy })
  t.teardown(() => db.close())
  t.alike((await db.witnessPolicy())?.witnesses.map(w => w.vkey), policy.witnesses.map(w => w.key), 'the policy is read back from genesis')
  t.is((await db.verify()).length, db.index.length, 'a genesis with a witness policy verifies')

  const app = await createApi({ databases: [db], checkpointIntervalMs: 20 })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const base = `http://127.0.0.1:${port}/v1/databases/${db.pubkey.toString('hex')}`

  const first = await db.call('increment', {})
  for (let i = 0; i < 4; i++) await db.call('increment', {})
  await db.executor?.sync()
  const length = db.index.length
  t.ok(await eventually(async () => (await checkpointOf(base)).body.length === length, PATIENCE_MS), `a checkpoint at the index length ${length}`)
  const cp = await checkpointOf(base)
  t.is(cp.status, 200)
  const checked = verifyWitnessedCheckpoint(cp.body.checkpoint, policy, { key: db.pubkey })
  t.is(checked.head.length, length, 'it checks under the policy, with the database key')
  t.ok(checked.cosigned.length >= 2, `cosigned by ${checked.cosigned.length} of 3`)

  // Reads as of the witnessed checkpoint: the proof's head is the checkpoint's.
  const read = await (await fetch(`${base}/entry?path=/counter&witnessed=true`)).json() as { entry: { value: number }, at: number, proof: { key: string, head: { length: number, treeHash: string } }, checkpoint: string }
  t.is(read.at, length, 'witnessed=true reads at the checkpoint, not at the newer head')
  t.is(read.entry.value, 5, 'the value as of the checkpoint')
  const proven = await verifyIndexReadProof(read.proof, { key: db.pubkey })
  t.is((proven.results[0] as ProvenGet).value?.toString(), '5', 'the index read proof proves it')
  const underIt = verifyWitnessedCheckpoint(read.checkpoint, policy, { key: db.pubkey })
  t.is(verifyUnderCheckpoint({ key: read.proof.key, ...read.proof.head }, underIt).length, length, 'and its head is the witnessed one')
  const listed = await (await fetch(`${base}/list?path=/&witnessed=true`)).json() as { at: number, proof: { key: string, head: { length: number, treeHash: string } }, checkpoint: string }
  t.is(listed.at, length, 'a listing too')
  t.is(verifyUnderCheckpoint({ key: listed.proof.key, ...listed.proof.head }, verifyWitnessedCheckpoint(listed.checkpoint, policy)).length, length)
  const page = await (await fetch(`${base}/history?start=1&witnessed=true`)).json() as { entries: Array<{ seq: number, proof: { key: string, head: { length: number, treeHash: string } } }>, next: number | null, checkpoint: string }
  t.is(page.entries.length, length - 1, 'a witnessed history page ends at the checkpoint')
  t.is(page.next, null)
  const pageCp = verifyWitnessedCheckpoint(page.checkpoint, policy, { key: db.pubkey })
  t.ok(page.entries.every(e => verifyInclusionProof(e.proof, { key: db.pubkey }).index === e.seq && verifyUnderCheckpoint({ key: e.proof.key, ...e.proof.head }, pageCp).length === length), 'every entry proven under the checkpoint')
  // An older proof is covered with a consistency proof up to the checkpoint; a newer one is not.
  await db.call('increment', {})
  await db.executor?.sync()
  t.is((await (await fetch(`${base}/entry?path=/counter&witnessed=true`)).json() as { entry: { value: number } }).entry.value >= 5, true, 'reads follow the checkpoint as it moves')
  const older = await captureSignedHead(db.index.core)
  t.exception(() => verifyUnderCheckpoint(older, underIt), /beyond the witnessed checkpoint/, 'a head newer than the checkpoint is not witnessed')
  const earlier = { key: older.key, length: 3, treeHash: (await db.index.core.treeHash(3)).toString('hex') }
  t.exception(() => verifyUnderCheckpoint(earlier, underIt), /consistency proof/, 'an older head needs a consistency proof')
  const cons = await createConsistencyProof(db.index.core, 3, { head: underIt.head })
  t.is(verifyUnderCheckpoint(earlier, underIt, cons).length, length, 'with one, it is covered')

  // Two witnesses go offline (once the checkpoint caught up): calls go on; the checkpoint stays where it was.
  const caughtUp = db.index.length
  t.ok(await eventually(async () => (await checkpointOf(base)).body.length === caughtUp, PATIENCE_MS), `the checkpoint caught up with ${caughtUp}`)
  await witnesses[1]!.close()
  await witnesses[2]!.close()
  for (let i = 0; i < 3; i++) await db.call('increment', {})
  const late = await db.call('increment', {})
  await db.executor?.sync()
  t.is((await db.call('get', {})).response, 10, 'the database does not wait for witnesses')
  // Transactions as of the checkpoint: one it covers is executed, with proofs under it; a later one is not yet.
  const txAt = async (tx: typeof first, witnessed: boolean): Promise<{ processed: boolean, results: Array<{ ackSeq: number, ackProof: { key: string, head: { length: number, treeHash: string } } } | null>, checkpoint?: string }> =>
    await (await fetch(`${base}/transactions/${tx.ops[0]!.oplog}-${tx.ops[0]!.seq}-1${witnessed ? '?witnessed=true' : ''}`)).json() as never
  const covered = await txAt(first, true)
  t.ok(covered.processed, 'a transaction the checkpoint covers: executed as of it')
  const ack = covered.results[0]!
  t.is(verifyInclusionProof(ack.ackProof, { key: db.pubkey }).index, ack.ackSeq, 'its ack proven')
  t.is(verifyUnderCheckpoint({ key: ack.ackProof.key, ...ack.ackProof.head }, verifyWitnessedCheckpoint(covered.checkpoint, policy)).length, caughtUp, 'under the witnessed head')
  t.ok((await txAt(late, false)).processed, 'a transaction after the checkpoint is executed at the head')
  t.absent((await txAt(late, true)).processed, 'and not yet as of the checkpoint')

  // SQL rows proven under the checkpoint; a row from an entry after it carries no proof.
  const query = async (sql: string): Promise<{ rows: Array<Record<string, unknown>>, proofs: Array<{ key: string, head: { length: number, treeHash: string } } | null>, checkpoint: string }> =>
    await (await fetch(`${base}/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql, witnessed: true }) })).json() as never
  const early = await query('SELECT seq, type, path, value FROM history ORDER BY seq LIMIT 5')
  const earlyCp = verifyWitnessedCheckpoint(early.checkpoint, policy, { key: db.pubkey })
  t.is(verifyQueryRowProofs(early as never, { key: db.pubkey }).proven, 5, 'the first history rows are proven')
  t.ok(early.proofs.every(p => p !== null && verifyUnderCheckpoint({ key: p.key, ...p.head }, earlyCp).length === caughtUp), 'under the witnessed head')
  const counter = await query("SELECT seq, path, value FROM state WHERE path = '/counter'")
  t.alike(verifyQueryRowProofs(counter as never, { key: db.pubkey }).unproven, [0], 'the counter row comes from an entry after the checkpoint: not proven under it')
  const stuck = await checkpointOf(base)
  t.is(stuck.body.length, caughtUp, 'without a quorum the checkpoint stays at the last witnessed length')
  t.is(verifyWitnessedCheckpoint(stuck.body.checkpoint, policy).head.length, caughtUp)

  // One comes back on its port with its state: the quorum is met again, the checkpoint moves on.
  const back = await witnessAt(t, dirs[1]!, Number(new URL(policy.witnesses[1]!.url).port))
  t.is(back.key.vkey, policy.witnesses[1]!.key)
  const now = db.index.length
  t.ok(await eventually(async () => (await checkpointOf(base)).body.length === now, PATIENCE_MS), `back to a quorum: a checkpoint at ${now}`)
  const after = await checkpointOf(base)
  t.alike(verifyWitnessedCheckpoint(after.body.checkpoint, policy).cosigned.map(c => c.name).sort(), ['w0', 'w1'])
})

test('witness host - a database without a policy: the checkpoint route says so', async t => {
  const db = await Database.create(new StorageInMemory(), { contract: { source: contract('counter') } })
  t.teardown(() => db.close())
  t.is(await db.witnessPolicy(), null)
  const app = await createApi({ databases: [db] })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const res = await checkpointOf(`http://127.0.0.1:${port}/v1/databases/${db.pubkey.toString('hex')}`)
  t.is(res.status, 404)
  t.is(res.body.error?.code, 'NO_WITNESS_POLICY')
  await t.exception(Database.create(new StorageInMemory(), { contract: { source: contract('counter') }, witnesses: { version: 1, quorum: 2, witnesses: [] } }), /witnesses/, 'a malformed policy is refused at create')
})

test('witness host - the executor forks its index: no fork head gets a quorum, each refusal is a log-fork proof', async t => {
  const dirs = [await t.tmp(), await t.tmp(), await t.tmp()]
  dirs.forEach((d, i) => { createWitnessKey(d, `w${i}`) })
  const witnesses = [await witnessAt(t, dirs[0]!), await witnessAt(t, dirs[1]!), await witnessAt(t, dirs[2]!)]
  const policy = { version: 1 as const, quorum: 2, witnesses: witnesses.map(w => ({ key: w.key.vkey, url: w.url })) }
  // The executor's key holder keeps a copy of its storage: the same index key, twice.
  const { dir, copy } = await counterAndCopy(t, { witnesses: policy })

  const honest = await Database.load(dir, undefined, { swarm: false })
  t.teardown(() => honest.close())
  const app = await createApi({ databases: [honest], checkpointIntervalMs: 20 })
  t.teardown(() => app.close())
  for (let i = 0; i < 4; i++) await honest.call('increment', {})
  await honest.executor?.sync()
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/v1/databases/${honest.pubkey.toString('hex')}`
  const honestLength = honest.index.length
  t.ok(await eventually(async () => (await checkpointOf(base)).body.length === honestLength, PATIENCE_MS), `the honest history is witnessed at ${honestLength}`)

  // The copy signs another history from the same key: other entries after the common prefix,
  // more of them than the honest history has (a shorter fork is refused too, 422, but a
  // witness holds no nodes to prove that one diverges: whitepaper/witness.md §3).
  const { core: forked } = await forkedIndex(t, copy, honestLength)
  t.alike(forked.key, honest.pubkey, 'the copy holds the same index key')
  const collector = new CheckpointCollector({ core: forked, policy: readWitnessPolicy(policy), intervalMs: 20 })
  const refusals: Array<{ proof: LogForkFraudProof, witness: string }> = []
  const refused = new Promise<void>(resolve => {
    collector.on('fork', (proof: LogForkFraudProof, witness: string) => { refusals.push({ proof, witness }); if (refusals.length === 3) resolve() })
  })
  collector.on('warning', () => {}) // witnesses refusing with a proof is what this test looks at
  t.teardown(() => collector.close())
  await collector.ready()
  await refused
  t.is(collector.latest, null, 'the forked head got no quorum: no witnessed checkpoint')
  t.alike(refusals.map(r => r.witness).sort(), ['w0', 'w1', 'w2'], 'every witness refused it')
  for (const r of refusals) {
    const v = verifyLogForkProof(r.proof.toJSON(), { key: honest.pubkey })
    t.is(v.kind, 'equivocation', `${r.witness}'s refusal is a log-fork proof that checks with the database key alone`)
  }
  for (const d of dirs) t.ok(readdirSync(join(d, 'forks')).length > 0, 'the witness kept the evidence')
  const still = await checkpointOf(base)
  t.is(verifyWitnessedCheckpoint(still.body.checkpoint, policy).head.length, honestLength, 'the honest checkpoint stands')

  // A reader of either copy asks the witnesses (as vitra verify does): the honest copy
  // agrees with the witnessed checkpoint, the forked one is caught with a proof.
  const { best } = await gatherWitnessedCheckpoint(honest.pubkey.toString('hex'), readWitnessPolicy(policy))
  t.is(best?.checked.head.length, honestLength, 'the witnesses\' cosignatures pool into the honest checkpoint')
  if (best === null) return
  t.is((await checkAgainstCheckpoint(honest.index.core, best.checked)).status, 'agrees', 'the honest index agrees with it')
  const caught = await checkAgainstCheckpoint(forked, best.checked)
  t.is(caught.status, 'fork', 'the forked index does not')
  if (caught.status === 'fork') t.is(verifyLogForkProof(caught.proof.toJSON(), { key: honest.pubkey }).kind, 'equivocation', 'and the reader holds a proof of it')
})

test('witness host - the contract sets the policy later (tx.setWitnesses): the host collects under it, a verifier replays it', async t => {
  const dirs = [await t.tmp(), await t.tmp()]
  dirs.forEach((d, i) => { createWitnessKey(d, `w${i}`) })
  const witnesses = [await witnessAt(t, dirs[0]!), await witnessAt(t, dirs[1]!)]
  const policy = { version: 1 as const, quorum: 2, witnesses: witnesses.map(w => ({ key: w.key.vkey, url: w.url })) }
  const db = await Database.create(new StorageInMemory(), { contract: { source: contract('kv-store') } })
  t.teardown(() => db.close())
  const app = await createApi({ databases: [db], checkpointIntervalMs: 20 })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/v1/databases/${db.pubkey.toString('hex')}`
  await (await db.call('put', { key: 'a', value: 1 })).whenProcessed()
  t.is((await checkpointOf(base)).body.error?.code, 'NO_WITNESS_POLICY', 'no policy yet')

  const bad = await db.call('setWitnesses', { policy: { version: 1, quorum: 3, witnesses: policy.witnesses } })
  await bad.whenProcessed()
  const failed = (await bad.fetchResults())[0]
  t.is(failed?.success, false, 'a policy whose quorum exceeds its witnesses: the op fails')
  t.ok(/setWitnesses/.test(String(failed?.error)), String(failed?.error))
  t.is(await db.witnessPolicy(), null)

  const beforeSet = db.index.length
  const set = await db.call('setWitnesses', { policy })
  await set.whenProcessed()
  t.is((await set.fetchResults())[0]?.success, true, 'the admin sets the policy')
  t.alike((await db.witnessPolicy())?.witnesses.map(w => w.vkey), policy.witnesses.map(w => w.key), 'db.witnessPolicy() reads it')
  await (await db.call('put', { key: 'b', value: 2 })).whenProcessed()
  const length = db.index.length
  t.ok(await eventually(async () => (await checkpointOf(base)).body.length === length, PATIENCE_MS), `the host collects under it: a checkpoint at ${length}`)
  t.is(verifyWitnessedCheckpoint((await checkpointOf(base)).body.checkpoint, policy, { key: db.pubkey }).head.length, length)
  t.is((await db.verify()).length, db.index.length, 'a verifier replays the writes to /.sys/witnesses')
  t.is(await db.witnessPolicy({ at: beforeSet }), null, 'as of a length before it was set: no policy')
  const { best } = await gatherWitnessedCheckpoint(db.pubkey.toString('hex'), readWitnessPolicy(policy), { policyAt: async at => await db.witnessPolicy({ at }) })
  t.is(best?.checked.head.length, length, 'a reader checks the checkpoint under the policy in force at its length')

  const poa = await Database.create(new StorageInMemory(), { contract: { source: contract('kv-store') }, governance: 'poa' })
  t.teardown(() => poa.close())
  const refused = await poa.call('setWitnesses', { policy })
  await refused.whenProcessed()
  const r = (await refused.fetchResults())[0]
  t.is(r?.success, false, 'under PoA the user contract may not change the policy')
  t.ok(/GOVERNANCE_REFUSED|not the user contract/.test(String(r?.error)), String(r?.error))
})

test('witness host - under PoA the signatory quorum changes the policy (SYS_SET_WITNESSES); replay checks it', async t => {
  const dirs = [await t.tmp(), await t.tmp()]
  dirs.forEach((d, i) => { createWitnessKey(d, `w${i}`) })
  const witnesses = [await witnessAt(t, dirs[0]!), await witnessAt(t, dirs[1]!)]
  const policy = { version: 1 as const, quorum: 1, witnesses: witnesses.map(w => ({ key: w.key.vkey, url: w.url })) }
  const db = await Database.create(new StorageInMemory(), { contract: { source: contract('kv-store') }, governance: 'poa' })
  t.teardown(() => db.close())
  // Q(H) is 1 at this height: the creator, the only signatory, is the quorum.
  const bad = await db.call('proposeWitnesses', { policy: { version: 1, quorum: 5, witnesses: policy.witnesses } })
  await bad.whenProcessed()
  t.is((await bad.fetchResults())[0]?.success, false, 'a policy that does not parse: the op fails')
  const set = await db.call('proposeWitnesses', { policy })
  await set.whenProcessed()
  t.is((await set.fetchResults())[0]?.success, true, 'the signatory quorum sets the witness policy')
  t.alike((await db.witnessPolicy())?.witnesses.map(w => w.vkey), policy.witnesses.map(w => w.key), 'db.witnessPolicy() reads it')
  const again = await db.call('proposeWitnesses', { policy })
  await again.whenProcessed()
  t.is((await again.fetchResults())[0]?.success, true, 'proposing it again sets it again (a new proposal, at quorum at once)')
  t.is((await db.verify()).length, db.index.length, 'a verifier replays the system contract\'s writes to /.sys/witnesses')
})
