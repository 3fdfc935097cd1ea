// The executor applies runs of ops in one sandbox entry (applyRun). Whatever a run
// holds (failures, limits, bad entries, listings, contract changes), the index must
// be what executing the ops one at a time gives, and verify() must accept it.
import test from 'brittle'
import type { Assertion } from 'brittle'
import type { Database } from '../src/index.js'
import { canonicalJson, type JsonValue } from '../src/format/encoding.js'
import { createDb, valueAt } from './helpers.js'

const CONTRACT = `
import { index } from 'contract'

export const apply = {
  async INC (tx, op, ack) {
    const v = (await index.get('count'))?.value ?? 0
    tx.put('count', v + 1)
    tx.put('at/' + ack.seq, { height: ack.height })
  },
  async DEL (tx, op) { tx.delete(op.key) },
  async THROW (tx) { tx.put('never', 1); throw new Error('no') },
  async LOOP () { while (true) {} },
  async BOMB () { const a = []; while (true) a.push(new Array(1e6).fill(1)) },
  async LIST (tx) { tx.put('listed', (await index.list('at/')).map(e => e.path)) },
  async SOURCE (tx) { tx.setContractSource({ code: ${JSON.stringify(`import { index } from 'contract'

export const apply = { async INC (tx) { tx.put('count', ((await index.get('count'))?.value ?? 0) + 100) } }`)} }) }
}
`
// CPU time generous enough that the memory bomb always hits its memory limit first, even
// on a loaded machine (with 150 ms it sometimes ran out of CPU first: CONTRACT_TIMEOUT)
const LIMITS = { timeoutMs: 1000, wallTimeoutMs: 10_000, memoryMb: 24 }

/** Append the ops (canonical JSON; strings as raw blocks) in one go, so the executor takes them as runs. */
async function runAll (db: Database, ops: Array<JsonValue | string>): Promise<void> {
  const blocks = ops.map(op => Buffer.from(typeof op === 'string' ? op : canonicalJson(op)))
  await db.localOplog?.core.append(blocks)
  await db.executor?.sync()
}

async function outcomes (db: Database, n: number): Promise<string[]> {
  const out: string[] = []
  for (let seq = 0; seq < n; seq++) {
    const found = await db.index.getAck(db.localOplog?.hex ?? '', seq)
    out.push(found === null ? 'missing' : found.ack.success ? `ok ${found.ack.numChanges}` : String(found.ack.errorCode))
  }
  return out
}

async function userState (db: Database): Promise<Array<[string, JsonValue]>> {
  const out: Array<[string, JsonValue]> = []
  for (const dir of ['/', '/at']) {
    for (const e of await db.index.list(dir)) if (!e.container) out.push([e.path, e.value ?? null])
  }
  return out
}

async function both (t: Assertion, ops: Array<JsonValue | string>): Promise<[Database, Database]> {
  const runs = await createDb(t, CONTRACT, { limits: LIMITS })
  const alone = await createDb(t, CONTRACT, { limits: LIMITS, maxBatchOps: 1 })
  await runAll(runs, ops)
  await runAll(alone, ops)
  return [runs, alone]
}

test('executor runs - failures, limits and bad entries inside a run: as one op at a time, and verified', async t => {
  const ops: Array<JsonValue | string> = [
    { op: 'INC' }, { op: 'THROW' }, { op: 'INC' }, { op: 'LOOP' }, { op: 'INC' }, { op: 'DEL', key: 'gone' },
    '{"op": "INC"}', 'not json', { op: 'BOMB' }, { op: 'DEL', key: 'at/0' }, { op: 'INC' }, { op: 'LIST' }, { op: 'INC' }
  ]
  const [runs, alone] = await both(t, ops)
  const expected = ['ok 2', 'CONTRACT_RUNTIME_ERROR', 'ok 2', 'CONTRACT_TIMEOUT', 'ok 2', 'ok 0', 'INVALID_ENTRY', 'INVALID_ENTRY', 'CONTRACT_MEMORY_LIMIT', 'ok 1', 'ok 2', 'ok 1', 'ok 2']
  t.alike(await outcomes(runs, ops.length), expected, 'each op acked as it should be')
  t.alike(await outcomes(alone, ops.length), expected, 'the same one op per batch')
  t.alike(await userState(runs), await userState(alone), 'the same state')
  t.is(await valueAt(runs, 'count'), 5, 'five valid INC ops')
  await t.execution(runs.verify(), 'verify() accepts the index built from runs')
})

test('executor runs - heights and a contract change mid-run', async t => {
  const ops: JsonValue[] = [{ op: 'INC' }, { op: 'DEL', key: 'none' }, { op: 'INC' }, { op: 'SOURCE' }, { op: 'INC' }, { op: 'INC' }]
  const [runs, alone] = await both(t, ops)
  t.alike(await userState(runs), await userState(alone), 'the same state')
  t.is(await valueAt(runs, 'count'), 202, 'ops after the change ran the new source')
  for (let seq = 0; seq < 3; seq += 2) {
    const found = await runs.index.getAck(runs.localOplog?.hex ?? '', seq)
    const at = await valueAt(runs, 'at/' + seq) as { height: number }
    t.is(at.height, found?.seq, `op ${seq}: ack.height is the seq of its ack`)
  }
  await t.execution(runs.verify(), 'verified')
})

test('executor runs - many ops: every op once, in order, verified', async t => {
  const db = await createDb(t, CONTRACT, { limits: LIMITS })
  const n = 700
  await runAll(db, Array.from({ length: n }, () => ({ op: 'INC' })))
  t.is(await valueAt(db, 'count'), n)
  const found = await db.index.getAck(db.localOplog?.hex ?? '', n - 1)
  t.is((await valueAt(db, 'at/' + (n - 1)) as { height: number }).height, found?.seq, 'the last height is right')
  await t.execution(db.verify(), 'verified')
})
