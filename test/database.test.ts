import test from 'brittle'
import { execFile } from 'child_process'
import { existsSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { Database, StorageInMemory, keyToPath, type JsonValue } from '../src/index.js'
import { ackKey } from '../src/format/schemas.js'
import { heapGrowthPercent } from '../src/db/heap-growth.js'
import { contract, createDb, eventually, follow, valueAt } from './helpers.js'
import { LAB, LAB_V2 } from './fixtures/lab-contract.js'

test('database - counter flow: 0, increment, increment 2, increment → 4', async t => {
  const db = await createDb(t, contract('counter'))
  t.is(db.isExecutor, true)
  t.is(db.isParticipant, true)
  t.is((await db.call('get')).response, 0)
  const a = await db.call('increment')
  const b = await db.call('increment', { amount: 2 })
  const c = await db.call('increment')
  t.is(a.ops.length, 1)
  t.alike(b.ops[0].value, { op: 'INCREMENT', amount: 2 })
  t.ok(a.ops[0].proof !== null, 'op carries an inclusion proof')
  await Promise.all([a, b, c].map(tx => tx.whenProcessed({ timeout: 5000 })))
  t.is((await db.call('get')).response, 4)
  t.is(await c.isProcessed(), true)
  const [res] = await c.fetchResults()
  t.is(res?.success, true)
  t.alike(res?.changes.map(ch => [ch.type, ch.path, ch.value]), [['put', '/counter', 4]])
})

test('database - db.pubkey, oplogs and index layout after genesis', async t => {
  const db = await createDb(t, contract('counter'))
  t.is(db.pubkey.length, 32)
  t.is(db.oplogs.length, 1)
  const hex = db.localOplog?.hex as string
  t.alike((await db.index.get('/.sys/inputs/' + hex))?.value, { pubkey: hex, active: true })
  t.is(typeof (await db.index.get('.sys/contract/source'))?.value, 'string', 'paths need no leading /')
  t.ok(await db.index.get('/.sys/acks/genesis') !== undefined)
  t.alike((await db.index.list('/.sys')).map(e => [e.path, e.container]), [['/.sys/acks', true], ['/.sys/contract', true], ['/.sys/inputs', true]])
  t.alike((await db.index.list('/.sys/acks/')).map(e => [e.name, e.container]), [['genesis', false]], 'no op acked yet')
  t.alike((await db.index.list('/.sys/inputs')).map(e => e.path), ['/.sys/inputs/' + hex])
})

test('database - index get / list / history / dangerousBatch', async t => {
  const db = await createDb(t, LAB)
  for (const [k, v] of [['a/1', 1], ['a/2', 2], ['b/1', 3]] as Array<[string, number]>) await (await db.call('put', { key: k, value: v })).whenProcessed()
  t.alike((await db.index.list('a/')).map(e => [e.path, e.value]), [['/a/1', 1], ['/a/2', 2]])
  t.alike((await db.index.list('/a', { reverse: true, limit: 1 })).map(e => e.path), ['/a/2'])
  t.alike((await db.index.list('/a', { offset: 1 })).map(e => e.path), ['/a/2'])
  t.alike((await db.index.list('/')).filter(e => e.name !== '.sys').map(e => [e.path, e.container, e.value]), [['/a', true, undefined], ['/b', true, undefined]], 'sub-folders are containers')
  const b1 = await db.index.get('//b/1/')
  t.alike(b1 && { ...b1, seq: typeof b1.seq }, { seq: 'number', container: false, name: '1', path: '/b/1', value: 3 })
  t.is(await db.index.get('nope'), undefined)
  t.is(await db.index.get('/b'), undefined, 'a folder is no entry')
  await t.exception(db.index.list('/', { prefix: 'a' } as never), /unknown option "prefix"/)
  await db.index.dangerousBatch([{ type: 'put', path: 'x', value: { hello: 'world' } }, { type: 'del', path: '/a/1' }])
  t.alike(await valueAt(db, '/x'), { hello: 'world' })
  t.is(await db.index.get('a/1'), undefined)
  const history = []
  for await (const e of db.index.history()) history.push(e)
  t.is(history[history.length - 1].type, 'del')
  t.is(history[history.length - 1].path, '/a/1')
  t.is(history[history.length - 1].name, '1')
  t.ok(history.some(e => e.path === keyToPath(ackKey(db.localOplog?.hex as string, 0))), 'history holds the acks')
})

test('database - process() metadata lands in the ack and in state', async t => {
  const db = await createDb(t, LAB)
  const tx = await db.call('send', { op: { op: 'META' } })
  await tx.whenProcessed()
  const [ack] = await tx.fetchAcks()
  t.alike(ack?.metadata, { kind: 'META' })
  t.alike(await valueAt(db, '/meta'), { kind: 'META' })
})

test('database - fetchResults for success and failure; a failed op writes nothing', async t => {
  const db = await createDb(t, LAB)
  const ok = await db.call('put', { key: 'k', value: 1 })
  const bad = await db.call('send', { op: { op: 'THROW' } })
  const procFail = await db.call('send', { op: { op: 'PUT', key: 'z', value: 1, failProcess: true } })
  await Promise.all([ok, bad, procFail].map(x => x.whenProcessed()))
  const [r1] = await ok.fetchResults({ proofs: true })
  t.is(r1?.success, true)
  t.is(r1?.numChanges, 1)
  t.ok(r1?.ackProof, 'ack inclusion proof')
  t.ok(r1?.changes[0].proof, 'write inclusion proof')
  const [r2] = await bad.fetchResults()
  t.is(r2?.success, false)
  t.ok(/apply exploded/.test(r2?.error ?? ''), 'error message of apply')
  t.is(r2?.numChanges, 0)
  t.alike(r2?.changes, [])
  const [r3] = await procFail.fetchResults()
  t.is(r3?.success, false)
  t.ok(/process refused/.test(r3?.error ?? ''), 'error message of process')
  t.is(await valueAt(db, '/z'), null)
})

test('database - errors in call reject and append nothing', async t => {
  const db = await createDb(t, LAB)
  const before = db.localOplog?.length
  await t.exception(db.call('nope'), /no method "nope"/)
  await t.exception(db.call('fail'), /method refused/)
  await t.exception(db.call('send', { op: 'not an object' }), /op/)
  await t.exception(db.call('sendMany', { ops: [{ op: 'PUT', key: 'a', value: 1 }, { nope: 1 }] }), /op/)
  await t.exception(db.call('put', { key: 'a', value: () => 1 }), /JSON|function/)
  t.is(db.localOplog?.length, before, 'nothing appended')
  try { await db.call('nope') } catch (err) { t.is((err as { code: string }).code, 'UNKNOWN_METHOD') }
})

test('database - parse errors at create time carry the contract line', async t => {
  const storage = new StorageInMemory()
  t.teardown(() => storage.destroy())
  const source = 'export const apply = {}\nexport function broken ( {\n'
  try {
    await Database.create(storage, { contract: { source } })
    t.fail('should throw')
  } catch (err) {
    const e = err as { code: string, line?: number }
    t.is(e.code, 'CONTRACT_PARSE_ERROR')
    t.ok(e.line !== undefined && e.line >= 2, `line ${String(e.line)}`)
  }
  await t.exception(Database.create(storage, { contract: { source: "import fs from 'fs'\nexport const apply = {}" } }), /fs/)
})

test('database - infinite loop and memory bomb in apply fail that op; later ops execute', async t => {
  const db = await createDb(t, LAB, { limits: { timeoutMs: 200, memoryMb: 32 } })
  const loop = await db.call('send', { op: { op: 'LOOP' } })
  const bomb = await db.call('send', { op: { op: 'BOMB' } })
  const after = await db.call('put', { key: 'after', value: 7 })
  await Promise.all([loop, bomb, after].map(x => x.whenProcessed({ timeout: 20000 })))
  const [[r1], [r2], [r3]] = await Promise.all([loop.fetchResults(), bomb.fetchResults(), after.fetchResults()])
  t.is(r1?.success, false, 'loop failed')
  t.is(r2?.success, false, 'bomb failed')
  t.is(r3?.success, true, 'later op succeeded')
  t.is(await valueAt(db, '/after'), 7)
})

test('database - Math.random / Date in apply are derived from the ack; .sys/ writes refused', async t => {
  const db = await createDb(t, LAB)
  const tx = await db.call('send', { op: { op: 'NONDET' } })
  const sys = await db.call('send', { op: { op: 'SYS' } })
  await tx.whenProcessed()
  await sys.whenProcessed()
  const [ack] = await tx.fetchAcks()
  t.is(await valueAt(db, '/now'), ack?.ts, 'Date.now() === ack.ts')
  const r = await valueAt(db, '/random') as number
  t.ok(typeof r === 'number' && r >= 0 && r < 1, 'Math.random gives a number in [0, 1)')
  const [sysRes] = await sys.fetchResults()
  t.is(sysRes?.success, false)
  t.ok(/\.sys/.test(sysRes?.error ?? ''), sysRes?.error)
  t.is(await db.call('version').then(x => x.response), 1, 'contract unchanged')
})

test('database - contract source change takes effect from the next op', async t => {
  const db = await createDb(t, LAB)
  await (await db.call('put', { key: 'a', value: 1 })).whenProcessed()
  const change = await db.call('send', { op: { op: 'SETSRC', code: LAB_V2 } })
  const next = await db.call('put', { key: 'b', value: 1 })
  await change.whenProcessed()
  await next.whenProcessed()
  t.is(await valueAt(db, '/a'), 1)
  t.is(await valueAt(db, '/b'), 2, 'the next op ran the new contract')
  t.is((await db.call('version')).response, 2, 'calls use the new source')
  const bad = await db.call('send', { op: { op: 'SETSRC', code: 'export const apply = {' } })
  await bad.whenProcessed()
  const [r] = await bad.fetchResults()
  t.is(r?.success, false, 'an unparsable new source fails the op')
  t.is((await db.call('version')).response, 2)
})

test('database - added oplogs are executed, removed ones ignored', async t => {
  const db = await createDb(t, LAB)
  const peer = await follow(t, db)
  const log = await peer.createOplog()
  t.is(peer.isParticipant, false)
  await t.exception(peer.call('put', { key: 'p', value: 1 }), /participant/)
  await (await db.call('send', { op: { op: 'ADD', pubkey: log.hex } })).whenProcessed()
  t.ok(await eventually(async () => { await peer.refresh(); return peer.isParticipant }), 'peer became a participant')
  const tx = await peer.call('put', { key: 'from-peer', value: 5 })
  await tx.whenProcessed({ timeout: 10000 })
  t.is(await valueAt(db, '/from-peer'), 5)
  const [res] = await tx.fetchResults()
  t.is(res?.success, true)
  await (await db.call('send', { op: { op: 'REMOVE', pubkey: log.hex } })).whenProcessed()
  t.ok(await eventually(async () => { await peer.refresh(); return !peer.isParticipant }), 'peer is no longer a participant')
  // an op appended straight to the removed oplog is never executed
  const seq = await log.append({ op: 'PUT', key: 'late', value: 1 })
  await eventually(async () => (await db.oplogs.find(o => o.hex === log.hex)?.core.length ?? 0) > seq, 3000)
  await (await db.call('put', { key: 'marker', value: 1 })).whenProcessed()
  await db.executor?.sync()
  t.is(await valueAt(db, '/late'), null)
  t.is(await db.index.get(keyToPath(ackKey(log.hex, seq))), undefined, 'no ack for the removed oplog')
})

test('database - malformed oplog entries become failed acks', async t => {
  const db = await createDb(t, LAB)
  const core = db.localOplog?.core
  const entries = ['{not json', '{"op":1}', '{"op":"PUT","value":1,"key":"b"}', '[]', '{"key":"a","op":"PUT","value":1}']
  await core?.append(entries.map(e => Buffer.from(e)))
  await db.executor?.sync()
  const hex = db.localOplog?.hex as string
  const acks = await db.index.list('/.sys/acks/' + hex)
  t.alike(acks.map(a => (a.value as { success: boolean }).success), [false, false, false, false, true], 'only the canonical op succeeds')
  t.alike(acks.map(a => (a.value as { errorCode?: string }).errorCode ?? null), ['INVALID_ENTRY', 'INVALID_ENTRY', 'INVALID_ENTRY', 'INVALID_ENTRY', null])
  t.is(await valueAt(db, '/a'), 1)
})

test('database - load reopens, wrong keys are refused', async t => {
  const storage = new StorageInMemory()
  t.teardown(() => storage.destroy())
  const db = await Database.create(storage.dir, { contract: { source: contract('counter') } })
  const pubkey = db.pubkey.toString('hex')
  await (await db.call('increment')).whenProcessed()
  await db.close()
  const again = await Database.load(storage.dir)
  t.is(again.pubkey.toString('hex'), pubkey)
  t.is(again.isExecutor, true)
  t.is((await again.call('get')).response, 1)
  await again.close()
  await t.exception(Database.load(storage.dir, 'ab'.repeat(32)), /holds database/)
  await t.exception(Database.load(storage.dir, 'xyz'), /public key/)
  const empty = new StorageInMemory()
  t.teardown(() => empty.destroy())
  try { await Database.load(empty) } catch (err) { t.is((err as { code: string }).code, 'DATABASE_NOT_FOUND') }
  await t.exception(Database.create(storage.dir, { contract: { source: contract('counter') } }), /already exists/)
})

test('database - group commit: many ops per batch, each sees the writes before it', async t => {
  const db = await createDb(t, LAB)
  const txs = []
  for (let i = 0; i < 300; i++) txs.push(db.call('send', { op: { op: 'PUT', key: 'n', value: i } }, { proofs: false }))
  txs.push(db.call('send', { op: { op: 'COPY', from: 'n', to: 'copy' } }, { proofs: false }))
  const all = await Promise.all(txs)
  await db.executor?.sync()
  for (const tx of all) t.ok(await tx.isProcessed())
  t.is(await valueAt(db, '/copy'), 299, 'the COPY op saw the last PUT of the same batch')
  const starts = new Set<number>()
  for await (const e of db.index.history()) {
    if (e.path.startsWith('/.sys/acks/') && e.name !== 'genesis') starts.add((e.value as { batchStart: number }).batchStart)
  }
  t.ok(starts.size < 301, `ops shared batches (${starts.size} batches for 301 ops)`)
  const values: JsonValue[] = []
  for (const tx of all.slice(0, 3)) values.push((await tx.fetchResults())[0]?.changes[0].value ?? null)
  t.alike(values, [0, 1, 2])
})

test('database - a transaction saved with toJSON reopens after a restart: wait, acks, results; tampered ones are refused', async t => {
  const storage = new StorageInMemory()
  t.teardown(() => storage.destroy())
  const db = await Database.create(storage.dir, { contract: { source: contract('counter') } })
  const tx = await db.call('increment', { amount: 5 })
  const saved = JSON.stringify(tx)
  await db.close()

  const again = await Database.load(storage.dir)
  t.teardown(() => again.close())
  const reopened = again.transaction(saved)
  t.is(reopened.method, 'increment')
  t.alike(reopened.params, { amount: 5 })
  t.alike(reopened.ops.map(o => [o.value, o.seq]), [[{ op: 'INCREMENT', amount: 5 }, 0]])
  await reopened.whenProcessed({ timeout: 10_000 })
  const [result] = await reopened.fetchResults({ proofs: true })
  t.alike(result?.changes.map(c => [c.path, c.value]), [['/counter', 5]], 'its results, from the index')
  t.ok(result?.ackProof !== undefined, 'with proofs of the ack')
  t.alike(JSON.parse(JSON.stringify(again.transaction(JSON.parse(saved)))), JSON.parse(saved), 'object or text: the same transaction back')

  const code = (f: () => unknown): string => { try { f(); return 'no error' } catch (err) { return (err as { code: string }).code } }
  const edit = (change: (o: any) => void): string => { const o = JSON.parse(saved); change(o); return JSON.stringify(o) }
  t.is(code(() => again.transaction(edit(o => { o.ops[0].seq = 1 }))), 'INVALID_PROOF', 'a proof for another seq')
  t.is(code(() => again.transaction(edit(o => { o.ops[0].value.amount = 6 }))), 'INVALID_PROOF', 'a proof of another op')
  t.is(code(() => again.transaction(edit(o => { o.ops[0].oplog = 'ab'.repeat(32) }))), 'INVALID_PROOF', 'a proof from another oplog')
  t.is(code(() => again.transaction(edit(o => { o.ops[0].proof.head.signature = '00'.repeat(64) }))), 'INVALID_PROOF', 'a bad signature')
  t.is(code(() => again.transaction(edit(o => { o.ops[0].proof = null }))), 'no error', 'no proof is allowed (calls with { proofs: false })')
  t.is(code(() => again.transaction(edit(o => { o.ops[0].value = { amount: 1 } }))), 'INVALID_ARGUMENT', 'a value that is not an op')
  t.is(code(() => again.transaction(edit(o => { o.extra = 1 }))), 'INVALID_ARGUMENT', 'an unknown field')
  t.is(code(() => again.transaction(edit(o => { delete o.ops }))), 'INVALID_ARGUMENT', 'a missing field')
  t.is(code(() => again.transaction('{"method":')), 'INVALID_ARGUMENT', 'text that is not JSON')
})

test('database - the heap growing factor: 1.5 unless the process or VITRA_HEAP_GROWING_PERCENT says otherwise; a bad setting is refused', async t => {
  t.is(heapGrowthPercent([], {}), 50, 'default')
  t.is(heapGrowthPercent(['--heap-growing-percent=200'], {}), null, 'the process has its own flag')
  t.is(heapGrowthPercent([], { NODE_OPTIONS: '--max-old-space-size=512 --heap_growing_percent=10' }), null, 'NODE_OPTIONS has its own flag')
  t.is(heapGrowthPercent([], { VITRA_HEAP_GROWING_PERCENT: '0' }), null, '0 leaves V8 alone')
  t.is(heapGrowthPercent([], { VITRA_HEAP_GROWING_PERCENT: '100' }), 100)
  for (const bad of ['abc', '-1', '1.5', '1001']) {
    t.exception(() => heapGrowthPercent([], { VITRA_HEAP_GROWING_PERCENT: bad }), /VITRA_HEAP_GROWING_PERCENT/, `refuses ${bad}`)
  }
  // a process with a bad setting: creating a database fails with the code, and opens nothing
  const dir = join(tmpdir(), `vitra-heap-growth-${process.pid}`)
  const code = `import { Database } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)}
try { await Database.create(${JSON.stringify(dir)}, { contract: { source: 'export function apply () {}' } }); console.log('OPENED') } catch (err) { console.log('CODE', err.code) }`
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', code], { env: { ...process.env, VITRA_HEAP_GROWING_PERCENT: 'lots' } }, (err, stdout) => { if (err !== null) reject(err); else resolve(stdout) })
  })
  t.is(out.trim(), 'CODE INVALID_ARGUMENT')
  t.absent(existsSync(dir), 'no directory was made')
})
