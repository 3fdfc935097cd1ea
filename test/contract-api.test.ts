// The contract API end to end, through a Database: what a contract written for
// Vitra 0.1.3 sees (paths, entries, acks, listOplogs, oplog, isWriter), and how a
// contract written for the earlier value-returning index.get fails: loudly, with a
// message that says what to change, never by computing something else.
import test from 'brittle'
import type { ContractTransaction, Database } from '../src/index.js'
import { ContractSandbox } from '../sandbox/index.js'
import { memoryIndex } from './fixtures/memory-index.js'
import { normalizePath, pathToKey } from '../src/format/paths.js'
import { createDb, eventually, follow, valueAt } from './helpers.js'

async function result (tx: ContractTransaction): Promise<{ success: boolean, error?: string, errorCode?: string }> {
  await tx.whenProcessed({ timeout: 10_000 })
  const [r] = await tx.fetchResults()
  const [ack] = await tx.fetchAcks()
  return { success: r?.success === true, error: r?.error, errorCode: ack?.errorCode }
}

const OLD_API = `
import { index } from 'contract'

export function send (op, emit) { emit(op) }
export const apply = {
  // vitra 0.1: index.get gave the bare value
  async INC (tx) { const v = await index.get('/counter'); tx.put('/counter', (v ?? 0) + 1) },
  async FIELD (tx) { const rec = await index.get('/rec'); tx.put('/copy', rec.pubkey) },
  async STORE (tx) { tx.put('/copy', await index.get('/rec')) },
  async TEXT (tx) { const name = await index.get('/rec'); tx.put('/greeting', 'hello ' + name) },
  async SETUP (tx) { tx.put('/counter', 1); tx.put('/rec', { pubkey: 'ab' }) }
}
`

test('contract api - a contract written for the value-returning index.get fails loudly, state untouched', async t => {
  const db = await createDb(t, OLD_API)
  t.ok((await result(await db.call('send', { op: 'SETUP' }))).success)
  for (const [op, message] of [
    ['INC', /an index entry is a record \{ seq, container, name, path, value \}, not a value: read its \.value/],
    ['FIELD', /an index entry has no property "pubkey" \(it has seq, container, name, path, value\): read \.value/],
    ['STORE', /tx\.put: the value is an index entry .*store its \.value/],
    ['TEXT', /not a value: read its \.value/]
  ] as Array<[string, RegExp]>) {
    const r = await result(await db.call('send', { op }))
    t.is(r.success, false, `${op} fails`)
    t.is(r.errorCode, 'CONTRACT_RUNTIME_ERROR')
    t.ok(message.test(r.error ?? ''), `${op}: ${r.error ?? ''}`)
    t.ok((r.error ?? '').startsWith('TypeError: '), 'as Vitra writes an error: "Name: message"')
  }
  t.is(await valueAt(db, '/counter'), 1, 'no op wrote anything')
  t.is(await valueAt(db, '/copy'), null)
  t.is(await valueAt(db, '/greeting'), null)
  await t.execution(db.verify(), 'the failures verify')
})

const PATHS = `
import { index } from 'contract'

export function send (op, emit) { emit(op) }
export async function read ({ path }) { const e = await index.get(path); return e === undefined ? null : { ...e } }
export async function list ({ path, opts }) { return (await index.list(path, opts)).map(e => [e.path, e.name, e.container, e.value ?? null]) }
export const apply = {
  async PUT (tx, op) { tx.put(op.path, op.value) },
  async DEL (tx, op) { tx.delete(op.path) },
  async ACK (tx, op, ack) {
    const keys = Object.keys(ack).sort()
    tx.put('/ack', { keys, origin: ack.origin, ts: typeof ack.ts, metadata: ack.metadata ?? null, isDate: ack.ts instanceof Date })
  }
}
`

test('contract api - paths are normalised the same in the contract and in the library', async t => {
  const db = await createDb(t, PATHS)
  t.ok((await result(await db.call('send', { op: 'PUT', path: '//a//b/', value: 1 }))).success)
  t.ok((await result(await db.call('send', { op: 'PUT', path: 'a/c', value: 2 }))).success)
  t.ok((await result(await db.call('send', { op: 'PUT', path: '/a/d/e', value: 3 }))).success)
  const entry = (await db.call('read', { path: 'a/b' })).response as Record<string, unknown>
  t.alike({ ...entry, seq: typeof entry.seq }, { seq: 'number', container: false, name: 'b', path: '/a/b', value: 1 }, 'index.get in the contract gives an entry')
  t.is((await db.index.get('/a/b/'))?.seq, entry.seq as number, 'the library finds the same entry, at the same seq')
  t.is((await db.call('read', { path: '/a' })).response, null, 'a folder is not an entry')
  t.alike((await db.call('list', { path: 'a' })).response, [['/a/b', 'b', false, 1], ['/a/c', 'c', false, 2], ['/a/d', 'd', true, null]], 'a shallow listing with the sub-folder as a container')
  t.alike((await db.call('list', { path: '/a/', opts: { reverse: true, offset: 1, limit: 1 } })).response, [['/a/c', 'c', false, 2]])
  t.alike((await db.index.list('//a')).map(e => [e.path, e.name, e.container, e.value ?? null]), (await db.call('list', { path: 'a' })).response, 'library and contract list alike')
  t.ok((await result(await db.call('send', { op: 'DEL', path: 'a//b' }))).success)
  t.is(await db.index.get('/a/b'), undefined)
  const bad = await result(await db.call('send', { op: 'PUT', path: 'a\u0000b', value: 1 }))
  t.is(bad.success, false, 'a path with NUL is refused')
  t.ok(/NUL/.test(bad.error ?? ''), bad.error)
  await t.exception(db.index.get('a\u0000b'), /NUL/)
})

test('contract api - guest and host turn the same paths into the same stored keys', async t => {
  // The guest runtime has its own copy of the path rules (it cannot import src/format/paths.ts).
  const paths = ['a', '/a', 'a/', '//a//', '/a/b/c', 'a//b', ' a /b ', '/ä/ß/😀', '/.sys2/x', '/a.b/c-d_e', '/-/0/00', '/a/./b', '/a/../b', '/\\/x']
  const s = new ContractSandbox('export async function apply (tx, op) { tx.put(op.path, 1) }')
  t.teardown(() => s.close())
  for (const path of paths) {
    const actions = await s.apply({ op: 'P', path }, { origin: 'ab'.repeat(32), seq: 0, ts: 1, metadata: null, height: 1 }, { index: memoryIndex(new Map()) })
    t.alike(actions.map(a => a.type === 'put' ? a.key : null), [pathToKey(path)], `${JSON.stringify(path)} → ${JSON.stringify(normalizePath(path))}`)
  }
})

test('contract api - the ack carries origin, ts (a number, as Vitra passes it) and metadata', async t => {
  const db = await createDb(t, PATHS.replace('export const apply', 'export function process (op) { return { tag: op.tag ?? null } }\nexport const apply'))
  const tx = await db.call('send', { op: 'ACK', tag: 't1' })
  t.ok((await result(tx)).success)
  const [ack] = await tx.fetchAcks()
  t.alike(await valueAt(db, '/ack'), { keys: ['height', 'metadata', 'origin', 'seq', 'ts'], origin: db.localOplog?.hex as string, ts: 'number', metadata: { tag: 't1' }, isDate: false })
  t.is(typeof ack?.ts, 'number')
})

const ORACLE = `
import { index, isWriter, oplog, listOplogs } from 'contract'

export function send (op, emit) { emit(op) }
export async function whoami () {
  const length = oplog === undefined ? null : await oplog.getLength()
  return { isWriter, pubkey: oplog?.pubkey ?? null, length, first: length ? await oplog.get(0) : null, oplogs: listOplogs().map(o => o.pubkey).sort() }
}
export async function entry ({ seq }) { return await oplog.get(seq) }
export const apply = {
  async ADD (tx, op) { tx.addOplog({ pubkey: op.pubkey }) },
  async SEEN (tx) { tx.put('/seen', listOplogs().map(o => o.pubkey).sort()) }
}
`

test('contract api - isWriter, oplog.getLength/get and listOplogs in calls; listOplogs in apply', async t => {
  const db = await createDb(t, ORACLE)
  const me = db.localOplog?.hex as string
  t.ok((await result(await db.call('send', { op: 'SEEN' }))).success)
  t.alike(await valueAt(db, '/seen'), [me], 'apply lists the active participants')
  const who = (await db.call('whoami')).response as Record<string, unknown>
  t.alike(who, { isWriter: true, pubkey: me, length: 1, first: { seq: 0, value: { op: 'SEEN' } }, oplogs: [me] }, 'a call sees its own oplog (get gives { seq, value }, as Vitra)')

  const peer = await follow(t, db)
  const log = await peer.createOplog()
  t.alike((await peer.call('whoami')).response, { isWriter: false, pubkey: null, length: null, first: null, oplogs: [me] }, 'a reader is no writer and has no oplog')
  t.ok((await result(await db.call('send', { op: 'ADD', pubkey: log.hex }))).success)
  t.ok((await result(await db.call('send', { op: 'SEEN' }))).success)
  t.alike(await valueAt(db, '/seen'), [me, log.hex].sort(), 'an added oplog is listed in apply from the next op')
  t.ok(await eventually(async () => { await peer.refresh(); return peer.isParticipant }))
  const w = (await peer.call('whoami')).response as Record<string, unknown>
  t.alike(w, { isWriter: true, pubkey: log.hex, length: 0, first: null, oplogs: [me, log.hex].sort() }, 'a new participant: an empty oplog of its own')
  await t.exception(peer.call('entry', { seq: 0 }), /has no entry 0 \(length 0\)/, 'oplog.get beyond the length fails the call')
  await t.execution(db.verify(), 'verifies')
})

test('contract api - a contract without apply: calls work, its ops fail with a clear error', async t => {
  const db: Database = await createDb(t, `export function send (op, emit) { emit(op) }\nexport function hello () { return 'hi' }`)
  t.is((await db.call('hello')).response, 'hi')
  const r = await result(await db.call('send', { op: 'X' }))
  t.is(r.success, false)
  t.is(r.errorCode, 'CONTRACT_RUNTIME_ERROR')
  t.ok(/exports no apply/.test(r.error ?? ''), r.error)
  await t.execution(db.verify())
})

// Each op reads entries (their seq included) and writes what it saw: the same ops must
// give the same index, byte for byte, whether they run 256 to a batch or one per batch,
// and replay (verify) must agree with both.
const SEQS = `
import { index } from 'contract'

export function send (op, emit) { emit(op) }
export const apply = {
  async STEP (tx, op, ack) {
    const prev = await index.get('/log/' + (op.i - 1))
    const listed = await index.list('/log', { reverse: true, limit: 2 })
    const gone = await index.get('/tmp/' + (op.i - 2))
    tx.put('/log/' + op.i, { prevSeq: prev?.seq ?? null, listed: listed.map(e => [e.name, e.seq ?? null]), height: ack.height, goneSeq: gone?.seq ?? null })
    if (op.i % 3 === 0) tx.delete('/tmp/' + (op.i - 2))
    if (op.i % 2 === 0) tx.put('/tmp/' + op.i, op.i)
    if (op.i % 5 === 0) tx.delete('/absent/' + op.i)
  }
}
`

test('contract api - the same ops give the same entries (with seq) in one batch, one op per batch, and in replay', async t => {
  const run = async (maxBatchOps: number): Promise<Array<[string, unknown]>> => {
    const db = await createDb(t, SEQS, { maxBatchOps })
    const oplog = db.localOplog
    if (oplog === null) throw new Error('no oplog')
    // appended in one go, so the executor may put them all in one batch
    await oplog.appendMany(Array.from({ length: 40 }, (_, i) => ({ op: 'STEP', i })))
    await db.executor?.sync()
    await db.verify()
    t.pass(`verify agrees (maxBatchOps ${maxBatchOps})`)
    const out: Array<[string, unknown]> = []
    for await (const e of db.index.history()) if (!e.path.startsWith('/.sys/acks/')) out.push([`${e.seq} ${e.type} ${e.path}`, e.value])
    return out
  }
  const batched = await run(256)
  const single = await run(1)
  t.is(batched.length, single.length, `${batched.length} entries either way`)
  t.alike(batched.filter(e => e[0].includes('/log/')).map(e => e[1]), single.filter(e => e[0].includes('/log/')).map(e => e[1]), 'every op saw the same seqs and heights')
  t.ok(batched.some(e => (e[1] as { prevSeq?: number | null })?.prevSeq !== null), 'the ops did read earlier writes with their seq')
})

test('contract api - a database or a monitor checkpoint of vitra 0.1 is refused with a clear message', async t => {
  const { mkdirSync, writeFileSync } = await import('fs')
  const { join } = await import('path')
  const { Database: Db, deserializeState } = await import('../src/index.js').then(async m => ({ ...m, deserializeState: (await import('../src/verify/replay.js')).deserializeState }))
  const dir = join(await t.tmp(), 'old')
  mkdirSync(dir)
  writeFileSync(join(dir, 'vitra.json'), JSON.stringify({ version: 1, pubkey: 'ab'.repeat(32), executor: true, oplogs: [] }))
  const err = await Db.load(dir).then(() => null, (e: { code?: string, message: string }) => e)
  t.is(err?.code, 'UNSUPPORTED_FORMAT', `load: ${err?.message ?? ''}`)
  let cp: { code?: string, message: string } | null = null
  try { deserializeState({ v: 1, length: 5, overlay: [] } as never) } catch (e) { cp = e as { code?: string, message: string } }
  t.is(cp?.code, 'UNSUPPORTED_FORMAT', `checkpoint: ${cp?.message ?? ''}`)
  t.ok(/delete the checkpoint file/.test(cp?.message ?? ''), 'says what to do')
})
