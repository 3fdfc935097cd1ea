// npm run profile: where the time of the hot paths goes, from V8's CPU profiler
// (node:inspector, the same samples as --cpu-prof), grouped by what the code is:
// serial reads (`await db.call('get')` in a loop), the executor alone (ops already in
// the oplog) and a full verification of what it wrote. Prints a table per path: self
// time by part, then the functions with the most self time. Not a test: it prints numbers
// (README, "Performance", "Where the time goes" is this output).
import { writeFileSync } from 'fs'
import { Session } from 'inspector/promises'
import { join } from 'path'
import { performance } from 'perf_hooks'
import { Database, StorageInMemory, readShippedContract } from '../src/index.js'

let saved = 0
const READS = Number(process.env.PROFILE_READS ?? 20_000)
const OPS = Number(process.env.PROFILE_OPS ?? 20_000)

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

/** isolated-vm's native methods: the time spent in them is the isolate's (the contract and the copies into it). */
const ISOLATE_NATIVES = new Set(['applySync', 'applySyncPromise', 'apply', 'applyIgnored', 'runSync', 'run', 'copy', 'copySync', 'dispose', 'Isolate', 'get cpuTime', 'get wallTime', 'get isDisposed', 'compileScriptSync', 'compileModuleSync', 'instantiateSync', 'evaluateSync'])
const BUFFER_NATIVES = /^(compare|utf8Slice|utf8Write|hexSlice|hexWrite|latin1Slice|base64Slice|isAnyArrayBuffer|byteLengthUtf8|copy|fill|indexOf.*)$/

/** What a sampled frame belongs to, by its script (or, for native code, its name). */
function partOf (f: CallFrame): string {
  const u = f.url
  if (f.functionName === '(garbage collector)') return 'garbage collection'
  if (f.functionName === '(idle)') return 'idle (waiting for storage threads, timers)'
  if (f.functionName === '(program)') return 'V8 itself (compiling, ICs)'
  if (u.includes('/dist/sandbox/') || u.includes('isolated-vm')) return 'sandbox (entering the isolate, the contract)'
  if (u === '') { // native code, known by its name
    if (ISOLATE_NATIVES.has(f.functionName)) return 'sandbox (entering the isolate, the contract)'
    if (f.functionName === 'dispatch') return 'the profiler itself'
    if (f.functionName === 'runMicrotasks') return 'Node.js internals (buffers, promises, streams)'
    if (BUFFER_NATIVES.test(f.functionName)) return 'Node.js internals (buffers, promises, streams)'
    // N-API calls share one entry point: V8 names them unreliably (the same samples came out
    // as quickbit_napi_skip_last in one run and crypto_secretbox_detached in the next)
    return 'native addons (RocksDB, sodium, bitfields: N-API calls)'
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]
  if (pkg !== undefined) {
    if (pkg === 'hyperbee') return 'hyperbee'
    if (pkg.startsWith('hypercore') || pkg === 'flat-tree' || pkg === 'corestore') return 'hypercore, its storage and Merkle tree'
    if (pkg === 'rocksdb-native') return 'rocksdb-native (its JS)'
    if (pkg === 'sodium-native' || pkg === 'sodium-universal') return 'hashing and signatures (sodium)'
    return 'other packages (encodings, buffers)'
  }
  if (u.includes('/dist/src/')) return 'vitra (src/: executor, calls, proofs, encodings)'
  if (u.startsWith('node:')) return 'Node.js internals (buffers, promises, streams)'
  return 'other'
}

async function profiled (session: Session, fn: () => Promise<number>): Promise<{ rate: number, profile: Profile }> {
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 100 })
  await session.post('Profiler.start')
  const rate = await fn()
  const { profile } = await session.post('Profiler.stop') as { profile: Profile }
  // PROFILE_SAVE=<dir>: keep each profile (.cpuprofile: Chrome's DevTools open it)
  const save = process.env.PROFILE_SAVE
  if (save !== undefined) writeFileSync(join(save, `vitra-${++saved}.cpuprofile`), JSON.stringify(profile))
  return { rate, profile }
}

function report (title: string, rate: string, profile: Profile): void {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parts = new Map<string, number>()
  const fns = new Map<string, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    const f = (byId.get(id) as ProfileNode).callFrame
    const part = partOf(f)
    parts.set(part, (parts.get(part) ?? 0) + dt)
    const where = f.url === '' ? '' : ` ${f.url.replace(/^.*\/(node_modules|dist)\//, '')}:${f.lineNumber + 1}`
    const name = part.startsWith('native addons') ? '(an N-API call: V8 does not tell which)' : `${f.functionName === '' ? '(anonymous)' : f.functionName}${where}`
    fns.set(name, (fns.get(name) ?? 0) + dt)
    total += dt
  })
  const pct = (t: number): string => `${(100 * t / total).toFixed(1).padStart(5)} %`
  console.log(`\n${title}: ${rate}`)
  for (const [k, t] of [...parts].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(t)}  ${k}`)
  console.log('  the functions with the most self time:')
  for (const [k, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${pct(t)}  ${k}`)
}

async function main (): Promise<void> {
  console.log(`vitra profile — node ${process.version}; CPU samples every 100 µs, self time by part`)
  const session = new Session()
  session.connect()
  const db = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') } })
  try {
    // the executor alone: ops appended first, then executed in batches
    await db.localOplog?.appendMany(Array.from({ length: OPS }, () => ({ op: 'INCREMENT', amount: 1 })))
    const exec = await profiled(session, async () => {
      const start = performance.now()
      db.executor?.schedule()
      await db.executor?.sync()
      return OPS / ((performance.now() - start) / 1000)
    })
    for (let i = 0; i < 2_000; i++) await db.call('get') // warm the read path before it is measured
    const reads = await profiled(session, async () => {
      const start = performance.now()
      for (let i = 0; i < READS; i++) await db.call('get')
      return READS / ((performance.now() - start) / 1000)
    })
    const verify = await profiled(session, async () => {
      const start = performance.now()
      await db.verify()
      return db.index.length / ((performance.now() - start) / 1000)
    })
    report(`serial reads, await db.call('get') one at a time (${READS.toLocaleString('en-US')})`, `${Math.round(reads.rate).toLocaleString('en-US')} calls/s under the profiler`, reads.profile)
    report(`the executor alone, ${OPS.toLocaleString('en-US')} counter ops already in the oplog`, `${Math.round(exec.rate).toLocaleString('en-US')} ops/s under the profiler`, exec.profile)
    report('a full verification of that index (db.verify())', `${Math.round(verify.rate).toLocaleString('en-US')} index entries/s under the profiler`, verify.profile)
  } finally {
    await db.close()
    session.disconnect()
  }
}

main().catch(err => { console.error(err); process.exit(1) })
