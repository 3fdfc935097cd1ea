// applyRun: a run of ops applied in one entry into the isolate must give exactly
// what `apply` gives op by op (actions, errors, heights, PRNG, clock), and stop
// where the host has to step in.
import test from 'brittle'
import type { Assertion } from 'brittle'
import { ContractSandbox, type SandboxOptions } from '../sandbox/index.js'
import type { IndexReader, Json, RunItem, RunOutcome, TxAction } from '../sandbox/index.js'
import { memoryIndex } from './fixtures/memory-index.js'

const ORIGIN = 'ab'.repeat(32)
const QUICK = { timeoutMs: 100, wallTimeoutMs: 1500 }
// Where a run splits on time depends on the machine; tests that count entries turn the slice off.
const NO_SLICE = { runSliceMs: 60_000 }

const MIXED = `
import { index } from 'contract'
import util from 'util'
export const apply = {
  async INC (tx, op, ack) {
    tx.put('/draw/' + ack.seq, { r: Math.random(), u: util.genUUID(), now: Date.now(), height: ack.height, meta: ack.metadata })
    const v = (await index.get('/count'))?.value ?? 0
    tx.put('/count', v + (op.by ?? 1))
  },
  async READ (tx, op) { tx.put('/seen/' + op.key, (await index.get(op.key))?.value ?? null) },
  async DEL (tx, op) { tx.delete(op.key); tx.delete(op.key) },
  async PUT (tx, op) { tx.put(op.key, op.value) },
  async PUTDEL (tx, op) { tx.put(op.key, 1); tx.delete(op.key) },
  async THROW (tx) { tx.put('never', 1); throw new Error('op says no') },
  async LIST (tx) { tx.put('/listed', (await index.list('/draw')).map(e => e.name + (e.container ? '/' : ''))) },
  async ACK (tx, op) { tx.put('/ack', (await index.get('/.sys/acks/' + op.of))?.value ?? null) },
  async SOURCE (tx) { tx.setContractSource({ code: 'export function apply () {}' }) }
}
`

/** An IndexReader over a Map of stored keys (memoryIndex, which has the `has` applyRun needs), counting reads. */
function mapIndex (map: Map<string, Json>): IndexReader & { reads: number } {
  const inner = memoryIndex(map)
  const r = {
    reads: 0,
    async get (key: string) { r.reads++; return await inner.get(key) },
    async has (key: string) { r.reads++; return await (inner.has as (k: string) => Promise<boolean>)(key) },
    list: inner.list
  }
  return r
}

function sandbox (t: Assertion, source: string, opts: SandboxOptions = {}): ContractSandbox {
  const s = new ContractSandbox(source, opts)
  t.teardown(() => s.close())
  return s
}

/** Commit actions as an executor does; returns the number of index changes (a delete of an absent key is none). */
function commit (map: Map<string, Json>, actions: TxAction[]): number {
  let n = 0
  for (const a of actions) {
    if (a.type === 'put') { map.set(a.key, a.value); n++ } else if (a.type === 'del') { if (map.delete(a.key)) n++ } else n++
  }
  return n
}

type Outcome = { ok: true, actions: TxAction[] } | { ok: false, message: string }

/** Reference: every op through `apply`, one at a time. */
async function oneByOne (s: ContractSandbox, ops: Json[], map: Map<string, Json>, height: number): Promise<Outcome[]> {
  const out: Outcome[] = []
  for (let seq = 0; seq < ops.length; seq++) {
    try {
      const actions = await s.apply(ops[seq], { origin: ORIGIN, seq, ts: 1000 + seq, metadata: { m: seq }, height }, { index: mapIndex(map) })
      height += 1 + commit(map, actions)
      out.push({ ok: true, actions })
    } catch (err) {
      height += 1
      out.push({ ok: false, message: (err as Error).message })
    }
  }
  return out
}

/** applyRun driven as the executor drives it; also returns the stop reasons seen. */
async function inRuns (s: ContractSandbox, ops: Json[], map: Map<string, Json>, height: number): Promise<{ results: Outcome[], stops: string[] }> {
  const results: Outcome[] = []
  const stops: string[] = []
  let k = 0
  while (k < ops.length) {
    const items: RunItem[] = ops.slice(k).map((op, i) => ({ opJson: JSON.stringify(op), origin: ORIGIN, seq: k + i, ts: 1000 + k + i, metadata: { m: k + i } }))
    items[0].height = height
    const outcome: RunOutcome = await s.applyRun(items, { index: mapIndex(map) })
    stops.push(outcome.stop)
    for (const r of outcome.results) {
      const n = r.ok ? commit(map, r.actions) : 0
      if (n !== r.numChanges) throw new Error(`op ${k}: the guest counted ${r.numChanges} changes, the host ${n}`)
      height += 1 + n
      results.push(r.ok ? { ok: true, actions: r.actions } : { ok: false, message: r.error.message })
      k++
    }
    if (outcome.stop === 'fault' || outcome.stop === 'pending') throw new Error(`unexpected stop ${outcome.stop}`)
  }
  return { results, stops }
}

test('apply run - the same actions, errors, heights, clock and PRNG as apply one op at a time', async t => {
  const ops: Json[] = [
    { op: 'INC' }, { op: 'INC', by: 2 }, { op: 'DEL', key: 'absent' }, { op: 'PUT', key: 'z', value: null },
    { op: 'DEL', key: 'z' }, { op: 'THROW' }, { op: 'READ', key: 'count' }, { op: 'INC' }, { op: 'PUTDEL', key: 'pd' },
    { op: 'NOPE' }, { op: 'PUT', key: '/draw/sub/leaf', value: 1 }, { op: 'LIST' }, { op: 'INC' }, { op: 'READ', key: 'draw/1' }, { op: 'DEL', key: 'count' }, { op: 'INC' },
    { op: 'PUTDEL', key: '/z' }, { op: 'PUT', key: '/count/', value: 'x' }, { op: 'PUTDEL', key: 'count' }
  ]
  const refMap = new Map<string, Json>()
  const ref = await oneByOne(sandbox(t, MIXED), ops, refMap, 7)
  const runMap = new Map<string, Json>()
  const { results, stops } = await inRuns(sandbox(t, MIXED, { limits: NO_SLICE }), ops, runMap, 7)
  t.alike(results, ref, 'every op has the same outcome')
  t.alike([...runMap].sort(), [...refMap].sort(), 'the same state')
  t.ok(stops.includes('sync'), 'the listing ended an entry')
  t.ok(stops.length < ops.length, `${ops.length} ops in ${stops.length} entries`)
  const height = (seq: number): number => (refMap.get('draw\x00' + seq) as { height: number }).height
  // one change per path: DEL of an existing path twice is one write, PUTDEL of an absent path is none
  t.alike([0, 1, 7, 12, 15].map(height), [7, 10, 21, 30, 37], 'heights count puts, existing deletes, and one per ack')
  t.is((refMap.get('draw\x00' + 0) as { meta: Json }).meta && JSON.stringify((refMap.get('draw\x000') as { meta: Json }).meta), '{"m":0}', 'metadata reaches the ack')
  t.is((refMap.get('draw\x0012') as { now: number }).now, 1012, 'Date.now() is the op\'s own ack.ts')
  t.alike(ref[0].ok && ref[0].actions.map(a => a.type === 'put' ? a.key : a.type), ['count', 'draw\x000'], 'the writes of an op in key order, not in the order apply made them')
  t.alike(ref[4].ok && ref[4].actions, [{ type: 'del', key: 'z' }], 'two deletes of one path are one action')
  t.alike(ref[8].ok && ref[8].actions, [{ type: 'del', key: 'pd' }], 'a delete replaces the put queued before it')
  t.is(refMap.has('z'), false)
  t.is(refMap.get('seen\x00draw\x001') !== null && typeof refMap.get('seen\x00draw\x001'), 'object', 'READ of a nested path stores its value')
  t.alike(refMap.get('listed'), ['0', '1', '7', 'sub/'], 'LIST: the entries directly under /draw, its sub-folder as a container')
  t.is(refMap.get('count'), undefined, 'PUTDEL of an existing path deletes it')
})

test('apply run - stops where the host must step in', async t => {
  const s = sandbox(t, MIXED, { limits: NO_SLICE }) // no time slice: where a run stops must not depend on the machine's load
  const map = new Map<string, Json>([['count', 5]])
  const item = (op: Json, seq: number): RunItem => ({ opJson: JSON.stringify(op), origin: ORIGIN, seq, ts: 1, height: seq === 0 ? 1 : undefined })
  const first = await s.applyRun([item({ op: 'INC' }, 0), item({ op: 'INC' }, 1)], { index: mapIndex(map) })
  t.is(first.stop, 'read', 'a read the host has not made ends the entry')
  t.is(first.results.length, 0)
  const second = await s.applyRun([item({ op: 'INC' }, 0), item({ op: 'INC' }, 1)], { index: mapIndex(map) })
  t.is(second.stop, 'done', 'with the read made beforehand, the run completes')
  t.is(second.results.length, 2)
  t.alike(second.results[1].ok && second.results[1].actions[0], { type: 'put', key: 'count', value: 7 }, 'the second op sees the first one\'s write')

  const acks = await s.applyRun([item({ op: 'PUT', key: 'a', value: 1 }, 0), item({ op: 'ACK', of: 'x' }, 1)], { index: mapIndex(map) })
  t.is(acks.stop, 'sync', 'reading an ack after the first op ends the entry')
  t.is(acks.results.length, 1)
  const system = await s.applyRun([item({ op: 'SOURCE' }, 0), item({ op: 'PUT', key: 'a', value: 1 }, 1)], { index: mapIndex(map) })
  t.is(system.stop, 'system', 'a contract change ends the entry after its op')
  t.is(system.results.length, 1)
  t.is(system.results[0].ok && system.results[0].actions[0].type, 'setContractSource')
  await t.exception(s.applyRun([{ opJson: '{"op":"INC"}', origin: ORIGIN, seq: 0, ts: 1 }], { index: mapIndex(map) }), /height/)
  const noHas = { get: async () => null, list: async () => [] }
  await t.exception(s.applyRun([item({ op: 'INC' }, 0)], { index: noHas }), /has\(\)/)
})

test('apply run - an op that waits on a pending promise ends the entry there', async t => {
  const s = sandbox(t, `
export const apply = {
  async PUT (tx, op) { tx.put(op.key, 1) },
  async WAIT () { await new Promise(() => {}) }
}`, { limits: { ...QUICK, ...NO_SLICE } })
  const index = mapIndex(new Map())
  const items = [{ op: 'PUT', key: 'a' }, { op: 'WAIT' }, { op: 'PUT', key: 'b' }].map((op, seq): RunItem => ({ opJson: JSON.stringify(op), origin: ORIGIN, seq, ts: 1, height: seq === 0 ? 1 : undefined }))
  const out = await s.applyRun(items, { index })
  t.is(out.stop, 'pending')
  t.is(out.results.length, 1, 'the ops before it are done')
  const rest = await s.applyRun(items.slice(2).map(i => ({ ...i, height: 5 })), { index })
  t.is(rest.stop, 'done', 'the next entry works')
})

test('apply run - a limit hit anywhere in the run is a fault: nothing is kept, the next run works', async t => {
  const s = sandbox(t, `
export const apply = {
  async PUT (tx, op) { tx.put(op.key, 1) },
  async LOOP () { while (true) {} },
  async BOMB () { const a = []; while (true) a.push(new Array(1e6).fill(1)) }
}`, { limits: { ...QUICK, ...NO_SLICE, memoryMb: 16 } })
  const index = mapIndex(new Map())
  for (const bad of ['LOOP', 'BOMB']) {
    const items = [{ op: 'PUT', key: 'a' }, { op: bad }, { op: 'PUT', key: 'b' }].map((op, seq): RunItem => ({ opJson: JSON.stringify(op), origin: ORIGIN, seq, ts: 1, height: seq === 0 ? 1 : undefined }))
    const out = await s.applyRun(items, { index })
    t.is(out.stop, 'fault', `${bad}: fault`)
    t.is(out.results.length, 0, `${bad}: no results kept`)
    const ok = await s.applyRun([items[0], { ...items[2], height: undefined }], { index })
    t.is(ok.stop, 'done', `${bad}: a fresh isolate runs the next run`)
    t.is(ok.results.length, 2)
  }
})

test('apply run - what an op leaves running finishes before the next op starts', async t => {
  // A promise chain apply does not await draws from the PRNG after apply returned. In a
  // run, that must not reach the next op's PRNG (or clock): one op's leftovers finish
  // within its own step, as they would in an entry of its own.
  const source = `
export const apply = {
  async DANGLE (tx, op, ack) {
    let p = Promise.resolve()
    for (let i = 0; i < 8; i++) p = p.then(() => 0)
    p.then(() => { Math.random(); Math.random() })
    for (let i = 0; i < 4; i++) await null
    tx.put('r/' + ack.seq, [Math.random(), Date.now()])
  }
}`
  const ops: Json[] = Array.from({ length: 6 }, () => ({ op: 'DANGLE' }))
  const ref = await oneByOne(sandbox(t, source), ops, new Map(), 1)
  const { results, stops } = await inRuns(sandbox(t, source, { limits: NO_SLICE }), ops, new Map(), 1)
  t.alike(results, ref, 'the same values as one op per entry')
  t.alike(stops, ['done'], 'all in one entry')
})

test('apply run - the time slice splits a run without changing a result', async t => {
  const source = `
export const apply = {
  async SPIN (tx, op, ack) {
    let x = 0
    for (let i = 0; i < 200000; i++) x = (x + i) % 7
    tx.put('r/' + ack.seq, [x, Math.random(), ack.height])
  }
}`
  const ops: Json[] = Array.from({ length: 5 }, () => ({ op: 'SPIN' }))
  const ref = await oneByOne(sandbox(t, source), ops, new Map(), 1)
  // A slice far shorter than one op: every entry starts its first op and no other.
  const { results, stops } = await inRuns(sandbox(t, source, { limits: { runSliceMs: 0.001 } }), ops, new Map(), 1)
  t.alike(results, ref, 'the same values as one op per entry')
  t.alike(stops, ['slice', 'slice', 'slice', 'slice', 'done'], 'one op per entry, each entry ended by the slice')
})
