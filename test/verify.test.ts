import test from 'brittle'
import { spawnSync } from 'child_process'
import { join } from 'path'
import { writeFileSync } from 'fs'
import Corestore from 'corestore'
import { ContractFraudProof, Database, verifyFraudProof, verifyIndex, keyToPath, StorageInMemory, type ContractMonitor } from '../src/index.js'
import { ackKey } from '../src/format/schemas.js'
import { Database as TestingDatabase, ExecutorBehavior } from '../src/testing.js'
import { contract, createDb, eventually, follow, valueAt } from './helpers.js'
import { LAB, LAB_V2 } from './fixtures/lab-contract.js'
import { FIXTURES, buildFixture } from './fixtures/fraud-fixtures.js'

const COUNTER = contract('counter')

async function fraudCode (p: Promise<unknown>): Promise<string | null> {
  try { await p; return null } catch (err) {
    if (err instanceof ContractFraudProof) return err.violation.code
    throw err
  }
}

async function firstViolation (monitor: ContractMonitor, ms = 5000): Promise<ContractFraudProof> {
  if (monitor.violation !== null) return monitor.violation
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no violation within ' + ms + ' ms')), ms)
    monitor.once('violation', (p: ContractFraudProof) => { clearTimeout(timer); resolve(p) })
  })
}

test('verify - an honest counter database verifies (group commit, many batches)', async t => {
  const db = await createDb(t, COUNTER, { maxBatchOps: 16 })
  const calls = []
  for (let i = 0; i < 200; i++) calls.push(db.call('increment', { amount: i % 3 }, { proofs: false }))
  await Promise.all(calls)
  await db.executor?.sync()
  const { length } = await db.verify()
  t.is(length, db.index.version, 'the whole index is verified')
})

test('verify - an accepted timeout in the middle of a batch: later ops replay without its writes', async t => {
  // The verifier applies the ops of a batch together, ahead of checking them. An op
  // acked as timed out (which it cannot reproduce) has no writes: the results it
  // computed ahead for the ops after it, on top of those writes, must not be used.
  const source = `import { index } from 'contract'

  export const apply = {
    async W (tx, op) { tx.put('x', op.v) },
    async R (tx, op, ack) { tx.put('r/' + ack.seq, (await index.get('x'))?.value ?? null) }
  }`
  const timedOut = (seq: number): boolean => seq === 1
  const db = await Database.create(new StorageInMemory(), {
    contract: { source },
    executorHooks: {
      changes: (_origin, seq, changes) => timedOut(seq) ? [] : changes,
      ack: ack => timedOut(ack.seq) ? { ...ack, success: false, error: 'timed out', errorCode: 'CONTRACT_TIMEOUT', numChanges: 0 } : ack
    }
  })
  t.teardown(() => db.close())
  await db.localOplog?.appendMany([{ op: 'W', v: 1 }, { op: 'W', v: 2 }, { op: 'R' }, { op: 'R' }])
  await db.executor?.sync()
  t.is(await valueAt(db, 'r/2'), 1, 'the op after the timeout saw the state without its write')
  const [, second] = await Promise.all([0, 1].map(async seq => await db.index.getAck(db.localOplog?.hex ?? '', seq)))
  t.is(second?.ack.errorCode, 'CONTRACT_TIMEOUT')
  t.is((await db.index.getAck(db.localOplog?.hex ?? '', 3))?.ack.batchStart, second?.ack.batchStart, 'all in one batch')
  await t.execution(db.verify(), 'verified')
})

test('verify - failures, timeouts, Math.random/Date, source changes and participants verify cleanly', async t => {
  const db = await createDb(t, LAB, { limits: { timeoutMs: 100 } })
  const peer = await follow(t, db)
  const log = await peer.createOplog()
  const ops = [
    { op: 'THROW' }, { op: 'PUT', key: 'a', value: 1 }, { op: 'LOOP' }, { op: 'NONDET' }, { op: 'META' },
    { op: 'PUT', key: 'x', value: 1, failProcess: true }, { op: 'DEL', key: 'a' }, { op: 'DEL', key: 'missing' },
    { op: 'COPY', from: 'now', to: 'copy' }, { op: 'ADD', pubkey: log.hex }, { op: 'SETSRC', code: LAB_V2 },
    { op: 'PUT', key: 'b', value: 2 }, { op: 'SETSRC', code: 'export const apply = {' }, { op: 'SYS' }
  ]
  for (const op of ops) await db.call('send', { op }, { proofs: false })
  await db.executor?.sync()
  t.ok(await eventually(async () => { await peer.refresh(); return peer.isParticipant }))
  await (await peer.call('put', { key: 'p', value: 3 })).whenProcessed({ timeout: 10000 })
  await (await db.call('send', { op: { op: 'REMOVE', pubkey: log.hex } })).whenProcessed()
  t.is(await valueAt(db, '/b'), 4, 'v2 ran')
  await t.execution(db.verify(), 'verifies on the executor')
  t.ok(await eventually(async () => peer.index.version === db.index.version))
  await t.execution(peer.verify(), 'verifies on a replica')
})

for (const [behavior, code] of [
  ['TEST_PROCESS_OP_MULTIPLE_TIMES', 'PROCESSED_OUT_OF_ORDER'],
  ['TEST_SKIP_OPS', 'OP_SKIPPED'],
  ['TEST_WRONG_OP_MUTATIONS', 'CHANGE_MISMATCH']
] as const) {
  test(`verify - ${behavior} is caught as ${code} by verify() and monitor()`, async t => {
    const db = await TestingDatabase.create(new StorageInMemory(), { contract: { source: COUNTER }, executorBehavior: ExecutorBehavior[behavior] })
    t.teardown(() => db.close())
    for (let i = 0; i < 4; i++) await db.call('increment', {}, { proofs: false })
    await db.executor?.sync()
    t.is(await fraudCode(db.verify()), code, 'verify()')
    const monitor = await db.monitor()
    const proof = await firstViolation(monitor)
    t.is(proof.violation.code, code, 'monitor()')
    const checked = await verifyFraudProof(JSON.parse(JSON.stringify(proof)))
    t.is(checked.code, code, 'the proof checks out offline')
    t.is(checked.selfEvident, code !== 'OP_SKIPPED', code === 'OP_SKIPPED' ? 'a full replay must confirm it' : 'confirmed from the proof alone')
    if (code === 'PROCESSED_OUT_OF_ORDER' || code === 'OP_SKIPPED') {
      t.alike([typeof proof.violation.data.expectedSeq, typeof proof.violation.data.executedSeq], ['number', 'number'])
    } else {
      t.ok(proof.violation.data.expectedChange !== undefined && proof.violation.data.publishedChange !== undefined, 'expected and published change')
    }
  })
}

test('verify - dangerousBatch is an unprompted change, for verify() and monitor()', async t => {
  const db = await createDb(t, COUNTER)
  await (await db.call('increment')).whenProcessed()
  const monitor = await db.monitor()
  t.is(monitor.violation, null)
  await db.index.dangerousBatch([{ type: 'put', path: 'counter', value: 99 }])
  const proof = await firstViolation(monitor)
  t.is(proof.violation.code, 'UNPROMPTED_CHANGE')
  t.is(await fraudCode(db.verify()), 'UNPROMPTED_CHANGE')
  const checked = await verifyFraudProof(proof.toJSON())
  t.is(checked.selfEvident, true, 'the evidence alone shows it')
})

test('verify - golden fixtures: each tampered database yields exactly its code, at protocol version 1 and 2', async t => {
  for (const [code, protocol] of Object.keys(FIXTURES).flatMap(c => [[c, 1], [c, 2]] as Array<[string, 1 | 2]>)) {
    const dir = join(await t.tmp(), `${code}-v${protocol}`)
    await buildFixture(code, dir, protocol)
    const store = new Corestore(join(dir, 'corestore'))
    const index = store.get({ name: 'index' })
    await index.ready()
    const got = await fraudCode(verifyIndex({ index, openOplog: async hex => store.get({ key: Buffer.from(hex, 'hex') }) }))
    t.is(got, code, `${code} (version ${protocol})`)
    await store.close()
  }
})

test('verify - a monitor on a replica catches a violation within a second', async t => {
  const db = await createDb(t, COUNTER)
  for (let i = 0; i < 5; i++) await db.call('increment')
  await db.executor?.sync()
  const reader = await follow(t, db)
  const monitor = await reader.monitor()
  t.ok(await eventually(() => monitor.verifiedLength === db.index.version, 5000), 'replica verified the history')
  const written = Date.now()
  await db.index.dangerousBatch([{ type: 'put', path: 'counter', value: -1 }])
  const proof = await firstViolation(monitor, 3000)
  const lag = Date.now() - written
  t.is(proof.violation.code, 'UNPROMPTED_CHANGE')
  t.comment(`caught ${lag} ms after the write`) // a figure (the bench measures monitor lag), not a pass condition
})

test('verify - monitor checkpoint: resume from it and still catch a later violation', async t => {
  const db = await createDb(t, COUNTER)
  const file = join(await t.tmp(), 'checkpoint.json')
  for (let i = 0; i < 10; i++) await db.call('increment')
  await db.executor?.sync()
  const first = await db.monitor({ checkpointFile: file })
  await first.idle()
  const at = first.verifiedLength
  t.is(at, db.index.version)
  await first.close()
  for (let i = 0; i < 3; i++) await db.call('increment')
  await db.executor?.sync()
  await db.index.dangerousBatch([{ type: 'del', path: 'counter' }])
  const events: number[] = []
  const second = await db.monitor({ checkpointFile: file })
  second.on('verified', (n: number) => events.push(n))
  const proof = await firstViolation(second)
  t.is(proof.violation.code, 'UNPROMPTED_CHANGE')
  t.ok(proof.violation.seq > at, 'the violation is past the checkpoint')
  writeFileSync(file, '{ not json')
  await t.exception(db.monitor({ checkpointFile: file }), /checkpoint/i)
})

test('verify - fraud proof JSON verifies in a fresh process; tampering is rejected', async t => {
  const db = await TestingDatabase.create(new StorageInMemory(), { contract: { source: COUNTER }, executorBehavior: ExecutorBehavior.TEST_PROCESS_OP_MULTIPLE_TIMES })
  t.teardown(() => db.close())
  await db.call('increment')
  await db.executor?.sync()
  let proof: ContractFraudProof | null = null
  try { await db.verify() } catch (err) { proof = err as ContractFraudProof }
  t.ok(proof instanceof ContractFraudProof)
  const json = JSON.stringify(proof)
  const script = `
    import { verifyFraudProof } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)}
    let s = ''; process.stdin.on('data', d => { s += d }); process.stdin.on('end', async () => {
      const r = await verifyFraudProof(JSON.parse(s)); console.log(r.code + ' ' + r.selfEvident)
    })`
  const out = spawnSync(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', script], { input: json, encoding: 'utf8' })
  t.is(out.stdout.trim(), 'PROCESSED_OUT_OF_ORDER true', out.stderr)
  const forged = JSON.parse(json)
  forged.details.code = 'ACK_FOR_MISSING_OP'
  await t.exception(() => verifyFraudProof(forged), /ACK_FOR_MISSING_OP/)
  const otherEntry = JSON.parse(json)
  otherEntry.evidence.entry.value = otherEntry.evidence.entry.value.replace(/.$/, (c: string) => c === '0' ? '1' : '0')
  await t.exception(() => verifyFraudProof(otherEntry), /tree hash|proof/i)
  t.ok(await db.index.get(keyToPath(ackKey(db.localOplog?.hex as string, 0))))
})

test('verify - an unprompted write right after genesis gives a fraud proof that checks offline', async t => {
  const db = await createDb(t, COUNTER, { executor: false })
  await db.index.dangerousBatch([{ type: 'put', path: '/counter', value: 5 }])
  const err = await db.verify().then(() => null, (e: unknown) => e)
  t.ok(err instanceof ContractFraudProof, 'verify reports it')
  const proof = err as ContractFraudProof
  t.is(proof.violation.code, 'UNPROMPTED_CHANGE')
  const v = await verifyFraudProof(JSON.parse(JSON.stringify(proof.toJSON())))
  t.is(v.code, 'UNPROMPTED_CHANGE')
  t.is(v.selfEvident, true, 'the genesis marker just before it is the evidence')
})
