// Witnesses that follow a database on the swarm (issue 37): no host collects for the
// database, yet three witnesses on a local DHT testnet (127.0.0.1) see its heads through
// sparse replicas of the index and cosign them, so a reader finds a quorum; a restarted
// witness follows again from its state; an executor that shows a witness two histories
// is caught by the witness itself, which keeps the proof and cosigns no fork head.
import test from 'brittle'
import type { Assertion } from 'brittle'
import createTestnet from 'hyperdht/testnet.js'
import HyperDHT from 'hyperdht'
import { readdirSync } from 'fs'
import { join } from 'path'
import { Database } from '../src/index.js'
import { DatabaseSwarm } from '../src/net/network.js'
import { verifyLogForkProof, type LogForkFraudProof } from '../src/proofs/fraud/log-fork-proof.js'
import { parseCheckpoint } from '../src/proofs/witness/checkpoint.js'
import { readWitnessPolicy, verifyWitnessedCheckpoint } from '../src/proofs/witness/policy.js'
import { WitnessFollower } from '../src/witness/follower.js'
import { createWitnessKey } from '../src/witness/keys.js'
import { gatherWitnessedCheckpoint } from '../src/witness/reader.js'
import { Witness } from '../src/witness/witness.js'
import { contract, counterAndCopy, eventually, forkedIndex } from './helpers.js'

const LOOPBACK = '127.0.0.1'
/** Generous: a bound for a test that would otherwise hang, not a timing claim. */
const PATIENCE_MS = 60_000

interface Net { bootstrap: Array<{ host: string, port: number }>, destroy: () => Promise<void> }

async function testnet (t: Assertion): Promise<Net> {
  const net = await createTestnet(3, { host: LOOPBACK }) as Net
  t.teardown(() => net.destroy(), { order: Infinity })
  return net
}

/** A witness (HTTP on 127.0.0.1) that also follows its logs on the testnet; both closed at teardown. */
async function followingWitness (t: Assertion, net: Net, dir: string, port = 0): Promise<{ witness: Witness, follower: WitnessFollower }> {
  const witness = new Witness({ dir, port })
  await witness.ready()
  const follower = new WitnessFollower(witness, { swarm: { bootstrap: net.bootstrap, host: LOOPBACK }, settleMs: 50 })
  follower.on('warning', (err: Error) => t.comment(`follower warning: ${err.message}`))
  t.teardown(async () => { await follower.close(); await witness.close() })
  await follower.ready()
  return { witness, follower }
}

function cosignedLength (w: Witness, keyHex: string): number {
  const note = w.lastCosigned(keyHex)
  return note === null ? 0 : parseCheckpoint(note).head.length
}

test('witness follow - no host collects: three witnesses follow the database on the swarm and cosign its heads; a restarted one follows from its state', { timeout: 180_000 }, async t => {
  const net = await testnet(t)
  const dirs = [await t.tmp(), await t.tmp(), await t.tmp()]
  dirs.forEach((d, i) => { createWitnessKey(d, `w${i}`) })
  const ws = [await followingWitness(t, net, dirs[0]!), await followingWitness(t, net, dirs[1]!), await followingWitness(t, net, dirs[2]!)]
  const policy = { version: 1 as const, quorum: 2, witnesses: ws.map(w => ({ key: w.witness.key.vkey, url: w.witness.url })) }

  const db = await Database.create(join(await t.tmp(), 'db'), { contract: { source: contract('counter') }, witnesses: policy })
  t.teardown(() => db.close())
  await db.swarm({ bootstrap: net.bootstrap, host: LOOPBACK })
  await db.network?.flushed() // announced before the witnesses look (two peers joining at once can miss each other until a lookup again)
  const keyHex = db.pubkey.toString('hex')
  for (const w of ws) await w.follower.follow(keyHex)
  t.alike(ws.map(w => w.follower.logs), [[keyHex], [keyHex], [keyHex]], 'each witness follows the database (told its key once)')

  for (let i = 0; i < 5; i++) await db.call('increment', {})
  await db.executor?.sync()
  const length = db.index.length
  t.ok(await eventually(() => ws.every(w => cosignedLength(w.witness, keyHex) === length), PATIENCE_MS), `every witness cosigned the head it saw on the swarm (length ${length})`)
  const { best } = await gatherWitnessedCheckpoint(keyHex, readWitnessPolicy(policy))
  t.is(best?.checked.head.length, length, 'a reader pools their cosignatures into a witnessed checkpoint of the head')
  t.is(best?.checked.cosigned.length, 3, 'cosigned by all three')
  if (best !== null) t.is(verifyWitnessedCheckpoint(best.note, policy, { key: keyHex }).head.treeHash, (await db.index.core.treeHash(length)).toString('hex'), 'of the database\'s own tree')

  // A witness restarted: it follows what it holds state for, with nobody telling it the key.
  const first = ws[0]!
  const port = Number(new URL(first.witness.url).port)
  await first.follower.close()
  await first.witness.close()
  const again = await followingWitness(t, net, dirs[0]!, port)
  t.alike(again.follower.logs, [keyHex], 'the restarted witness follows the log from its state')
  for (let i = 0; i < 3; i++) await db.call('increment', {})
  await db.executor?.sync()
  const later = db.index.length
  t.ok(await eventually(() => cosignedLength(again.witness, keyHex) === later, PATIENCE_MS), `and cosigns the newer head (${later}) as an extension of the one it held`)
  t.ok(await eventually(async () => (await gatherWitnessedCheckpoint(keyHex, readWitnessPolicy(policy))).best?.checked.head.length === later, PATIENCE_MS), 'the reader finds the newer head witnessed')
})

test('witness follow - the executor shows the witness two histories: the witness proves the fork itself and cosigns no fork head', { timeout: 180_000 }, async t => {
  const net = await testnet(t)
  const wdir = await t.tmp()
  createWitnessKey(wdir, 'w0')
  const { witness, follower } = await followingWitness(t, net, wdir)
  const policy = { version: 1 as const, quorum: 1, witnesses: [{ key: witness.key.vkey, url: witness.url }] }

  // The executor's key holder keeps a copy of its storage: the same index key, twice.
  const { dir, copy } = await counterAndCopy(t, { witnesses: policy })

  const honest = await Database.load(dir, undefined, { swarm: false })
  t.teardown(() => honest.close())
  for (let i = 0; i < 4; i++) await honest.call('increment', {}) // the copy does not have these
  await honest.executor?.sync()
  await honest.swarm({ bootstrap: net.bootstrap, host: LOOPBACK })
  await honest.network?.flushed()
  const keyHex = honest.pubkey.toString('hex')
  await follower.follow(keyHex)
  const honestLength = honest.index.length
  t.ok(await eventually(() => cosignedLength(witness, keyHex) === honestLength, PATIENCE_MS), `the witness cosigned the honest head (${honestLength})`)
  const honestNote = witness.lastCosigned(keyHex)

  const forks: LogForkFraudProof[] = []
  follower.on('fork', (proof: LogForkFraudProof) => forks.push(proof))
  // The copy signs another, longer history after the common prefix and serves it on the same topic.
  const { store, core: forked } = await forkedIndex(t, copy, honestLength)
  t.alike(forked.key, honest.pubkey, 'the copy holds the same index key')
  const swarm = new DatabaseSwarm(store, forked.key, { bootstrap: net.bootstrap, host: LOOPBACK, keyPair: HyperDHT.keyPair() })
  t.teardown(() => swarm.close())
  await swarm.flushed()

  t.ok(await eventually(() => forks.length > 0, PATIENCE_MS), 'the witness\'s replica proved the fork')
  const proof = forks[0]
  if (proof === undefined) return
  t.is(verifyLogForkProof(proof.toJSON(), { key: honest.pubkey }).kind, 'equivocation', 'a log-fork proof that checks with the database key alone')
  t.ok(readdirSync(join(wdir, 'forks')).length > 0, 'the witness kept the evidence')
  t.alike(follower.logs, [], 'it stopped following the forked log')
  t.is(witness.lastCosigned(keyHex), honestNote, 'and cosigned no head of the other history')
  const answer = await fetch(new URL(`/logs/${keyHex}`, witness.url))
  t.is(parseCheckpoint(await answer.text()).head.length, honestLength, 'GET /logs/<key> still serves the honest checkpoint')
})
