// Network tests: executor, participant, monitor and reader run as separate
// processes (test/fixtures/net-*.ts) that talk only through Hyperswarm, on a
// local HyperDHT testnet bound to 127.0.0.1. Nothing touches the public DHT.
// IPC between the test and each child carries commands and results only.
import test from 'brittle'
import type { Assertion } from 'brittle'
import { spawn, type ChildProcess } from 'child_process'
import { randomBytes } from 'crypto'
import { cpSync, readFileSync } from 'fs'
import { basename, join } from 'path'
import { fileURLToPath } from 'url'
import c from 'compact-encoding'
import Hypercore from 'hypercore'
import Hyperswarm from 'hyperswarm'
import HyperDHT from 'hyperdht'
import createTestnet from 'hyperdht/testnet.js'
import { eventually } from './helpers.js'
import { Database, StorageInMemory, verifyLogForkProof, verifyFraudProof, type TxResult } from '../src/index.js'

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
const BIN = fileURLToPath(new URL('../../bin/vitra.js', import.meta.url))
const LOOPBACK = '127.0.0.1'

interface Testnet { bootstrap: Array<{ host: string, port: number }> }
type Msg = { id?: number, ok?: boolean, result?: unknown, error?: { message: string, code: string | null }, event?: string, data?: any }

/** Children of the running test, for failure messages. */
const live = new Set<Child>()
function allDiagnostics (): string { return [...live].map(c => c.diagnostics()).join('') }

/** A fixture child process driven over IPC. */
class Child {
  readonly name: string
  readonly proc: ChildProcess
  readonly events: Array<{ event: string, data: any }> = []
  stderr = ''
  private nextId = 1
  private readonly calls = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  private readonly listeners = new Set<() => void>()
  exited = false

  constructor (name: string, proc: ChildProcess) {
    this.name = name
    this.proc = proc
    proc.stderr?.on('data', d => { this.stderr += String(d) })
    proc.stdout?.on('data', () => {})
    proc.on('message', (m: Msg) => this.onMessage(m))
    proc.on('exit', () => {
      this.exited = true
      for (const p of this.calls.values()) p.reject(new Error(`${this.name} exited: ${this.stderr.slice(-2000)}`))
      this.calls.clear()
      this.notify()
    })
  }

  private onMessage (m: Msg): void {
    if (m.event !== undefined) { this.events.push({ event: m.event, data: m.data }); this.notify(); return }
    const p = this.calls.get(m.id as number)
    if (p === undefined) return
    this.calls.delete(m.id as number)
    if (m.ok === true) p.resolve(m.result)
    else p.reject(Object.assign(new Error(`${this.name}: ${m.error?.message ?? '?'}`), { code: m.error?.code }))
  }

  private notify (): void { for (const l of [...this.listeners]) l() }

  /** Run a command in the child; rejects after `ms`. */
  call (cmd: string, args: unknown = {}, ms = 30_000): Promise<any> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`))
    const id = this.nextId++
    return withTimeout(new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject })
      this.proc.send({ id, cmd, args })
    }), ms, `${this.name}.${cmd}`, allDiagnostics)
  }

  /** The child's last events (batches left out) and stderr, for failure messages. */
  diagnostics (): string {
    const recent = this.events.filter(e => e.event !== 'batch' && e.event !== 'written').slice(-15)
    return `\n  ${this.name} events: ${JSON.stringify(recent).slice(0, 30000)}\n  ${this.name} stderr: ${this.stderr.slice(-1500)}`
  }

  /** The first event `name` (already received or to come) whose data passes `pred`. */
  waitFor (name: string, pred: (data: any) => boolean = () => true, ms = 30_000): Promise<any> {
    return withTimeout(new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.events.find(e => e.event === name && pred(e.data))
        if (hit !== undefined) { this.listeners.delete(check); resolve(hit.data) }
        else if (this.exited) { this.listeners.delete(check); reject(new Error(`${this.name} exited before '${name}': ${this.stderr.slice(-2000)}`)) }
      }
      this.listeners.add(check)
      check()
    }), ms, `${this.name} waiting for '${name}'`, allDiagnostics)
  }

  /** SIGKILL, resolved once the process is gone. */
  async kill (): Promise<void> {
    if (this.exited) return
    const gone = new Promise(resolve => this.proc.once('exit', resolve))
    this.proc.kill('SIGKILL')
    await gone
  }
}

function withTimeout<T> (p: Promise<T>, ms: number, what: string, details: () => string = () => ''): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms${details()}`)), ms) })
  return Promise.race([p, limit]).finally(() => clearTimeout(timer))
}

/** Start fixture `net-<role>.js` with `args`, killed at teardown; waits for its 'ready' event. */
async function start (t: Assertion, net: Testnet, role: string, args: string[]): Promise<{ child: Child, ready: any }> {
  const proc = spawn(process.execPath, ['--no-node-snapshot', `${FIXTURES}net-${role}.js`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, VITRA_TEST_BOOTSTRAP: JSON.stringify(net.bootstrap) }
  })
  const child = new Child(role, proc)
  live.add(child)
  t.teardown(async () => { await child.kill(); live.delete(child) })
  const ready = await child.waitFor('ready', () => true, 60_000)
  return { child, ready }
}

/** A local testnet on loopback, destroyed at teardown. */
async function testnet (t: Assertion): Promise<Testnet> {
  const net = await createTestnet(3, { host: LOOPBACK })
  t.teardown(() => net.destroy(), { order: Infinity })
  return net
}

function swarmOpts (net: Testnet): { swarm: true, bootstrap: Array<{ host: string, port: number }>, host: string } {
  return { swarm: true, bootstrap: net.bootstrap, host: LOOPBACK }
}

/** A client-only swarm peer on `topic` that runs `behave` on each connection (garbage), destroyed at teardown. */
async function badPeer (t: Assertion, net: Testnet, topic: Buffer, behave: (conn: any) => void): Promise<{ key: string, connections: () => number }> {
  const swarm = new Hyperswarm({ dht: new HyperDHT({ bootstrap: net.bootstrap, host: LOOPBACK, firewalled: false }) })
  t.teardown(() => swarm.destroy())
  let n = 0
  swarm.on('connection', (conn: any) => {
    n++
    conn.on('error', () => {})
    behave(conn)
  })
  swarm.join(topic, { server: false, client: true })
  await swarm.flush()
  return { key: swarm.keyPair.publicKey.toString('hex').slice(0, 8), connections: () => n }
}

/** Executor + participant processes; the participant is added by the admin and waits until it is active. */
async function executorAndParticipant (t: Assertion, net: Testnet): Promise<{ exec: Child, part: Child, pubkey: string, oplog: string, execDir: string }> {
  const t0 = Date.now()
  const execDir = await t.tmp()
  const { child: exec, ready } = await start(t, net, 'executor', [execDir])
  const t1 = Date.now()
  const { child: part } = await start(t, net, 'participant', [await t.tmp(), ready.pubkey])
  const t2 = Date.now()
  const oplog = await part.call('createOplog') as string
  const added = await exec.call('add', { pubkey: oplog }) as TxResult
  t.ok(added.success, 'admin added the participant')
  t.is(await part.call('waitParticipant'), oplog, 'participant sees itself active')
  t.comment(`executor up in ${t1 - t0} ms, participant loaded in ${t2 - t1} ms, active after ${Date.now() - t2} ms`)
  return { exec, part, pubkey: ready.pubkey, oplog, execDir }
}

test('network - load by pubkey on a fresh machine, read, then sync new writes', { timeout: 90_000 }, async t => {
  const net = await testnet(t)
  const { child: exec, ready } = await start(t, net, 'executor', [await t.tmp()])
  for (let i = 0; i < 3; i++) await exec.call('put', { key: `a${i}`, value: { i } })

  const started = Date.now()
  const db = await Database.load(new StorageInMemory(), ready.pubkey, { ...swarmOpts(net), timeout: 30_000 })
  t.teardown(() => db.close())
  t.comment(`loaded by pubkey over the swarm in ${Date.now() - started} ms`)
  t.ok(db.network !== null && db.network.connections.length >= 1, 'connected to the executor')
  t.alike((await db.call('get', { key: 'a1' })).response, { i: 1 }, 'contract get runs locally on the replicated index')
  t.is((await db.call('getAdmin')).response, (await db.index.inputs())[0].pubkey, 'admin is the creator\'s oplog')

  const length = await exec.call('put', { key: 'late', value: 'news' }) as number
  // sync() brings the newest head the peers have announced: the executor's announcement may still be in flight
  t.ok(await eventually(async () => { await db.sync(); return db.index.core.length >= length }, 10_000), 'sync() brought the new head')
  t.is((await db.call('get', { key: 'late' })).response, 'news')

  await db.unswarm()
  t.is(db.network, null, 'unswarm() left the swarm')
  const left = db.index.core.length
  await exec.call('put', { key: 'after', value: 1 })
  await new Promise(resolve => setTimeout(resolve, 500))
  await db.sync()
  t.is(db.index.core.length, left, 'no replication after unswarm')
  await db.swarm({ bootstrap: net.bootstrap, host: LOOPBACK })
  await db.network?.flushed()
  t.ok(await eventually(async () => { await db.sync(); return (await db.call('get', { key: 'after' })).response === 1 }, 20_000), 'swarm() again: replication resumes')
})

test('network - remote participant: op replicated to the executor, executed, ack and writes replicated back', { timeout: 90_000 }, async t => {
  const net = await testnet(t)
  const { part, oplog, exec } = await executorAndParticipant(t, net)
  const r = await part.call('put', { key: 'greeting', value: 'hello from afar' }) as { ms: number, ops: Array<{ oplog: string, seq: number }>, results: TxResult[] }
  t.comment(`remote op acked in ${r.ms} ms`)
  t.alike(r.ops, [{ oplog, seq: 0 }], 'op appended to the participant\'s own oplog')
  t.is(r.results.length, 1)
  t.ok(r.results[0].success, 'ack: success')
  t.alike(r.results[0].changes.map(ch => [ch.type, ch.path, ch.value]), [['put', '/values/greeting', 'hello from afar']], 'fetchResults() returns the writes')
  const ack = await exec.call('ackOf', { oplog, seq: 0 })
  t.is(ack?.origin, oplog, 'the executor\'s index holds the same ack')
  t.is(await part.call('get', { key: 'greeting' }), 'hello from afar', 'participant reads its own write back')
})

test('network - executor restarted while the participant keeps writing: every op acked exactly once', { timeout: 180_000 }, async t => {
  const net = await testnet(t)
  const { exec, part, execDir } = await executorAndParticipant(t, net)
  await part.call('startWriting', { everyMs: 5 })
  await part.waitFor('written', d => d.count >= 60)
  await exec.waitFor('batch', d => d.ops > 0)
  await exec.kill()
  t.pass('executor killed (SIGKILL) mid-stream')
  const before = part.events.filter(e => e.event === 'written').at(-1)?.data.count as number
  await new Promise(resolve => setTimeout(resolve, 1500))
  const { child: exec2 } = await start(t, net, 'executor', [execDir])
  t.pass('executor restarted on the same storage')
  const during = part.events.filter(e => e.event === 'written').at(-1)?.data.count as number
  t.ok(during > before, `participant kept writing while the executor was down (${before} → ${during})`)
  await exec2.waitFor('batch', d => d.ops > 0, 60_000)
  await new Promise(resolve => setTimeout(resolve, 500))
  const n = await part.call('stopWriting', {}, 120_000) as number
  t.comment(`${n} ops written`)
  const { seqs, oplogLength } = await part.call('ackHistory', {}, 60_000) as { seqs: number[], oplogLength: number }
  t.is(oplogLength, n, 'oplog holds every op')
  t.is(seqs.length, n, 'one ack put per op in the whole index history')
  t.ok(seqs.every((s, i) => s === i), 'acks are seq 0..n-1, in order, none twice')
  t.alike(await part.call('checkValues', { n }, 60_000), [], 'every value k<i> = i')
  const info = await exec2.call('info')
  t.ok(info.processed > 0 && info.processed < n, `the restarted executor processed the rest (${info.processed})`)
})

test('network - sparse read: one get on a remote index of 100,000 entries downloads < 100 blocks', { timeout: 180_000 }, async t => {
  const net = await testnet(t)
  const { child: exec, ready } = await start(t, net, 'executor', [await t.tmp()])
  const length = await exec.call('fill', { n: 100_000, batch: 5_000 }, 120_000) as number
  t.ok(length > 100_000, `remote index has ${length} blocks`)

  const key = Buffer.from(ready.pubkey, 'hex')
  let total = 0
  let counter: Hypercore | null = null
  const db = await Database.load(new StorageInMemory(), ready.pubkey, {
    ...swarmOpts(net),
    timeout: 30_000,
    onCorestore: store => { counter = store.get({ key }); counter.on('download', () => { total++ }) }
  })
  t.teardown(async () => { await counter?.close(); await db.close() })
  await db.sync()
  const afterLoad = total
  let forGet = 0
  const count = (): void => { forGet++ }
  db.index.core.on('download', count)
  const v = (await db.call('get', { key: 'k054321' })).response
  db.index.core.removeListener('download', count)
  t.is(v, 54321, 'value read through the contract')
  t.comment(`blocks downloaded: load + sync ${afterLoad}, the get ${forGet}, total ${total} of ${db.index.core.length}`)
  t.ok(forGet > 0 && forGet < 100, `one cold get downloaded ${forGet} blocks (< 100)`)
  t.ok(total < 400, `load + contract + inputs + get downloaded ${total} blocks, not the log`)
  t.ok(((await db.index.core.info()).contiguousLength as number) < 100, 'the log was not downloaded from the start')
})

test('network - a truncated and rewritten oplog is caught by the executor\'s replica as a LogForkFraudProof', { timeout: 90_000 }, async t => {
  const net = await testnet(t)
  const { exec, part, oplog } = await executorAndParticipant(t, net)
  for (let i = 0; i < 5; i++) await part.call('put', { key: `f${i}`, value: i })
  const truncated = await part.call('truncate', { length: 3 })
  t.alike(truncated, { length: 3, fork: 1 }, 'owner truncated its oplog (fork 1)')
  await part.call('appendRaw', { blocks: [Buffer.from('{"op":"PUT","key":"f3","value":"rewritten"}').toString('hex')] }).catch(() => null)
  const { proof, source } = await exec.waitFor('log-fork', d => d.source.key === oplog, 30_000)
  t.alike(source, { key: oplog, role: 'oplog' }, 'the executor\'s swarm reported the fork of that oplog')
  const v = verifyLogForkProof(JSON.stringify(proof), { key: oplog })
  t.is(v.kind, 'truncation', 'verified offline from the JSON alone: truncation')
  t.is(v.key.toString('hex'), oplog)
  t.alike(proof.heads.map((h: { fork: number }) => h.fork).sort(), [0, 1], 'the two signed heads: fork 0 and fork 1')
  const tampered = JSON.parse(JSON.stringify(proof))
  tampered.heads[1].length += 1
  t.exception(() => verifyLogForkProof(tampered), /signature/i, 'tampered proof is rejected')
})

/**
 * An oplog owner that shows two histories: op 3 is "history A" on its own storage
 * (executed), and `historyB` blocks on a copy of it made before (the same key pair).
 */
async function twoHistories (t: Assertion, net: Testnet, historyB: string[]): Promise<{ exec: Child, twin: Child, oplog: string, pubkey: string }> {
  const { exec, part, oplog, pubkey } = await executorAndParticipant(t, net)
  for (let i = 0; i < 3; i++) await part.call('put', { key: `e${i}`, value: i })
  const partDir = part.proc.spawnargs[part.proc.spawnargs.length - 2]
  await part.kill()
  // the same oplog key pair in two storages: each appends its own op 3
  const twinDir = await t.tmp()
  // (Corestore's device file guards against exactly this clone: a malicious owner leaves it behind)
  cpSync(partDir, twinDir, { recursive: true, filter: src => basename(src) !== 'CORESTORE' })
  const { child: first } = await start(t, net, 'participant', [partDir, pubkey])
  const r = await first.call('put', { key: 'e3', value: 'history A' })
  t.ok(r.results[0].success, 'history A: op 3 executed')
  await first.kill()
  // history B is written offline (online, the twin would first fast-forward to history A from its peers)
  const offline = await Database.load(twinDir)
  await offline.localOplog?.core.append(historyB.map(b => Buffer.from(JSON.stringify({ op: 'PUT', key: 'e3', value: b }))))
  await offline.close()
  const { child: twin } = await start(t, net, 'participant', [twinDir, pubkey])
  return { exec, twin, oplog, pubkey }
}

test('network - an oplog owner showing two histories (equivocation) is caught as a LogForkFraudProof', { timeout: 120_000 }, async t => {
  const net = await testnet(t)
  // history B is longer than A, so the executor's replica asks for it (Hypercore's own conflict)
  const { exec, twin, oplog } = await twoHistories(t, net, ['history B, op 3', 'history B, op 4'])
  const { proof, source } = await exec.waitFor('log-fork', d => d.source.key === oplog, 30_000)
  t.alike(source, { key: oplog, role: 'oplog' }, 'the executor\'s replica reported the fork')
  const v = verifyLogForkProof(JSON.stringify(proof), { key: oplog })
  t.is(v.kind, 'equivocation', 'two signed heads of one fork that disagree, verified offline')
  t.alike(proof.heads.map((h: { length: number }) => h.length).sort(), [4, 5], 'history A at 4 and history B at 5')
  t.ok(!exec.exited && !twin.exited, 'executor and twin still running')
  t.ok(await exec.call('put', { key: 'admin-after-fork', value: 1 }) > 0, 'executor keeps executing other oplogs')
})

test('network - two histories of the same length are caught through signed-head gossip', { timeout: 120_000 }, async t => {
  const net = await testnet(t)
  // history B has as many ops as A: nobody asks anybody for an upgrade
  const { exec, twin, oplog, pubkey } = await twoHistories(t, net, ['history B, op 3'])
  const { proof, source } = await exec.waitFor('log-fork', d => d.source.key === oplog, 30_000)
  t.alike(source, { key: oplog, role: 'oplog' }, 'the executor reported the fork')
  t.is(verifyLogForkProof(JSON.stringify(proof), { key: oplog }).kind, 'equivocation', 'verified offline: equivocation')
  t.alike(proof.heads.map((h: { length: number }) => h.length), [4, 4], 'history A and history B, both signed at length 4')
  t.ok(!exec.exited && !twin.exited, 'executor and twin still running')
  t.ok(await exec.call('put', { key: 'admin-after-fork', value: 1 }) > 0, 'executor keeps executing other oplogs')

  // an auditor's `vitra monitor` on a fresh machine gets one history and is told the other
  const dir = await t.tmp()
  const hookOut = join(dir, 'hook.json')
  const bootstrap = net.bootstrap.map(b => `${b.host}:${b.port}`).join(',')
  const m = await runCli(['monitor', pubkey, '--dir', join(dir, 'data'), '--bootstrap', bootstrap, '--dht-host', LOOPBACK, '--on-violation', `cat > '${hookOut}'`], 90_000)
  t.is(m.code, 3, `vitra monitor exits 3 (fraud) on the log fork${m.code === 3 ? '' : `: ${m.stderr.slice(-500)}`}`)
  t.ok(/FRAUD: the oplog log [0-9a-f]{64} forked/.test(m.stderr), 'and says which log forked')
  const hooked = JSON.parse(readFileSync(hookOut, 'utf8')) as { type: string }
  t.is(hooked.type, 'vitra/log-fork-proof', '--on-violation got the log fork proof on stdin')
  t.is(verifyLogForkProof(hooked, { key: oplog }).kind, 'equivocation')
})

/** Run the vitra CLI (bin/vitra.js) to its end, killed after `ms`. */
async function runCli (args: string[], ms: number): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITRA_')) env[k] = v
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', d => { stdout += String(d) })
  child.stderr?.on('data', d => { stderr += String(d) })
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  const code = await new Promise<number | null>(resolve => child.on('close', c => { clearTimeout(timer); resolve(c) }))
  return { code, stdout, stderr }
}

test('network - bad peers: garbage on the wire, undecodable ops, a reader killed mid-transfer; nobody crashes', { timeout: 120_000 }, async t => {
  const net = await testnet(t)
  const { exec, part, oplog, pubkey } = await executorAndParticipant(t, net)
  const topic = Buffer.from((exec.events.find(e => e.event === 'ready')?.data.topic) as string, 'hex')

  // 1. swarm peers that send garbage: random bytes under the encryption; random bytes
  //    inside it (junk frames); the replication protocol with a forged capability and junk messages
  const noise = await badPeer(t, net, topic, conn => { for (let i = 0; i < 20; i++) conn.rawStream.write(randomBytes(64 + i * 50)) })
  const frames = await badPeer(t, net, topic, conn => { for (let i = 0; i < 20; i++) conn.write(randomBytes(64 + i * 50)) })
  const junk = await badPeer(t, net, topic, conn => {
    // hypercore's protocol stream, down to the Protomux channel (internals this test forges messages on)
    type Message = { send: (b: Buffer) => void }
    type ProtocolStream = { on: (e: string, f: () => void) => void, noiseStream: { userData: { createChannel: (o: Record<string, unknown>) => { open: (b: Buffer) => void, messages: Message[] } } } }
    const stream = Hypercore.createProtocolStream(conn) as ProtocolStream
    stream.on('error', () => {})
    const raw = { encoding: c.raw }
    const channel = stream.noiseStream.userData.createChannel({ protocol: 'hypercore/alpha', id: topic, handshake: c.raw, messages: Array.from({ length: 10 }, () => raw) })
    channel.open(randomBytes(33))
    for (let round = 0; round < 5; round++) for (const m of channel.messages) m.send(randomBytes(1 + round * 40))
  })
  for (const victim of [exec, part]) await victim.waitFor('net', d => d.startsWith(`peer-error ${junk.key} INVALID_CAPABILITY`), 20_000)
  t.pass('executor and participant each dropped the peer with the forged capability (INVALID_CAPABILITY)')
  // random bytes under the encryption read as a frame length that never completes: the
  // stalled peer is dropped when it has not opened the index channel in time (it would
  // otherwise hold every update({ wait: true }), so db.sync(), forever)
  for (const victim of [exec, part]) await victim.waitFor('net', d => d.startsWith(`peer-error ${noise.key} PEER_TIMEOUT`), 20_000)
  t.pass('executor and participant each dropped the stalled peer (PEER_TIMEOUT)')
  // random frames inside the encryption either fail to decode or stall: dropped either way
  for (const victim of [exec, part]) await victim.waitFor('net', d => d.startsWith(`peer-error ${frames.key} `), 20_000)
  t.pass('executor and participant each dropped the peer sending junk frames')
  t.ok(noise.connections() >= 2 && junk.connections() >= 2 && frames.connections() >= 2, `garbage peers connected ${noise.connections()}, ${frames.connections()} and ${junk.connections()} times`)
  t.ok((await exec.call('info')).length > 0, 'executor alive after garbage')
  t.ok(!part.exited, 'participant alive after garbage')

  // 2. undecodable entries in a participant's oplog become failed acks
  const length = await part.call('appendRaw', { blocks: [Buffer.from('not json at all').toString('hex'), 'ff00ff00', Buffer.from('{"op":"NOPE"}').toString('hex')] }) as number
  t.is(length, 3, 'three junk entries appended')
  for (const seq of [0, 1, 2]) {
    const ack = await part.call('waitAck', { seq, timeout: 20_000 })
    t.is(ack.success, false, `junk op ${seq}: failed ack (${String(ack.errorCode)})`)
    t.is(ack.numChanges, 0)
  }
  const good = await part.call('put', { key: 'still', value: 'working' })
  t.ok(good.results[0].success, 'a valid op after the junk is executed')

  // 3. a reader killed while downloading the whole index
  await exec.call('fill', { n: 20_000, batch: 5_000 }, 60_000)
  const { child: reader } = await start(t, net, 'reader', [await t.tmp(), pubkey])
  await reader.call('startSyncAll')
  await reader.waitFor('downloaded', d => d.blocks >= 500, 30_000)
  await reader.kill()
  t.pass('reader killed mid-transfer')
  const after = await part.call('put', { key: 'after-kill', value: true })
  t.ok(after.results[0].success, 'executor and participant keep working')
  t.ok(!exec.exited && !part.exited, 'no process crashed')
  t.is((await exec.call('ackOf', { oplog, seq: 4 }))?.success, true)
})

test('network - a peer that takes requests and never answers is dropped (PEER_TIMEOUT): a fresh reader loads from an honest peer instead', { timeout: 150_000 }, async t => {
  const net = await testnet(t)
  const execDir = await t.tmp()
  const { child: exec, ready } = await start(t, net, 'executor', [execDir])
  await exec.call('put', { key: 'x', value: 'served by an honest peer' })
  const { length } = await exec.call('info') as { length: number }
  const { child: silent } = await start(t, net, 'silent', [await t.tmp(), ready.pubkey])
  t.ok(await eventually(async () => await silent.call('syncAll') >= length, 30_000), 'the silent peer holds a full copy of the index')
  await silent.call('silence')
  await exec.kill()
  t.pass('executor killed: the silent peer is the only one holding the index')

  // two fresh readers, the same but for the watchdog; each announces its own key, so
  // the silent peer's log tells whose requests it swallowed
  const watchedKeys = HyperDHT.keyPair()
  const unwatchedKeys = HyperDHT.keyPair()
  const load = (keyPair: { publicKey: Buffer, secretKey: Buffer }, requestTimeoutMs: number, timeout: number) =>
    Database.load(new StorageInMemory(), ready.pubkey, { ...swarmOpts(net), timeout, swarmOptions: { keyPair, requestTimeoutMs } })
      .then(db => { t.teardown(() => db.close()); return { db, err: null } }, (err: Error & { code?: string }) => ({ db: null, err }))
  const started = Date.now()
  const watched = load(watchedKeys, 1000, 60_000)
  const unwatched = load(unwatchedKeys, 0, 25_000)
  for (const keys of [watchedKeys, unwatchedKeys]) {
    await silent.waitFor('ignored', d => d.from === keys.publicKey.toString('hex'), 30_000)
  }
  t.pass('both readers sent their first request (the upgrade) to the silent peer')

  await start(t, net, 'executor', [execDir])
  const w = await watched
  t.is(w.err, null, `the reader with the watchdog loaded the database (${w.err?.message ?? `in ${Date.now() - started} ms`})`)
  if (w.db !== null) t.is((await w.db.call('get', { key: 'x' })).response, 'served by an honest peer', 'and reads from the honest peer')
  const u = await unwatched
  t.is(u.err?.code, 'DATABASE_NOT_FOUND', 'without the watchdog the same reader stays stalled on the silent peer until its own timeout')
})

test('network - remote monitor on a third process verifies new ops within seconds; a cheating executor is reported', { timeout: 150_000 }, async t => {
  const net = await testnet(t)
  const { exec, part, pubkey, execDir } = await executorAndParticipant(t, net)
  const { child: mon } = await start(t, net, 'monitor', [await t.tmp(), pubkey])
  const delays: number[] = []
  for (let i = 0; i < 5; i++) {
    await part.call('put', { key: `m${i}`, value: i })
    const done = Date.now()
    const { length } = await exec.call('info')
    const v = await mon.waitFor('verified', d => d.length >= length, 10_000)
    delays.push(Math.max(0, v.at - done))
  }
  t.comment(`monitor verified each op ${delays.join(', ')} ms after the participant saw its ack`)
  t.is(delays.length, 5, 'every op verified (the delays are figures, not pass conditions)')
  t.absent(mon.events.find(e => e.event === 'violation'), 'no violation on an honest executor')

  // The same storage reopened by an executor that publishes forged values: the monitor reports it.
  await exec.call('close')
  const { child: cheat } = await start(t, net, 'executor', [execDir, 'cheat'])
  const r = await part.call('put', { key: 'honest', value: 'truth' }, 60_000)
  t.is(r.results[0].changes[0].value, 'forged', 'the cheating executor published a forged value')
  const { proof } = await mon.waitFor('violation', () => true, 20_000)
  const v = await verifyFraudProof(JSON.parse(JSON.stringify(proof)))
  t.is(v.key, pubkey, 'the monitor\'s fraud proof names this database')
  t.comment(`violation: ${String(v.code)} (self-evident: ${String(v.selfEvident)})`)
  t.ok(!cheat.exited && !mon.exited, 'both processes still up')
})

test('network - a storage keeps its swarm identity across restarts (no pile of dead announcements); keyPair overrides it', { timeout: 60_000 }, async t => {
  const dir = await t.tmp()
  const first = await Database.create(dir, { contract: { source: (await import('../src/index.js')).readShippedContract('counter') } })
  const a = (await first.swarm({ local: true })).publicKey?.toString('hex')
  await first.close()
  const again = await Database.load(dir)
  t.teardown(() => again.close())
  const b = (await again.swarm({ local: true })).publicKey?.toString('hex')
  t.ok(a !== undefined && a.length === 64, 'a swarm public key')
  t.is(b, a, 'the same after a restart')
  const other = await Database.create(await t.tmp(), { contract: { source: (await import('../src/index.js')).readShippedContract('counter') } })
  t.teardown(() => other.close())
  t.not((await other.swarm({ local: true })).publicKey?.toString('hex'), a, 'another storage, another identity')
  const own = HyperDHT.keyPair()
  await again.unswarm()
  t.is((await again.swarm({ local: true, keyPair: own })).publicKey?.toString('hex'), own.publicKey.toString('hex'), 'an explicit keyPair wins')
})
