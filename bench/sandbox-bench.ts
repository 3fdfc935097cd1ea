/**
 * Sandbox throughput: the counter contract's INCREMENT apply against an in-memory
 * Map index (the actions are written into the Map, as the executor would), and
 * `call('get')` both one at a time and with many calls in flight.
 * Run: node --no-node-snapshot dist/bench/sandbox-bench.js
 */
import ivm from 'isolated-vm'
import { ContractSandbox } from '../sandbox/index.js'
import type { CallContext, IndexReader, Json } from '../sandbox/index.js'
import { readShippedContract } from '../src/db/shipped-contracts.js'
import { memoryIndex } from '../test/fixtures/memory-index.js'

/** The shipped counter contract (contracts/counter.js). */
const COUNTER = readShippedContract('counter')

const mapIndex = (map: Map<string, Json>): IndexReader => memoryIndex(map)

async function timed (label: string, n: number, fn: () => Promise<void>): Promise<number> {
  const start = performance.now()
  await fn()
  const rate = n / ((performance.now() - start) / 1000)
  console.log(`${label}: ${Math.round(rate).toLocaleString('en-US')} /s (${n} runs)`)
  return rate
}

/** The machine's own ceilings, measured in the same run: bare isolated-vm round trips. */
async function ceilings (n: number): Promise<void> {
  const isolate = new ivm.Isolate({ memoryLimit: 32 })
  const context = await isolate.createContext()
  const noop = await context.eval('(function noop () { return 1 })', { reference: true }) as ivm.Reference<() => number>
  await timed('ceiling: bare async apply (thread hop), sequential', n, async () => {
    for (let i = 0; i < n; i++) await noop.apply(undefined, [], { result: { promise: true } })
  })
  await timed('ceiling: bare applySync x2', n, async () => {
    for (let i = 0; i < n; i++) { noop.applySync(undefined, []); noop.applySync(undefined, []) }
  })
  isolate.dispose()
}

async function main (): Promise<void> {
  const map = new Map<string, Json>()
  const index = mapIndex(map)
  const ctx: CallContext = { index, isWriter: true, oplog: null, listOplogs: async () => [], oplogLength: async () => 0, oplogGet: async () => null }
  const sandbox = new ContractSandbox(COUNTER)
  await sandbox.ready()
  const N = Number(process.env.N ?? 20000)

  // warm-up
  for (let i = 0; i < 2000; i++) await sandbox.call('get', null, ctx)
  await ceilings(N)

  await timed('apply INCREMENT (sequential, writes into the Map)', N, async () => {
    for (let seq = 0; seq < N; seq++) {
      const actions = await sandbox.apply({ op: 'INCREMENT', amount: 1 }, { origin: 'bench', seq, ts: seq, metadata: null }, { index })
      for (const a of actions) if (a.type === 'put') map.set(a.key, a.value)
    }
  })
  if (map.get('counter') !== N) throw new Error(`counter is ${String(map.get('counter'))}, expected ${N}`)

  await timed("call('get') sequential", N, async () => {
    for (let i = 0; i < N; i++) await sandbox.call('get', null, ctx)
  })

  await timed("call('get') 64 in flight", N, async () => {
    let next = 0
    const worker = async (): Promise<void> => { while (next++ < N) await sandbox.call('get', null, ctx) }
    await Promise.all(Array.from({ length: 64 }, worker))
  })

  await timed("call('increment') sequential (emit)", N, async () => {
    for (let i = 0; i < N; i++) await sandbox.call('increment', { amount: 1 }, ctx)
  })

  const asyncOnly = new ContractSandbox(COUNTER, { fastPath: false })
  await asyncOnly.ready()
  await timed("call('get') sequential, async path only", N, async () => {
    for (let i = 0; i < N; i++) await asyncOnly.call('get', null, ctx)
  })
  await timed('apply INCREMENT sequential, async path only', N, async () => {
    for (let seq = 0; seq < N; seq++) {
      const actions = await asyncOnly.apply({ op: 'INCREMENT', amount: 1 }, { origin: 'bench', seq, ts: seq, metadata: null }, { index })
      for (const a of actions) if (a.type === 'put') map.set(a.key, a.value)
    }
  })
  await asyncOnly.close()
  await sandbox.close()
}

await main()
