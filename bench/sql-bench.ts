// npm run bench:sql (issue 26): the SQL read model over a database of about 1,000,000
// index entries (BENCH_SQL_OPS kv-store puts, 2 entries each), on disk:
//   - the executor's rate with and without the read model following (same load, fresh
//     databases), and the lag: how long after an index entry is appended the read model
//     reflects it, while the executor runs at full speed;
//   - a point query on `state` through db.query (the query process, IPC included) and
//     the same statement on a direct SQLite connection (the engine's own cost);
//   - a GROUP BY over every `history` row;
//   - a rebuild from scratch after deleting the read model, against reading the same
//     entries without SQLite (this machine's ceiling for it).
// Figures only; not a test.
import { performance } from 'perf_hooks'
import Sqlite from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { Database, readShippedContract } from '../src/index.js'
import { readEntries } from '../src/logs/index-log.js'
import { READ_MODEL_FILE } from '../src/sql/index.js'
import { deleteReadModel } from '../src/sql/read-model.js'

const OPS = Number(process.env.BENCH_SQL_OPS ?? 500_000)
const IN_FLIGHT = 1_000
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const line = (name: string, value: string): void => { console.log(`${name.padEnd(66)} ${value}`) }
function pct (xs: number[], p: number): number { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))] }

const AB_OPS = Number(process.env.BENCH_SQL_AB_OPS ?? 100_000)

/** The same load on a fresh on-disk database, with or without the read model following: ops/s. */
async function executorRate (ops: number, follow: boolean): Promise<number> {
  const d = mkdtempSync(join(tmpdir(), 'vitra-sql-ab-'))
  try {
    const db = await Database.create(d, { contract: { source: readShippedContract('kv-store') } })
    if (follow) void db.sql
    const t = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < ops) { const i = next++; await db.call('put', { key: `k${i % 2 === 0 ? i : i % 1000}`, value: { i, tag: i % 10 } }, { proofs: false }) }
    }))
    await db.executor?.sync()
    const rate = ops / ((performance.now() - t) / 1000)
    if (follow) await (await db.sql.readModel()).reach(db.index.core.length)
    await db.close()
    return rate
  } finally {
    rmSync(d, { recursive: true, force: true })
  }
}

const dir = mkdtempSync(join(tmpdir(), 'vitra-sql-bench-'))
try {
  const without = await executorRate(AB_OPS, false)
  const withModel = await executorRate(AB_OPS, true)
  line(`executor, ${fmt(AB_OPS)} puts on disk: without / with the read model (ops/s)`, `${fmt(without)} / ${fmt(withModel)}`)
  line('    ratio with / without', (withModel / without).toFixed(2))
  let db = await Database.create(dir, { contract: { source: readShippedContract('kv-store') } })
  const model = await db.sql.readModel() // the read model follows from here on
  // lag: the time from an index append to the read model reflecting it
  const appended: Array<[number, number]> = []
  const lags: number[] = []
  db.index.core.on('append', () => appended.push([db.index.core.length, performance.now()]))
  model.on('length', (length: number) => {
    const now = performance.now()
    while (appended.length > 0 && appended[0][0] <= length) lags.push(now - (appended.shift() as [number, number])[1])
  })
  console.log(`vitra SQL bench — node ${process.version}, ${fmt(OPS)} kv-store puts (about ${fmt(OPS * 2)} index entries), on disk`)
  const t0 = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < OPS) {
      const i = next++
      // half the puts write new keys, half overwrite: state ends with about OPS/2 rows
      await db.call('put', { key: `k${i % 2 === 0 ? i : i % 1000}`, value: { i, tag: i % 10 } }, { proofs: false })
    }
  }))
  await db.executor?.sync()
  const execRate = OPS / ((performance.now() - t0) / 1000)
  await model.reach(db.index.core.length)
  line('executor with the read model following (ops/s)', fmt(execRate))
  line('read model lag behind the index: p50 / p99 / max (ms)', `${pct(lags, 0.5).toFixed(0)} / ${pct(lags, 0.99).toFixed(0)} / ${Math.max(...lags).toFixed(0)}`)
  const entries = db.index.core.length - 1
  const stateRows = (await db.query('SELECT count(*) AS n FROM state')).rows[0].n as number
  line('index entries / state rows', `${fmt(entries)} / ${fmt(stateRows)}`)

  // point queries on state, through db.query and directly
  const paths = Array.from({ length: 1000 }, (_, j) => `/values/k${(j * 7919 * 2) % OPS}`)
  const viaQuery: number[] = []
  for (const p of paths) {
    const t = performance.now()
    await db.query('SELECT value FROM state WHERE path = ?', [p])
    viaQuery.push(performance.now() - t)
  }
  const direct = new Sqlite(join(dir, READ_MODEL_FILE), { readonly: true })
  const stmt = direct.prepare('SELECT value FROM state WHERE path = ?')
  const raw: number[] = []
  for (const p of paths) {
    const t = performance.now()
    stmt.get(p)
    raw.push(performance.now() - t)
  }
  line('point query on state, db.query: p50 / p99 (ms, target < 1)', `${pct(viaQuery, 0.5).toFixed(3)} / ${pct(viaQuery, 0.99).toFixed(3)}`)
  line('    the same statement on a direct connection: p50 / p99 (ms)', `${pct(raw, 0.5).toFixed(4)} / ${pct(raw, 0.99).toFixed(4)}`)
  direct.close()

  // GROUP BY over every history row
  let t = performance.now()
  const grouped = await db.query('SELECT path, count(*) AS writes FROM history GROUP BY path ORDER BY writes DESC LIMIT 10', undefined, { timeoutMs: 60_000 })
  line(`GROUP BY path over ${fmt(entries)} history rows (ms, target < 2000)`, (performance.now() - t).toFixed(0))
  void grouped
  t = performance.now()
  await db.query('SELECT json_extract(value, \'$.tag\') AS tag, count(*) FROM state GROUP BY tag', undefined, { timeoutMs: 60_000 })
  line(`GROUP BY json_extract over ${fmt(stateRows)} state rows (ms)`, (performance.now() - t).toFixed(0))

  // rebuild from scratch, against reading the entries alone
  await db.close()
  deleteReadModel(join(dir, READ_MODEL_FILE))
  db = await Database.load(dir)
  t = performance.now()
  for (let s = 1; s < db.index.core.length; s += 2048) await readEntries(db.index.core, s, Math.min(db.index.core.length, s + 2048))
  const readRate = entries / ((performance.now() - t) / 1000)
  t = performance.now()
  await (await db.sql.readModel()).reach(db.index.core.length)
  const rebuildRate = entries / ((performance.now() - t) / 1000)
  line('rebuild from scratch (entries/s, target ≥ 50,000)', fmt(rebuildRate))
  line('    reading the same entries without SQLite (entries/s)', fmt(readRate))
  line('    ratio', (rebuildRate / readRate).toFixed(2))
  line('peak RSS (MB)', fmt(process.resourceUsage().maxRSS / 1024))
  await db.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
