// Disk of a bounded mirror (issue 34): a reader on disk follows a growing database over
// HTTP with `--mirror-last 1,000` (src/net/mirror.ts) beside a full copy; after each step of
// STEP ops, both directories are measured (du: RocksDB's files, write-ahead log included).
// Run alone: node --no-node-snapshot dist/bench/mirror-bench.js
import { execFileSync } from 'child_process'
import { mkdtempSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { fileURLToPath } from 'url'
import { Database, StorageInMemory, readShippedContract } from '../src/index.js'
import { createApi } from '../src/http/api.js'
import { BoundedMirror } from '../src/net/mirror.js'

const STEPS = Number(process.env.BENCH_MIRROR_STEPS ?? 4)
const STEP = Number(process.env.BENCH_MIRROR_STEP ?? 5_000)
const KEEP = 1_000

function du (dir: string): number {
  return Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) * 1024
}

export async function runMirrorBench (): Promise<Array<[string, string]>> {
  const root = mkdtempSync(join(tmpdir(), 'vitra-mirror-bench-'))
  const exec = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('kv-store') } })
  const app = await createApi({ databases: [exec], monitor: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const full = await Database.load(join(root, 'full'), exec.pubkey, { from: [url], waitForIndex: false })
  const bounded = await Database.load(join(root, 'mirror'), exec.pubkey, { from: [url], waitForIndex: false })
  const mirror = new BoundedMirror(bounded.index.core, KEEP)
  await mirror.ready()
  full.index.core.download({ start: 0, end: -1 })
  const sizes: string[] = []
  try {
    for (let s = 1; s <= STEPS; s++) {
      let pending: Array<Promise<unknown>> = []
      for (let i = 0; i < STEP; i++) {
        pending.push(exec.call('put', { key: `k${s}-${i}`, value: 'x'.repeat(100) }, { proofs: false }))
        if (pending.length === 500) { await Promise.all(pending); pending = [] }
      }
      await Promise.all(pending)
      await exec.executor?.sync()
      const length = exec.index.core.length
      for (const core of [full.index.core, bounded.index.core]) {
        while (core.length < length || !(await core.has(Math.max(1, length - KEEP), length))) await new Promise(resolve => setTimeout(resolve, 50))
      }
      await mirror.flush()
      for (const db of [full, bounded]) await (db.store as unknown as { storage: { compact: () => Promise<void> } }).storage.compact() // RocksDB frees cleared blocks at compaction
      sizes.push(`${length.toLocaleString('en')} entries: full ${(du(join(root, 'full')) / 2 ** 20).toFixed(1)} MiB, mirror ${(du(join(root, 'mirror')) / 2 ** 20).toFixed(1)} MiB`)
    }
  } finally {
    await mirror.close()
    await bounded.close()
    await full.close()
    await app.close()
    await exec.close()
    rmSync(root, { recursive: true, force: true })
  }
  return [[`disk of a copy following over HTTP, full vs --mirror-last ${KEEP.toLocaleString('en')}`, sizes.join('; ')]]
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [k, v] of await runMirrorBench()) console.log(`${k}\n  ${v}`)
}
