// Index read proof sizes and times on bees of 5,000 and 100,000 keys written in batches of 100
// (override with BENCH_BEE_KEYS=5000,100000). Run: npx tsc -p . && node dist/bench/bee-proofs-bench.js
// Not a test: it prints numbers.
import { performance } from 'perf_hooks'
import Corestore from 'corestore'
import Hyperbee from 'hyperbee'
import { mkdtempSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { indexReadProofToJSON, verifyIndexReadProof, type IndexRead } from '../src/proofs/bee/bee-proofs.js'
import { inclusionProofToJSON } from '../src/proofs/log/inclusion-proofs.js'
import { createInclusionProof, createIndexReadProof } from '../src/logs/proof-builders.js'

const SIZES = (process.env.BENCH_BEE_KEYS ?? '5000,100000').split(',').map(Number)
const PROBES = Number(process.env.BENCH_BEE_PROBES ?? 50)

function line (name: string, value: string): void { console.log(`${name.padEnd(60)} ${value}`) }
function keyOf (i: number): string { return `key/${String(i).padStart(7, '0')}` }

interface Stats { min: number, mean: number, max: number }
function stats (xs: number[]): Stats {
  return { min: Math.min(...xs), mean: xs.reduce((a, b) => a + b, 0) / xs.length, max: Math.max(...xs) }
}
function show (s: Stats, digits = 0): string { return `mean ${s.mean.toFixed(digits)}  min ${s.min.toFixed(digits)}  max ${s.max.toFixed(digits)}` }

/** Builds a bee of `n` keys and prints proof figures for `PROBES` gets spread over the key space. */
async function benchSize (n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vitra-bee-proofs-'))
  const store = new Corestore(dir)
  const bee = new Hyperbee(store.get({ name: 'index' }), { keyEncoding: 'utf-8', valueEncoding: 'binary' })
  try {
    await bee.ready()
    const start = performance.now()
    for (let i = 0; i < n; i += 100) {
      const b = bee.batch()
      for (let j = i; j < i + 100 && j < n; j++) await b.put(keyOf(j), Buffer.from(JSON.stringify({ n: j, owner: 'ab'.repeat(16) })))
      await b.flush()
    }
    line(`${n} keys: bee length`, `${bee.core.length} (built in ${((performance.now() - start) / 1000).toFixed(1)} s)`)
    const blocks: number[] = []
    const nodes: number[] = []
    const bytes: number[] = []
    const separate: number[] = []
    const createMs: number[] = []
    const verifyMs: number[] = []
    const at = bee.core.length
    for (let p = 0; p < PROBES; p++) {
      const i = Math.floor((p * 7919 * 13) % n)
      const reads: IndexRead[] = [{ kind: 'get', key: keyOf(i) }]
      let t = performance.now()
      const proof = await createIndexReadProof(bee, at, reads)
      createMs.push(performance.now() - t)
      const text = indexReadProofToJSON(proof)
      t = performance.now()
      const r = await verifyIndexReadProof(text)
      verifyMs.push(performance.now() - t)
      if (r.results.length !== 1) throw new Error('bad result')
      blocks.push(proof.blocks.length)
      nodes.push(proof.nodes.length)
      bytes.push(text.length)
      if (p < 10) {
        let sum = 0
        for (const b of proof.blocks) sum += inclusionProofToJSON(await createInclusionProof(bee.core, b.seq)).length
        separate.push(sum)
      }
    }
    line(`${n} keys: one get, blocks (header included)`, show(stats(blocks)))
    line(`${n} keys: one get, multiproof nodes`, show(stats(nodes)))
    line(`${n} keys: one get, JSON bytes`, show(stats(bytes)))
    line(`${n} keys: same blocks as separate inclusion proofs, bytes`, show(stats(separate)))
    line(`${n} keys: one get, create ms`, show(stats(createMs), 2))
    line(`${n} keys: one get, verify ms (parse + head + tree + replay)`, show(stats(verifyMs), 2))
    const list = await createIndexReadProof(bee, at, [{ kind: 'list', range: { gte: keyOf(Math.floor(n / 2)), limit: 100 } }])
    line(`${n} keys: list of 100, blocks / JSON bytes`, `${list.blocks.length} / ${indexReadProofToJSON(list).length}`)
  } finally {
    await bee.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

for (const n of SIZES) await benchSize(n)
