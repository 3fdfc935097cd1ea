// The HTTP API against the library, in the same run (issue 24): `call` throughput over
// HTTP (POST /call with wait: false, 32 in flight, then executor.sync) against db.call
// in-process with the same concurrency, and `get` latency (GET …/entry) against
// db.index.get. Real HTTP on 127.0.0.1: the client is Node's http with a keep-alive agent
// (Node's fetch costs about twice as much per request, and the client shares the
// host's thread here, so its cost would count against the host).
import http from 'http'
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
  let agentRef: http.Agent | null = null
  try {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/databases/${db.pubkey.toString('hex')}`
    const body = JSON.stringify({ method: 'increment', params: {}, wait: false })
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 })
    agentRef = agent
    const request = async (method: string, url: string, payload?: string): Promise<void> => await new Promise((resolve, reject) => {
      const r = http.request(url, { method, agent, headers: payload === undefined ? {} : { 'content-type': 'application/json' } }, res => { res.resume(); res.on('end', () => resolve()) })
      r.on('error', reject)
      r.end(payload)
    })
    const post = async (): Promise<void> => { await request('POST', base + '/call', body) }
    await lanes(200, 32, post) // warm up both paths
    await lanes(200, 32, async () => await db.call('increment', {}))
    await db.executor?.sync()
    const tHttp = performance.now()
    await lanes(n, 32, post)
    await db.executor?.sync()
    const httpRate = n / ((performance.now() - tHttp) / 1000)
    const tLib = performance.now()
    await lanes(n, 32, async () => await db.call('increment', {}))
    await db.executor?.sync()
    const lib = n / ((performance.now() - tLib) / 1000)
    const httpGet: number[] = []
    const libGet: number[] = []
    for (let i = 0; i < 500; i++) {
      let t = performance.now()
      await request('GET', base + '/entry?path=/counter')
      httpGet.push(performance.now() - t)
      t = performance.now()
      await db.index.get('/counter')
      libGet.push(performance.now() - t)
    }
    return [
      [`HTTP call (POST /call, ${fmt(n)} calls, 32 in flight, until executed) (calls/s)`, fmt(httpRate)],
      ['    in-process db.call, same load (calls/s)', fmt(lib)],
      ['    ratio HTTP / in-process (target ≥ 0.5)', (httpRate / lib).toFixed(2)],
      ['HTTP get (GET …/entry) p50 / p99 (ms)', `${pct(httpGet, 0.5).toFixed(2)} / ${pct(httpGet, 0.99).toFixed(2)}`],
      ['    in-process db.index.get p50 / p99 (ms)', `${pct(libGet, 0.5).toFixed(3)} / ${pct(libGet, 0.99).toFixed(3)}`]
    ]
  } finally {
    agentRef?.destroy()
    await app.close()
    await db.close()
  }
}

if (process.argv[1]?.endsWith('http-bench.js') === true) for (const [k, v] of await runHttpBench()) console.log(`${k.padEnd(80)} ${v}`)
