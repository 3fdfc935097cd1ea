// The request watchdog (src/net/peer-watchdog.ts) on real Hypercores replicating over
// real protocol streams: a peer that takes requests and never answers is dropped,
// a slow peer that keeps answering is not.
import test from 'brittle'
import type { Assertion } from 'brittle'
import Hypercore from 'hypercore'
import { PeerWatchdog, type WatchedStream } from '../src/net/peer-watchdog.js'
import { eventually } from './helpers.js'

interface WirePeer { onrequest: (msg: unknown) => Promise<void> }
type Stream = WatchedStream & { pipe: (s: Stream) => Stream, on: (e: string, f: () => void) => void, destroyed: boolean, noiseStream: WatchedStream }

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function makeCore (t: Assertion, key?: Buffer): Promise<Hypercore> {
  const core = key === undefined ? new Hypercore(await t.tmp()) : new Hypercore(await t.tmp(), key)
  t.teardown(() => core.close())
  await core.ready()
  return core
}

/** Replicate a (initiator) with b; returns a's stream, then b's. */
function connect (a: Hypercore, b: Hypercore): [Stream, Stream] {
  const sa = a.replicate(true) as unknown as Stream
  const sb = b.replicate(false) as unknown as Stream
  sa.pipe(sb).pipe(sa)
  sa.on('error', () => {})
  sb.on('error', () => {})
  return [sa, sb]
}

/** A writer with `n` blocks, and a full copy of it that never answers a request once copied. */
async function writerAndSilentCopy (t: Assertion, n: number): Promise<{ writer: Hypercore, silent: Hypercore }> {
  const writer = await makeCore(t)
  await writer.append(Array.from({ length: n }, (_, i) => Buffer.from(`block ${i}`)))
  const silent = await makeCore(t, writer.key)
  const [a, b] = connect(writer, silent)
  await silent.update({ wait: true })
  await silent.download({ start: 0, end: n }).done()
  a.destroy(); b.destroy()
  silent.on('peer-add', (peer: WirePeer) => { peer.onrequest = async () => {} })
  return { writer, silent }
}

test('peer watchdog - a peer that never answers the upgrade is dropped; the request then goes to an honest peer', async t => {
  const { writer, silent } = await writerAndSilentCopy(t, 50)
  const reader = await makeCore(t, writer.key)
  const [toSilent] = connect(reader, silent)
  const dropped: WatchedStream[] = []
  const dog = new PeerWatchdog({ timeoutMs: 300, cores: () => [reader], owns: () => true, onDrop: (_err, s) => dropped.push(s) })
  t.teardown(() => dog.close())

  let updated = false
  const update = reader.update({ wait: true }).then(() => { updated = true })
  await sleep(200)
  connect(reader, writer) // the honest peer arrives while the upgrade is with the silent one
  await sleep(600)
  t.absent(updated, 'without a watchdog pass, the upgrade stays with the silent peer although an honest one is connected')

  await dog.ready()
  t.ok(await eventually(() => dropped.length > 0, 3000), 'the watchdog dropped a connection')
  t.is(dropped[0], toSilent.noiseStream, 'the one to the silent peer (its encrypted stream, as Hyperswarm gives it)')
  t.ok(toSilent.destroyed, 'its stream is destroyed')
  await update
  t.is(reader.length, 50, 'the upgrade was answered by the honest peer')
  t.is((await reader.get(49))?.toString(), 'block 49')
  t.is(dropped.length, 1, 'the honest peer was kept')
})

test('peer watchdog - a slow peer that keeps answering is kept, though its requests queue past the timeout', async t => {
  const writer = await makeCore(t)
  await writer.append(Array.from({ length: 60 }, (_, i) => Buffer.from(`block ${i}`)))
  // the writer answers one request every 40 ms, in order
  writer.on('peer-add', (peer: WirePeer) => {
    const answer = peer.onrequest.bind(peer)
    let queue = Promise.resolve()
    peer.onrequest = async (msg: unknown) => { queue = queue.then(() => sleep(40)).then(() => answer(msg)); await queue }
  })
  const reader = await makeCore(t, writer.key)
  connect(reader, writer)
  const dropped: WatchedStream[] = []
  const dog = new PeerWatchdog({ timeoutMs: 600, cores: () => [reader], owns: () => true, onDrop: (_err, s) => dropped.push(s) })
  await dog.ready()
  t.teardown(() => dog.close())

  await reader.update({ wait: true })
  let oldest = 0
  const inflight = (reader as unknown as { replicator: { _inflight: Iterable<{ timestamp: number }> } }).replicator._inflight
  const probe = setInterval(() => { for (const req of inflight) oldest = Math.max(oldest, Date.now() - req.timestamp) }, 20)
  await reader.download({ start: 0, end: 60 }).done()
  clearInterval(probe)
  t.ok(oldest > 600, `requests waited up to ${oldest} ms, past the 600 ms timeout`)
  t.is(dropped.length, 0, 'the slow peer was never dropped')
  t.is(reader.contiguousLength, 60, 'everything arrived')
})
