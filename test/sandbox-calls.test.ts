// Calls that arrive while the sandbox is busy run together in one entry. Each must
// still get exactly the answer it gets alone: its response and ops, or its own error.
import test from 'brittle'
import type { Assertion } from 'brittle'
import { ContractSandbox, type SandboxOptions } from '../sandbox/index.js'
import type { CallContext, CallResult, IndexReader, Json } from '../sandbox/index.js'

const QUICK = { timeoutMs: 100, wallTimeoutMs: 1500, memoryMb: 24 }

const CALLS = `
import { index, isWriter, oplog } from 'contract'
export const apply = {}
export async function read (p) { return { key: p.key, value: await index.get(p.key) } }
export async function twoReads (p) { return [await index.get(p.a), await index.get(p.b)] }
export function send (p, emit) { emit({ op: 'SEND', n: p.n }); emit({ op: 'SEND', n: p.n + 1 }); return p.n }
export function boom (p) { throw new TypeError('boom ' + p.n) }
export function who () { return { isWriter, oplog } }
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

function context (map: Map<string, Json>): CallContext {
  const index: IndexReader = {
    async get (key) { return map.has(key) ? map.get(key) as Json : null },
    async list () { return [] }
  }
  return { index, isWriter: true, oplog: 'cd'.repeat(32), listOplogs: async () => [] }
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
  ['twoReads', { a: 'b', b: 'c' }], ['bad', {}], ['read', { key: 'missing' }], ['send', { n: 10 }], ['boom', { n: 3 }], ['twoReads', { a: 'a', b: 'a' }]
]

test('sandbox calls - concurrent calls answer as they do one at a time', async t => {
  const map = new Map<string, Json>([['a', 1], ['b', { deep: [true] }], ['c', 'text']])
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
  t.alike(together[4].ok && together[4].value.response, { isWriter: true, oplog: 'cd'.repeat(32) }, 'the caller is seen')
})

test('sandbox calls - a stalled, looping or memory-hungry call fails alone', async t => {
  const s = sandbox(t, { limits: QUICK })
  await s.ready()
  const ctx = context(new Map([['a', 1]]))
  for (const bad of ['stall', 'loop', 'bomb']) {
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
    { isWriter: true, oplog: 'cd'.repeat(32) }, { isWriter: false, oplog: null },
    { isWriter: true, oplog: 'cd'.repeat(32) }, { isWriter: false, oplog: null }
  ])
})
