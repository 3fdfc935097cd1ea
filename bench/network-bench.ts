// Network figures for `npm run bench`: two swarms in one process on a local
// HyperDHT testnet bound to 127.0.0.1 (never the public DHT).
//   - remote participant → executor → ack back: latency of one `put` from the
//     participant's call until its ack has replicated back (p50/p99 over 1,000 ops,
//     one op at a time);
//   - blocks downloaded by a fresh reader for one sparse `get` on a remote index of
//     100,000 entries (and for its whole load).
import { performance } from 'perf_hooks'
import createTestnet from 'hyperdht/testnet.js'
import type Hypercore from 'hypercore'
import { Database, StorageInMemory, readShippedContract } from '../src/index.js'

const OPS = Number(process.env.BENCH_NET_OPS ?? 1_000)
const ENTRIES = Number(process.env.BENCH_NET_ENTRIES ?? 100_000)
const FILL_BATCH = 5_000

type Net = { swarm: true, bootstrap: Array<{ host: string, port: number }>, host: string }

/** Rows of (label, value) for the bench table. */
export async function runNetworkBench (): Promise<Array<[string, string]>> {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const net: Net = { swarm: true, bootstrap: testnet.bootstrap, host: '127.0.0.1' }
  const rows: Array<[string, string]> = []
  const exec = await Database.create(new StorageInMemory(), { ...net, contract: { source: readShippedContract('kv-store') } })
  try {
    rows.push(...await ackLatency(exec, net))
    rows.push(...await sparseGet(exec, net))
  } finally {
    await exec.close()
    await testnet.destroy()
  }
  return rows
}

async function ackLatency (exec: Database, net: Net): Promise<Array<[string, string]>> {
  const part = await Database.load(new StorageInMemory(), exec.pubkey, { ...net, timeout: 30_000 })
  try {
    const oplog = await part.createOplog()
    await (await exec.call('addParticipant', { pubkey: oplog.hex })).whenProcessed()
    while (!part.isParticipant) await part.sync()
    for (let i = 0; i < 20; i++) await put(part, `warm${i}`) // warm up the connection and the sandbox
    const ms: number[] = []
    for (let i = 0; i < OPS; i++) ms.push(await put(part, `k${i}`))
    ms.sort((a, b) => a - b)
    return [
      [`remote participant → executor → ack back, p50 (ms, ${OPS} ops, loopback)`, pct(ms, 0.5).toFixed(1)],
      ['remote participant → executor → ack back, p99 (ms)', pct(ms, 0.99).toFixed(1)]
    ]
  } finally {
    await part.close()
  }
}

async function put (db: Database, key: string): Promise<number> {
  const start = performance.now()
  const tx = await db.call('put', { key, value: key })
  await tx.whenProcessed({ timeout: 30_000 })
  return performance.now() - start
}

async function sparseGet (exec: Database, net: Net): Promise<Array<[string, string]>> {
  for (let i = 0; i < ENTRIES; i += FILL_BATCH) {
    const writes = []
    for (let j = i; j < Math.min(ENTRIES, i + FILL_BATCH); j++) writes.push({ type: 'put' as const, path: `values/s${String(j).padStart(6, '0')}`, value: j })
    await exec.index.dangerousBatch(writes)
  }
  let total = 0
  let counter: Hypercore | null = null
  const reader = await Database.load(new StorageInMemory(), exec.pubkey, {
    ...net,
    timeout: 30_000,
    onCorestore: store => { counter = store.get({ key: exec.pubkey }); counter.on('download', () => { total++ }) }
  })
  try {
    await reader.sync()
    let forGet = 0
    const count = (): void => { forGet++ }
    reader.index.core.on('download', count)
    const key = `s${String(Math.floor(ENTRIES * 0.54321)).padStart(6, '0')}`
    const value = (await reader.call('get', { key })).response
    reader.index.core.removeListener('download', count)
    if (value !== Math.floor(ENTRIES * 0.54321)) throw new Error(`sparse get returned ${String(value)}`)
    return [
      [`blocks downloaded for one sparse get (index of ${exec.index.core.length.toLocaleString('en-US')} blocks)`, String(forGet)],
      ['blocks downloaded for load by pubkey + that get', String(total)]
    ]
  } finally {
    await (counter as Hypercore | null)?.close()
    await reader.close()
  }
}

function pct (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}
