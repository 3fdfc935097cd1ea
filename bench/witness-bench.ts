// Witnesses (issue 37): three witnesses on 127.0.0.1 and a policy of 2 of 3. The latency
// from a new index head to a witnessed checkpoint (a host collecting at every head), the
// sizes of checkpoints, cosignatures and a witnessed entry proof, and the cost to the
// executor of a host that collects (the default interval, 1 s), in pairs run in the same
// minutes. Run alone: node --no-node-snapshot dist/bench/witness-bench.js
import { mkdtempSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { fileURLToPath } from 'url'
import { Database, StorageInMemory, readShippedContract } from '../src/index.js'
import { createApi } from '../src/http/api.js'
import { readWitnessPolicy, type WitnessPolicyJSON } from '../src/proofs/witness/policy.js'
import { CheckpointCollector, type CollectedCheckpoint } from '../src/witness/collector.js'
import { createWitnessKey } from '../src/witness/keys.js'
import { Witness } from '../src/witness/witness.js'

const HEADS = Number(process.env.BENCH_WITNESS_HEADS ?? 100)
const OPS = Number(process.env.BENCH_WITNESS_OPS ?? 5_000)
const PAIRS = Number(process.env.BENCH_WITNESS_PAIRS ?? 3)
const IN_FLIGHT = 1_000

function pct (sorted: number[], p: number): number { return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN }

async function throughput (db: Database, n: number): Promise<number> {
  const start = performance.now()
  let next = 0
  const lane = async (): Promise<void> => { while (next < n) { next++; await db.call('increment', {}) } }
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane))
  await db.executor?.sync()
  return n / ((performance.now() - start) / 1000)
}

export async function runWitnessBench (): Promise<Array<[string, string]>> {
  const root = mkdtempSync(join(tmpdir(), 'vitra-witness-bench-'))
  const witnesses: Witness[] = []
  const open: Array<{ close: () => Promise<void> }> = []
  try {
    for (let i = 0; i < 3; i++) {
      const dir = join(root, `w${i}`)
      createWitnessKey(dir, `w${i}.example`)
      const w = new Witness({ dir })
      await w.ready()
      witnesses.push(w)
    }
    const policy: WitnessPolicyJSON = { version: 1, quorum: 2, witnesses: witnesses.map(w => ({ key: w.key.vkey, url: w.url })) }

    // Latency: a collector asked at every head; one increment at a time.
    const db = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') }, witnesses: policy })
    open.push(db)
    const collector = new CheckpointCollector({ core: db.index.core, policy: readWitnessPolicy(policy), intervalMs: 0 })
    open.unshift(collector)
    await collector.ready()
    const latencies: number[] = []
    let last: CollectedCheckpoint | null = null
    for (let i = 0; i < HEADS; i++) {
      await (await db.call('increment', {})).whenProcessed()
      const length = db.index.core.length
      const start = performance.now()
      last = await new Promise<CollectedCheckpoint>(resolve => {
        const done = (c: CollectedCheckpoint): void => { if (c.checked.head.length >= length) { collector.off('checkpoint', done); resolve(c) } }
        const now = collector.latest
        if (now !== null && now.checked.head.length >= length) { resolve(now); return }
        collector.on('checkpoint', done)
      })
      latencies.push(performance.now() - start)
    }
    latencies.sort((a, b) => a - b)
    if (last === null) throw new Error('no checkpoint')
    const note = last.note
    const lines = note.split('\n')
    const cosignature = lines.find(l => l.startsWith('\u2014 w0.example') || l.startsWith('\u2014 w1.example') || l.startsWith('\u2014 w2.example')) ?? ''
    const bare = note.slice(0, note.indexOf('\u2014 w'))

    // A proven entry, as of the head and as of the checkpoint (the latter carries the note).
    const app = await createApi({ databases: [db], monitor: false, witnesses: false })
    await app.listen({ port: 0, host: '127.0.0.1' })
    open.unshift({ close: async () => { await app.close() } })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/v1/databases/${db.pubkey.toString('hex')}`
    const plain = await (await fetch(`${base}/entry?path=/counter&proof=true`)).text()

    // The executor's cost: the same load with a host collecting (1 s interval) and without, interleaved.
    const withoutRun = async (): Promise<number> => {
      const plainDb = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') } })
      try { return await throughput(plainDb, OPS) } finally { await plainDb.close() }
    }
    const withRun = async (): Promise<number> => {
      const withDb = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') }, witnesses: policy })
      const c = new CheckpointCollector({ core: withDb.index.core, policy: readWitnessPolicy(policy) })
      try {
        await c.ready()
        return await throughput(withDb, OPS)
      } finally {
        await c.close()
        await withDb.close()
      }
    }
    await withoutRun() // warm up
    const ratios: number[] = []
    for (let i = 0; i < PAIRS; i++) {
      // alternate which runs first: the machine's speed drifts from minute to minute
      const [a, b] = i % 2 === 0 ? [await withoutRun(), await withRun()] : [0, 0]
      const [d, c] = i % 2 === 1 ? [await withRun(), await withoutRun()] : [0, 0]
      ratios.push(i % 2 === 0 ? b / a : d / c)
    }
    ratios.sort((a, b) => a - b)
    const witnessedApp = await createApi({ databases: [db], monitor: false, checkpointIntervalMs: 0 })
    await witnessedApp.listen({ port: 0, host: '127.0.0.1' })
    open.unshift({ close: async () => { await witnessedApp.close() } })
    const wbase = `http://127.0.0.1:${(witnessedApp.server.address() as { port: number }).port}/v1/databases/${db.pubkey.toString('hex')}`
    let witnessedRead = ''
    for (let i = 0; i < 500 && witnessedRead === ''; i++) {
      const res = await fetch(`${wbase}/entry?path=/counter&witnessed=true`)
      if (res.status === 200) witnessedRead = await res.text()
      else await new Promise(resolve => setTimeout(resolve, 20))
    }
    return [
      [`witnesses, 2 of 3 on 127.0.0.1: new head → witnessed checkpoint, ${HEADS} heads, p50 / p99 (ms)`, `${pct(latencies, 0.5).toFixed(1)} / ${pct(latencies, 0.99).toFixed(1)}`],
      ['    checkpoint note (body + the log\'s signature) / one cosignature line (bytes)', `${Buffer.byteLength(bare)} / ${Buffer.byteLength(cosignature + '\n')}`],
      ['    witnessed checkpoint with the quorum\'s 2 cosignatures (bytes)', String(Buffer.byteLength(bare) + 2 * Buffer.byteLength(cosignature + '\n'))],
      ['    entry proof as of the head / as of the checkpoint, with its note (bytes of JSON)', `${Buffer.byteLength(plain)} / ${witnessedRead === '' ? '?' : Buffer.byteLength(witnessedRead)}`],
      [`    executor with a host collecting (1 s) / without, ${PAIRS} pairs of ${OPS} ops (ratio, target ≥ 0.95)`, `${pct(ratios, 0.5).toFixed(2)} (${ratios[0]?.toFixed(2)} – ${ratios[ratios.length - 1]?.toFixed(2)})`]
    ]
  } finally {
    for (const o of open) await o.close()
    for (const w of witnesses) await w.close()
    rmSync(root, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [k, v] of await runWitnessBench()) console.log(`${k.padEnd(58)} ${v}`)
}
