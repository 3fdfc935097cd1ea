// Unit tests of the replay step function: each transition, with a small in-memory
// environment (the contract runs in the real sandbox; the "logs" are plain maps).
import test from 'brittle'
import { encodeValue, decodeValue } from '../src/format/encoding.js'
import { CONTRACT_SOURCE_KEY, GENESIS_KEY, ackKey, encodeAck, encodeInput, encodeOp, inputKey, type Ack } from '../src/format/schemas.js'
import { initialState, step, checkComplete, serializeState, deserializeState, type ReplayEnv, type IndexBlock, type ReplayState } from '../src/verify/replay.js'
import { DatabaseContracts, type Governance } from '../src/exec/database-contracts.js'
import type { StateReader } from '../src/verify/state-view.js'

const SOURCE = `export const apply = {
  async SET (tx, op) { await tx.put(op.key, op.value) },
  async FAIL () { throw new Error('nope') },
  async ADD (tx, op) { await tx.addOplog({ pubkey: op.pubkey }) }
}`
const A = 'aa'.repeat(32)
const B = 'bb'.repeat(32)
const TREE = 'cc'.repeat(32)

/** An env whose oplogs are arrays of ops and whose index state is a map of stored keys (overlay applied on top). */
function env (oplogs: Record<string, unknown[]>, base: Map<string, { seq: number, value: Buffer }> = new Map()): ReplayEnv & { runtimes: DatabaseContracts[] } {
  const runtimes: DatabaseContracts[] = []
  const cache = new Map<string, DatabaseContracts>()
  const runtime = async (source: string, g: Governance | null): Promise<DatabaseContracts> => {
    let r = cache.get(source)
    if (r === undefined) { r = await DatabaseContracts.open(source, g); cache.set(source, r); runtimes.push(r) }
    return r
  }
  return {
    runtimes,
    async getOp (origin, seq) { return encodeOp(oplogs[origin][seq]) },
    async oplogTreeHash () { return TREE },
    async stateAt (_batchStart, overlay): Promise<StateReader> {
      const raw = (k: string): { seq: number, value: Buffer } | null => overlay.has(k) ? overlay.get(k) ?? null : base.get(k) ?? null
      return {
        get: async k => { const e = raw(k); return e === null ? null : { seq: e.seq, value: decodeValue(e.value) } },
        has: async k => raw(k) !== null,
        list: async () => []
      }
    },
    async apply (source, op, ack, state, g) { return await (await runtime(source, g)).apply(op, ack, { index: state }) },
    async compile (source, g) { await runtime(source, g) }
  }
}

function put (seq: number, key: string, value: unknown): IndexBlock { return { seq, type: 'put', key, value: Buffer.isBuffer(value) ? value : encodeValue(value) } }
function ack (seq: number, a: Partial<Ack> & { origin: string, seq: number }): IndexBlock {
  const full: Ack = { v: 1, oplogLength: a.seq + 1, oplogTreeHash: TREE, ts: 5, metadata: null, success: true, numChanges: 1, batchStart: seq, ...a }
  return put(seq, ackKey(a.origin, a.seq), encodeAck(full))
}

/** A state right after a valid genesis at seqs 1..3 (source, input A, marker). */
async function genesis (e: ReplayEnv): Promise<ReplayState> {
  const s = initialState()
  for (const b of [put(1, CONTRACT_SOURCE_KEY, SOURCE), put(2, inputKey(A), encodeInput({ pubkey: A, active: true })), put(3, GENESIS_KEY, { v: 1 })]) {
    const v = await step(s, b, e)
    if (v !== null) throw new Error('genesis failed: ' + v.code)
  }
  return s
}

async function codeOf (s: ReplayState, blocks: IndexBlock[], e: ReplayEnv): Promise<string | null> {
  for (const b of blocks) {
    const v = await step(s, b, e)
    if (v !== null) return v.code
  }
  return checkComplete(s)?.code ?? null
}

test('replay-step - genesis transitions', async t => {
  const e = env({ [A]: [] })
  t.teardown(async () => { for (const r of e.runtimes) await r.close() })
  const s = await genesis(e)
  t.is(s.genesisDone, true)
  t.is(s.length, 4)
  t.alike(s.inputs[A], { active: true, nextSeq: 0, ackAt: -1 })
  for (const [name, blocks] of [
    ['marker before source', [put(1, GENESIS_KEY, { v: 1 })]],
    ['input record naming another key', [put(1, CONTRACT_SOURCE_KEY, SOURCE), put(2, inputKey(A), encodeInput({ pubkey: B, active: true }))]],
    ['source twice', [put(1, CONTRACT_SOURCE_KEY, SOURCE), put(2, CONTRACT_SOURCE_KEY, SOURCE)]],
    ['a user key in genesis', [put(1, 'x', 1)]],
    ['no active participant', [put(1, CONTRACT_SOURCE_KEY, SOURCE), put(2, GENESIS_KEY, { v: 1 })]],
    ['a source that does not compile', [put(1, CONTRACT_SOURCE_KEY, 'export const apply = {'), put(2, inputKey(A), encodeInput({ pubkey: A, active: true })), put(3, GENESIS_KEY, { v: 1 })]],
    ['maxOpBytes below the range', [put(1, CONTRACT_SOURCE_KEY, SOURCE), put(2, inputKey(A), encodeInput({ pubkey: A, active: true })), put(3, GENESIS_KEY, { v: 1, maxOpBytes: 63 })]],
    ['maxOpBytes not an integer', [put(1, CONTRACT_SOURCE_KEY, SOURCE), put(2, inputKey(A), encodeInput({ pubkey: A, active: true })), put(3, GENESIS_KEY, { v: 1, maxOpBytes: '1000' })]],
    ['an unknown marker field', [put(1, CONTRACT_SOURCE_KEY, SOURCE), put(2, inputKey(A), encodeInput({ pubkey: A, active: true })), put(3, GENESIS_KEY, { v: 1, maxOpBytes: 1000, x: 1 })]],
    ['a marker of another version', [put(1, CONTRACT_SOURCE_KEY, SOURCE), put(2, inputKey(A), encodeInput({ pubkey: A, active: true })), put(3, GENESIS_KEY, { v: 2 })]]
  ] as Array<[string, IndexBlock[]]>) {
    t.is(await codeOf(initialState(), blocks, e), 'GENESIS_MALFORMED', name)
  }
})

test('replay-step - a valid transaction, then the next op in the same batch', async t => {
  const e = env({ [A]: [{ op: 'SET', key: 'k', value: 1 }, { op: 'SET', key: 'k', value: 2 }] })
  t.teardown(async () => { for (const r of e.runtimes) await r.close() })
  const s = await genesis(e)
  t.is(await step(s, ack(4, { origin: A, seq: 0, oplogLength: 2 }), e), null, 'ack accepted')
  t.ok(s.pending !== null, 'waiting for its write')
  t.is(await step(s, put(5, 'k', 1), e), null, 'write accepted')
  t.is(s.pending, null)
  t.is(await step(s, ack(6, { origin: A, seq: 1, oplogLength: 2, batchStart: 4 }), e), null, 'same batch')
  t.is(await step(s, put(7, 'k', 2), e), null)
  t.is(checkComplete(s), null)
  t.alike(s.inputs[A], { active: true, nextSeq: 2, ackAt: 6 })
  const again = deserializeState(JSON.parse(JSON.stringify(serializeState(s))))
  t.alike(serializeState(again), serializeState(s), 'checkpoint round trip')
})

test('replay-step - every violation between and inside transactions', async t => {
  const ops = { [A]: [{ op: 'SET', key: 'k', value: 1 }, { op: 'FAIL' }], [B]: [{ op: 'SET', key: 'k', value: 9 }] }
  const cases: Array<[string, IndexBlock[]]> = [
    ['UNPROMPTED_CHANGE', [put(4, 'k', 1)]],
    ['UNPROMPTED_SYSTEM_CHANGE', [put(4, inputKey(B), encodeInput({ pubkey: B, active: true }))]],
    ['UNPROMPTED_CHANGE', [{ seq: 4, type: 'del', key: ackKey(A, 0), value: null }]],
    ['MALFORMED_ACK', [put(4, ackKey(A, 0), { v: 1, nope: true })]],
    ['ACK_KEY_MISMATCH', [put(4, ackKey(A, 0), encodeAck({ v: 1, origin: A, seq: 1, oplogLength: 2, oplogTreeHash: TREE, ts: 1, metadata: null, success: true, numChanges: 1, batchStart: 4 }))]],
    ['NON_PARTICIPANT', [ack(4, { origin: B, seq: 0 })]],
    ['OP_SKIPPED', [ack(4, { origin: A, seq: 1, oplogLength: 2, numChanges: 0, success: false })]],
    ['PROCESSED_OUT_OF_ORDER', [ack(4, { origin: A, seq: 0 }), put(5, 'k', 1), ack(6, { origin: A, seq: 0 })]],
    ['ACK_FOR_MISSING_OP', [ack(4, { origin: A, seq: 0, oplogLength: 0 })]],
    ['OPLOG_MISMATCH', [ack(4, { origin: A, seq: 0, oplogTreeHash: 'dd'.repeat(32) })]],
    ['INVALID_BATCH_START', [ack(4, { origin: A, seq: 0, batchStart: 2 })]],
    ['RESULT_MISMATCH', [ack(4, { origin: A, seq: 0, success: false, error: 'x', errorCode: 'CONTRACT_RUNTIME_ERROR', numChanges: 0 })]],
    ['RESULT_MISMATCH', [ack(4, { origin: A, seq: 0 }), put(5, 'k', 1), ack(6, { origin: A, seq: 1, oplogLength: 2, numChanges: 0 })]],
    ['CHANGE_COUNT_MISMATCH', [ack(4, { origin: A, seq: 0, numChanges: 2 })]],
    ['CHANGE_COUNT_MISMATCH', [ack(4, { origin: A, seq: 0 })]],
    ['CHANGE_MISMATCH', [ack(4, { origin: A, seq: 0 }), put(5, 'k', 2)]],
    ['CHANGE_MISMATCH', [ack(4, { origin: A, seq: 0 }), put(5, 'other', 1)]]
  ]
  const e = env(ops)
  t.teardown(async () => { for (const r of e.runtimes) await r.close() })
  for (const [code, blocks] of cases) {
    const s = await genesis(e)
    const before = JSON.stringify(serializeState(s))
    let got: string | null = null
    for (const b of blocks) {
      const stateBefore = JSON.stringify(serializeState(s))
      const v = await step(s, b, e)
      if (v !== null) {
        got = v.code
        t.is(JSON.stringify(serializeState(s)), stateBefore, `${code}: a violating entry leaves the state untouched`)
        break
      }
    }
    got = got ?? checkComplete(s)?.code ?? null
    t.is(got, code, `${code} (${blocks.length} entries)`)
    t.ok(before.length > 0)
  }
})

test('replay-step - unreproducible failures are accepted, reproducible ones are checked', async t => {
  const e = env({ [A]: [{ op: 'SET', key: 'k', value: 1 }, { op: 'FAIL' }, { op: 'SET', key: 'j', value: 1 }] })
  t.teardown(async () => { for (const r of e.runtimes) await r.close() })
  const s = await genesis(e)
  t.is(await step(s, ack(4, { origin: A, seq: 0, oplogLength: 3, success: false, error: 'timeout', errorCode: 'CONTRACT_TIMEOUT', numChanges: 0 }), e), null, 'a timeout claim is taken as given')
  t.is(await step(s, ack(5, { origin: A, seq: 1, oplogLength: 3, success: false, error: 'nope', errorCode: 'CONTRACT_RUNTIME_ERROR', numChanges: 0, batchStart: 4 }), e), null, 'a failure the replay reproduces')
  t.is((await step(s, ack(6, { origin: A, seq: 2, oplogLength: 3, success: false, errorCode: 'CONTRACT_TIMEOUT', numChanges: 1, batchStart: 4 }), e))?.code, 'RESULT_MISMATCH', 'a failed op cannot announce writes')
})

test('replay-step - system writes take effect after their transaction', async t => {
  const e = env({ [A]: [{ op: 'ADD', pubkey: B }], [B]: [{ op: 'SET', key: 'b', value: 1 }] })
  t.teardown(async () => { for (const r of e.runtimes) await r.close() })
  const s = await genesis(e)
  t.is(await step(s, ack(4, { origin: A, seq: 0 }), e), null)
  t.is(s.inputs[B], undefined, 'not yet a participant while its write is pending')
  t.is(await step(s, put(5, inputKey(B), encodeInput({ pubkey: B, active: true })), e), null)
  t.alike(s.inputs[B], { active: true, nextSeq: 0, ackAt: -1 })
  t.is(await step(s, ack(6, { origin: B, seq: 0 }), e), null, 'the added oplog executes from the next op')
  t.is(await step(s, put(7, 'b', 1), e), null)
})

test('replay-step - the genesis marker\'s maxOpBytes: an op over it must be acked as a failure', async t => {
  const big = { op: 'SET', key: 'k', value: 'x'.repeat(100) }
  const e = env({ [A]: [big, big] })
  t.teardown(async () => { for (const r of e.runtimes) await r.close() })
  const s = initialState()
  for (const b of [put(1, CONTRACT_SOURCE_KEY, SOURCE), put(2, inputKey(A), encodeInput({ pubkey: A, active: true })), put(3, GENESIS_KEY, { v: 1, maxOpBytes: 64 })]) t.is(await step(s, b, e), null)
  t.is(s.maxOpBytes, 64, 'the replay state holds the limit')
  t.is(await step(s, ack(4, { origin: A, seq: 0, oplogLength: 2, success: false, error: 'LimitError: too large', errorCode: 'OP_TOO_LARGE', numChanges: 0 }), e), null, 'acked as a failure: valid')
  const again = deserializeState(JSON.parse(JSON.stringify(serializeState(s))))
  t.is(again.maxOpBytes, 64, 'the checkpoint keeps it')
  const v = await step(s, ack(5, { origin: A, seq: 1, oplogLength: 2, batchStart: 4 }), e)
  t.is(v?.code, 'RESULT_MISMATCH', 'acked as a success: fraud')
  const old = serializeState(again) as unknown as Record<string, unknown>
  delete old.maxOpBytes
  t.is(deserializeState(old as never).maxOpBytes, 1024 * 1024, 'a checkpoint without it: the default')
})
