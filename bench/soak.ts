// npm run soak: kill -9 soak with a remote writer (issue 32). An executor process is
// killed with SIGKILL at random moments (SOAK_KILLS times, default 50) and restarted on
// the same storage, while a participant in another process keeps appending ops over a
// local DHT testnet on 127.0.0.1. At the end: every op acked exactly once, in order,
// every value as written, and the participant's full replay verifies. Not in npm test
// (it takes minutes); it prints figures and exits 1 on any loss.
import { spawn, type ChildProcess } from 'child_process'
import { mkdtempSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { fileURLToPath } from 'url'
import createTestnet from 'hyperdht/testnet.js'
import { performance } from 'perf_hooks'

const KILLS = Number(process.env.SOAK_KILLS ?? 50)
const EVERY_MS = Number(process.env.SOAK_EVERY_MS ?? 5)
const FIXTURES = fileURLToPath(new URL('../test/fixtures/', import.meta.url))

interface Message { id?: number, ok?: boolean, result?: unknown, error?: { message: string, code: string | null }, event?: string, data?: any }

/** A net-* fixture process (test/fixtures/net-common.ts: commands over IPC, events back). */
class Child {
  readonly proc: ChildProcess
  private nextId = 1
  private readonly calls = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  private readonly waiters = new Set<(m: Message) => void>()
  exited = false
  stderr = ''
  /** The last events other than batches (warnings, forks, network), for a failure's message. */
  readonly recent: string[] = []

  constructor (readonly role: string, args: string[], bootstrap: unknown) {
    this.proc = spawn(process.execPath, ['--no-node-snapshot', join(FIXTURES, `net-${role}.js`), ...args], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, VITRA_TEST_BOOTSTRAP: JSON.stringify(bootstrap) }
    })
    this.proc.stderr?.on('data', d => { this.stderr = (this.stderr + String(d)).slice(-4000) })
    this.proc.stdout?.on('data', d => { this.stderr = (this.stderr + String(d)).slice(-4000) }) // Hypercore prints conflicts on stdout
    this.proc.on('message', (m: Message) => {
      if (m.id !== undefined) {
        const c = this.calls.get(m.id)
        this.calls.delete(m.id)
        if (m.ok === true) c?.resolve(m.result)
        else c?.reject(Object.assign(new Error(`${role}: ${m.error?.message ?? '?'}`), { code: m.error?.code }))
      } else {
        if (m.event !== 'batch' && m.event !== 'written') this.recent.push(`${m.event ?? '?'} ${JSON.stringify(m.data).slice(0, 300)}`)
        if (this.recent.length > 20) this.recent.shift()
        for (const w of [...this.waiters]) w(m)
      }
    })
    this.proc.on('exit', () => {
      this.exited = true
      for (const c of this.calls.values()) c.reject(new Error(`${role} exited: ${this.stderr.slice(-500)}`))
      this.calls.clear()
    })
  }

  async call (cmd: string, args: unknown = {}, ms = 120_000): Promise<any> {
    const id = this.nextId++
    return await within(new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject })
      this.proc.send({ id, cmd, args })
    }), ms, `${this.role}.${cmd}`)
  }

  /** The next event `name` whose data passes `pred`. */
  async next (name: string, pred: (d: any) => boolean = () => true, ms = 60_000): Promise<any> {
    return await within(new Promise(resolve => {
      const w = (m: Message): void => { if (m.event === name && pred(m.data)) { this.waiters.delete(w); resolve(m.data) } }
      this.waiters.add(w)
    }), ms, `${this.role} waiting for ${name}: stderr ${this.stderr.slice(-500)}; events ${this.recent.join(' | ')}`)
  }

  async kill (): Promise<void> {
    if (this.exited) return
    const gone = new Promise(resolve => this.proc.once('exit', resolve))
    this.proc.kill('SIGKILL')
    await gone
  }
}

async function within<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms) })
  try { return await Promise.race([p, late]) } finally { clearTimeout(timer) }
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
function line (name: string, value: string): void { console.log(`${name.padEnd(52)} ${value}`) }
function pct (xs: number[], p: number): number { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))] }

async function main (): Promise<number> {
  const started = performance.now()
  const root = mkdtempSync(join(tmpdir(), 'vitra-soak-'))
  const net = await createTestnet(3, { host: '127.0.0.1' })
  const children: Child[] = []
  const spawnChild = (role: string, args: string[]): Child => {
    const child = new Child(role, args, net.bootstrap)
    children.push(child)
    return child
  }
  const start = async (role: string, args: string[]): Promise<{ child: Child, ready: any }> => {
    const child = spawnChild(role, args)
    return { child, ready: await child.next('ready', () => true, 90_000) }
  }
  let failures = 0
  const check = (ok: boolean, what: string): void => { if (!ok) failures++; line(`${ok ? 'ok  ' : 'FAIL'} ${what}`, '') }
  try {
    const execDir = join(root, 'executor')
    let { child: exec, ready } = await start('executor', [execDir])
    const pubkey = ready.pubkey as string
    const { child: part } = await start('participant', [join(root, 'participant'), pubkey])
    const oplog = await part.call('createOplog') as string
    await exec.call('add', { pubkey: oplog })
    await part.call('waitParticipant')
    console.log(`vitra soak: ${KILLS} SIGKILLs of the executor while a participant in another process appends an op every ${EVERY_MS} ms (local testnet on 127.0.0.1)`)
    await part.call('startWriting', { everyMs: EVERY_MS })
    const restarts: number[] = []
    const upFor: number[] = []
    for (let k = 0; k < KILLS; k++) {
      // the executor runs for a random while, then dies wherever it is: between batches,
      // inside one, or while it writes a batch to disk
      const ms = 50 + Math.floor(Math.random() * 1200)
      upFor.push(ms)
      await sleep(ms)
      await exec.kill()
      // restarted on the same storage: back when it executes ops again (its 'ready' waits for a full DHT flush)
      const t0 = performance.now()
      exec = spawnChild('executor', [execDir])
      await exec.next('batch', d => d.ops > 0, 120_000)
      restarts.push(performance.now() - t0)
      if ((k + 1) % 10 === 0 || process.env.SOAK_VERBOSE === '1') console.log(`  ${k + 1} kills (executing again ${restarts[restarts.length - 1].toFixed(0)} ms after the restart)`)
    }
    const writeStop = performance.now()
    const n = await part.call('stopWriting', {}, 300_000) as number
    const drain = performance.now() - writeStop
    const { seqs, oplogLength } = await part.call('ackHistory', {}, 300_000) as { seqs: number[], oplogLength: number }
    const wrong = await part.call('checkValues', { n }, 300_000) as unknown[]
    const t0 = performance.now()
    const verified = await part.call('verify', {}, 600_000) as { length: number | null, code: string | null }
    const verifyMs = performance.now() - t0
    line('kills (SIGKILL) of the executor', String(KILLS))
    line('ops written by the remote participant', String(n))
    line('executor up between kills: p50 / max (ms)', `${pct(upFor, 0.5)} / ${Math.max(...upFor)}`)
    line('restart until it executes again: p50 / p99 (ms)', `${pct(restarts, 0.5).toFixed(0)} / ${pct(restarts, 0.99).toFixed(0)}`)
    line('last op acked after writing stopped (ms)', drain.toFixed(0))
    line('full replay by the participant (ms)', `${verifyMs.toFixed(0)} (index length ${verified.length ?? '?'})`)
    check(oplogLength === n, `the oplog holds every op written (${oplogLength} of ${n})`)
    check(seqs.length === n && seqs.every((s, i) => s === i), `one ack per op in the whole index history, in order, none twice (${seqs.length} acks)`)
    check(wrong.length === 0, `every value k<i> = i (${wrong.length} wrong)`)
    check(verified.code === null, `the participant's replay verifies (${verified.code ?? 'valid'})`)
  } finally {
    for (const c of children) await c.kill()
    await net.destroy()
    rmSync(root, { recursive: true, force: true })
    line('wall time (s)', ((performance.now() - started) / 1000).toFixed(1))
  }
  return failures === 0 ? 0 : 1
}

process.exitCode = await main()
