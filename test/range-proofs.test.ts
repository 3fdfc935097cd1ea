// Range proofs (src/proofs/log/range-proofs.ts) on real Hypercores: every range of small
// trees against heads of many lengths, tampering of every field, and the size against
// one inclusion proof per block.
import test from 'brittle'
import type { Assertion } from 'brittle'
import Hypercore from 'hypercore'
import { verifyInclusionProof } from '../src/proofs/log/inclusion-proofs.js'
import { verifyRangeProof, type RangeProof } from '../src/proofs/log/range-proofs.js'
import { type SignedHead } from '../src/proofs/log/signed-head.js'
import { clone, flip, rejects } from './proof-helpers.js'
import { captureSignedHead, createInclusionProof, createRangeProof } from '../src/logs/proof-builders.js'

async function makeCore (t: Assertion): Promise<Hypercore> {
  const core = new Hypercore(await t.tmp())
  t.teardown(() => core.close())
  await core.ready()
  return core
}

const block = (i: number): Buffer => Buffer.from(`block ${i} `.repeat(1 + (i % 3)))

test('range proofs - every range of trees of 1 to 33 blocks, against heads captured on the way', async t => {
  const core = await makeCore(t)
  const heads: SignedHead[] = []
  for (let i = 0; i < 33; i++) {
    await core.append(block(i))
    heads.push(await captureSignedHead(core))
  }
  let checked = 0
  let wrong = 0
  let mostNodes = 0
  for (const head of heads.filter(h => [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 32, 33].includes(h.length))) {
    for (let s = 0; s < head.length; s++) {
      for (let e = s + 1; e <= head.length; e++) {
        const p = await createRangeProof(core, s, e, { head })
        const v = verifyRangeProof(JSON.parse(JSON.stringify(p)), { key: core.key })
        if (v.start !== s || v.values.length !== e - s || v.length !== head.length || v.treeHash.toString('hex') !== head.treeHash ||
          v.values.some((b, i) => !b.equals(block(s + i)))) wrong++
        mostNodes = Math.max(mostNodes, p.nodes.length)
        checked++
      }
    }
  }
  t.is(wrong, 0, `${checked} range proofs made against older heads verify and give the blocks back`)
  t.ok(mostNodes <= 10, `at most ${mostNodes} nodes for a tree of up to 33 blocks`)
  const whole = await createRangeProof(core, 0, 33)
  t.is(whole.nodes.length, 0, 'the whole log needs no nodes')
  t.is(whole.head.length, 33, 'without a head: the current one')
})

test('range proofs - a one-block range proves what the inclusion proof proves', async t => {
  const core = await makeCore(t)
  await core.append(Array.from({ length: 21 }, (_, i) => block(i)))
  for (const i of [0, 7, 16, 20]) {
    const r = verifyRangeProof(await createRangeProof(core, i, i + 1))
    const p = verifyInclusionProof(await createInclusionProof(core, i))
    t.ok(r.values[0].equals(p.value) && r.treeHash.equals(p.treeHash) && r.length === p.length, `block ${i}`)
  }
})

test('range proofs - tampering is rejected with its reason', async t => {
  const core = await makeCore(t)
  await core.append(Array.from({ length: 45 }, (_, i) => block(i)))
  const good = await createRangeProof(core, 9, 19)
  t.ok(good.nodes.length >= 3, `${good.nodes.length} nodes`)
  const edit = (f: (p: RangeProof) => void): RangeProof => { const p = clone(good); f(p); return p }
  rejects(t, () => verifyRangeProof(edit(p => { p.values[3] = flip(p.values[3]) })), 'tree-hash-mismatch', 'a block changed')
  rejects(t, () => verifyRangeProof(edit(p => { p.values.pop() })), 'range-nodes', 'a block left out')
  rejects(t, () => verifyRangeProof(edit(p => { p.values.push('00') })), 'range-nodes', 'a block added')
  rejects(t, () => verifyRangeProof(edit(p => { p.start++ })), 'range-nodes', 'the range shifted')
  rejects(t, () => verifyRangeProof(edit(p => { p.nodes.pop() })), 'range-nodes', 'a node left out')
  rejects(t, () => verifyRangeProof(edit(p => { p.nodes.push(p.nodes[0]) })), 'range-nodes', 'a node too many')
  rejects(t, () => verifyRangeProof(edit(p => { p.nodes.reverse() })), 'range-nodes', 'nodes in another order')
  rejects(t, () => verifyRangeProof(edit(p => { p.nodes[1].hash = flip(p.nodes[1].hash) })), 'tree-hash-mismatch', 'a node hash changed')
  rejects(t, () => verifyRangeProof(edit(p => { p.nodes[1].size++ })), 'tree-hash-mismatch', 'a node size changed')
  rejects(t, () => verifyRangeProof(edit(p => { p.head.signature = flip(p.head.signature) })), 'bad-signature', 'signature changed')
  rejects(t, () => verifyRangeProof(edit(p => { p.head.length = 40 })), 'bad-signature', 'another length')
  rejects(t, () => verifyRangeProof(edit(p => { p.start = 40 })), 'index-out-of-range', 'past the head')
  rejects(t, () => verifyRangeProof(good, { key: Buffer.alloc(32) }), 'unexpected-key', 'pinned to another key')
  rejects(t, () => verifyRangeProof(edit(p => { p.values = [] })), 'malformed', 'no blocks')
  rejects(t, () => verifyRangeProof(edit(p => { p.values[0] = 'xyz' })), 'malformed', 'a block that is not hex')
  rejects(t, () => verifyRangeProof({ ...good, extra: 1 }), 'malformed', 'an unknown field')
  rejects(t, () => verifyRangeProof('{"version":1'), 'malformed', 'broken JSON')
  await t.exception(() => createRangeProof(core, 5, 5), /range/, 'an empty range is refused')
  await t.exception(() => createRangeProof(core, 40, 46), /range/, 'a range past the head is refused')
})

test('range proofs - size: 512 consecutive blocks of a 5,000-block log against one inclusion proof each', async t => {
  const core = await makeCore(t)
  await core.append(Array.from({ length: 5000 }, (_, i) => Buffer.from(`entry ${i} `.repeat(8))))
  const head = await captureSignedHead(core)
  const range = JSON.stringify(await createRangeProof(core, 1000, 1512, { head }))
  let each = 0
  for (let i = 1000; i < 1512; i++) each += JSON.stringify(await createInclusionProof(core, i, { head })).length
  const blocks = 512 * 2 * Buffer.byteLength(`entry 1000 `.repeat(8))
  t.comment(`range proof ${range.length} B (the blocks as hex: ${blocks} B); 512 inclusion proofs ${each} B`)
  t.ok(range.length < blocks * 1.25, 'the range proof is the blocks plus a little')
  t.ok(range.length * 5 < each, 'and under a fifth of one inclusion proof per block')
})
