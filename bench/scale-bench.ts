// npm run bench:scale (issue 27: flat memory and lean disk): a counter database on
// disk grown by db.call (1,000 in flight, no op proofs) to BENCH_SCALE_OPS ops (default
// 1,000,000), printing at 100k, 300k and the end:
//   - RSS after a forced GC, the JS heap, and the throughput of the last window against
//     the first 25,000 ops;
//   - bytes on disk per op, and where they go: op blocks, index blocks (ack + write),
//     Merkle tree nodes (40 bytes per node, two per block), the rest (RocksDB and its
//     overheads); the ack and write blocks split into key, value, tree and framing, and
//     the ack's size in version 2's binary layout (whitepaper/protocol.md §4.1);
// then, each in a fresh process, as an auditor runs it: a full verify (peak RSS) and a
// monitor that resumes from a checkpoint taken at the end (time to resume); and last,
// the executor phase again in a fresh process with the malloc settings bin/vitra.js uses
// (src/db/allocator-env.ts); a fresh database grown to 300,000 ops and verified in the
// same process (peak RSS), once as plain Node and once with those settings.
// Figures only; not a test. Not part of npm test or npm run bench.
import { execFileSync, spawnSync } from 'child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { performance } from 'perf_hooks'
import { fileURLToPath } from 'url'
import type Hypercore from 'hypercore'
import { beeNode } from '../src/proofs/bee/bee-schema.js'
import { encodeAckV2 } from '../src/format/ack-v2.js'
import { decodeAck, parseAckKey } from '../src/format/schemas.js'
import { Database, readShippedContract } from '../src/index.js'
import { ALLOCATOR_ENV } from '../src/db/allocator-env.js'

const OPS = Number(process.env.BENCH_SCALE_OPS ?? 1_000_000)
const MARKS = [100_000, 300_000, 1_000_000, OPS].filter((m, i, a) => m <= OPS && a.indexOf(m) === i).sort((a, b) => a - b)
const WINDOW = 25_000
const BOTH_OPS = Math.min(OPS, 300_000)
const IN_FLIGHT = 1_000
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0)
const line = (name: string, value: string): void => { console.log(`${name.padEnd(64)} ${value}`) }
const gc = (globalThis as { gc?: () => void }).gc

function diskBytes (dir: string): number {
  return Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0])
}

/** Run `code` (an ES module body) in a fresh Node process; returns its stdout and its peak RSS. */
function fresh (code: string, env: Record<string, string> = {}): { out: string, maxRssMb: number } {
  const file = join(tmpdir(), `vitra-scale-${process.pid}-${Math.random().toString(16).slice(2)}.mjs`)
  writeFileSync(file, code + `\nconsole.log('MAXRSS', process.resourceUsage().maxRSS)\n`)
  try {
    const r = spawnSync(process.execPath, ['--no-node-snapshot', '--expose-gc', file], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, env: { ...process.env, ...env } })
    if (r.status !== 0) throw new Error(`fresh process failed: ${r.stderr}`)
    const m = /MAXRSS (\d+)/.exec(r.stdout)
    return { out: r.stdout, maxRssMb: m === null ? NaN : Number(m[1]) / 1024 }
  } finally {
    rmSync(file, { force: true })
  }
}

/** Index blocks sampled for the split of an index block into its parts. */
const SAMPLE = 20_000
interface Parts { n: number, total: number, key: number, value: number, tree: number, v2: number }

/** The last `count` index blocks split into Hyperbee's parts: key, value, tree index, framing; acks and writes apart. */
async function indexBlockParts (core: Hypercore, count: number): Promise<{ ack: Parts, write: Parts }> {
  const zero = (): Parts => ({ n: 0, total: 0, key: 0, value: 0, tree: 0, v2: 0 })
  const out = { ack: zero(), write: zero() }
  const ACKS = Buffer.from('.sys\0acks\0')
  for (let seq = Math.max(1, core.length - count); seq < core.length; seq++) {
    const block = await core.get(seq) as Buffer
    const node = beeNode.decode(block)
    const p = node.key.subarray(0, ACKS.length).equals(ACKS) ? out.ack : out.write
    p.n++
    p.total += block.byteLength
    p.key += node.key.byteLength
    p.value += node.value?.byteLength ?? 0
    p.tree += node.index?.byteLength ?? 0
    // the same ack as version 2 would write it (whitepaper/protocol.md §4.1)
    if (p === out.ack && node.value !== null && node.value !== undefined && parseAckKey(node.key.toString('utf8')) !== null) p.v2 += encodeAckV2({ ...decodeAck(node.value), v: 2 }).byteLength
  }
  return out
}

const dir = mkdtempSync(join(tmpdir(), 'vitra-scale-'))
const src = fileURLToPath(new URL('../src/index.js', import.meta.url))

/** A fresh-process script that opens the bench's database as a reader (no executor), runs `body` on `db`, and closes it. */
function loadedScript (body: string): string {
  return `import { Database } from ${JSON.stringify(src)}
const db = await Database.load(${JSON.stringify(dir)}, undefined, { executor: false })
${body}
await db.close()`
}

/**
 * A fresh-process script: a new counter database in a temporary directory, grown by
 * db.call to each of `marks` in turn, running `atMark` (which sees `mark`) at each and
 * `after` once grown; the directory is removed at the end.
 */
function growScript (marks: number[], atMark: string, after: string): string {
  return `import { mkdtempSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { Database, readShippedContract } from ${JSON.stringify(src)}
const dir = mkdtempSync(join(tmpdir(), 'vitra-scale-fresh-'))
try {
  const db = await Database.create(dir, { contract: { source: readShippedContract('counter') } })
  let next = 0
  for (const mark of ${JSON.stringify(marks)}) {
    await Promise.all(Array.from({ length: ${IN_FLIGHT} }, async () => { while (next < mark) { next++; await db.call('increment', {}, { proofs: false }) } }))
    await db.executor?.sync()
    ${atMark}
  }
  ${after}
  await db.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}`
}
try {
  console.log(`vitra scale bench — node ${process.version}, ${fmt(OPS)} counter increments on disk, ${IN_FLIGHT} in flight`)
  const db = await Database.create(dir, { contract: { source: readShippedContract('counter') } })
  let done = 0
  let windowStart = performance.now()
  let firstRate = 0
  let lastRate = 0
  for (const mark of MARKS) {
    while (done < mark) {
      const n = Math.min(WINDOW, mark - done)
      let next = 0
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => { while (next < n) { next++; await db.call('increment', {}, { proofs: false }) } }))
      await db.executor?.sync()
      done += n
      const now = performance.now()
      lastRate = n / ((now - windowStart) / 1000)
      if (firstRate === 0) firstRate = lastRate
      windowStart = now
    }
    gc?.()
    const m = process.memoryUsage()
    line(`at ${fmt(mark)} ops: RSS / JS heap (MB)`, `${mb(m.rss)} / ${mb(m.heapUsed)}`)
    line('    last window / first 25,000 ops (ops/s)', `${fmt(lastRate)} / ${fmt(firstRate)} (${(lastRate / firstRate).toFixed(2)})`)
  }
  line('executor phase: peak RSS (MB)', fmt(process.resourceUsage().maxRSS / 1024))
  // disk: where the bytes go
  const oplog = db.localOplog?.core
  const index = db.index.core
  const total = diskBytes(join(dir, 'corestore'))
  const opBytes = oplog?.byteLength ?? 0
  const indexBytes = index.byteLength
  const merkle = ((oplog?.length ?? 0) + index.length) * 2 * 40
  line('bytes on disk per op (target for a version 2 database ≤ 550)', fmt(total / OPS))
  line('    op blocks / index blocks (ack + write) / Merkle nodes / the rest', [opBytes, indexBytes, merkle, total - opBytes - indexBytes - merkle].map(b => fmt(b / OPS)).join(' / '))
  const blocks = await indexBlockParts(index, SAMPLE)
  for (const kind of ['ack', 'write'] as const) {
    const b = blocks[kind]
    line(`    ${kind} block, mean of the last ${fmt(SAMPLE)} index blocks: key / value / tree / framing`, `${fmt(b.total / b.n)} = ${[b.key, b.value, b.tree, b.total - b.key - b.value - b.tree].map(x => (x / b.n).toFixed(0)).join(' / ')}`)
  }
  line('    an ack\'s value as stored / the same ack in version 2\'s binary form', `${fmt(blocks.ack.value / blocks.ack.n)} / ${fmt(blocks.ack.v2 / blocks.ack.n)}`)
  const checkpoint = join(dir, 'checkpoint.json')
  await db.close()

  // a fresh-process verify, as an auditor runs it
  const verify = fresh(loadedScript(`const t = performance.now()
const r = await db.verify()
console.log('VERIFIED', r.length, Math.round(performance.now() - t))`))
  const v = /VERIFIED (\d+) (\d+)/.exec(verify.out)
  line(`verify in a fresh process: peak RSS (MB) / time (s)`, `${fmt(verify.maxRssMb)} / ${v === null ? '?' : (Number(v[2]) / 1000).toFixed(1)}`)

  // a monitor that verifies everything and checkpoints, then one that resumes from it
  fresh(loadedScript(`const m = await db.monitor({ checkpointFile: ${JSON.stringify(checkpoint)} })
await m.close()`))
  const resume = fresh(loadedScript(`const t = performance.now()
const m = await db.monitor({ checkpointFile: ${JSON.stringify(checkpoint)} })
console.log('RESUMED', m.verifiedLength, (performance.now() - t).toFixed(1))
await m.close()`))
  const r = /RESUMED (\d+) ([\d.]+)/.exec(resume.out)
  line('monitor resume from its checkpoint: time (ms) / verified length', r === null ? '?' : `${r[2]} / ${fmt(Number(r[1]))}`)

  // the executor phase again, in a fresh process with bin/vitra.js's malloc settings
  const launched = fresh(growScript(MARKS, `globalThis.gc()
    console.log('MARK', mark, process.memoryUsage().rss)`, ''), ALLOCATOR_ENV)
  const marks = [...launched.out.matchAll(/MARK (\d+) (\d+)/g)].map(m => `${mb(Number(m[2]))} at ${fmt(Number(m[1]))}`)
  line('executor phase as bin/vitra.js runs it (its malloc settings): RSS (MB)', `${marks.join(', ')}; peak ${fmt(launched.maxRssMb)}`)

  // the executor and then a full verify in one process, at 300,000 ops: as the library
  // runs in any Node process, and as the vitra command runs it (its malloc settings)
  const both = growScript([BOTH_OPS], `console.log('EXECUTOR', process.resourceUsage().maxRSS)`, `const r = await db.verify()
  console.log('VERIFIED', r.length)`)
  console.log(`executor then verify in one process, a fresh ${fmt(BOTH_OPS)}-op database:`)
  for (const [label, env] of [['plain node', {}], ['as bin/vitra.js (its malloc settings)', ALLOCATOR_ENV]] as const) {
    const run = fresh(both, env)
    const exec = /EXECUTOR (\d+)/.exec(run.out)
    line(`    ${label}: peak RSS (MB), executor / with verify`, `${exec === null ? '?' : fmt(Number(exec[1]) / 1024)} / ${fmt(run.maxRssMb)}`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
