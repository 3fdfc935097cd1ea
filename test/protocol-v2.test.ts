// Protocol version 2 (issue 38), the default for a new database: it writes every
// ack in the binary form of whitepaper/protocol.md §4.1 (the genesis marker says so),
// and every reader takes it: the replay verifies it, the HTTP API and the index read
// proofs give its fields, SQL lists it, a contract's `ack` is the same; an executor that
// writes a version 1 ack into it, or alters one, is caught with a fraud proof.
import test from 'brittle'
import type { Assertion } from 'brittle'
import { Database, StorageInMemory, verifyFraudProof, verifyIndexReadProof } from '../src/index.js'
import { verifyQueryRowProofs, type ProvenGet } from '../src/proofs/index.js'
import { createApi } from '../src/http/api.js'
import { ackKey, GENESIS_KEY, type Ack } from '../src/format/schemas.js'
import { decodeValue } from '../src/format/encoding.js'
import { decodeIndexValue } from '../src/format/ack-v2.js'
import type { ExecutorHooks } from '../src/exec/executor.js'
import { contract, fraudOf } from './helpers.js'

async function v2db (t: Assertion, hooks: ExecutorHooks = {}): Promise<Database> {
  const db = await Database.create(new StorageInMemory(), { contract: { source: contract('counter') }, protocol: 2, executorHooks: hooks })
  t.teardown(() => db.close())
  return db
}

test('protocol v2 - binary acks: written, verified, read back with the same fields everywhere', async t => {
  const db = await v2db(t)
  for (let i = 0; i < 4; i++) await db.call('increment', { amount: i + 1 })
  const oplog = db.localOplog
  if (oplog === null) throw new Error('no oplog')
  await oplog.append({ op: 'INCREMENT', amount: 'not a number' }) // apply throws: a failed ack
  await db.executor?.sync()
  t.alike(decodeValue((await db.index.bee.get(GENESIS_KEY))?.value as Buffer), { maxOpBytes: 1024 * 1024, v: 2 }, 'the genesis marker says version 2')

  const raw = await db.index.bee.get(ackKey(oplog.hex, 0))
  const bytes = raw?.value as Buffer
  t.is(bytes[0], 2, 'an ack is stored in binary (first byte 0x02)')
  t.ok(bytes.byteLength < 100, `${bytes.byteLength} bytes (version 1: about 287)`)

  t.is((await db.verify()).length, db.index.length, 'the replay verifies a version 2 index')
  t.is((await db.call('get')).response, 10, 'state as in version 1')

  const ok = await db.index.getAck(oplog.hex, 0)
  t.is(ok?.ack.v, 2)
  t.is(ok?.ack.success, true)
  const failed = await db.index.getAck(oplog.hex, 4)
  t.is(failed?.ack.success, false, 'the failed op\'s ack')
  t.is(failed?.ack.errorCode, 'CONTRACT_RUNTIME_ERROR')
  t.ok(/amount must be an integer/.test(failed?.ack.error ?? ''), failed?.ack.error)

  // the index API (db.index.get) and an index read proof give the fields
  const path = `/.sys/acks/${oplog.hex}/${'0'.repeat(15)}1`
  const entry = await db.index.get(path)
  t.is((entry?.value as unknown as Ack | undefined)?.seq, 1, 'db.index.get of an ack path gives its fields')
  const api = await createApi({ databases: [db] })
  t.teardown(() => api.close())
  await api.listen({ port: 0, host: '127.0.0.1' })
  const address = api.server.address()
  const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/v1/databases/${db.pubkey.toString('hex')}`
  const res = await (await fetch(`${base}/entry?path=${encodeURIComponent(path)}&proof=true`)).json() as { entry: { value: Ack }, proof: unknown }
  t.is(res.entry.value.origin, oplog.hex, 'GET …/entry of an ack path: its fields')
  const proven = (await verifyIndexReadProof(res.proof, { key: db.pubkey })).results[0] as ProvenGet
  t.is(proven.value === null ? null : (decodeIndexValue(proven.value) as unknown as Ack).seq, 1, 'and its index read proof proves them')

  // SQL: the acks table and the history, with row proofs
  const acks = await db.query('SELECT origin, seq, success, num_changes, error_code, index_seq FROM acks ORDER BY index_seq', undefined, { proofs: true })
  t.is(acks.rows.length, 5, 'SQL lists every ack')
  t.is(acks.rows[4]?.error_code, 'CONTRACT_RUNTIME_ERROR')
  t.is(verifyQueryRowProofs(acks, { key: db.pubkey }).proven, 5, 'each acks row proven against the binary entry')
  const hist = await db.query("SELECT seq, type, path, value FROM history WHERE path LIKE '/.sys/acks/%' ORDER BY seq LIMIT 3", undefined, { proofs: true })
  t.is(JSON.parse(String(hist.rows[0]?.value)).v, 2, 'the history shows an ack as the JSON of its fields')
  t.is(verifyQueryRowProofs(hist, { key: db.pubkey }).proven, hist.rows.length, 'history rows of acks proven')
})

test('protocol v2 - an executor that writes a version 1 ack into it, or alters one, is caught', async t => {
  const mixed = await v2db(t, { ack: a => a.seq === 2 ? { ...a, v: 1 } : a })
  for (let i = 0; i < 4; i++) await mixed.call('increment', {})
  await mixed.executor?.sync()
  const proof = await fraudOf(mixed.verify())
  t.is(proof.violation.code, 'MALFORMED_ACK', 'a JSON ack in a version 2 index')
  t.ok(/version 1 ack in a version 2 index/.test(proof.violation.description), proof.violation.description)
  t.is((await verifyFraudProof(JSON.parse(JSON.stringify(proof.toJSON())))).code, 'MALFORMED_ACK', 'the proof checks offline')

  const lying = await v2db(t, { ack: a => a.seq === 1 ? { ...a, success: false, error: 'Error: no', errorCode: 'CONTRACT_RUNTIME_ERROR', numChanges: 0 } : a, changes: (_o, seq, c) => seq === 1 ? [] : c })
  for (let i = 0; i < 3; i++) await lying.call('increment', {})
  await lying.executor?.sync()
  const lie = await fraudOf(lying.verify())
  t.is(lie.violation.code, 'RESULT_MISMATCH', 'a false failure claimed in a binary ack: the replay succeeds')
  t.is((await verifyFraudProof(JSON.parse(JSON.stringify(lie.toJSON())))).code, lie.violation.code, 'the proof checks offline')
})

test('protocol v2 - the default for a new database; { protocol: 1 } still makes a version 1 one, which verifies as before', async t => {
  const fresh = await Database.create(new StorageInMemory(), { contract: { source: contract('counter') } })
  t.teardown(() => fresh.close())
  t.is((await fresh.index.genesis())?.v, 2, 'a new database is version 2 unless told otherwise')
  const old = await Database.create(new StorageInMemory(), { contract: { source: contract('counter') }, protocol: 1 })
  t.teardown(() => old.close())
  for (let i = 0; i < 3; i++) await old.call('increment', {})
  await old.executor?.sync()
  const oplog = old.localOplog?.hex ?? ''
  const bytes = (await old.index.bee.get(ackKey(oplog, 0)))?.value as Buffer
  t.is(bytes.toString('utf8')[0], '{', 'version 1: the ack is canonical JSON')
  t.is((await old.index.getAck(oplog, 0))?.ack.v, 1)
  t.is((await old.verify()).length, old.index.length, 'and verifies')
})

test('protocol v2 - create refuses an unknown protocol version', async t => {
  await t.exception(Database.create(new StorageInMemory(), { contract: { source: contract('counter') }, protocol: 3 as unknown as 2 }), /protocol must be 1 or 2/)
})
