// Inclusion proofs made at append time (Oplog.appendWithProofs / AppendProver): each
// must verify offline and be exactly the proof read from storage for the same head,
// for batches of every shape, across a reopen, and when the fast path cannot be used.
import test from 'brittle'
import type { Assertion } from 'brittle'
import Hypercore from 'hypercore'
import { Oplog, type Appended } from '../src/logs/oplog.js'
import { verifyInclusionProof } from '../src/proofs/log/inclusion-proofs.js'
import { encodeOp } from '../src/format/schemas.js'
import { createInclusionProof } from '../src/logs/proof-builders.js'

interface Counted { oplog: Oplog, core: Hypercore, storageProofs: () => number }

/** An oplog on a real Hypercore in a temp dir; counts the storage proofs it takes. */
async function openOplog (t: Assertion, dir: string): Promise<Counted> {
  const core = new Hypercore(dir)
  t.teardown(() => core.close())
  await core.ready()
  let n = 0
  const proof = core.proof.bind(core)
  core.proof = async (opts: Parameters<Hypercore['proof']>[0]) => { n++; return await proof(opts) }
  return { oplog: new Oplog(core), core, storageProofs: () => n }
}

/** Every proof verifies, proves its own op at its own seq, and equals the stored proof under the same head. */
async function checkAll (t: Assertion, core: Hypercore, ops: unknown[], got: Appended[], label: string): Promise<void> {
  let bad = 0
  for (let i = 0; i < got.length; i++) {
    const { seq, proof } = got[i]
    if (proof === null) { bad++; continue }
    const r = verifyInclusionProof(proof, { key: core.key })
    if (r.index !== seq || !r.value.equals(encodeOp(ops[i]))) bad++
    const stored = await createInclusionProof(core, seq, { head: { key: core.key.toString('hex'), length: proof.head.length, fork: proof.head.fork, treeHash: proof.head.treeHash, signature: proof.head.signature } })
    if (JSON.stringify(stored) !== JSON.stringify(proof)) bad++
  }
  t.is(bad, 0, `${label}: ${got.length} proofs verify and equal the stored ones`)
}

const op = (n: number): unknown => ({ op: 'PUT', key: 'k' + n, value: n })

test('append proofs - concurrent appends of every batch shape, then a reopen', async t => {
  const dir = await t.tmp()
  const first = await openOplog(t, dir)
  const ops: unknown[] = []
  const pending: Array<Promise<Appended[]>> = []
  // Sizes that put the batches' edges at many places in the tree (the first batch starts at 0).
  let n = 0
  for (const size of [1, 1, 2, 3, 5, 8, 13, 1, 31, 64, 7, 100]) {
    const batch = Array.from({ length: size }, () => op(n++))
    ops.push(...batch)
    pending.push(first.oplog.appendWithProofs(batch))
  }
  const got = (await Promise.all(pending)).flat()
  t.alike(got.map(a => a.seq), ops.map((_, i) => i), 'consecutive seqs in call order')
  t.ok(first.storageProofs() <= 13, `${first.storageProofs()} storage proofs for ${ops.length} ops in at most 12 appends (one per append)`)
  await checkAll(t, first.core, ops, got, 'from an empty log')

  // One at a time: each op is its own append.
  const single: Appended[] = []
  const singleOps: unknown[] = []
  const before = first.storageProofs()
  for (let i = 0; i < 20; i++) { singleOps.push(op(n)); single.push(...await first.oplog.appendWithProofs([op(n++)])) }
  t.is(first.storageProofs() - before, 20, 'one storage proof per append')
  await checkAll(t, first.core, singleOps, single, 'one op per append')
  await first.core.close()

  // After a reopen the roots come from storage once, then the fast path again.
  const again = await openOplog(t, dir)
  const more = Array.from({ length: 50 }, () => op(n++))
  const got2 = (await Promise.all(more.map(o => again.oplog.appendWithProofs([o])))).flat()
  t.is(got2[0].seq, ops.length + 20, 'seqs continue after the reopen')
  t.ok(again.storageProofs() <= 1 + 50, `${again.storageProofs()} storage proofs for 50 ops (one to start, at most one per append)`)
  await checkAll(t, again.core, more, got2, 'after a reopen')
})

test('append proofs - a write the prover did not see, and appends without proofs, fall back or skip correctly', async t => {
  const { oplog, core } = await openOplog(t, await t.tmp())
  const a = [op(0), op(1), op(2)]
  await checkAll(t, core, a, await oplog.appendWithProofs(a), 'first')
  // Someone appends to the core directly: the prover's roots are stale; the proofs must still be right.
  await core.append([Buffer.from('{"op":"RAW"}')])
  const b = [op(3), op(4)]
  const gotB = await oplog.appendWithProofs(b)
  t.is(gotB[0].seq, 4)
  await checkAll(t, core, b, gotB, 'after an outside append')
  // Proofs asked for by some appends of a batch only.
  const c = [op(5), op(6), op(7)]
  const [without, withProofs] = await Promise.all([oplog.appendWithProofs(c.slice(0, 2), { proofs: false }), oplog.appendWithProofs(c.slice(2))])
  t.alike(without.map(x => x.proof), [null, null], 'no proof when none is asked for')
  await checkAll(t, core, c.slice(2), withProofs, 'mixed batch')
  t.alike(await oplog.appendMany([op(8)]), [core.length - 1], 'appendMany still gives seqs')
})
