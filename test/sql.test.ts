// SQL over the state and the history (src/sql/): real databases, the real SQLite read
// model and query process. Every table is checked row by row against a direct walk of
// the index; writes are refused; a runaway query is stopped without stopping the
// executor; a deleted or torn read model is rebuilt; row proofs check offline and fail
// when tampered.
import test from 'brittle'
import type { Assertion } from 'brittle'
import { spawn } from 'child_process'
import { existsSync, mkdtempSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { fileURLToPath } from 'url'
import { createDb, contract, eventually } from './helpers.js'
import { Database, type JsonValue } from '../src/index.js'
import { verifyQueryRowProofs } from '../src/proofs/index.js'
import { READ_MODEL_FILE } from '../src/sql/index.js'
import { isSysKey, pathToKey } from '../src/format/paths.js'
import { parseAckKey } from '../src/format/schemas.js'

const CRASH = fileURLToPath(new URL('./fixtures/sql-crash.js', import.meta.url))

const text = (v: JsonValue | null): string | null => v === null ? null : JSON.stringify(canonical(v))
function canonical (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map(k => [k, canonical((v as Record<string, unknown>)[k])]))
  return v
}
const parsed = (s: unknown): string | null => s === null ? null : JSON.stringify(canonical(JSON.parse(s as string)))

/** Every table of the read model against a direct walk of the index (and the oplogs). */
async function matchesIndex (t: Assertion, db: Database, label: string): Promise<void> {
  const history = (await db.query('SELECT seq, type, path, value, ack_origin, ack_seq FROM history ORDER BY seq', undefined, { maxRows: 1e6 })).rows
  const state = new Map<string, { value: string | null, seq: number }>()
  const acks: Array<Record<string, unknown>> = []
  const expected: Array<Record<string, unknown>> = []
  let link: { origin: string, seq: number, left: number } | null = null
  for await (const e of db.index.history()) {
    const key = pathToKey(e.path)
    const ack = parseAckKey(key)
    let owner: { origin: string, seq: number } | null = null
    if (ack !== null) {
      const a = e.value as { origin: string, seq: number, numChanges: number, success: boolean, ts: number, errorCode?: string }
      owner = { origin: a.origin, seq: a.seq }
      link = a.numChanges > 0 ? { ...owner, left: a.numChanges } : null
      acks.push({ origin: a.origin, seq: a.seq, success: a.success ? 1 : 0, num_changes: a.numChanges, ts: a.ts, error_code: a.errorCode ?? null, index_seq: e.seq })
    } else if (link !== null) {
      owner = { origin: link.origin, seq: link.seq }
      link = link.left > 1 ? { origin: link.origin, seq: link.seq, left: link.left - 1 } : null
    }
    expected.push({ seq: e.seq, type: e.type, path: e.path, value: text(e.value), ack_origin: owner?.origin ?? null, ack_seq: owner?.seq ?? null })
    if (!isSysKey(key)) {
      if (e.type === 'put') state.set(e.path, { value: text(e.value), seq: e.seq })
      else state.delete(e.path)
    }
  }
  t.alike(history.map(r => ({ ...r, value: parsed(r.value) })), expected, `${label}: history matches the index, row by row, with the ack links (${expected.length} rows)`)
  const stateRows = (await db.query('SELECT path, value, seq FROM state ORDER BY path')).rows
  t.alike(stateRows.map(r => [r.path, parsed(r.value), r.seq]), [...state.entries()].sort((a, b) => a[0] < b[0] ? -1 : 1).map(([p, v]) => [p, v.value, v.seq]), `${label}: state is the index's live entries outside /.sys (${state.size})`)
  const ackRows = (await db.query('SELECT origin, seq, success, num_changes, ts, error_code, index_seq FROM acks ORDER BY index_seq')).rows
  t.alike(ackRows, acks, `${label}: acks (${acks.length})`)
  const inputs = await db.index.inputs()
  const oplogRows = (await db.query('SELECT pubkey, active FROM oplogs ORDER BY pubkey')).rows
  t.alike(oplogRows, inputs.map(i => ({ pubkey: i.pubkey, active: i.active ? 1 : 0 })).sort((a, b) => a.pubkey < b.pubkey ? -1 : 1), `${label}: oplogs`)
  const opRows = (await db.query('SELECT oplog, seq, value FROM ops ORDER BY oplog, seq')).rows
  for (const r of opRows) {
    const core = db.oplogs.find(o => o.hex === r.oplog)?.core
    const block = await core?.get(r.seq as number) as Buffer | undefined
    let want: string | null = null
    try { want = block === undefined ? null : JSON.stringify(canonical(JSON.parse(block.toString('utf8')))) } catch { want = null }
    if ((r.value === null ? null : parsed(r.value)) !== want) { t.fail(`${label}: op ${String(r.seq)} differs from its oplog block`); return }
  }
  t.is(opRows.length, acks.length, `${label}: one ops row per executed op, each its oplog block (${opRows.length})`)
}

test('sql - counter, kv-store and PoA databases: every table matches the index; JSON columns are queryable', async t => {
  const counter = await createDb(t, contract('counter'))
  for (let i = 0; i < 30; i++) await (await counter.call('increment', { amount: i % 3 === 0 ? 2 : 1 })).whenProcessed()
  await matchesIndex(t, counter, 'counter')
  const c = await counter.query("SELECT CAST(value AS INTEGER) AS n, seq FROM state WHERE path = '/counter'")
  t.is(c.rows[0].n, (await counter.index.get('/counter'))?.value, 'the counter, by SQL')
  t.is(c.at, counter.index.length, 'the answer says which index length it reflects')

  const kv = await createDb(t, contract('kv-store'))
  for (let i = 0; i < 40; i++) await (await kv.call('put', { key: `k${i % 7}`, value: { n: i, tag: i % 2 === 0 ? 'even' : 'odd' } })).whenProcessed()
  await matchesIndex(t, kv, 'kv-store')
  const even = await kv.query("SELECT path FROM state WHERE json_extract(value, '$.tag') = ? ORDER BY path", ['even'])
  t.ok(even.rows.length > 0 && even.rows.every(r => String(r.path).startsWith('/values/')), `json_extract over state (${even.rows.length} rows)`)
  const perKey = await kv.query("SELECT path, count(*) AS writes FROM history WHERE path LIKE '/values/%' GROUP BY path ORDER BY path")
  t.is(perKey.rows.length, 7, 'GROUP BY over history: every change to each key')
  t.is(perKey.rows.reduce((s, r) => s + (r.writes as number), 0), 40)

  const poa = await createDb(t, contract('counter'), { governance: 'poa', signatories: [] })
  for (let i = 0; i < 3; i++) await (await poa.call('increment', {})).whenProcessed()
  const oplog = poa.localOplog
  if (oplog === null) throw new Error('no local oplog')
  const seq = await oplog.append({ op: 'NO_SUCH_OP' } as unknown as JsonValue)
  await eventually(async () => (await poa.index.getAck(oplog.hex, seq)) !== null, 15_000)
  await matchesIndex(t, poa, 'PoA')
  const failed = await poa.query('SELECT origin, seq, error_code FROM acks WHERE success = 0')
  t.alike(failed.rows.map(r => r.seq), [seq], 'all failed ops, by SQL')
  t.ok(typeof failed.rows[0].error_code === 'string', `with their error code (${String(failed.rows[0].error_code)})`)
})

test('sql - writes are refused, bad SQL is a clear error, a runaway query stops alone, results are bounded', async t => {
  const db = await createDb(t, contract('counter'))
  await (await db.call('increment', {})).whenProcessed()
  for (const sql of ['DELETE FROM state', "UPDATE state SET value = '1'", 'DROP TABLE history', "INSERT INTO ops VALUES ('x', 1, '1')", "ATTACH 'elsewhere.db' AS x", 'PRAGMA journal_mode = DELETE', 'CREATE TABLE x (a)']) {
    await t.exception(db.query(sql), /Only queries that read/, `refused: ${sql}`)
  }
  await t.exception(db.query('SELECT nope FROM state'), /no such column/, 'a bad query: SQL_ERROR with SQLite\'s message')
  await t.exception(db.query('SELECT 1; DELETE FROM state'), /more than one statement/, 'one statement only')
  const forever = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c'
  let settled = false
  const long = db.query(forever, undefined, { timeoutMs: 120_000 }) // stopped only when the database closes
  long.then(() => { settled = true }, () => { settled = true })
  // meanwhile the executor goes on, and so does another query
  const during = await db.call('increment', {})
  await during.whenProcessed()
  t.pass('the executor ran an op while a runaway query was running')
  t.is((await db.query('SELECT count(*) AS n FROM acks')).rows[0].n, 2, 'another query is answered meanwhile (its own process)')
  t.absent(settled, 'while the runaway one still runs')
  await t.exception(db.query(forever, undefined, { timeoutMs: 300 }), /time limit of 300 ms/, 'a runaway query is stopped at its time limit: QUERY_TIMEOUT')
  t.is((await db.query("SELECT value FROM state WHERE path = '/counter'")).rows[0].value, '2', 'the next query runs (a new query process)')
  const many = await db.query('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50) SELECT x FROM c', undefined, { maxRows: 10 })
  t.is(many.rows.length, 10)
  t.is(many.truncated, true, 'more rows than maxRows: truncated')
})

test('sql - row proofs check offline with the key alone, and fail when tampered', async t => {
  const db = await createDb(t, contract('kv-store'))
  for (let i = 0; i < 12; i++) await (await db.call('put', { key: `k${i % 4}`, value: i })).whenProcessed()
  const key = db.pubkey.toString('hex')
  const state = await db.query('SELECT path, value, seq FROM state ORDER BY path', undefined, { proofs: true })
  const checked = verifyQueryRowProofs(state, { key })
  t.is(checked.proven, state.rows.length, `every state row proven (${checked.proven})`)
  t.ok(checked.length >= state.at, 'under a head at least as long as the answer')
  const hist = await db.query("SELECT seq, type, path, value FROM history WHERE path LIKE '/values/%' ORDER BY seq DESC LIMIT 5", undefined, { proofs: true })
  t.is(verifyQueryRowProofs(hist, { key }).proven, 5, 'history rows proven')
  const acks = await db.query('SELECT origin, seq, success, num_changes, index_seq FROM acks LIMIT 3', undefined, { proofs: true })
  t.is(verifyQueryRowProofs(acks, { key }).proven, 3, 'acks rows proven by their index_seq')
  const counts = await db.query('SELECT count(*) AS n FROM state', undefined, { proofs: true })
  t.alike(verifyQueryRowProofs(counts, { key }).unproven, [0], 'a row that names no index block is unproven, not valid')
  // a host that lies about a row: the value, the path, or the proof itself
  const lie = structuredClone(state)
  lie.rows[0].value = '999'
  t.exception(() => verifyQueryRowProofs(lie, { key }), /does not have this value/, 'a changed value fails')
  const moved = structuredClone(state)
  moved.rows[0].path = '/values/elsewhere'
  t.exception(() => verifyQueryRowProofs(moved, { key }), /does not have this path/, 'a changed path fails')
  const forged = structuredClone(state)
  const p = forged.proofs?.[0] as { value: string }
  p.value = p.value.slice(0, -2) + (p.value.endsWith('00') ? '01' : '00')
  t.exception(() => verifyQueryRowProofs(forged, { key }), /INVALID|hash|proof/i, 'a tampered proof fails')
  t.exception(() => verifyQueryRowProofs(state, { key: 'ab'.repeat(32) }), /key/i, 'another database key fails')
})

test('sql - the read model is rebuilt after it is deleted, and stays consistent through kill -9 during an update', { timeout: 120_000 }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'vitra-sql-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  let db = await Database.create(dir, { contract: { source: contract('kv-store') } })
  for (let i = 0; i < 20; i++) await (await db.call('put', { key: `k${i}`, value: i })).whenProcessed()
  t.is((await db.query('SELECT count(*) AS n FROM state')).rows[0].n, 21, 'a disk database: 20 keys and /admin')
  await db.close()
  const file = join(dir, READ_MODEL_FILE)
  t.ok(existsSync(file), 'the read model sits next to the database')
  rmSync(file)
  db = await Database.load(dir)
  await matchesIndex(t, db, 'rebuilt after delete')
  await db.close()
  // a child process that keeps writing, killed with SIGKILL while its read model catches up
  for (let round = 0; round < 3; round++) {
    const child = spawn(process.execPath, ['--no-node-snapshot', CRASH, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', d => { out += String(d) })
    await eventually(() => out.includes('updating'), 30_000)
    await new Promise(resolve => setTimeout(resolve, 50 + round * 100))
    child.kill('SIGKILL')
    await new Promise(resolve => child.on('close', resolve))
    db = await Database.load(dir)
    await matchesIndex(t, db, `after kill -9 #${round + 1}`)
    await db.close()
  }
})
