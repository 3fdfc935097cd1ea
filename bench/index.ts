// npm run bench: throughput and memory figures, each beside this machine's own
// ceiling measured in the same run. Not a test: it prints numbers.
import { performance } from 'perf_hooks'
import { Database, StorageInMemory, readShippedContract, encodeValue, verifyInclusionProof, verifyFraudProof, ContractFraudProof } from '../src/index.js'
import { createInclusionProof } from '../src/logs/proof-builders.js'
import { encodeAck } from '../src/format/schemas.js'
import { Database as TestingDatabase, ExecutorBehavior } from '../src/testing.js'
import { runNetworkBench } from './network-bench.js'
import { runHttpBench } from './http-bench.js'
import { runSyncBench } from './sync-bench.js'
import { runMirrorBench } from './mirror-bench.js'
import { forgetVerifiedSignatures } from '../src/proofs/crypto/hypercore-crypto.js'
import Corestore from 'corestore'
import Hyperbee from 'hyperbee'
import { mkdtempSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { runWitnessBench } from './witness-bench.js'

const N = Number(process.env.BENCH_OPS ?? 20_000)
const IN_FLIGHT = 1_000
const READS = Number(process.env.BENCH_READS ?? 20_000)
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3))

/** Between phases: collect garbage (the bench runs with --expose-gc), so that no phase pays for the last one's heap. */
async function quiet (): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.()
  await new Promise(resolve => setTimeout(resolve, 50))
}

function fmt (n: number): string { return Math.round(n).toLocaleString('en-US') }
function line (name: string, value: string): void { console.log(`${name.padEnd(58)} ${value}`) }

/** (b) the ceiling: raw Hyperbee batches of ack + one write per op, 100 ops per flush; the ack as the executor writes it (protocol version 2, binary). */
async function hyperbeeCeiling (ops: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'vitra-bench-'))
  const store = new Corestore(dir)
  const bee = new Hyperbee(store.get({ name: 'ceiling' }), { keyEncoding: 'utf-8', valueEncoding: 'binary' })
  await bee.ready()
  const ack = encodeAck({ v: 2, origin: 'ab'.repeat(32), seq: 0, oplogLength: 1, oplogTreeHash: 'cd'.repeat(32), ts: Date.now(), metadata: null, success: true, numChanges: 1, batchStart: 1 })
  const start = performance.now()
  for (let i = 0; i < ops; i += 100) {
    const b = bee.batch()
    for (let j = i; j < i + 100 && j < ops; j++) {
      await b.put(`.sys/acks/${'ab'.repeat(32)}/${String(j).padStart(16, '0')}`, ack)
      await b.put('counter', encodeValue(j))
    }
    await b.flush()
  }
  const rate = ops / ((performance.now() - start) / 1000)
  await bee.close()
  await store.close()
  rmSync(dir, { recursive: true, force: true })
  return rate
}

/** (a) end to end: N increment calls, at most IN_FLIGHT pending, until executor.sync(). */
async function executorThroughput (db: Database, n: number, proofs: boolean): Promise<number> {
  const start = performance.now()
  let next = 0
  async function lane (): Promise<void> {
    while (next < n) { next++; await db.call('increment', {}, { proofs }) }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane))
  await db.executor?.sync()
  return n / ((performance.now() - start) / 1000)
}

/** The executor alone: N ops already in the oplog, until executor.sync(). */
async function executorAlone (n: number): Promise<number> {
  const db = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') } })
  try {
    await db.localOplog?.appendMany(Array.from({ length: n }, () => ({ op: 'INCREMENT', amount: 1 })))
    const start = performance.now()
    db.executor?.schedule()
    await db.executor?.sync()
    return n / ((performance.now() - start) / 1000)
  } finally {
    await db.close()
  }
}

/** (c') read calls one at a time: `await db.call('get')` in a loop (a script or a web handler reading a value per request). */
async function serialReads (db: Database, n: number): Promise<number> {
  const start = performance.now()
  for (let i = 0; i < n; i++) await db.call('get')
  return n / ((performance.now() - start) / 1000)
}

/** (c) read calls per second: `get` through the sandbox against the index. */
async function readThroughput (db: Database, n: number): Promise<number> {
  const start = performance.now()
  let next = 0
  async function lane (): Promise<void> { while (next < n) { next++; await db.call('get') } }
  await Promise.all(Array.from({ length: 64 }, lane))
  return n / ((performance.now() - start) / 1000)
}

/**
 * Run the code paths of (a), (b) and verification once on throwaway data first, so
 * that no figure includes the JIT compiling Node-side code (each database and
 * verifier still gets fresh isolates, so the contract's own warm-up stays in).
 */
async function warmUp (): Promise<void> {
  await hyperbeeCeiling(2_000)
  const db = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') } })
  try {
    await executorThroughput(db, 2_000, true)
    await executorThroughput(db, 1_000, false)
    await db.verify()
  } finally {
    await db.close()
  }
  await quiet()
}

/** Percentile of sorted numbers. */
function pct (sorted: number[], p: number): number { return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN }

/** Full verification of `db` (ops/s over the ops it holds). */
async function verifyThroughput (db: Database, ops: number): Promise<number> {
  const start = performance.now()
  await db.verify()
  return ops / ((performance.now() - start) / 1000)
}

/** Monitor lag under load: time from a batch flushed by the executor to the monitor having verified it. */
async function monitorLag (ops: number): Promise<{ p50: number, p99: number, batches: number }> {
  const db = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') } })
  try {
    const monitor = await db.monitor()
    const flushedAt = new Map<number, number>()
    const lags: number[] = []
    db.executor?.on('batch', () => { flushedAt.set(db.index.version, performance.now()) })
    monitor.on('verified', (length: number) => {
      const now = performance.now()
      for (const [len, t] of flushedAt) if (len <= length) { lags.push(now - t); flushedAt.delete(len) }
    })
    await executorThroughput(db, ops, false)
    await monitor.idle()
    lags.sort((a, b) => a - b)
    return { p50: pct(lags, 0.5), p99: pct(lags, 0.99), batches: lags.length }
  } finally {
    await db.close()
  }
}

/** Size and offline verification time of an op inclusion proof and of a fraud proof. */
async function proofFigures (db: Database): Promise<Array<[string, string]>> {
  const oplog = db.localOplog
  if (oplog === null) return []
  const proof = await createInclusionProof(oplog.core, Math.floor(oplog.length / 2))
  const json = JSON.stringify(proof)
  const runs = 2000
  let start = performance.now()
  for (let i = 0; i < runs; i++) {
    forgetVerifiedSignatures() // a stranger checking one proof checks its head's signature too
    verifyInclusionProof(JSON.parse(json))
  }
  const incl = (performance.now() - start) / runs
  start = performance.now()
  for (let i = 0; i < runs; i++) verifyInclusionProof(JSON.parse(json))
  const inclSameHead = (performance.now() - start) / runs
  const bad = await TestingDatabase.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') }, executorBehavior: ExecutorBehavior.TEST_WRONG_OP_MUTATIONS })
  let fraudJson = ''
  try {
    for (let i = 0; i < 100; i++) await bad.call('increment', {}, { proofs: false })
    await bad.executor?.sync()
    await bad.verify().catch((err: unknown) => { if (!(err instanceof ContractFraudProof)) throw err; fraudJson = JSON.stringify(err) })
  } finally {
    await bad.close()
  }
  start = performance.now()
  for (let i = 0; i < 20; i++) {
    forgetVerifiedSignatures()
    await verifyFraudProof(JSON.parse(fraudJson))
  }
  const fraud = (performance.now() - start) / 20
  return [
    [`op inclusion proof (oplog of ${oplog.length} ops): size (bytes)`, fmt(json.length)],
    ['    offline verification (ms, target < 2)', incl.toFixed(3)],
    ['    another proof under a head already checked (ms)', inclSameHead.toFixed(3)],
    ['fraud proof (CHANGE_MISMATCH): size (bytes)', fmt(fraudJson.length)],
    ['    offline verification (ms)', fraud.toFixed(1)]
  ]
}

/** One round of the headline figures: (b), then (a) on a fresh database, then its full verification, then the executor alone. */
interface Round { ceiling: number, exec: number, verify: number, alone: number, db: Database }

async function round (): Promise<Round> {
  const ceiling = await hyperbeeCeiling(N)
  await quiet()
  const db = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') } })
  try {
    const exec = await executorThroughput(db, N, true)
    const value = (await db.call('get')).response
    if (value !== N) throw new Error(`counter is ${String(value)}, expected ${N}`)
    await quiet()
    const verify = await verifyThroughput(db, N)
    await quiet()
    const alone = await executorAlone(N)
    await quiet()
    return { ceiling, exec, verify, alone, db }
  } catch (err) {
    await db.close()
    throw err
  }
}

/** The median of `xs`, and their range, as text. */
function spread (xs: number[], digits?: number): string {
  const show = (x: number): string => digits === undefined ? fmt(x) : x.toFixed(digits)
  const sorted = xs.slice().sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]
  return xs.length === 1 ? show(median) : `${show(median)} (${show(sorted[0])} – ${show(sorted[sorted.length - 1])})`
}

async function main (): Promise<void> {
  console.log(`vitra bench — node ${process.version}, ${N} ops, ${ROUNDS} round(s) of the headline figures: median (range)`)
  await warmUp()
  // The VM this runs on changes speed from one minute to the next: the headline
  // figures are measured in rounds, each ratio within its own round.
  const rounds: Round[] = []
  try {
    for (let i = 0; i < ROUNDS; i++) {
      if (rounds.length > 0) await rounds[rounds.length - 1].db.close() // only the last round's database is used below
      rounds.push(await round())
    }
    const db = rounds[rounds.length - 1].db
    const execNoProofs = await executorThroughput(db, Math.min(N, 5_000), false)
    await quiet()
    const reads = await readThroughput(db, READS)
    await quiet()
    const serial = await serialReads(db, READS)
    await quiet()
    const proofs = await proofFigures(db)
    await quiet()
    const lag = await monitorLag(Math.min(N, 10_000))
    const of = (f: (r: Round) => number): number[] => rounds.map(f)
    line('(a) executor throughput, counter increments, db.call default (op proofs) (ops/s)', spread(of(r => r.exec)))
    line('(b) ceiling: raw hyperbee ack+write, 100 ops/flush (ops/s)', spread(of(r => r.ceiling)))
    line('    ratio a/b (target ≥ 0.8)', spread(of(r => r.exec / r.ceiling), 2))
    line('    executor alone (ops already in the oplog) (ops/s)', spread(of(r => r.alone)))
    line('    its ratio to b', spread(of(r => r.alone / r.ceiling), 2))
    line('(a\') same with { proofs: false } (ops/s)', fmt(execNoProofs))
    line('(c) read calls `get`, 64 in flight (calls/s)', fmt(reads))
    line('(c\') read calls `get`, one at a time (calls/s, target ≥ 40,000)', fmt(serial))
    line('full verification (ops/s)', spread(of(r => r.verify)))
    line('    ratio to executor throughput (target ≥ 3)', spread(of(r => r.verify / r.exec), 2))
    line(`monitor lag under load, ${lag.batches} batches: p50 / p99 (ms)`, `${lag.p50.toFixed(0)} / ${lag.p99.toFixed(0)}`)
    for (const [k, v] of proofs) line(k, v)
    line('(d) peak RSS (MB)', fmt(process.resourceUsage().maxRSS / 1024))
    for (const [k, v] of await runHttpBench()) line(k, v)
    if (process.env.BENCH_NETWORK !== '0') for (const [k, v] of await runNetworkBench()) line(k, v)
    if (process.env.BENCH_NETWORK !== '0') for (const [k, v] of await runSyncBench()) line(k, v)
    if (process.env.BENCH_NETWORK !== '0') for (const [k, v] of await runMirrorBench()) line(k, v)
    for (const [k, v] of await runWitnessBench()) line(k, v)
  } finally {
    await rounds[rounds.length - 1]?.db.close()
  }
}

await main()
