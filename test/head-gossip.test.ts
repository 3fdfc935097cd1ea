// Signed-head gossip (src/net/head-gossip.ts) on real Hypercores replicating over real
// protocol streams: a log owner showing two peers two histories of the same length
// is caught as soon as the two peers meet, which Hypercore alone never notices.
import test from 'brittle'
import type { Assertion } from 'brittle'
import c from 'compact-encoding'
import Hypercore from 'hypercore'
import { HeadGossip, HEAD_GOSSIP_EXTENSION } from '../src/net/head-gossip.js'
import { verifyLogForkProof, type LogForkFraudProof } from '../src/proofs/fraud/log-fork-proof.js'
import { eventually } from './helpers.js'
import { captureSignedHead } from '../src/logs/proof-builders.js'

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function makeCore (t: Assertion, opts: Record<string, unknown> = {}, key?: Buffer): Promise<Hypercore> {
  const core = key === undefined ? new Hypercore(await t.tmp(), opts) : new Hypercore(await t.tmp(), key, opts)
  t.teardown(() => core.close())
  await core.ready()
  return core
}

function connect (a: Hypercore, b: Hypercore): void {
  const sa = a.replicate(true) as NodeJS.ReadWriteStream
  const sb = b.replicate(false) as NodeJS.ReadWriteStream
  sa.pipe(sb).pipe(sa)
  sa.on('error', () => {})
  sb.on('error', () => {})
}

/** A full replica of `source`. */
async function replica (t: Assertion, source: Hypercore): Promise<Hypercore> {
  const r = await makeCore(t, {}, source.key)
  connect(source, r)
  await r.update({ wait: true })
  await r.download({ start: 0, end: r.length }).done()
  return r
}

/** An owner and its twin (same key pair, other storage): two histories of one log. */
async function twins (t: Assertion, a: string[], b: string[]): Promise<[Hypercore, Hypercore]> {
  const owner = await makeCore(t)
  const twin = await makeCore(t, { keyPair: owner.keyPair })
  await owner.append(a.map(s => Buffer.from(s)))
  await twin.append(b.map(s => Buffer.from(s)))
  return [owner, twin]
}

function gossip (t: Assertion, core: Hypercore): { proofs: LogForkFraudProof[], errors: Error[], g: HeadGossip } {
  const proofs: LogForkFraudProof[] = []
  const errors: Error[] = []
  const g = new HeadGossip(core, { onProof: p => proofs.push(p), onError: e => errors.push(e), delayMs: 20 })
  t.teardown(() => g.close())
  return { proofs, errors, g }
}

test('head gossip - two histories of the same length: caught when the two replicas meet', async t => {
  const [owner, twin] = await twins(t, ['op 0', 'op 1', 'history A'], ['op 0', 'op 1', 'history B'])
  t.is(owner.key.toString('hex'), twin.key.toString('hex'), 'one log key')
  const r1 = await replica(t, owner)
  const r2 = await replica(t, twin)
  t.is(r1.length, 3)
  t.is(r2.length, 3)
  let conflicts = 0
  for (const r of [r1, r2]) r.on('conflict', () => { conflicts++ })

  connect(r1, r2)
  await sleep(500)
  t.is(conflicts, 0, 'Hypercore alone: the replicas meet and notice nothing')

  const g1 = gossip(t, r1)
  const g2 = gossip(t, r2)
  await g1.g.ready()
  await g2.g.ready()
  t.ok(await eventually(() => g1.proofs.length > 0 && g2.proofs.length > 0, 5000), 'with gossip: both replicas made a proof')
  for (const p of [g1.proofs[0], g2.proofs[0]]) {
    const v = verifyLogForkProof(JSON.stringify(p.toJSON()), { key: owner.key })
    t.is(v.kind, 'equivocation', 'verified offline: equivocation')
    t.alike(p.heads.map(h => h.length), [3, 3], 'two signed heads of length 3')
  }
  t.alike([...g1.errors, ...g2.errors], [], 'no errors')
})

test('head gossip - a shorter head that the longer history contradicts', async t => {
  const [owner, twin] = await twins(t, ['op 0', 'history A', 'A 2', 'A 3'], ['op 0', 'history B'])
  const long = await replica(t, owner)
  const short = await replica(t, twin)
  const gl = gossip(t, long)
  await gl.g.ready()
  connect(long, short)
  const gs = gossip(t, short)
  await gs.g.ready()
  t.ok(await eventually(() => gl.proofs.length > 0, 5000), 'the replica of the longer history proved the fork from the shorter head')
  const p = gl.proofs[0]
  t.is(verifyLogForkProof(p.toJSON(), { key: owner.key }).kind, 'equivocation')
  t.alike(p.heads.map(h => h.length).sort(), [2, 4], 'heads of length 4 and 2, tied by consistency nodes')
})

test('head gossip - honest peers: no proof while the log grows; garbage and forged heads are ignored', async t => {
  const owner = await makeCore(t)
  await owner.append([Buffer.from('a'), Buffer.from('b')])
  const r1 = await replica(t, owner)
  const r2 = await replica(t, owner)
  const g1 = gossip(t, r1)
  const g2 = gossip(t, r2)
  await g1.g.ready()
  await g2.g.ready()
  connect(r1, r2)
  for (let i = 0; i < 10; i++) {
    await owner.append(Buffer.from(`grow ${i}`))
    await sleep(10)
  }
  await eventually(async () => { await r1.update(); await r2.update(); return r1.length === 12 && r2.length === 12 }, 5000)
  await sleep(200)
  t.is(r1.length, 12, 'the replicas followed the log')

  // a peer that speaks the extension with garbage and with a head it did not sign
  const liar = await makeCore(t, {}, owner.key)
  const ext = liar.registerExtension(HEAD_GOSSIP_EXTENSION, { encoding: c.raw })
  connect(liar, r1)
  await eventually(() => liar.peers.length > 0, 5000)
  const real = await captureSignedHead(r1)
  const forged = { length: real.length, fork: real.fork, treeHash: 'ab'.repeat(32), signature: real.signature }
  for (const m of ['not json', '{"length":-1}', JSON.stringify({ ...forged, extra: 1 }), JSON.stringify(forged), 'x'.repeat(5000)]) {
    ext.broadcast(Buffer.from(m))
  }
  await sleep(300)
  t.alike([g1.proofs.length, g2.proofs.length], [0, 0], 'no proof between honest replicas, nor from a forged head')
  t.alike([...g1.errors, ...g2.errors], [], 'no errors')
  t.absent(r1.closed, 'the replica is still open')
})

test('head gossip - a head longer than this log is kept, and checked once the log reaches it another way', async t => {
  const owner = await makeCore(t)
  await owner.append([Buffer.from('op 0'), Buffer.from('op 1')])
  const twin = await makeCore(t, { keyPair: owner.keyPair })
  await twin.append(['op 0', 'op 1', 'history B', 'B 3'].map(s => Buffer.from(s)))
  const other = await captureSignedHead(twin)
  const r = await replica(t, owner) // length 2, still connected to the owner
  const g = gossip(t, r)
  await g.g.ready()
  // a peer at length 2 that passes on the twin's head of length 4
  const messenger = await replica(t, owner)
  const ext = messenger.registerExtension(HEAD_GOSSIP_EXTENSION, { encoding: c.raw })
  connect(messenger, r)
  await eventually(() => messenger.peers.length > 1, 5000)
  ext.broadcast(Buffer.from(JSON.stringify({ length: other.length, fork: other.fork, treeHash: other.treeHash, signature: other.signature })))
  await sleep(300)
  t.is(r.length, 2, 'the replica is still at 2')
  t.is(g.proofs.length, 0, 'nothing to compare yet')

  await owner.append([Buffer.from('history A'), Buffer.from('A 3')])
  t.ok(await eventually(async () => { await r.update({ wait: true }); return r.length === 4 }, 5000), 'the replica reached 4 through the owner\'s history A')
  t.ok(await eventually(() => g.proofs.length > 0, 5000), 'then the kept head of history B was checked: a proof')
  t.alike(g.proofs[0].heads.map(h => h.length), [4, 4])
  t.is(verifyLogForkProof(g.proofs[0].toJSON(), { key: owner.key }).kind, 'equivocation')
})
