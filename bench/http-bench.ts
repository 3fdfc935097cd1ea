// The HTTP API against the library, in the same run (issue 24): `call` throughput over
// HTTP (POST /call with wait: false, 32 in flight, then executor.sync) against db.call
// in-process with the same concurrency, and `get` latency (GET …/entry) against
// db.index.get. Real HTTP on 127.0.0.1 (Node's fetch, keep-alive).
import { performance } from 'perf_hooks'
import type { AddressInfo } from 'net'
import { Database, StorageInMemory, readShippedContract } from '../src/index.js'
import { createApi } from '../src/http/api.js'

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

async function lanes (n: number, width: number, one: () => Promise<unknown>): Promise<number> {
  let next = 0
  const start = performance.now()
  await Promise.all(Array.from({ length: width }, async () => { while (next < n) { next++; await one() } }))
  return n / ((performance.now() - start) / 1000)
}

function pct (xs: number[], p: number): number { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))] }

export async function runHttpBench (n = Number(process.env.BENCH_HTTP_OPS ?? 5000)): Promise<Array<[string, string]>> {
  const db = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') } })
  const app = await createApi({ databases: [db], monitor: false })
  try {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/databases/${db.pubkey.toString('hex')}`
    const body = JSON.stringify({ method: 'increment', params: {}, wait: false })
    const post = async (): Promise<void> => { const r = await fetch(base + '/call', { method: 'POST', headers: { 'content-type': 'application/json' }, body }); await r.arrayBuffer() }
    await lanes(200, 32, post) // warm up both paths
    await lanes(200, 32, async () => await db.call('increment', {}))
    await db.executor?.sync()
    const tHttp = performance.now()
    await lanes(n, 32, post)
    await db.executor?.sync()
    const http = n / ((performance.now() - tHttp) / 1000)
    const tLib = performance.now()
    await lanes(n, 32, async () => await db.call('increment', {}))
    await db.executor?.sync()
    const lib = n / ((performance.now() - tLib) / 1000)
    const httpGet: number[] = []
    const libGet: number[] = []
    for (let i = 0; i < 500; i++) {
      let t = performance.now()
      const r = await fetch(base + '/entry?path=/counter')
      await r.arrayBuffer()
      httpGet.push(performance.now() - t)
      t = performance.now()
      await db.index.get('/counter')
      libGet.push(performance.now() - t)
    }
    return [
      [`HTTP call (POST /call, ${fmt(n)} calls, 32 in flight, until executed) (calls/s)`, fmt(http)],
      ['    in-process db.call, same load (calls/s)', fmt(lib)],
      ['    ratio HTTP / in-process (target ≥ 0.5)', (http / lib).toFixed(2)],
      ['HTTP get (GET …/entry) p50 / p99 (ms)', `${pct(httpGet, 0.5).toFixed(2)} / ${pct(httpGet, 0.99).toFixed(2)}`],
      ['    in-process db.index.get p50 / p99 (ms)', `${pct(libGet, 0.5).toFixed(3)} / ${pct(libGet, 0.99).toFixed(3)}`]
    ]
  } finally {
    await app.close()
    await db.close()
  }
}

if (process.argv[1]?.endsWith('http-bench.js') === true) for (const [k, v] of await runHttpBench()) console.log(`${k.padEnd(80)} ${v}`)
