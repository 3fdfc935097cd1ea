// Proof sizes and verification times on a 20,000-block core (override with BENCH_BLOCKS).
// Run: npx tsc -p . && node dist/bench/proofs-bench.js   Not a test: it prints numbers.
import { performance } from 'perf_hooks'
import Hypercore from 'hypercore'
import { mkdtempSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { inclusionProofToJSON, verifyInclusionProof } from '../src/proofs/log/inclusion-proofs.js'
import { verifyConsistencyProof } from '../src/proofs/log/signed-head.js'
import { verifyLogForkProof } from '../src/proofs/fraud/log-fork-proof.js'
import { captureSignedHead, coreManifest, createConsistencyProof, createInclusionProof, logForkProofFromConflict } from '../src/logs/proof-builders.js'

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 20_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 2_000)

function line (name: string, value: string): void { console.log(`${name.padEnd(52)} ${value}`) }

/** Mean milliseconds per call of `fn` over `runs` calls (after a warm-up). */
function timeMs (runs: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(50, runs); i++) fn(i)
  const start = performance.now()
  for (let i = 0; i < runs; i++) fn(i)
  return (performance.now() - start) / runs
}

/** Runs the benchmark and prints one line per figure. */
export async function runProofsBench (): Promise<void> {
  const dirs = [mkdtempSync(join(tmpdir(), 'vitra-proofs-')), mkdtempSync(join(tmpdir(), 'vitra-proofs-'))]
  const core = new Hypercore(dirs[0])
  await core.ready()
  for (let i = 0; i < BLOCKS; i += 1000) {
    const batch: Buffer[] = []
    for (let j = i; j < i + 1000 && j < BLOCKS; j++) batch.push(Buffer.from(JSON.stringify({ op: 'put', key: `key-${j}`, value: j })))
    await core.append(batch)
  }
  line('core length', String(core.length))

  // Inclusion proofs of a spread of blocks (different path lengths and root positions).
  const indexes = [0, 1, 777, Math.floor(BLOCKS / 2), BLOCKS - 3, BLOCKS - 1].concat(Array.from({ length: 26 }, (_, i) => Math.floor((i * 7919 * 13) % BLOCKS)))
  const texts: string[] = []
  let createMs = 0
  for (const index of indexes) {
    const t0 = performance.now()
    const proof = await createInclusionProof(core, index)
    createMs += performance.now() - t0
    texts.push(inclusionProofToJSON(proof))
  }
  const sizes = texts.map(s => Buffer.byteLength(s))
  line('inclusion proof JSON bytes (min / mean / max)', `${Math.min(...sizes)} / ${Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length)} / ${Math.max(...sizes)}`)
  line('inclusion proof create, ms (mean)', (createMs / indexes.length).toFixed(3))
  line('inclusion proof verify from JSON text, ms (mean)', timeMs(RUNS, i => verifyInclusionProof(texts[i % texts.length])).toFixed(3))
  const parsed = texts.map(s => JSON.parse(s) as unknown)
  line('inclusion proof verify from parsed object, ms (mean)', timeMs(RUNS, i => verifyInclusionProof(parsed[i % parsed.length])).toFixed(3))

  // Consistency proof from the recorded head to the head one block later.
  const old = await captureSignedHead(core)
  await core.append(Buffer.from('one more'))
  const consistency = await createConsistencyProof(core, old.length)
  const cText = JSON.stringify(consistency)
  line(`consistency proof (${old.length} -> ${old.length + 1}) JSON bytes`, String(Buffer.byteLength(cText)))
  line('consistency proof verify, ms (mean)', timeMs(RUNS, () => verifyConsistencyProof(cText, { older: old })).toFixed(3))

  // Equivocation proof: a second core with the same key pair and other data.
  const twin = new Hypercore(dirs[1], { keyPair: core.keyPair })
  await twin.ready()
  await twin.append(Array.from({ length: 10 }, (_, i) => Buffer.from(`other ${i}`)))
  const fork = await logForkProofFromConflict(core, await captureSignedHead(twin))
  const fText = JSON.stringify(fork.toJSON())
  line(`log fork proof (10 vs ${core.length} blocks) JSON bytes`, String(Buffer.byteLength(fText)))
  line('log fork proof verify, ms (mean)', timeMs(RUNS, () => verifyLogForkProof(fText)).toFixed(3))
  line('manifest', JSON.stringify(coreManifest(core)).length + ' bytes of JSON')

  await twin.close()
  await core.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}

if (import.meta.url === `file://${process.argv[1]}`) await runProofsBench()
