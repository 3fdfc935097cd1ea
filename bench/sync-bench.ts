// Catch-up figures (issue 34): a fresh reader in memory downloads a whole database
// (index and oplog: every block `syncAll()` fetches) from one host on loopback, over
// HTTP (Hypercore replication on an upgraded connection to `vitra serve`'s API,
// src/net/http-replication.ts) and over the swarm (a HyperDHT testnet on 127.0.0.1).
// The two transports alternate, ROUNDS times each; the median of each is printed.
// Run alone: node --no-node-snapshot dist/bench/sync-bench.js
import { performance } from 'perf_hooks'
import { fileURLToPath } from 'url'
import createTestnet from 'hyperdht/testnet.js'
import { Database, StorageInMemory, readShippedContract } from '../src/index.js'
import { createApi } from '../src/http/api.js'

const OPS = Number(process.env.BENCH_SYNC_OPS ?? 5_000)
const ROUNDS = Number(process.env.BENCH_SYNC_ROUNDS ?? 3)

export async function runSyncBench (): Promise<Array<[string, string]>> {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  const net = { swarm: true as const, bootstrap: testnet.bootstrap, host: '127.0.0.1' }
  const exec = await Database.create(new StorageInMemory(), { ...net, contract: { source: readShippedContract('kv-store') } })
  const app = await createApi({ databases: [exec], monitor: false })
  try {
    let pending: Array<Promise<unknown>> = []
    for (let i = 0; i < OPS; i++) {
      pending.push(exec.call('put', { key: `k${i}`, value: i }, { proofs: false }))
      if (pending.length === 500) { await Promise.all(pending); pending = [] }
    }
    await Promise.all(pending)
    await exec.executor?.sync()
    await app.listen({ port: 0, host: '127.0.0.1' })
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const blocks = exec.index.core.length + (exec.localOplog?.core.length ?? 0)
    const times: Record<'http' | 'swarm', number[]> = { http: [], swarm: [] }
    for (let r = 0; r < ROUNDS; r++) {
      for (const how of ['swarm', 'http'] as const) {
        const start = performance.now()
        const reader = await Database.load(new StorageInMemory(), exec.pubkey, how === 'http' ? { from: [url], timeout: 30_000 } : { ...net, timeout: 30_000 })
        await reader.syncAll()
        times[how].push(performance.now() - start)
        await reader.close()
      }
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    const row = (how: 'http' | 'swarm'): string => `${Math.round(med(times[how]))} ms (${Math.round(blocks / med(times[how]) * 1000).toLocaleString('en')} blocks/s; ${times[how].map(x => Math.round(x)).join(', ')})`
    return [
      [`catch-up of ${OPS.toLocaleString('en')} ops (${blocks.toLocaleString('en')} blocks) over HTTP, load + syncAll`, row('http')],
      ['the same over the swarm (DHT testnet, loopback)', row('swarm')]
    ]
  } finally {
    await app.close()
    await exec.close()
    await testnet.destroy()
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [k, v] of await runSyncBench()) console.log(`${k.padEnd(80)} ${v}`)
}
