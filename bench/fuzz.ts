// npm run fuzz [-- --seed N --entries N]: what a hostile participant can do to the
// executor (issue 20). Not part of `npm test`: it prints figures.
//
// 1. garbage: N entries (default 100,000) of every kind in test/fixtures/hostile-entries.ts,
//    appended raw to the executor's own oplog in chunks, while an honest oplog keeps
//    appending. Prints the acks by code, the time, peak RSS and the verify result; exits
//    1 when an entry is not acked as its kind allows, an honest op is not processed, or
//    verify fails.
// 2. flood (each in a child process, so that its peak RSS is its own): 40 entries of 4 MB
//    (over maxOpBytes) and 40 entries of exactly maxOpBytes (1 MiB) appended to a database
//    and executed; beside it the same appends into a plain Corestore (the ceiling).
import { spawnSync } from 'child_process'
import { mkdtempSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { fileURLToPath } from 'url'
import Corestore from 'corestore'
import { Database, DEFAULT_MAX_OP_BYTES, readShippedContract, type Oplog } from '../src/index.js'
import { HOSTILE_KINDS, allowed, honestOp, opOfSize, prng, type HostileKind } from '../test/fixtures/hostile-entries.js'

const args = process.argv.slice(2)
const arg = (name: string, dflt: number): number => { const i = args.indexOf(`--${name}`); return i === -1 ? dflt : Number(args[i + 1]) }
const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0)
const peakRss = (): number => process.resourceUsage().maxRSS * 1024

if (args[0] === 'flood') await flood(args[1] === 'plain')
else await main()

async function main (): Promise<void> {
  const seed = arg('seed', 1)
  const entries = arg('entries', 100_000)
  console.log(`vitra fuzz: seed ${seed}, ${entries.toLocaleString('en-US')} entries`)
  const ok = await garbage(seed, entries)
  console.log('\nflood: 40 × 4 MB entries (over maxOpBytes) and 40 × 1 MiB (= maxOpBytes), 10 per append')
  for (const mode of ['plain', 'vitra']) {
    const r = spawnSync(process.execPath, ['--no-node-snapshot', fileURLToPath(import.meta.url), 'flood', mode], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    process.stdout.write(r.stdout)
    if (r.status !== 0) { console.log(`  ${mode}: exit ${String(r.status)}`); process.exitCode = 1 }
  }
  if (!ok) process.exitCode = 1
}

async function garbage (seed: number, entries: number): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'vitra-fuzz-'))
  const db = await Database.create(dir, { contract: { source: readShippedContract('kv-store') } })
  let failures = 0
  try {
    await (await db.call('put', { key: 'first', value: 0 })).whenProcessed()
    const honest = await db.createOplog()
    await (await db.call('addParticipant', { pubkey: honest.hex })).whenProcessed()
    await db.refresh()
    const warnings: string[] = []
    db.on('warning', (w: Error) => warnings.push(w.message))
    const hostile = db.localOplog as Oplog
    const rand = prng(seed)
    const light = HOSTILE_KINDS.filter(k => k.heavy !== true)
    const heavy = HOSTILE_KINDS.filter(k => k.heavy === true)
    const kinds: HostileKind[] = []
    const first = hostile.length
    const started = Date.now()
    let honestOps = 0
    const CHUNK = 1000
    for (let i = 0; i < entries; i += CHUNK) {
      const blocks: Buffer[] = []
      for (let j = i; j < Math.min(entries, i + CHUNK); j++) {
        const kind = rand() < 0.0005 ? heavy[Math.floor(rand() * heavy.length)] : light[Math.floor(rand() * light.length)]
        kinds.push(kind)
        blocks.push(kind.make(rand))
      }
      await hostile.core.append(blocks)
      await honest.core.append(honestOp(`h${honestOps}`, honestOps))
      honestOps++
    }
    await db.executor?.sync()
    const ms = Date.now() - started
    const byCode = new Map<string, number>()
    const wrong: string[] = []
    for (let i = 0; i < kinds.length; i++) {
      const ack = (await db.index.getAck(hostile.hex, first + i))?.ack
      const code = ack === undefined ? 'NOT ACKED' : ack.success ? 'ok' : ack.errorCode ?? '?'
      byCode.set(code, (byCode.get(code) ?? 0) + 1)
      if (ack === undefined || !allowed(kinds[i], ack)) wrong.push(`${kinds[i].name} → ${code}`)
    }
    let honestOk = 0
    for (let s = 0; s < honestOps; s++) if ((await db.index.getAck(honest.hex, s))?.ack.success === true) honestOk++
    console.log(`\ngarbage: ${kinds.length.toLocaleString('en-US')} entries acked in ${(ms / 1000).toFixed(1)} s (${Math.round(kinds.length / (ms / 1000)).toLocaleString('en-US')}/s), peak RSS ${mb(peakRss())} MB`)
    for (const [code, n] of [...byCode].sort((a, b) => b[1] - a[1])) console.log(`  ${code.padEnd(24)} ${n.toLocaleString('en-US')}`)
    console.log(`  honest ops processed meanwhile: ${honestOk} of ${honestOps}`)
    console.log(`  warnings: ${warnings.length}${warnings.length > 0 ? ` (first: ${warnings[0]})` : ''}`)
    if (wrong.length > 0) { console.log(`  UNEXPECTED: ${wrong.length} (first: ${wrong.slice(0, 5).join('; ')})`); failures++ }
    if (honestOk !== honestOps) failures++
    const v0 = Date.now()
    try {
      const { length } = await db.verify()
      console.log(`  verify: valid, index length ${length.toLocaleString('en-US')}, in ${((Date.now() - v0) / 1000).toFixed(1)} s`)
    } catch (err) {
      console.log(`  verify: FAILED: ${(err as Error).message}`)
      failures++
    }
  } finally {
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  }
  return failures === 0
}

/** One flood, in its own process: `plain` appends to a bare Corestore; otherwise to a database whose executor runs them. */
async function flood (plain: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vitra-flood-'))
  const chunks: Array<() => Buffer[]> = []
  for (let i = 0; i < 4; i++) chunks.push(() => Array.from({ length: 10 }, () => opOfSize(4 * 1024 * 1024)))
  for (let i = 0; i < 4; i++) chunks.push(() => Array.from({ length: 10 }, () => opOfSize(DEFAULT_MAX_OP_BYTES)))
  const started = Date.now()
  try {
    if (plain) {
      const store = new Corestore(dir)
      const core = store.get({ name: 'flood' })
      await core.ready()
      for (const make of chunks) await core.append(make())
      await store.close()
      console.log(`  plain Corestore append:    peak RSS ${mb(peakRss())} MB (${((Date.now() - started) / 1000).toFixed(1)} s)`)
      return
    }
    const db = await Database.create(dir, { contract: { source: readShippedContract('kv-store') } })
    try {
      await (await db.call('put', { key: 'first', value: 0 })).whenProcessed()
      const oplog = db.localOplog as Oplog
      for (const make of chunks) await oplog.core.append(make())
      await db.executor?.sync()
      const codes = new Map<string, number>()
      for (let s = 1; s < oplog.length; s++) {
        const ack = (await db.index.getAck(oplog.hex, s))?.ack
        const code = ack === undefined ? 'NOT ACKED' : ack.success ? 'ok' : ack.errorCode ?? '?'
        codes.set(code, (codes.get(code) ?? 0) + 1)
      }
      const ms = Date.now() - started
      console.log(`  vitra append + execute:    peak RSS ${mb(peakRss())} MB (${(ms / 1000).toFixed(1)} s); acks ${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}`)
      if (codes.get('OP_TOO_LARGE') !== 40 || codes.get('ok') !== 40) process.exitCode = 1
    } finally {
      await db.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
