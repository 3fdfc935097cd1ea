import test from 'brittle'
import type { Assertion } from 'brittle'
import Hypercore from 'hypercore'
import { LogForkFraudProof, headFromConflictProof, verifyLogForkProof, type LogForkProofJSON } from '../src/proofs/fraud/log-fork-proof.js'
import { signedHeadFromJSON, verifyConsistencyProof, verifySignedHead, type ConsistencyProof, type SignedHead } from '../src/proofs/log/signed-head.js'
import { flip, rejects, rejectsAsync, runChild } from './proof-helpers.js'
import { captureSignedHead, coreManifest, createConsistencyProof, logForkProofFromConflict, watchForConflicts } from '../src/logs/proof-builders.js'

async function makeCore (t: Assertion, blocks: number, opts: Record<string, unknown> = {}, key?: Buffer): Promise<Hypercore> {
  const core = key ? new Hypercore(await t.tmp(), key, opts) : new Hypercore(await t.tmp(), opts)
  t.teardown(() => core.close())
  await core.ready()
  if (blocks > 0) await core.append(Array.from({ length: blocks }, (_, i) => Buffer.from(`block ${i}`)))
  return core
}




function copy<T> (v: T): T {
  return JSON.parse(JSON.stringify(v)) as T
}

test('log-fork - signed heads verify offline and reject tampering', async (t) => {
  const core = await makeCore(t, 9)
  const head = await captureSignedHead(core)
  const manifest = coreManifest(core)
  t.is(head.length, 9)
  t.is(head.fork, 0)
  t.is(head.treeHash, (await core.treeHash()).toString('hex'), 'tree hash equals hypercore\'s own')
  const v = verifySignedHead(JSON.parse(JSON.stringify(head)), manifest, { key: core.key })
  t.ok(v.key.equals(core.key))
  rejects(t, () => verifySignedHead({ ...head, length: 8 }, manifest), 'bad-signature', 'other length')
  rejects(t, () => verifySignedHead({ ...head, fork: 1 }, manifest), 'bad-signature', 'other fork')
  rejects(t, () => verifySignedHead({ ...head, treeHash: flip(head.treeHash) }, manifest), 'bad-signature', 'other tree hash')
  const other = await makeCore(t, 1)
  rejects(t, () => verifySignedHead(head, coreManifest(other)), 'manifest-key-mismatch', 'another log\'s manifest')
  rejects(t, () => verifySignedHead(head, manifest, { key: other.key }), 'unexpected-key', 'pinned to another key')
  rejects(t, () => signedHeadFromJSON('{"key":1}'), 'malformed', 'malformed head')
  const empty = await makeCore(t, 0)
  await t.exception(() => captureSignedHead(empty), /empty/, 'an empty core has no signed head')
})

test('log-fork - consistency proofs: every prefix of every length up to 33', async (t) => {
  const core = await makeCore(t, 0)
  const heads: SignedHead[] = []
  for (let n = 1; n <= 33; n++) {
    await core.append(Buffer.from(`block ${n - 1}`))
    heads.push(await captureSignedHead(core))
  }
  let checked = 0
  for (let b = 1; b <= 33; b++) {
    for (let a = 0; a <= b; a++) {
      const proof = await createConsistencyProof(core, a, { head: heads[b - 1] })
      const older = a === 0 ? undefined : heads[a - 1]
      const r = verifyConsistencyProof(copy(proof), { older, key: core.key })
      if (r.length !== b || r.fromLength !== a || (older !== undefined && r.fromTreeHash.toString('hex') !== older.treeHash)) t.fail(`${a} -> ${b}`)
      checked++
    }
  }
  t.is(checked, 594, 'all (a, b) pairs, each checked against the recorded older head')
})

test('log-fork - consistency proofs reject tampering and an older head they do not extend', async (t) => {
  const core = await makeCore(t, 13)
  const old = await captureSignedHead(core)
  await core.append(Array.from({ length: 10 }, (_, i) => Buffer.from(`more ${i}`)))
  const good = await createConsistencyProof(core, 13)
  t.execution(() => verifyConsistencyProof(good, { older: old }))
  t.is(good.from.roots.length, 3, 'tree of 13 blocks has 3 roots')

  const badNode = copy(good)
  badNode.nodes[0].hash = flip(badNode.nodes[0].hash)
  rejects(t, () => verifyConsistencyProof(badNode), 'tree-hash-mismatch', 'modified extension node')

  const badRoot = copy(good)
  badRoot.from.roots[0].hash = flip(badRoot.from.roots[0].hash)
  rejects(t, () => verifyConsistencyProof(badRoot), 'tree-hash-mismatch', 'modified old root')

  // A node that overlaps the trusted prefix (here the whole new root 31 instead of the
  // nodes right of block 12) must never be taken from the proof.
  const overlap: ConsistencyProof = copy(good)
  overlap.nodes = [{ index: 31, size: 999, hash: overlap.head.treeHash }]
  rejects(t, () => verifyConsistencyProof(overlap), 'consistency-path', 'a node over the prefix')

  const missing = copy(good)
  missing.nodes.pop()
  rejects(t, () => verifyConsistencyProof(missing), 'consistency-path', 'missing node')

  const roots = copy(good)
  roots.from.roots.pop()
  rejects(t, () => verifyConsistencyProof(roots), 'roots-mismatch', 'missing old root')

  const sig = copy(good)
  sig.head.fork = 3
  rejects(t, () => verifyConsistencyProof(sig), 'bad-signature', 'head with another fork')

  rejects(t, () => verifyConsistencyProof(good, { older: { ...old, treeHash: flip(old.treeHash) } }), 'bad-signature', 'older head with a broken signature')
  rejects(t, () => verifyConsistencyProof(good, { older: { length: 13, treeHash: flip(old.treeHash) } }), 'inconsistent', 'older tree hash not extended')
  rejects(t, () => verifyConsistencyProof(good, { older: { length: 12, treeHash: old.treeHash } }), 'consistency-range', 'older head of another length')
  rejects(t, () => verifyConsistencyProof({ ...good, from: { length: 24, roots: [] } }), 'consistency-range', 'from beyond the head')
  rejects(t, () => verifyConsistencyProof('[]'), 'malformed', 'malformed')
})

test('log-fork - truncate-and-rewrite of a real core is a truncation proof', async (t) => {
  const core = await makeCore(t, 10)
  const before = await captureSignedHead(core)
  await core.truncate(6)
  await core.append(Array.from({ length: 5 }, (_, i) => Buffer.from(`rewritten ${i}`)))
  t.is(core.fork, 1, 'truncate bumped the fork')
  t.is(core.length, 11)
  const proof = await logForkProofFromConflict(core, before)
  const r = proof.verify()
  t.is(r.kind, 'truncation')
  t.is(r.historyDiffers, true, 'consistency nodes show the history at length 10 differs too')
  t.ok(proof.consistency !== null)
  const json = JSON.parse(JSON.stringify(proof.toJSON())) as LogForkProofJSON
  const v = verifyLogForkProof(json, { key: core.key })
  t.is(v.kind, 'truncation')
  t.ok(v.key.equals(core.key))

  // The fork counters alone are evidence, without consistency nodes.
  const after = await captureSignedHead(core)
  const bare = LogForkFraudProof.fromHeads(before, after, coreManifest(core))
  t.is(bare.verify().kind, 'truncation')
  t.is(bare.verify().historyDiffers, null)

  // Truncating to a shorter length than the old head: only the fork counters can show it.
  const core2 = await makeCore(t, 10)
  const h10 = await captureSignedHead(core2)
  await core2.truncate(4)
  await core2.append(Buffer.from('x'))
  const p2 = await logForkProofFromConflict(core2, h10)
  t.is(p2.verify().kind, 'truncation')
  t.is(p2.consistency, null)
})

test('log-fork - two cores with one key pair (equivocation), same and different lengths', async (t) => {
  const a = await makeCore(t, 5)
  const b = await makeCore(t, 0, { keyPair: a.keyPair })
  t.ok(a.key.equals(b.key), 'same key')
  await b.append(Array.from({ length: 5 }, (_, i) => Buffer.from(`other ${i}`)))
  const ha = await captureSignedHead(a)
  const hb = await captureSignedHead(b)
  t.is(ha.length, hb.length)

  const same = LogForkFraudProof.fromHeads(ha, hb, coreManifest(a))
  t.is(same.verify().kind, 'equivocation', 'same length, two tree hashes')
  t.is(verifyLogForkProof(JSON.stringify(same.toJSON())).kind, 'equivocation')

  await b.append([Buffer.from('other 5'), Buffer.from('other 6'), Buffer.from('other 7')])
  const longer = await logForkProofFromConflict(b, ha)
  const r = verifyLogForkProof(longer.toJSON(), { key: a.key })
  t.is(r.kind, 'equivocation', 'length 5 vs 8 on fork 0: the tree at 5 implied by the longer head differs')
  t.ok(longer.consistency !== null)

  const hb8 = await captureSignedHead(b)
  await t.exception(() => logForkProofFromConflict(a, hb8), /longer on the same fork/, 'the shorter side cannot build it alone')

  // Tampering with the evidence
  const json = longer.toJSON()
  const noCons = { ...json, consistency: null }
  rejects(t, () => verifyLogForkProof(noCons), 'missing-consistency', 'consistency removed')
  const badCons = copy(json)
  badCons.consistency!.nodes[0].hash = flip(badCons.consistency!.nodes[0].hash)
  rejects(t, () => verifyLogForkProof(badCons), 'tree-hash-mismatch', 'consistency node modified')
  const badIdx = copy(json)
  badIdx.consistency!.nodes[0].index += 2
  rejects(t, () => verifyLogForkProof(badIdx), 'consistency-path', 'consistency node index')
  const badSig = copy(json)
  badSig.heads[0].signature = flip(badSig.heads[0].signature, 3)
  rejects(t, () => verifyLogForkProof(badSig), 'bad-signature', 'head signature')
  const other = await makeCore(t, 1)
  const badMan = copy(json)
  badMan.manifest = coreManifest(other)
  rejects(t, () => verifyLogForkProof(badMan), 'manifest-key-mismatch', 'manifest of another log')
  rejects(t, () => verifyLogForkProof(json, { key: other.key }), 'unexpected-key', 'pinned to another key')
  rejects(t, () => verifyLogForkProof({ ...json, heads: [json.heads[0]] }), 'malformed', 'one head')
  rejects(t, () => verifyLogForkProof('{'), 'malformed', 'not JSON')
})

test('log-fork - an honest pair of heads is not a fork', async (t) => {
  const core = await makeCore(t, 5)
  const h5 = await captureSignedHead(core)
  await core.append(Array.from({ length: 4 }, (_, i) => Buffer.from(`next ${i}`)))
  const h9 = await captureSignedHead(core)
  const manifest = coreManifest(core)
  const c = await createConsistencyProof(core, 5)
  const honest = LogForkFraudProof.fromHeads(h5, h9, manifest, { roots: c.from.roots, nodes: c.nodes })
  rejects(t, () => LogForkFraudProof.fromJSON(JSON.stringify(honest.toJSON())).verify(), 'not-a-fork', 'prefix with consistency')
  rejects(t, () => LogForkFraudProof.fromHeads(h5, h5, manifest).verify(), 'not-a-fork', 'the same head twice')
  rejects(t, () => LogForkFraudProof.fromHeads(h9, h5, manifest).verify(), 'missing-consistency', 'prefix without consistency')
  await rejectsAsync(t, () => logForkProofFromConflict(core, h5), 'not-a-fork', 'fromConflict on an honest older head')
  await rejectsAsync(t, () => logForkProofFromConflict(core, h9), 'not-a-fork', 'fromConflict on the current head')
})

test('log-fork - watchForConflicts reports a local truncate-and-rewrite', async (t) => {
  const core = await makeCore(t, 6)
  const proofs: LogForkFraudProof[] = []
  const errors: Error[] = []
  const w = watchForConflicts(core, p => proofs.push(p), { onError: e => errors.push(e) })
  await w.ready()
  await core.append(Buffer.from('seven'))
  await w.ready()
  t.alike(w.heads().map(h => h.length), [6], 'a core this process writes: the head at start, no capture per append')
  await core.truncate(3)
  await core.append([Buffer.from('a'), Buffer.from('b'), Buffer.from('c'), Buffer.from('d'), Buffer.from('e')])
  await w.ready()
  await w.stop()
  t.is(errors.length, 0, errors.map(e => e.message).join('; '))
  t.is(proofs.length, 1, 'one proof')
  const r = verifyLogForkProof(proofs[0].toJSON(), { key: core.key })
  t.is(r.kind, 'truncation')
})

test('log-fork - watchForConflicts catches a truncate that lands before a pending capture', async (t) => {
  const core = await makeCore(t, 6)
  const proofs: LogForkFraudProof[] = []
  const errors: Error[] = []
  const w = watchForConflicts(core, p => proofs.push(p), { onError: e => errors.push(e) })
  await w.ready()
  const appended = core.append(Buffer.from('seven'))
  const truncated = core.truncate(2)
  await Promise.all([appended, truncated])
  await core.append(Buffer.from('new'))
  await w.ready()
  await w.stop()
  t.is(errors.length, 0, errors.map(e => e.message).join('; '))
  t.is(proofs.length, 1, 'one proof')
  t.is(proofs[0]?.verify().kind, 'truncation')
})

test('log-fork - watchForConflicts turns a replication conflict into an equivocation proof', async (t) => {
  const writerA = await makeCore(t, 5)
  const writerB = await makeCore(t, 0, { keyPair: writerA.keyPair })
  await writerB.append(Array.from({ length: 8 }, (_, i) => Buffer.from(`equivocated ${i}`)))
  const headB = await captureSignedHead(writerB) // B detects the conflict too and closes
  const reader = await makeCore(t, 0, {}, writerA.key)
  const proofs: LogForkFraudProof[] = []
  const errors: Error[] = []
  const conflicts: unknown[] = []
  reader.on('conflict', (_len: number, _fork: number, proof: unknown) => conflicts.push(proof))
  const w = watchForConflicts(reader, p => proofs.push(p), { onError: e => errors.push(e) })
  await w.ready()

  const s1 = replicate(writerA, reader)
  await reader.update({ wait: true })
  t.is(reader.length, 5, 'reader follows A')
  await w.ready()
  t.is(w.heads().at(-1)?.length, 5, 'watcher recorded the head at 5')
  destroy(s1)

  const log = console.log // hypercore prints a line on conflict
  console.log = () => {}
  const s2 = replicate(writerB, reader)
  try {
    for (let i = 0; i < 100 && proofs.length === 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
  } finally {
    console.log = log
    destroy(s2)
  }
  await w.stop()
  t.is(errors.length, 0, errors.map(e => e.message).join('; '))
  t.is(proofs.length, 1, 'the conflict produced a proof')
  if (proofs.length === 1) {
    const r = verifyLogForkProof(JSON.stringify(proofs[0].toJSON()), { key: writerA.key })
    t.is(r.kind, 'equivocation')
    t.alike(proofs[0].heads.map(h => h.length).sort(), [5, 8], 'reader\'s head at 5 vs B\'s head at 8')
    const { head } = headFromConflictProof(writerA.key, coreManifest(writerA), conflicts[0])
    t.alike(head, headB, 'the peer head rebuilt from the event is B\'s')
  }
})

test('log-fork - a fork proof verifies in a fresh process from the JSON alone', async (t) => {
  const a = await makeCore(t, 4)
  const b = await makeCore(t, 0, { keyPair: a.keyPair })
  await b.append(Array.from({ length: 4 }, (_, i) => Buffer.from(`b ${i}`)))
  const proof = LogForkFraudProof.fromHeads(await captureSignedHead(a), await captureSignedHead(b), coreManifest(a))
  const verifier = new URL('../src/proofs/fraud/log-fork-proof.js', import.meta.url).href
  const script = `import { verifyLogForkProof } from ${JSON.stringify(verifier)}
let input = ''
for await (const c of process.stdin) input += c
try { const r = verifyLogForkProof(input); console.log(JSON.stringify({ kind: r.kind, key: r.key.toString('hex') })) }
catch (err) { console.log(JSON.stringify({ reason: err.details && err.details.reason })) }`
  t.alike(JSON.parse(await runChild(script, JSON.stringify(proof.toJSON()))), { kind: 'equivocation', key: a.key.toString('hex') })
  const honest = proof.toJSON()
  honest.heads[1] = honest.heads[0]
  t.alike(JSON.parse(await runChild(script, JSON.stringify(honest))), { reason: 'not-a-fork' })
})

interface Stream { pipe (s: Stream): Stream, on (e: string, f: () => void): void, destroy (): void }

function replicate (a: Hypercore, b: Hypercore): Stream[] {
  const s1 = a.replicate(true) as Stream
  const s2 = b.replicate(false) as Stream
  s1.pipe(s2).pipe(s1)
  s1.on('error', () => {})
  s2.on('error', () => {})
  return [s1, s2]
}

function destroy (streams: Stream[]): void {
  for (const s of streams) s.destroy()
}

