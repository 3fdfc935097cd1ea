// npm run bench: throughput and memory figures, each beside this machine's own
// ceiling measured in the same run. Not a test: it prints numbers.
import { performance } from 'perf_hooks'
import { Database, StorageInMemory, readShippedContract, encodeValue } from '../src/index.js'
import Corestore from 'corestore'
import Hyperbee from 'hyperbee'
import { mkdtempSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'

const N = Number(process.env.BENCH_OPS ?? 20_000)
const IN_FLIGHT = 1_000
const READS = Number(process.env.BENCH_READS ?? 20_000)

function fmt (n: number): string { return Math.round(n).toLocaleString('en-US') }
function line (name: string, value: string): void { console.log(`${name.padEnd(58)} ${value}`) }

/** (b) the ceiling: raw Hyperbee batches of ack + one write per op, 100 ops per flush. */
async function hyperbeeCeiling (ops: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'vitra-bench-'))
  const store = new Corestore(dir)
  const bee = new Hyperbee(store.get({ name: 'ceiling' }), { keyEncoding: 'utf-8', valueEncoding: 'binary' })
  await bee.ready()
  const ack = encodeValue({ v: 1, origin: 'ab'.repeat(32), seq: 0, oplogLength: 1, oplogTreeHash: 'cd'.repeat(32), ts: Date.now(), metadata: null, success: true, numChanges: 1, batchStart: 1 })
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

/** (c) read calls per second: `get` through the sandbox against the index. */
async function readThroughput (db: Database, n: number): Promise<number> {
  const start = performance.now()
  let next = 0
  async function lane (): Promise<void> { while (next < n) { next++; await db.call('get') } }
  await Promise.all(Array.from({ length: 64 }, lane))
  return n / ((performance.now() - start) / 1000)
}

async function main (): Promise<void> {
  console.log(`vitra bench — node ${process.version}, ${N} ops`)
  const ceiling = await hyperbeeCeiling(N)
  const db = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') } })
  try {
    const exec = await executorThroughput(db, N, false)
    const value = (await db.call('get')).response
    if (value !== N) throw new Error(`counter is ${String(value)}, expected ${N}`)
    const execProofs = await executorThroughput(db, Math.min(N, 5_000), true)
    const reads = await readThroughput(db, READS)
    line('(a) executor throughput, counter increments (ops/s)', fmt(exec))
    line('(b) ceiling: raw hyperbee ack+write, 100 ops/flush (ops/s)', fmt(ceiling))
    line('    ratio a/b (target ≥ 0.4)', (exec / ceiling).toFixed(2))
    line('(a\') same, each call also builds its op inclusion proof', fmt(execProofs))
    line('(c) read calls `get` (calls/s)', fmt(reads))
    line('(d) peak RSS (MB)', fmt(process.resourceUsage().maxRSS / 1024))
  } finally {
    await db.close()
  }
}

await main()
