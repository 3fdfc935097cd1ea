import test from 'brittle'
import type { Assertion } from 'brittle'
import { ContractSandbox, type SandboxOptions } from '../sandbox/index.js'
import type { AckInfo, CallContext, IndexReader, Json, ListOptions, TxAction } from '../sandbox/index.js'
import { readShippedContract } from '../src/db/shipped-contracts.js'
import { memoryIndex } from './fixtures/memory-index.js'
import { inputKey } from '../src/format/schemas.js'

/** The shipped counter contract (contracts/counter.js). */
const COUNTER = readShippedContract('counter')

const PUBKEY = 'ab'.repeat(32)
const QUICK = { timeoutMs: 100, wallTimeoutMs: 1500 }

/** An IndexReader over a Map of stored keys (memoryIndex), recording the list() calls it gets. */
function mapIndex (map = new Map<string, Json>()): IndexReader & { map: Map<string, Json>, lists: Array<{ dir: string, opts: ListOptions }> } {
  const lists: Array<{ dir: string, opts: ListOptions }> = []
  const inner = memoryIndex(map)
  return {
    map,
    lists,
    get: async key => await inner.get(key),
    async list (dir, opts) {
      lists.push({ dir, opts })
      return await inner.list(dir, opts)
    }
  }
}

/** A call context without oplogs: reading one fails the test loudly. */
function callCtx (index: IndexReader, extra: Partial<CallContext> = {}): CallContext {
  const none = async (): Promise<never> => { throw new Error('this test has no oplogs') }
  return { index, isWriter: false, oplog: null, listOplogs: async () => [], oplogLength: none, oplogGet: none, ...extra }
}

function ack (seq = 0, extra: Partial<AckInfo> = {}): AckInfo {
  return { origin: PUBKEY, seq, ts: 1_700_000_000_000 + seq, metadata: null, ...extra }
}

function sandbox (t: Assertion, source: string, opts: SandboxOptions = {}): ContractSandbox {
  const s = new ContractSandbox(source, opts)
  t.teardown(() => s.close())
  return s
}

/** Applies the actions to the map, as an executor would. */
function commit (map: Map<string, Json>, actions: TxAction[]): void {
  for (const a of actions) {
    if (a.type === 'put') map.set(a.key, a.value)
    else if (a.type === 'del') map.delete(a.key)
  }
}

async function rejects (t: Assertion, promise: Promise<unknown>, code: string, message?: RegExp): Promise<unknown> {
  try {
    await promise
    t.fail(`expected a rejection with ${code}`)
    return null
  } catch (err) {
    const e = err as { code?: string, message?: string }
    t.is(e.code, code, `code ${code}`)
    if (message !== undefined) t.ok(message.test(String(e.message)), `message ${String(e.message)} matches ${String(message)}`)
    return err
  }
}

for (const fastPath of [true, false]) {
  const label = fastPath ? 'fast path' : 'async path'

  test(`sandbox - counter: call get/increment and apply INCREMENT (${label})`, async t => {
    const s = sandbox(t, COUNTER, { fastPath })
    await s.ready()
    t.alike(s.methods.sort(), ['get', 'increment'])
    t.is(s.hasProcess, false)
    const index = mapIndex()
    t.alike(await s.call('get', null, callCtx(index)), { response: 0, ops: [] })
    const inc = await s.call('increment', { amount: 5 }, callCtx(index))
    t.alike(inc, { response: undefined, ops: [{ op: 'INCREMENT', amount: 5 }] })
    for (let seq = 0; seq < 3; seq++) {
      const actions = await s.apply({ op: 'INCREMENT', amount: 5 }, ack(seq), { index })
      t.alike(actions, [{ type: 'put', key: 'counter', value: 5 * (seq + 1) }])
      commit(index.map, actions)
    }
    t.alike((await s.call('get', undefined, callCtx(index))).response, 15)
  })

  test(`sandbox - tx.get gives this op's queued action; index reads in apply see the index (${label})`, async t => {
    const s = sandbox(t, `
      import { index } from 'contract'

      export async function apply (tx, op) {
        const before = tx.get('/a')
        tx.put('/a', { n: 1 })
        const queued = tx.get('a/')
        queued.value.n = 99 // a copy: must not change the recorded put
        const fromIndex = await index.get('/a')
        tx.delete('/b')
        const deleted = tx.get('//b')
        tx.del('c')
        const listed = await index.list('/')
        tx.put('/log', {
          before: before === undefined ? 'undefined' : 'something',
          sync: typeof tx.get('/a').then,
          queued: { ...tx.get('/a') },
          fromIndex: fromIndex.value,
          deleted: { ...deleted },
          deletedC: tx.get('/c').type,
          listed: listed.map(e => [e.path, e.value])
        })
      }
    `, { fastPath })
    const index = mapIndex(new Map<string, Json>([['a', 'old'], ['b', 'bee'], ['c', 'sea']]))
    const actions = await s.apply({ op: 'X' }, ack(), { index })
    t.alike(actions, [
      { type: 'put', key: 'a', value: { n: 1 } },
      { type: 'del', key: 'b' },
      { type: 'del', key: 'c' },
      {
        type: 'put',
        key: 'log',
        value: {
          before: 'undefined',
          sync: 'undefined',
          queued: { type: 'put', value: { n: 1 } },
          fromIndex: 'old',
          deleted: { type: 'del' },
          deletedC: 'del',
          listed: [['/a', 'old'], ['/b', 'bee'], ['/c', 'sea']]
        }
      }
    ], 'tx.get is the queued action (not the index); index reads do not see this op\'s writes')
  })

  test(`sandbox - infinite loop after an await index.get in apply is stopped, then the sandbox works (${label})`, async t => {
    const s = sandbox(t, `
      import { index } from 'contract'

      export async function apply (tx, op) {
        if (op.loop) { await index.get('x'); while (true) {} }
        tx.put('/ok', (await index.get('/x'))?.value ?? 'none')
      }
      export function ping () { return 'pong' }
    `, { fastPath, limits: QUICK })
    const index = mapIndex()
    await rejects(t, s.apply({ op: 'LOOP', loop: true }, ack(), { index }), 'CONTRACT_TIMEOUT')
    t.alike(await s.apply({ op: 'OK' }, ack(1), { index }), [{ type: 'put', key: 'ok', value: 'none' }])
    t.is((await s.call('ping', null, callCtx(index))).response, 'pong')
  })

  test(`sandbox - a contract that catches read failures still sees the real values (${label})`, async t => {
    // On the fast path the first attempt's read is deferred (it throws inside the guest):
    // whatever the contract does with that must not leak into the result.
    const s = sandbox(t, `
      import { index } from 'contract'

      async function read (k) { try { return (await index.get(k)).value } catch { return 'caught' } }
      export async function sneaky () { return read('k') }
      export async function spinUnlessRead () { const n = await read('n'); if (typeof n !== 'number') while (true) {} return n }
      export async function bombUnlessRead () { const n = await read('n'); if (typeof n !== 'number') { const a = []; while (true) a.push(new Array(1000).fill(0)) } return n }
      export function apply () {}
    `, { fastPath, limits: { ...QUICK, memoryMb: 16 } })
    const index = mapIndex(new Map<string, Json>([['k', 'v'], ['n', 7]]))
    t.is((await s.call('sneaky', null, callCtx(index))).response, 'v')
    t.is((await s.call('spinUnlessRead', null, callCtx(index))).response, 7)
    t.is((await s.call('bombUnlessRead', null, callCtx(index))).response, 7)
    t.is((await s.call('sneaky', null, callCtx(index))).response, 'v')
  })

  test(`sandbox - an index read that never answers hits the wall-clock limit (${label})`, async t => {
    const s = sandbox(t, `
      import { index } from 'contract'

      export async function read () { return (await index.get('/k')).value }
      export function apply () {}
    `, { fastPath, limits: { timeoutMs: 100, wallTimeoutMs: 300 } })
    const stuck: IndexReader = { get: async () => await new Promise<null>(() => {}), list: async () => [] }
    await rejects(t, s.call('read', null, callCtx(stuck)), 'CONTRACT_TIMEOUT', /wall-clock/)
    t.is((await s.call('read', null, callCtx(mapIndex(new Map([['k', 1]]))))).response, 1)
  })

  test(`sandbox - long strings cross in pieces, whole, and leave no external memory in the isolate (${label})`, async t => {
    const s = sandbox(t, `
      import { index } from 'contract'

      export async function echo (p) { return { p, v: (await index.get('/big')).value } }
      export async function apply (tx, op) { tx.put('copy', { s: op.s, v: (await index.get('/big')).value }) }
    `, { fastPath })
    // two-byte text whose surrogate pairs straddle the 511-unit piece boundaries, and a one-byte run
    const long = '\u{1F600}é'.repeat(700) + 'x'.repeat(3000)
    const index = mapIndex(new Map<string, Json>([['big', long + '!']]))
    await s.ready()
    const isolate = (s as unknown as { instance: { isolate: { getHeapStatisticsSync: () => { externally_allocated_size: number } } } }).instance.isolate
    const before = isolate.getHeapStatisticsSync().externally_allocated_size // the sources
    for (let i = 0; i < 20; i++) {
      const r = await s.call('echo', { s: long, i }, callCtx(index))
      t.ok(r.response !== null && (r.response as { p: { s: string } }).p.s === long && (r.response as { v: string }).v === long + '!', 'call params and read value arrive whole')
    }
    t.alike(await s.apply({ op: 'X', s: long }, ack(), { index }), [{ type: 'put', key: 'copy', value: { s: long, v: long + '!' } }])
    // 21 entries of ~20 KB each: as external strings these would leave 400+ KB outside the isolate's heap
    const grown = isolate.getHeapStatisticsSync().externally_allocated_size - before
    t.ok(grown < 64 * 1024, `external memory grew by ${grown} bytes`)
  })
}

test('sandbox - function apply and object apply with a missing handler', async t => {
  const fn = sandbox(t, 'export function apply (tx, op, ack) { tx.put("seen", { op, ack }) }')
  const a = ack(7, { metadata: { receivedAt: 5 } })
  t.alike(await fn.apply({ op: 'ANY', x: [1, 2] }, a, { index: mapIndex() }), [{ type: 'put', key: 'seen', value: { op: { op: 'ANY', x: [1, 2] }, ack: a } }])

  const obj = sandbox(t, 'export const apply = { A (tx) { tx.put("a", 1) } }')
  t.alike(await obj.apply({ op: 'A' }, ack(), { index: mapIndex() }), [{ type: 'put', key: 'a', value: 1 }])
  await rejects(t, obj.apply({ op: 'B' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /no apply handler for op B/)
  await rejects(t, obj.apply({ op: 'toString' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /no apply handler for op toString/)
  await rejects(t, obj.apply({ nope: 1 }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /no apply handler for op undefined/)
})

test('sandbox - .sys/ and / writes are refused and nothing is returned', async t => {
  const s = sandbox(t, `
    export const apply = {
      PUT (tx) { tx.put('fine', 1); tx.put('.sys/inputs/x', 1) },
      DEL (tx) { tx.delete('/.sys/contract/source') },
      SYSDIR (tx) { tx.put('//.sys//', 1) },
      ROOT (tx) { tx.put('fine', 1); tx.put('/', 1) },
      ROOTDEL (tx) { tx.delete('//') },
      CAUGHT (tx) {
        try { tx.put('.sys/x', 1) } catch (err) { tx.put('error', err.message) }
      }
    }
  `)
  await rejects(t, s.apply({ op: 'PUT' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /\.sys\/ are reserved/)
  await rejects(t, s.apply({ op: 'DEL' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /\.sys\/ are reserved/)
  await rejects(t, s.apply({ op: 'SYSDIR' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /\.sys\/ are reserved/)
  await rejects(t, s.apply({ op: 'ROOT' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /cannot write to \//)
  await rejects(t, s.apply({ op: 'ROOTDEL' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /cannot write to \//)
  const caught = await s.apply({ op: 'CAUGHT' }, ack(), { index: mapIndex() })
  t.is(caught.length, 1)
  t.is(caught[0].type, 'put')
  t.ok(caught[0].type === 'put' && /\.sys\//.test(String(caught[0].value)))
})

test('sandbox - system mutators are queued by their system path, returned in key order, and checked', async t => {
  const s = sandbox(t, `
    export const apply = {
      ALL (tx, op) {
        tx.put('k', 1)
        tx.addOplog({ pubkey: op.add })
        tx.removeOplog({ pubkey: op.remove })
        tx.setContractSource({ code: 'export function apply () {}' })
      },
      AGAIN (tx, op) {
        tx.addOplog({ pubkey: op.key })
        tx.removeOplog({ pubkey: op.key })
        tx.setContractSource({ code: 'first' })
        tx.setContractSource({ code: 'second' })
        tx.put('/.', { q: tx.get('/.sys/inputs/' + op.key.toLowerCase()).type })
      },
      BADKEY (tx) { tx.addOplog({ pubkey: 'xyz' }) },
      BADCODE (tx) { tx.setContractSource({ code: 42 }) }
    }
  `)
  const actions = await s.apply({ op: 'ALL', add: 'CD'.repeat(32), remove: PUBKEY }, ack(), { index: mapIndex() })
  // stored keys: '.sys\0contract\0source' < '.sys\0inputs\0abab…' < '.sys\0inputs\0cdcd…' < 'k'
  t.alike(actions, [
    { type: 'setContractSource', code: 'export function apply () {}' },
    { type: 'removeOplog', pubkey: PUBKEY },
    { type: 'addOplog', pubkey: 'cd'.repeat(32) },
    { type: 'put', key: 'k', value: 1 }
  ])
  t.alike(await s.apply({ op: 'AGAIN', key: 'CD'.repeat(32) }, ack(), { index: mapIndex() }), [
    { type: 'put', key: '.', value: { q: 'removeOplog' } },
    { type: 'setContractSource', code: 'second' },
    { type: 'removeOplog', pubkey: 'cd'.repeat(32) }
  ], 'a later mutator of the same system path replaces the earlier one')
  await rejects(t, s.apply({ op: 'BADKEY' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /64-character hex/)
  await rejects(t, s.apply({ op: 'BADCODE' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /code must be a non-empty string/)
})

test('sandbox - tx.put refuses values that are not JSON', async t => {
  const s = sandbox(t, `
    class Thing {}
    const cyclic = {}; cyclic.self = cyclic
    const bad = { fn: () => 1, big: 1n, nan: NaN, thing: new Thing(), date: new Date(0), cyclic, hole: [undefined], undef: undefined }
    export function apply (tx, op) { tx.put('x', bad[op.which]) }
  `)
  for (const which of ['fn', 'big', 'nan', 'thing', 'date', 'cyclic', 'hole', 'undef']) {
    await rejects(t, s.apply({ op: 'X', which }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', which === 'undef' ? /undefined/ : /not a JSON value/)
  }
})

test('sandbox - parse errors carry the contract line and column', async t => {
  const s = sandbox(t, 'export function apply () {}\nexport function broken () {\n  let x = ;\n}\n', { filename: 'my-contract.js' })
  const err = await rejects(t, s.ready(), 'CONTRACT_PARSE_ERROR', /my-contract\.js:3/) as { line?: number, column?: number }
  t.is(err.line, 3)
  t.is(typeof err.column, 'number')
  // every later entry fails the same way
  await rejects(t, s.call('broken', null, callCtx(mapIndex())), 'CONTRACT_PARSE_ERROR')
})

test('sandbox - imports other than contract/assert/util are refused', async t => {
  for (const spec of ['fs', 'vitra:runtime', './other.js', 'node:child_process']) {
    const s = sandbox(t, `import x from '${spec}'\nexport function apply () {}`)
    await rejects(t, s.ready(), 'CONTRACT_PARSE_ERROR', new RegExp(`imports "${spec.replace(/[.:/]/g, '\\$&')}"`))
  }
  const dyn = sandbox(t, `
    export async function load () { return await import('vitra:runtime').then(() => 'loaded', (e) => 'refused') }
    export function apply () {}
  `)
  t.is((await dyn.call('load', null, callCtx(mapIndex()))).response, 'refused')
})

test('sandbox - a contract without apply loads (its ops fail); a bad apply/process does not load', async t => {
  const noApply = sandbox(t, 'export function get () { return 1 }')
  await noApply.ready()
  t.alike(noApply.methods, ['get'])
  t.is((await noApply.call('get', null, callCtx(mapIndex()))).response, 1)
  await rejects(t, noApply.apply({ op: 'X' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /exports no apply/)
  await rejects(t, sandbox(t, 'export const apply = 5').ready(), 'CONTRACT_PARSE_ERROR', /apply must be a function/)
  await rejects(t, sandbox(t, 'export const apply = { A: 1 }').ready(), 'CONTRACT_PARSE_ERROR', /apply\.A must be a function/)
  await rejects(t, sandbox(t, 'export function apply () {}; export const process = 1').ready(), 'CONTRACT_PARSE_ERROR', /process must be a function/)
  await rejects(t, sandbox(t, 'throw new Error("top-level boom")\nexport function apply () {}').ready(), 'CONTRACT_PARSE_ERROR', /top-level boom/)
})

test('sandbox - top-level infinite loop fails ready() with a timeout', async t => {
  const s = sandbox(t, 'while (true) {}\nexport function apply () {}', { limits: QUICK })
  await rejects(t, s.ready(), 'CONTRACT_TIMEOUT', /module code exceeded its CPU time limit/)
})

test('sandbox - unknown methods, apply and process are not callable', async t => {
  const s = sandbox(t, 'export function get () { return 1 }\nexport function apply () {}\nexport function process () {}\nexport const notFn = 1')
  await s.ready()
  t.alike(s.methods, ['get'])
  t.is(s.hasProcess, true)
  for (const name of ['nope', 'apply', 'process', 'notFn', 'constructor', '__proto__']) {
    const err = await rejects(t, s.call(name, null, callCtx(mapIndex())), 'UNKNOWN_METHOD') as { details?: { known?: string[] } }
    t.alike(err.details?.known, ['get'])
  }
})

test('sandbox - runtime errors in call, apply and process carry the contract message', async t => {
  const s = sandbox(t, `
    export function boom () { throw new RangeError('call went wrong') }
    export async function later () { await null; throw new Error('async call went wrong') }
    export function str () { throw 'a bare string' }
    export function apply () { throw new Error('apply went wrong') }
    export function process () { throw new Error('process went wrong') }
  `)
  const err = await rejects(t, s.call('boom', null, callCtx(mapIndex())), 'CONTRACT_RUNTIME_ERROR', /^call went wrong$/) as { details?: { name?: string, stack?: string } }
  t.is(err.details?.name, 'RangeError')
  t.ok(/contract\.js:2/.test(String(err.details?.stack)), 'stack points into the contract')
  await rejects(t, s.call('later', null, callCtx(mapIndex())), 'CONTRACT_RUNTIME_ERROR', /^async call went wrong$/)
  await rejects(t, s.call('str', null, callCtx(mapIndex())), 'CONTRACT_RUNTIME_ERROR', /a bare string/)
  await rejects(t, s.apply({ op: 'X' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /^apply went wrong$/)
  await rejects(t, s.process({ op: 'X' }, { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /^process went wrong$/)
})

test('sandbox - return values and emitted ops must be JSON', async t => {
  const s = sandbox(t, `
    class Thing {}
    export function fn () { return () => 1 }
    export function big () { return 10n }
    export function cycle () { const a = []; a.push(a); return a }
    export function nan () { return { x: NaN } }
    export function sym () { return Symbol('s') }
    export function instance () { return new Thing() }
    export function map () { return new Map() }
    export function fine () { return { a: [1, 'two', null, true, { b: -0 }], skipped: undefined } }
    export function emitArray (p, emit) { emit([1]) }
    export function emitString (p, emit) { emit('op') }
    export function emitFn (p, emit) { emit({ op: 'X', f () {} }) }
    export function emitSnapshot (p, emit) { const op = { op: 'X', n: 1 }; emit(op); op.n = 2; emit(op) }
    export function apply () {}
  `)
  const ctx = callCtx(mapIndex())
  for (const m of ['fn', 'big', 'cycle', 'nan', 'sym', 'instance', 'map']) {
    await rejects(t, s.call(m, null, ctx), 'CONTRACT_RUNTIME_ERROR', /return value of .* is not a JSON value/)
  }
  t.alike((await s.call('fine', null, ctx)).response, { a: [1, 'two', null, true, { b: 0 }] })
  await rejects(t, s.call('emitArray', null, ctx), 'CONTRACT_RUNTIME_ERROR', /plain JSON object/)
  await rejects(t, s.call('emitString', null, ctx), 'CONTRACT_RUNTIME_ERROR', /plain JSON object/)
  await rejects(t, s.call('emitFn', null, ctx), 'CONTRACT_RUNTIME_ERROR', /not a JSON value/)
  t.alike((await s.call('emitSnapshot', null, ctx)).ops, [{ op: 'X', n: 1 }, { op: 'X', n: 2 }])
  await rejects(t, s.call('fine', { f: () => 1 } as unknown as Json, ctx), 'INVALID_VALUE')
})

test('sandbox - infinite loops in call, apply and process are stopped; the next entry succeeds', async t => {
  const s = sandbox(t, `
    export function spin () { while (true) {} }
    export async function spinLater () { await null; await Promise.resolve(); for (;;) {} }
    export function ok () { return 'ok' }
    export const apply = { SPIN () { while (true) {} }, OK (tx) { tx.put('k', 'v') } }
    export function process (op) { if (op.spin) while (true) {} return { fine: true } }
  `, { limits: QUICK })
  const ctx = callCtx(mapIndex())
  const start = Date.now()
  await rejects(t, s.call('spin', null, ctx), 'CONTRACT_TIMEOUT', /CPU time limit of 100 ms/)
  t.is((await s.call('ok', null, ctx)).response, 'ok')
  await rejects(t, s.call('spinLater', null, ctx), 'CONTRACT_TIMEOUT')
  t.is((await s.call('ok', null, ctx)).response, 'ok')
  await rejects(t, s.apply({ op: 'SPIN' }, ack(), { index: mapIndex() }), 'CONTRACT_TIMEOUT')
  t.alike(await s.apply({ op: 'OK' }, ack(), { index: mapIndex() }), [{ type: 'put', key: 'k', value: 'v' }])
  await rejects(t, s.process({ spin: true }, { index: mapIndex() }), 'CONTRACT_TIMEOUT')
  t.alike(await s.process({ spin: false }, { index: mapIndex() }), { fine: true })
  t.comment(`the six entries took ${Date.now() - start} ms in all`) // each was stopped (the calls returned); the time is a figure
})

test('sandbox - WebAssembly works, and its async API settles within the entry', async t => {
  // A module exporting add(a, b) = a + b.
  const s = sandbox(t, `
    const ADD = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 127, 3, 2, 1, 0, 7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 32, 1, 106, 11])
    export async function add (p) { const { instance } = await WebAssembly.instantiate(ADD); return instance.exports.add(p[0], p[1]) }
    export async function apply (tx, op) { const m = await WebAssembly.compile(ADD); tx.put('sum', new WebAssembly.Instance(m).exports.add(op.a, op.b)) }
  `, { limits: QUICK })
  t.is((await s.call('add', [2, 3], callCtx(mapIndex()))).response, 5)
  t.alike(await s.apply({ op: 'X', a: 4, b: 5 }, ack(), { index: mapIndex() }), [{ type: 'put', key: 'sum', value: 9 }])
})

test('sandbox - a promise that never settles hits the wall-clock limit', async t => {
  const s = sandbox(t, `
    export async function hang () { await new Promise(() => {}) }
    export function ok () { return 1 }
    export function apply () {}
  `, { limits: { timeoutMs: 100, wallTimeoutMs: 300 } })
  const ctx = callCtx(mapIndex())
  await rejects(t, s.call('hang', null, ctx), 'CONTRACT_TIMEOUT', /wall-clock limit of 300 ms/)
  t.is((await s.call('ok', null, ctx)).response, 1)
})

test('sandbox - memory bombs fail with ContractMemoryError; the next entry succeeds', async t => {
  const s = sandbox(t, `
    export function bomb () { const a = []; while (true) a.push({ i: a.length, s: 'x'.repeat(64) + a.length }) }
    export function ok () { return 'ok' }
    export const apply = { BOMB (tx) { const a = []; while (true) a.push(new Array(1000).fill(a.length)) }, OK (tx) { tx.put('k', 1) } }
  `, { limits: { memoryMb: 16, timeoutMs: 5000 } })
  const ctx = callCtx(mapIndex())
  await rejects(t, s.call('bomb', null, ctx), 'CONTRACT_MEMORY_LIMIT', /memory limit of 16 MiB/)
  t.is((await s.call('ok', null, ctx)).response, 'ok')
  await rejects(t, s.apply({ op: 'BOMB' }, ack(), { index: mapIndex() }), 'CONTRACT_MEMORY_LIMIT')
  t.alike(await s.apply({ op: 'OK' }, ack(), { index: mapIndex() }), [{ type: 'put', key: 'k', value: 1 }])
})

const NONDETERMINISM = `
import util from 'util'
import { genUUID } from 'util'
import { index } from 'contract'

export async function apply (tx, op, ack) {
  const early = [Math.random(), genUUID()]
  const stored = (await index.get('/stored')).value
  const listed = (await index.list('/')).map(e => [e.name, e.value])
  tx.put('values', {
    early,
    stored,
    listed,
    now: Date.now(),
    date: new Date().getTime(),
    same: Date.now() === ack.ts,
    random: [Math.random(), Math.random(), Math.random()],
    uuids: [genUUID(), util.genUUID()],
    local: new Date(2020, 0, 2, 3, 4).toISOString(),
    parsed: new Date('2020-01-02T03:04:05').getTime(),
    hours: new Date(0).getHours(),
    offset: new Date().getTimezoneOffset(),
    text: String(new Date(0)),
    locale: new Date(0).toLocaleString(),
    weak: typeof WeakRef,
    registry: typeof FinalizationRegistry,
    intl: typeof Intl,
    timers: [typeof setTimeout, typeof setInterval, typeof queueMicrotask, typeof setImmediate]
  })
}
export function real () { return { now: Date.now(), random: Math.random(), uuid: genUUID(), weak: typeof WeakRef, intl: typeof Intl } }
`

test('sandbox - apply is deterministic: same ack, same actions, on separate sandboxes and paths', async t => {
  // The fast path re-runs apply after its first read: draws made before that read must repeat.
  const a = sandbox(t, NONDETERMINISM)
  const b = sandbox(t, NONDETERMINISM, { fastPath: false })
  const state = (): IndexReader => mapIndex(new Map<string, Json>([['stored', 'yes'], ['s1', 1]]))
  const first = await a.apply({ op: 'X' }, ack(42), { index: state() })
  const second = await b.apply({ op: 'X' }, ack(42), { index: state() })
  t.alike(first, second, 'fast path (with re-runs) and async path agree')
  const again = await a.apply({ op: 'X' }, ack(42), { index: state() })
  t.alike(again, first, 'the PRNG is reseeded for every apply')
  const v = (first[0] as { value: Record<string, unknown> }).value
  t.is(v.stored, 'yes')
  t.alike(v.listed, [['s1', 1], ['stored', 'yes']])
  t.is(v.now, ack(42).ts)
  t.is(v.date, ack(42).ts)
  t.is(v.same, true)
  const random = v.random as number[]
  t.ok(random.every(x => typeof x === 'number' && x >= 0 && x < 1), 'random numbers in [0, 1)')
  t.is(new Set(random).size, 3)
  const uuids = v.uuids as string[]
  t.ok(uuids.every(u => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(u)), 'v4 uuids')
  t.not(uuids[0], uuids[1])
  t.is(v.local, '2020-01-02T03:04:00.000Z', 'local-time constructor is UTC')
  t.is(v.parsed, Date.UTC(2020, 0, 2, 3, 4, 5), 'offset-less date strings are UTC')
  t.is(v.hours, 0)
  t.is(v.offset, 0)
  t.is(v.text, 'Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)')
  t.ok(/^1\/1\/1970, 12:00:00\sAM$/.test(String(v.locale)), 'toLocaleString is en-US in UTC')
  t.is(v.weak, 'undefined')
  t.is(v.registry, 'undefined')
  t.is(v.intl, 'undefined')
  t.alike(v.timers, ['undefined', 'undefined', 'undefined', 'undefined'])

  const other = await a.apply({ op: 'X' }, ack(43), { index: state() })
  t.not(JSON.stringify(other), JSON.stringify(first), 'another seq gives other values')
})

test('sandbox - calls see the real clock, randomness and globals', async t => {
  const s = sandbox(t, NONDETERMINISM)
  const before = Date.now()
  const r1 = (await s.call('real', null, callCtx(mapIndex()))).response as Record<string, unknown>
  const r2 = (await s.call('real', null, callCtx(mapIndex()))).response as Record<string, unknown>
  t.ok((r1.now as number) >= before && (r1.now as number) <= Date.now() + 1, 'real Date.now()')
  t.not(r1.random, r2.random)
  t.not(r1.uuid, r2.uuid)
  t.ok(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(String(r1.uuid)))
  t.is(r1.weak, 'function')
  t.is(r1.intl, 'object')
})

test('sandbox - escape attempts find no host', async t => {
  const s = sandbox(t, `
    import contract from 'contract'
    export function probe () {
      const F = (function () {}).constructor
      const out = {
        process: F('return typeof process')(),
        require: F('return typeof require')(),
        fetch: typeof globalThis.fetch,
        ivm: typeof globalThis.ivm,
        globalProcess: typeof globalThis.process,
        buffer: typeof Buffer,
        viaIndex: typeof contract.index.get.constructor('return typeof process')(),
        evalProcess: eval('typeof process'),
        thisAtTop: F('return typeof this.process')()
      }
      try { out.ctor = this.constructor.constructor('return process')(); } catch (err) { out.ctor = 'threw ' + err.name }
      try { out.fnCtor = F('return process')() } catch (err) { out.fnCtor = 'threw ' + err.name }
      out.globals = Object.getOwnPropertyNames(globalThis).filter(n => /require|process|module|fetch|setTimeout|ivm|__/.test(n))
      return out
    }
    export function apply () {}
  `)
  const r = (await s.call('probe', null, callCtx(mapIndex()))).response as Record<string, unknown>
  t.is(r.process, 'undefined')
  t.is(r.require, 'undefined')
  t.is(r.fetch, 'undefined')
  t.is(r.ivm, 'undefined')
  t.is(r.globalProcess, 'undefined')
  t.is(r.buffer, 'undefined')
  t.is(r.viaIndex, 'string')
  t.is(r.evalProcess, 'undefined')
  t.is(r.thisAtTop, 'undefined')
  t.is(r.ctor, 'threw TypeError')
  t.is(r.fnCtor, 'threw ReferenceError')
  t.alike(r.globals, [])
})

/** An index holding the participant records of PUBKEY (active) and OTHER (removed), plus `extra`. */
const OTHER = 'cd'.repeat(32)
function withInputs (extra: Array<[string, Json]> = []): Map<string, Json> {
  return new Map<string, Json>([[inputKey(OTHER), { pubkey: OTHER, active: false }], [inputKey(PUBKEY), { pubkey: PUBKEY, active: true }], ...extra])
}

test('sandbox - process(op) returns metadata, sees index reads and the participants, and defaults to null', async t => {
  const s = sandbox(t, `
    import contract, { index, isWriter, oplog, listOplogs } from 'contract'
    export function apply () {}
    export async function process (op, emit) {
      const oplogs = listOplogs()
      let length
      try { await oplogs[0].getLength(); length = 'read' } catch (err) { length = err.message }
      let entry
      try { await oplogs[0].get(0); entry = 'read' } catch (err) { entry = err.message }
      return {
        receivedAt: Date.now(), value: (await index.get('k')).value, isWriter, oplog: typeof oplog, defaultIsWriter: contract.isWriter,
        emit: typeof emit, oplogs: oplogs.map(o => o.pubkey), length, entry, op
      }
    }
    export async function nothing () {}
  `)
  const before = Date.now()
  const meta = await s.process({ op: 'X', n: 1 }, { index: mapIndex(withInputs([['k', 'v']])) }) as Record<string, unknown>
  t.ok((meta.receivedAt as number) >= before, 'real clock in process')
  t.is(meta.value, 'v')
  t.is(meta.isWriter, false)
  t.is(meta.oplog, 'undefined')
  t.is(meta.defaultIsWriter, false)
  t.is(meta.emit, 'undefined')
  t.alike(meta.oplogs, [PUBKEY], 'listOplogs() in process: the active records of /.sys/inputs')
  t.ok(/getLength\(\) is not available in process/.test(String(meta.length)), String(meta.length))
  t.ok(/get\(\) is not available in process/.test(String(meta.entry)), String(meta.entry))
  t.alike(meta.op, { op: 'X', n: 1 })

  const none = sandbox(t, 'export function apply () {}')
  t.is(await none.process({ op: 'X' }, { index: mapIndex() }), null)
  const undef = sandbox(t, 'export function apply () {}\nexport function process () {}')
  t.is(await undef.process({ op: 'X' }, { index: mapIndex() }), null)
})

test('sandbox - the contract module reflects the caller in calls only', async t => {
  const s = sandbox(t, `
    import contract, { isWriter, oplog, listOplogs } from 'contract'
    export async function who () {
      const oplogs = listOplogs()
      return {
        isWriter, oplog: oplog === undefined ? null : oplog.pubkey, d: contract.isWriter, o: contract.oplog === undefined ? null : contract.oplog.pubkey,
        same: contract.oplog === oplog, oplogs: oplogs.map(o => o.pubkey), sync: Array.isArray(oplogs),
        length: oplog === undefined ? null : await oplog.getLength(), first: oplog === undefined ? null : await oplog.get(0)
      }
    }
    export async function apply (tx) {
      let err = null
      const oplogs = contract.listOplogs()
      try { await oplogs[0].getLength() } catch (e) { err = e.message }
      tx.put('who', { isWriter, oplog: oplog === undefined ? 'undefined' : 'defined', oplogs: oplogs.map(o => o.pubkey), err })
    }
  `)
  const asked: Array<[string, number?]> = []
  const r = await s.call('who', null, callCtx(mapIndex(), {
    isWriter: true,
    oplog: PUBKEY,
    listOplogs: async () => [OTHER, PUBKEY],
    oplogLength: async hex => { asked.push([hex]); return 3 },
    oplogGet: async (hex, seq) => { asked.push([hex, seq]); return { op: 'FIRST' } }
  }))
  t.alike(r.response, { isWriter: true, oplog: PUBKEY, d: true, o: PUBKEY, same: true, oplogs: [OTHER, PUBKEY], sync: true, length: 3, first: { op: 'FIRST' } })
  t.alike(asked, [[PUBKEY], [PUBKEY, 0]], 'getLength() and get(seq) ask the host about the caller\'s oplog')
  t.alike(await s.apply({ op: 'X' }, ack(), { index: mapIndex(withInputs()) }), [
    { type: 'put', key: 'who', value: { isWriter: false, oplog: 'undefined', oplogs: [PUBKEY], err: 'oplog.getLength() is not available in apply (oplog lengths differ between peers)' } }
  ])
  const r2 = await s.call('who', null, callCtx(mapIndex()))
  t.alike(r2.response, { isWriter: false, oplog: null, d: false, o: null, same: true, oplogs: [], sync: true, length: null, first: null })
})

test('sandbox - index.list passes its options and rejects bad ones', async t => {
  const s = sandbox(t, `
    import { index } from 'contract'

    export async function list (p) { return (await index.list(p.path, p.opts)).map(e => ({ ...e, seq: typeof e.seq })) }
    export function apply () {}
  `)
  const index = mapIndex(new Map<string, Json>([['u\x00a', 1], ['u\x00b', 2], ['u\x00c', 3], ['v\x00a', 4]]))
  const entry = (path: string, value: Json): Json => ({ seq: 'number', container: false, name: path.slice(path.lastIndexOf('/') + 1), path, value })
  const r = await s.call('list', { path: 'u/', opts: { limit: 2, reverse: true, offset: 0 } }, callCtx(index))
  t.alike(r.response, [entry('/u/c', 3), entry('/u/b', 2)])
  t.alike(index.lists[0], { dir: 'u', opts: { limit: 2, reverse: true, offset: 0 } }, 'the host gets the stored key and the checked options')
  t.alike((await s.call('list', { path: '//v' }, callCtx(index))).response, [entry('/v/a', 4)])
  t.alike(index.lists[1], { dir: 'v', opts: {} })
  t.alike((await s.call('list', { path: '/' }, callCtx(index))).response, [
    { seq: 'undefined', container: true, name: 'u', path: '/u' }, { seq: 'undefined', container: true, name: 'v', path: '/v' }
  ], 'the root lists the two folders')
  t.alike(index.lists[2], { dir: '', opts: {} })
  const n = index.lists.length
  for (const [opts, message] of [
    [{ limit: -1 }, /limit must be a non-negative integer/],
    [{ offset: 1.5 }, /offset must be a non-negative integer/],
    [{ reverse: 'yes' }, /reverse must be a boolean/],
    [{ gt: 'u/' }, /unknown option "gt"/],
    [{ prefix: 'u' }, /unknown option "prefix"/],
    [{ limit: 1, lte: 'u/z' }, /unknown option "lte"/]
  ] as Array<[Json, RegExp]>) {
    const err = await rejects(t, s.call('list', { path: 'u/', opts }, callCtx(index)), 'CONTRACT_RUNTIME_ERROR', message) as { details?: { name?: string } }
    t.is(err.details?.name, 'TypeError')
  }
  await rejects(t, s.call('list', { path: 3 }, callCtx(index)), 'CONTRACT_RUNTIME_ERROR', /path must be a string/)
  t.is(index.lists.length, n, 'refused options never reach the host')
})

test('sandbox - assert module', async t => {
  const s = sandbox(t, `
    import assert, { ok, equal, notEqual, deepEqual, notDeepEqual, match, doesNotMatch, fail } from 'assert'
    const cases = {
      ok: () => ok(0),
      okMsg: () => assert(false, 'custom message'),
      equal: () => equal(1, '1'),
      notEqual: () => assert.notEqual(2, 2),
      deepEqual: () => deepEqual({ a: [1, 2] }, { a: [1, 3] }),
      notDeepEqual: () => notDeepEqual({ a: [1] }, { a: [1] }),
      match: () => match('abc', /x/),
      doesNotMatch: () => doesNotMatch('abc', /b/),
      fail: () => fail('failed on purpose'),
      passes: () => { ok(1); equal(NaN, NaN); notEqual(1, 2); deepEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }); notDeepEqual([1], [2]); match('abc', /b/); doesNotMatch('abc', /x/); return 'passed' }
    }
    export function run (name) { return cases[name]() ?? null }
    export function apply () {}
  `)
  const ctx = callCtx(mapIndex())
  t.is((await s.call('run', 'passes', ctx)).response, 'passed')
  const expected: Record<string, RegExp> = {
    ok: /truthy/,
    okMsg: /^custom message$/,
    equal: /Expected 1 to equal "1"/,
    notEqual: /not to equal/,
    deepEqual: /deeply equal/,
    notDeepEqual: /not to deeply equal/,
    match: /to match/,
    doesNotMatch: /not to match/,
    fail: /^failed on purpose$/
  }
  for (const [name, re] of Object.entries(expected)) {
    const err = await rejects(t, s.call('run', name, ctx), 'CONTRACT_RUNTIME_ERROR', re) as { details?: { name?: string } }
    t.is(err.details?.name, 'AssertionError')
  }
})

test('sandbox - many sequential reads in one entry', async t => {
  const s = sandbox(t, `
    import { index } from 'contract'

    export async function sum (n) { let total = 0; for (let i = 0; i < n; i++) total += (await index.get('k' + i))?.value ?? 0; return total }
    export async function apply (tx, op) { let total = 0; for (let i = 0; i < op.n; i++) total += (await index.get('/k' + i))?.value ?? 0; tx.put('sum', total) }
  `)
  const map = new Map<string, Json>()
  for (let i = 0; i < 50; i++) map.set('k' + i, i)
  const index = mapIndex(map)
  t.is((await s.call('sum', 50, callCtx(index))).response, 1225)
  t.is((await s.call('sum', 3, callCtx(index))).response, 3)
  t.alike(await s.apply({ op: 'X', n: 50 }, ack(), { index }), [{ type: 'put', key: 'sum', value: 1225 }])
})

test('sandbox - a failing index read fails the entry even if the contract catches it', async t => {
  const s = sandbox(t, `
    import { index } from 'contract'

    export async function read () { try { return await index.get('k') } catch { return 'swallowed' } }
    export async function apply (tx) { try { await index.get('/k') } catch { tx.put('k', 'swallowed') } }
  `)
  const broken: IndexReader = { async get () { throw new Error('disk on fire') }, async list () { return [] } }
  await t.exception(s.call('read', null, callCtx(broken)), /disk on fire/)
  await t.exception(s.apply({ op: 'X' }, ack(), { index: broken }), /disk on fire/)
  const fine = sandbox(t, 'export function apply (tx) { tx.put("k", 1) }', { fastPath: false })
  await t.exception(fine.apply({ op: 'X' }, { origin: 5, seq: 0, ts: 0, metadata: null } as unknown as AckInfo, { index: mapIndex() }), /ack\.origin/)
})

test('sandbox - close is idempotent and later entries reject', async t => {
  const s = new ContractSandbox(COUNTER)
  await s.ready()
  const index = mapIndex()
  t.is((await s.call('get', null, callCtx(index))).response, 0)
  await s.close()
  await s.close()
  await rejects(t, s.call('get', null, callCtx(index)), 'CLOSED')
  await rejects(t, s.apply({ op: 'INCREMENT', amount: 1 }, ack(), { index }), 'CLOSED')
})

test('sandbox - close during a running entry rejects it with CLOSED', async t => {
  const s = new ContractSandbox('export async function hang () { await new Promise(() => {}) }\nexport function apply () {}', { limits: { timeoutMs: 100, wallTimeoutMs: 10_000 } })
  await s.ready()
  const pending = s.call('hang', null, callCtx(mapIndex()))
  await new Promise(resolve => setTimeout(resolve, 50))
  await s.close()
  await rejects(t, pending, 'CLOSED')
})

test('sandbox - tampering with intrinsics cannot forge actions or values', async t => {
  const s = sandbox(t, `
    const forged = '[{"type":"put","key":".sys\\\\u0000contract\\\\u0000source","value":"evil"}]'
    Array.prototype.join = function () { return forged }
    Array.prototype.sort = function () { return this }
    Array.prototype.filter = function () { return ['.sys', 'contract', 'source'] }
    String.prototype.split = () => ['.sys', 'contract', 'source']
    JSON.stringify = () => forged
    String.prototype.startsWith = () => false
    Object.keys = () => []
    Map.prototype.get = () => forged
    Map.prototype.forEach = () => {}
    export const apply = {
      SYS (tx) { tx.put('.sys/contract/source', 'evil') },
      PUT (tx) { tx.put('/c/', 'd'); tx.put('a', { b: [1, 2] }) },
      PROXY (tx) {
        const sneaky = new Proxy({ a: 1 }, { get: () => () => 1, getPrototypeOf: () => Object.prototype })
        tx.put('p', sneaky)
      }
    }
  `)
  await rejects(t, s.apply({ op: 'SYS' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /\.sys\//)
  t.alike(await s.apply({ op: 'PUT' }, ack(), { index: mapIndex() }), [{ type: 'put', key: 'a', value: { b: [1, 2] } }, { type: 'put', key: 'c', value: 'd' }])
  await rejects(t, s.apply({ op: 'PROXY' }, ack(), { index: mapIndex() }), 'CONTRACT_RUNTIME_ERROR', /not a JSON value: \$\.a is a function/)
})

test('sandbox - limits are resolved with defaults and checked', async t => {
  const s = sandbox(t, 'export function apply () {}')
  t.alike({ ...s.limits }, { memoryMb: 64, timeoutMs: 500, wallTimeoutMs: 5000, runSliceMs: 4 })
  const custom = sandbox(t, 'export function apply () {}', { limits: { timeoutMs: 1000 } })
  t.alike({ ...custom.limits }, { memoryMb: 64, timeoutMs: 1000, wallTimeoutMs: 10000, runSliceMs: 4 })
  await t.exception.all(() => new ContractSandbox('export function apply () {}', { limits: { timeoutMs: -1 } }), /timeoutMs must be a positive number/)
  await t.exception.all(() => new ContractSandbox('export function apply () {}', { limits: { runSliceMs: 0 } }), /runSliceMs must be a positive number/)
})

test('sandbox - no host-only global reaches a contract: gc() under --expose-gc is undefined inside the isolate', { timeout: 60_000 }, async t => {
  const { spawn } = await import('child_process')
  const { fileURLToPath } = await import('url')
  const fixture = fileURLToPath(new URL('./fixtures/isolate-globals.js', import.meta.url))
  const child = spawn(process.execPath, ['--no-node-snapshot', '--expose-gc', fixture], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', d => { out += String(d) })
  t.is(await new Promise(resolve => child.on('close', resolve)), 0, 'the fixture ran')
  const r = JSON.parse(out) as { hostHasGc: boolean, guest: { gc: string } }
  t.ok(r.hostHasGc, 'the host process has gc() (the flag is on)')
  t.is(r.guest.gc, 'undefined', 'the contract does not')
})
