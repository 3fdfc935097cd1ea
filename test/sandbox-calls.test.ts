// Calls that arrive while the sandbox is busy run together in one entry. Each must
// still get exactly the answer it gets alone: its response and ops, or its own error.
import test from 'brittle'
import type { Assertion } from 'brittle'
import { ContractSandbox, type SandboxOptions } from '../sandbox/index.js'
import type { CallContext, CallResult, Json } from '../sandbox/index.js'
import { memoryIndex } from './fixtures/memory-index.js'

const QUICK = { timeoutMs: 100, wallTimeoutMs: 1500, memoryMb: 24 }

const CALLS = `
import { index, isWriter, oplog } from 'contract'

export const apply = {}
export async function read (p) { const e = await index.get(p.key); return { key: p.key, path: e?.path ?? null, value: e?.value ?? null } }
export async function twoReads (p) { return [(await index.get(p.a))?.value ?? null, (await index.get(p.b))?.value ?? null] }
export async function list (p) { return (await index.list(p.path)).map(e => [e.name, e.container, e.value ?? null]) }
export async function log (p) { return { length: await oplog.getLength(), op: await oplog.get(p.seq) } }
export function send (p, emit) { emit({ op: 'SEND', n: p.n }); emit({ op: 'SEND', n: p.n + 1 }); return p.n }
export function boom (p) { throw new TypeError('boom ' + p.n) }
export function who () { return { isWriter, oplog: oplog?.pubkey ?? null } }
export function nothing () {}
export function bad () { return () => 1 }
export async function stall () { await new Promise(() => {}) }
export function loop () { while (true) {} }
export function bomb () { const a = []; while (true) a.push(new Array(1e6).fill(1)) }
`

function sandbox (t: Assertion, opts: SandboxOptions = {}): ContractSandbox {
  const s = new ContractSandbox(CALLS, opts)
  t.teardown(() => s.close())
  return s
}

const CALLER = 'cd'.repeat(32)

/** A writer's call context over a Map of stored keys; its oplog holds 4 ops { op: 'OP', seq }. */
function context (map: Map<string, Json>): CallContext {
  return {
    index: memoryIndex(map),
    isWriter: true,
    oplog: CALLER,
    listOplogs: async () => [CALLER],
    oplogLength: async hex => hex === CALLER ? 4 : 0,
    oplogGet: async (hex, seq) => { if (hex !== CALLER || seq >= 4) throw new Error(`no op ${seq}`); return { op: 'OP', seq } }
  }
}

type Settled = { ok: true, value: CallResult } | { ok: false, code: string, message: string }

async function settle (p: Promise<CallResult>): Promise<Settled> {
  try { return { ok: true, value: await p } } catch (err) {
    const e = err as { code?: string, message?: string }
    return { ok: false, code: String(e.code), message: String(e.message) }
  }
}

const MIX: Array<[string, Json]> = [
  ['read', { key: 'a' }], ['send', { n: 1 }], ['boom', { n: 2 }], ['read', { key: 'b' }], ['who', {}], ['nothing', {}],
  ['twoReads', { a: 'b', b: 'c' }], ['bad', {}], ['read', { key: 'missing' }], ['send', { n: 10 }], ['boom', { n: 3 }], ['twoReads', { a: 'a', b: 'a' }],
  ['list', { path: '/' }], ['log', { seq: 2 }], ['read', { key: '/d//e/' }], ['log', { seq: 9 }], ['list', { path: 'd' }]
]

test('sandbox calls - concurrent calls answer as they do one at a time', async t => {
  const map = new Map<string, Json>([['a', 1], ['b', { deep: [true] }], ['c', 'text'], ['d\x00e', 'nested'], ['d\x00f\x00g', 0]])
  const one = sandbox(t)
  const alone: Settled[] = []
  for (const [m, p] of MIX) alone.push(await settle(one.call(m, p, context(map))))
  const many = sandbox(t)
  await many.ready()
  const ctx = context(map)
  const together = await Promise.all(MIX.concat(MIX, MIX).map(async ([m, p]) => await settle(many.call(m, p, ctx))))
  t.alike(together, alone.concat(alone, alone), 'the same answers, in the same places')
  t.is(together[2].ok === false && together[2].code, 'CONTRACT_RUNTIME_ERROR')
  t.ok(together[2].ok === false && /boom 2/.test(together[2].message))
  t.alike(together[4].ok && together[4].value.response, { isWriter: true, oplog: CALLER }, 'the caller is seen')
  t.alike(together[0].ok && together[0].value.response, { key: 'a', path: '/a', value: 1 })
  t.alike(together[8].ok && together[8].value.response, { key: 'missing', path: null, value: null }, 'an absent path reads as undefined')
  t.alike(together[12].ok && together[12].value.response, [['a', false, 1], ['b', false, { deep: [true] }], ['c', false, 'text'], ['d', true, null]])
  t.alike(together[13].ok && together[13].value.response, { length: 4, op: { op: 'OP', seq: 2 } }, 'the caller\'s oplog is readable')
  t.alike(together[14].ok && together[14].value.response, { key: '/d//e/', path: '/d/e', value: 'nested' })
  t.ok(together[15].ok === false && /no op 9/.test(together[15].message), 'a failing oplog read fails that call alone')
  t.alike(together[16].ok && together[16].value.response, [['e', false, 'nested'], ['f', true, null]])
})

test('sandbox calls - a stalled, looping or memory-hungry call fails alone', async t => {
  // the bomb gets a CPU budget it cannot use up before the memory limit, even on a loaded machine
  const quick = sandbox(t, { limits: QUICK })
  const roomy = sandbox(t, { limits: { timeoutMs: 5000, wallTimeoutMs: 30_000, memoryMb: 24 } })
  await quick.ready()
  await roomy.ready()
  const ctx = context(new Map([['a', 1]]))
  for (const bad of ['stall', 'loop', 'bomb']) {
    const s = bad === 'bomb' ? roomy : quick
    const calls = [['read', { key: 'a' }], [bad, {}], ['send', { n: 5 }], ['read', { key: 'a' }]] as Array<[string, Json]>
    const out = await Promise.all(calls.map(async ([m, p]) => await settle(s.call(m, p, ctx))))
    t.alike(out.map(o => o.ok), [true, false, true, true], `${bad}: only it fails`)
    t.is(out[1].ok === false && out[1].code, bad === 'bomb' ? 'CONTRACT_MEMORY_LIMIT' : 'CONTRACT_TIMEOUT', `${bad}: its own error`)
    t.alike(out[2].ok && out[2].value, { response: 5, ops: [{ op: 'SEND', n: 5 }, { op: 'SEND', n: 6 }] })
  }
})

test('sandbox calls - different callers do not share an entry', async t => {
  const s = sandbox(t)
  await s.ready()
  const map = new Map<string, Json>()
  const writer = context(map)
  const reader = { ...context(map), isWriter: false, oplog: null }
  const out = await Promise.all([writer, reader, writer, reader].map(async ctx => (await s.call('who', {}, ctx)).response))
  t.alike(out, [
    { isWriter: true, oplog: CALLER }, { isWriter: false, oplog: null },
    { isWriter: true, oplog: CALLER }, { isWriter: false, oplog: null }
  ])
})
