// Self-contained fraud proofs for CHANGE_MISMATCH, CHANGE_COUNT_MISMATCH and RESULT_MISMATCH:
// the proof carries the batch, the op and an index read proof (evidence.replay), and
// verifyFraudProof re-runs the transaction offline from the JSON alone.
import test from 'brittle'
import { spawnSync } from 'child_process'
import { join } from 'path'
import Corestore from 'corestore'
import { beeNode } from '../src/proofs/bee/bee-schema.js'
import {
  ContractFraudProof, Database, DEFAULT_MAX_OP_BYTES, StorageInMemory, encodeValue, verifyFraudProof, verifyIndex, type FraudProofJSON
} from '../src/index.js'
import { Database as TestingDatabase, ExecutorBehavior } from '../src/testing.js'
import type { ExecutorHooks } from '../src/exec/executor.js'
import { type IndexRead } from '../src/proofs/bee/bee-proofs.js'
import { createReplayEvidence, recordReplayReads, verifyReplayEvidence, type ReplayEvidence } from '../src/verify/replay-evidence.js'
import { GOVERNANCE_KEY, decodeAck, parseAckKey } from '../src/format/schemas.js'
import { contract, follow, fraudOf } from './helpers.js'
import { buildFixture } from './fixtures/fraud-fixtures.js'
import { captureSignedHead, coreManifest, createConsistencyProof, createInclusionProof, createIndexReadProof, createRangeProof } from '../src/logs/proof-builders.js'

// A contract whose apply reads several keys, absent ones included, and lists a prefix:
// what it writes depends on the index at the batch start AND on the writes of earlier
// ops of the same batch, so both the read proof and the overlay matter.
const SHOP = `
import { index } from 'contract'

export function sendMany ({ ops }, emit) { for (const op of ops) emit(op) }
export const apply = {
  async SET (tx, op) { await tx.put('item/' + op.k, op.v) },
  async SUM (tx, op) {
    const items = await index.list('item/')
    let sum = 0
    for (const e of items) sum += e.value
    const a = (await index.get('item/' + op.a))?.value
    const b = (await index.get('/item/' + op.b))?.value
    const missing = (await index.get('nope/' + op.a))?.value ?? null
    await tx.put('sum/' + op.id, sum)
    await tx.put('pair/' + op.id, { a, b, missing, n: items.length })
    await tx.put('last', op.id)
  },
  async CHECK (tx, op) {
    const e = await index.get('item/' + op.k)
    if (e === undefined) throw new Error('no item ' + op.k)
    await tx.put('checked/' + op.k, e.value)
  }
}
`

const MAX_BATCH = 8
const SETS = 20 // ops 0..19: item/00..item/19 = 1..20, in batches of 8, 8, 4
// op 20: SET item/20; op 21: SET item/21; op 22: SUM; op 23: SET item/23; op 24: CHECK of an item
const TAIL = [
  { op: 'SET', k: '20', v: 100 }, { op: 'SET', k: '21', v: 200 },
  { op: 'SUM', id: 'x', a: '21', b: '03' }, { op: 'SET', k: '23', v: 300 }
]
const SUM_SEQ = 22

function pad (i: number): string { return String(i).padStart(2, '0') }

/** A SHOP database: SETS items in one call, then TAIL (and `extra`) in another, so that TAIL is one batch. */
async function shopDb (t: any, hooks: ExecutorHooks = {}, extra: unknown[] = [], opts: { governance?: 'poa' } = {}): Promise<Database> {
  const db = await Database.create(new StorageInMemory(), { contract: { source: SHOP }, maxBatchOps: MAX_BATCH, executorHooks: hooks, ...opts })
  t.teardown(() => db.close())
  const items = []
  for (let i = 0; i < SETS; i++) items.push({ op: 'SET', k: pad(i), v: i + 1 })
  await db.call('sendMany', { ops: items }, { proofs: false })
  await db.executor?.sync()
  await db.call('sendMany', { ops: [...TAIL, ...extra] }, { proofs: false })
  await db.executor?.sync()
  return db
}

async function reasonOf (p: Promise<unknown>): Promise<string> {
  try { await p } catch (err) {
    const e = err as { code?: string, details?: { reason?: string }, message: string }
    if (e.code === 'INVALID_PROOF') return e.details?.reason ?? 'no reason'
    throw err
  }
  return 'accepted'
}

function clone<T> (v: T): T { return JSON.parse(JSON.stringify(v)) as T }

function sizes (name: string, proof: FraudProofJSON): string {
  const r = proof.evidence.replay as ReplayEvidence
  const kb = (v: unknown): string => (JSON.stringify(v).length / 1024).toFixed(1) + ' KB'
  return `${name}: proof ${kb(proof)}; replay ${kb(r)} = batch ${r.batch.values.length} entries ${kb(r.batch)}, op ${kb(r.op)}, oplog ${kb(r.oplog)}, ` +
    `reads ${r.reads.reads.length} reads / ${r.reads.blocks.length} blocks / ${r.reads.nodes.length} nodes ${kb(r.reads)}`
}

/** Proofs collected by the tests below, for the fresh-process check. */
const collected: Array<{ code: string, json: string }> = []

test('fraud-replay - CHANGE_MISMATCH mid-batch (overlay + list + absent keys) is confirmed offline', async t => {
  const db = await shopDb(t, {
    changes: (_o, seq, changes) => seq === SUM_SEQ ? changes.map((c, i) => i === 1 && c.type === 'put' ? { ...c, value: encodeValue({ forged: true }) } : c) : changes
  })
  const proof = await fraudOf(db.verify())
  t.is(proof.violation.code, 'CHANGE_MISMATCH')
  const json = clone(proof.toJSON())
  const r = json.evidence.replay as ReplayEvidence
  t.ok(r !== undefined, 'the proof carries evidence.replay')
  const ackSeq = json.details.data.ackSeq as number
  t.is(r.batch.start < ackSeq, true, 'the batch starts before the ack: earlier ops of the batch are in the overlay')
  t.is(r.batch.start + r.batch.values.length - 1, json.details.seq, 'the batch ends at the violating write')
  t.ok(r.reads.reads.some(x => x.kind === 'list'), 'the read proof covers the index.list')
  t.ok(r.reads.reads.some(x => x.kind === 'get' && x.key === 'nope\x0021'), 'and the absent key')
  t.absent(r.reads.reads.some(x => x.kind === 'get' && x.key === 'item\x0021'), 'item/21 came from the overlay, not the base')
  const v = await verifyFraudProof(JSON.parse(JSON.stringify(json)))
  t.is(v.code, 'CHANGE_MISMATCH')
  t.is(v.selfEvident, true, 'confirmed from the proof alone')
  const replayed = await verifyReplayEvidence(r, { indexKey: json.index.key, ackSeq })
  t.ok(replayed.expected.ok, 'the replay succeeds')
  const second = replayed.expected.ok ? replayed.expected.changes[1] : null
  if (second !== null && second.type === 'put') {
    const pair = JSON.parse(second.value.toString()) as Record<string, unknown>
    t.alike(pair, { a: 200, b: 4, missing: null, n: 22 }, 'apply saw the base (20 items), the overlay (items 20 and 21) and the absent key')
  }
  t.comment(sizes('CHANGE_MISMATCH (group commit)', json))
  collected.push({ code: 'CHANGE_MISMATCH', json: JSON.stringify(json) })
})

test('fraud-replay - TEST_WRONG_OP_MUTATIONS: CHANGE_MISMATCH confirmed offline', async t => {
  const db = await TestingDatabase.create(new StorageInMemory(), { contract: { source: contract('counter') }, executorBehavior: ExecutorBehavior.TEST_WRONG_OP_MUTATIONS })
  t.teardown(() => db.close())
  for (let i = 0; i < 3; i++) await db.call('increment', {}, { proofs: false })
  await db.executor?.sync()
  const proof = await fraudOf(db.verify())
  const v = await verifyFraudProof(clone(proof.toJSON()))
  t.is(v.code, 'CHANGE_MISMATCH')
  t.is(v.selfEvident, true)
  t.comment(sizes('CHANGE_MISMATCH (counter)', proof.toJSON()))
})

test('fraud-replay - a monitor\'s proof carries the replay evidence too', async t => {
  const db = await TestingDatabase.create(new StorageInMemory(), { contract: { source: contract('counter') }, executorBehavior: ExecutorBehavior.TEST_WRONG_OP_MUTATIONS })
  t.teardown(() => db.close())
  await db.call('increment', {}, { proofs: false })
  await db.executor?.sync()
  const monitor = await db.monitor()
  const proof = monitor.violation ?? await new Promise<ContractFraudProof>(resolve => monitor.once('violation', resolve))
  const json = clone(proof.toJSON())
  t.ok(json.evidence.replay?.reads.reads.some(x => x.kind === 'get' && x.key === GOVERNANCE_KEY), 'the governance record (absent) is part of the read proof')
  const v = await verifyFraudProof(json)
  t.is(v.code, 'CHANGE_MISMATCH')
  t.is(v.selfEvident, true)
})

test('fraud-replay - a monitor on a sparse replica makes a self-contained proof', async t => {
  const db = await shopDb(t, {
    changes: (_o, seq, changes) => seq === SUM_SEQ ? changes.map((c, i) => i === 1 && c.type === 'put' ? { ...c, value: encodeValue({ forged: true }) } : c) : changes
  })
  // more ops after the violation, so that the oplog head is past the oplog length the ack names
  await db.call('sendMany', { ops: [{ op: 'SET', k: '30', v: 1 }, { op: 'SET', k: '31', v: 2 }] }, { proofs: false })
  await db.executor?.sync()
  const reader = await follow(t, db)
  const monitor = await reader.monitor()
  const proof = monitor.violation ?? await new Promise<ContractFraudProof>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no violation')), 10_000)
    monitor.once('violation', p => { clearTimeout(timer); resolve(p) })
  })
  const json = clone(proof.toJSON())
  t.ok(json.evidence.replay !== undefined, 'the replica built the replay evidence')
  t.ok(json.evidence.replay!.oplog.head.length > json.evidence.replay!.oplog.from.length, 'with a non-trivial oplog consistency proof')
  const v = await verifyFraudProof(json)
  t.is(v.code, 'CHANGE_MISMATCH')
  t.is(v.selfEvident, true)
})

for (const code of ['RESULT_MISMATCH', 'CHANGE_COUNT_MISMATCH'] as const) {
  test(`fraud-replay - golden fixture ${code} is confirmed offline`, async t => {
    const dir = join(await t.tmp(), code)
    await buildFixture(code, dir)
    const store = new Corestore(join(dir, 'corestore'))
    t.teardown(() => store.close())
    const index = store.get({ name: 'index' })
    await index.ready()
    const proof = await fraudOf(verifyIndex({ index, openOplog: async hex => store.get({ key: Buffer.from(hex, 'hex') }) }))
    t.is(proof.violation.code, code)
    const json = clone(proof.toJSON())
    const v = await verifyFraudProof(json)
    t.is(v.code, code)
    t.is(v.selfEvident, true, 'confirmed from the proof alone')
    t.comment(sizes(`${code} (fixture)`, json))
    collected.push({ code, json: JSON.stringify(json) })
  })
}

test('fraud-replay - RESULT_MISMATCH: a failing op acked as a success (the failure rests on an absent key)', async t => {
  const CHECK_SEQ = SUM_SEQ + 2
  const db = await shopDb(t, {
    ack: a => a.seq === CHECK_SEQ ? { ...a, success: true, error: undefined, errorCode: undefined, numChanges: 0 } : a
  }, [{ op: 'CHECK', k: '99' }])
  const proof = await fraudOf(db.verify())
  t.is(proof.violation.code, 'RESULT_MISMATCH')
  const json = clone(proof.toJSON())
  t.ok(json.evidence.replay?.reads.reads.some(x => x.kind === 'get' && x.key === 'item\x0099'), 'the absence of item/99 is proven')
  const v = await verifyFraudProof(json)
  t.is(v.selfEvident, true)
  t.comment(sizes('RESULT_MISMATCH (group commit)', json))
})

test('fraud-replay - CHANGE_COUNT_MISMATCH: a transaction cut off by the signed head', async t => {
  const db = await shopDb(t, {
    // op 24 (a SUM: 3 writes) announces its 3 writes but only the first is published, and it is the last op
    changes: (_o, seq, changes) => seq === SUM_SEQ + 2 ? changes.slice(0, 1) : changes,
    ack: a => a.seq === SUM_SEQ + 2 ? { ...a, numChanges: 3 } : a
  }, [{ op: 'SUM', id: 'y', a: '00', b: '01' }])
  const proof = await fraudOf(db.verify())
  t.is(proof.violation.code, 'CHANGE_COUNT_MISMATCH')
  const json = clone(proof.toJSON())
  t.is(json.details.seq, json.index.head.length, 'the violation is at the head')
  const v = await verifyFraudProof(json)
  t.is(v.selfEvident, true)
  t.comment(sizes('CHANGE_COUNT_MISMATCH (cut off)', json))
  collected.push({ code: 'CHANGE_COUNT_MISMATCH', json: JSON.stringify(json) })
})

test('fraud-replay - size and time with a full batch of 256 ops (violation in the last op)', async t => {
  const db = await Database.create(new StorageInMemory(), {
    contract: { source: SHOP },
    executorHooks: { changes: (_o, seq, changes) => seq === 255 ? changes.map(c => c.type === 'put' ? { ...c, value: encodeValue(-1) } : c) : changes }
  })
  t.teardown(() => db.close())
  const ops = []
  for (let i = 0; i < 256; i++) ops.push({ op: 'SET', k: String(i).padStart(3, '0'), v: i })
  await db.call('sendMany', { ops }, { proofs: false })
  await db.executor?.sync()
  let start = Date.now()
  const proof = await fraudOf(db.verify())
  const made = Date.now() - start
  const json = clone(proof.toJSON())
  t.is(json.evidence.replay?.batch.values.length, 512, 'the batch holds 255 ops before the violating one (ack + write each), its ack and the write')
  start = Date.now()
  const v = await verifyFraudProof(JSON.stringify(json))
  const checked = Date.now() - start
  t.is(v.selfEvident, true)
  t.comment(sizes('CHANGE_MISMATCH (last of 256 ops in one batch)', json) + `; verify() + proof ${made} ms, verifyFraudProof ${checked} ms`)
})

test('fraud-replay - the proofs verify in a fresh process from the JSON alone', async t => {
  t.ok(collected.length >= 4, `${collected.length} proofs collected`)
  const script = `
    import { verifyFraudProof } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)}
    let s = ''; process.stdin.on('data', d => { s += d }); process.stdin.on('end', async () => {
      for (const json of JSON.parse(s)) { const r = await verifyFraudProof(JSON.parse(json)); console.log(r.code + ' ' + r.selfEvident) }
    })`
  const out = spawnSync(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', script], { input: JSON.stringify(collected.map(c => c.json)), encoding: 'utf8' })
  t.alike(out.stdout.trim().split('\n'), collected.map(c => c.code + ' true'), out.stderr)
})

test('fraud-replay - tampered proofs are rejected', async t => {
  const db = await shopDb(t, {
    changes: (_o, seq, changes) => seq === SUM_SEQ ? changes.map((c, i) => i === 1 && c.type === 'put' ? { ...c, value: encodeValue({ forged: true }) } : c) : changes
  })
  const proof = await fraudOf(db.verify())
  const good = clone(proof.toJSON())
  const r = good.evidence.replay as ReplayEvidence
  t.is((await verifyFraudProof(clone(good))).selfEvident, true, 'the untampered proof checks out')

  // A published write changed so that it equals the replay: the signed head no longer covers it.
  const expected = Buffer.from((good.details.data.expectedChange as { bytes: string }).bytes, 'hex')
  const forged = clone(good)
  const values = forged.evidence.replay!.batch.values
  const node = beeNode.decode(Buffer.from(values[values.length - 1], 'hex'))
  values[values.length - 1] = beeNode.encode({ index: node.index, key: node.key, value: expected }).toString('hex')
  t.is(await reasonOf(verifyFraudProof(forged)), 'tree-hash-mismatch', 'write changed to match the replay: rejected')

  // Without the replay evidence, or with the violation moved to another (honest) write.
  const bare = clone(good)
  delete bare.evidence.replay
  t.is(await reasonOf(verifyFraudProof(bare)), 'not-a-violation', 'no evidence.replay: rejected')

  // The op swapped for another op of the same oplog.
  const ack = decodeAck(beeNode.decode(Buffer.from(r.batch.values[(good.details.data.ackSeq as number) - r.batch.start], 'hex')).value as Buffer)
  const oplog = db.localOplog!.core
  const otherOp = clone(good)
  otherOp.evidence.replay!.op = await createInclusionProof(oplog, ack.seq - 1)
  t.is(await reasonOf(verifyFraudProof(otherOp)), 'evidence-mismatch', 'another op: rejected')

  // The oplog consistency proof must start at the oplog length the ack names.
  const opHead = { key: r.op.key, length: r.op.head.length, fork: r.op.head.fork, treeHash: r.op.head.treeHash, signature: r.op.head.signature }
  const otherTree = clone(good)
  otherTree.evidence.replay!.oplog = await createConsistencyProof(oplog, ack.oplogLength - 1, { head: opHead })
  t.is(await reasonOf(verifyFraudProof(otherTree)), 'consistency-range', 'oplog tree at another length: rejected')

  // A read proof from another version of the index.
  const head = await captureSignedHead(db.index.core)
  const reads = r.reads.reads
  const batchStarts = new Set<number>()
  for await (const e of db.index.bee.createHistoryStream()) if (parseAckKey(e.key as string) !== null) batchStarts.add(decodeAck(e.value as Buffer).batchStart)
  const earlier = Math.max(...[...batchStarts].filter(b => b < r.batch.start))
  const otherVersion = clone(good)
  otherVersion.evidence.replay!.reads = await createIndexReadProof(db.index.bee, earlier, reads, { head })
  t.is(await reasonOf(verifyFraudProof(otherVersion)), 'unexpected-version', 'read proof at another version: rejected')

  // A read proof that leaves out what one read needs (the list): the replay cannot finish.
  const dropped = clone(good)
  dropped.evidence.replay!.reads = await createIndexReadProof(db.index.bee, r.batch.start, reads.filter(x => x.kind !== 'list'), { head })
  t.ok(dropped.evidence.replay!.reads.blocks.length < r.reads.blocks.length, `${r.reads.blocks.length - dropped.evidence.replay!.reads.blocks.length} blocks fewer`)
  t.is(await reasonOf(verifyFraudProof(dropped)), 'incomplete', 'read blocks dropped: incomplete')

  // A block cut out of the read proof JSON: the multiproof no longer adds up.
  const cut = clone(good)
  cut.evidence.replay!.reads.blocks.splice(1, 1)
  t.not(await reasonOf(verifyFraudProof(cut)), 'accepted', 'a block removed from the JSON: rejected')

  // A batch entry removed (the overlay would be incomplete): the range proof no longer adds up.
  const gap = clone(good)
  gap.evidence.replay!.batch.values.splice(1, 1)
  t.is(await reasonOf(verifyFraudProof(gap)), 'range-nodes', 'a gap in the batch: rejected')

  // The batch proven from a later start (the first ack of the batch left out).
  const later = clone(good)
  later.evidence.replay!.batch = await createRangeProof(db.index.core, r.batch.start + 1, r.batch.start + r.batch.values.length, { head: { ...good.index.head, key: good.index.key } })
  t.is(await reasonOf(verifyFraudProof(later)), 'evidence-mismatch', 'the batch without its first ack: rejected')

  // The violation claimed at an honest write of the same transaction.
  const moved = clone(good)
  moved.details.seq -= 1
  moved.evidence.entry = await createInclusionProof(db.index.core, moved.details.seq, { head: { ...good.index.head, key: good.index.key } })
  moved.evidence.replay!.batch = await createRangeProof(db.index.core, r.batch.start, moved.details.seq + 1, { head: { ...good.index.head, key: good.index.key } })
  t.is(await reasonOf(verifyFraudProof(moved)), 'not-a-violation', 'an honest write claimed as the mismatch: rejected')
})

test('fraud-replay - an honest transaction packaged as evidence is rejected', async t => {
  const db = await shopDb(t)
  await t.execution(db.verify(), 'the database is honest')
  const core = db.index.core
  const bee = db.index.bee
  const oplog = db.localOplog!.core
  const head = await captureSignedHead(core)
  // find the ack of the SUM op (2 writes)
  let ackSeq = -1
  for await (const e of bee.createHistoryStream()) {
    const where = parseAckKey(e.key as string)
    if (where !== null && where.seq === SUM_SEQ) ackSeq = e.seq
  }
  t.ok(ackSeq > 0)
  const op = await oplog.get(SUM_SEQ) as Buffer
  const reads: IndexRead[] = await recordReplayReads({ bee, ackSeq, op, source: SHOP, governance: null, maxOpBytes: DEFAULT_MAX_OP_BYTES })
  const index = { key: head.key, manifest: coreManifest(core), head }
  const ack = decodeAck(beeNode.decode(await core.get(ackSeq) as Buffer).value as Buffer)
  const data = { origin: ack.origin, opSeq: ack.seq, ackSeq }
  const make = async (code: string, seq: number, upTo: number): Promise<FraudProofJSON> => ({
    version: 1,
    type: 'vitra/contract-fraud-proof',
    index,
    details: { code: code as FraudProofJSON['details']['code'], description: 'packaged honest transaction', seq, data },
    evidence: {
      entry: seq < head.length ? await createInclusionProof(core, seq, { head }) : undefined,
      op: await createInclusionProof(oplog, SUM_SEQ),
      replay: await createReplayEvidence({ index: core, bee, oplog, ackSeq, upTo, head, reads })
    }
  })
  const asChange = await make('CHANGE_MISMATCH', ackSeq + 2, ackSeq + 3)
  const replayed = await verifyReplayEvidence(asChange.evidence.replay, { indexKey: head.key, ackSeq })
  t.ok(replayed.expected.ok && replayed.expected.changes.length === 3 && replayed.published.length === 2, 'the replay reproduces the published writes')
  t.is(await reasonOf(verifyFraudProof(clone(asChange))), 'not-a-violation', 'CHANGE_MISMATCH on an honest write: rejected')
  t.is(await reasonOf(verifyFraudProof(clone(await make('RESULT_MISMATCH', ackSeq, ackSeq + 1)))), 'not-a-violation', 'RESULT_MISMATCH on an honest ack: rejected')
  t.is(await reasonOf(verifyFraudProof(clone(await make('CHANGE_COUNT_MISMATCH', ackSeq, ackSeq + 1)))), 'not-a-violation', 'CHANGE_COUNT_MISMATCH on an honest ack: rejected')
  t.is(await reasonOf(verifyFraudProof(clone(await make('CHANGE_COUNT_MISMATCH', ackSeq + 2, ackSeq + 2)))), 'not-a-violation', 'CHANGE_COUNT_MISMATCH "cut off" before the head: rejected')
})
