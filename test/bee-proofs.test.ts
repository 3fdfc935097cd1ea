import test from 'brittle'
import type { Assertion } from 'brittle'
import Corestore from 'corestore'
import Hyperbee from 'hyperbee'
import Hypercore from 'hypercore'
import { beeHeader, beeNode, beeYoloIndex } from '../src/proofs/bee/bee-schema.js'
import { fileURLToPath } from 'url'
import { readFileSync } from 'fs'
import { indexReadProofFromJSON, indexReadProofToJSON, proofReader, verifyIndexReadProof, type IndexRange, type IndexRead, type IndexReadProof, type ProvenEntry, type ProvenGet } from '../src/proofs/bee/bee-proofs.js'
import { nodeFromJSON, nodeToJSON, type NodeJSON } from '../src/proofs/log/signed-head.js'
import { flatDepth, flatFirstBlock, flatLeaves, fullRoots, leafNode, parentNode, type TreeNode } from '../src/proofs/crypto/hypercore-crypto.js'
import { clone, flip, rejectsAsync as rejects, runChild } from './proof-helpers.js'
import { captureSignedHead, coreManifest, createIndexReadProof } from '../src/logs/proof-builders.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

interface Fixture { bee: Hyperbee, ends: number[] }

function keyOf (i: number): string { return `key/${String(i).padStart(6, '0')}` }
function valueAt (i: number): Buffer { return Buffer.from(`value ${i}`) }

/** An empty index-style bee (utf-8 keys, binary values) on a Corestore in t.tmp(), closed at teardown. */
async function emptyBee (t: Assertion): Promise<Hyperbee> {
  const store = new Corestore(await t.tmp())
  const bee = new Hyperbee(store.get({ name: 'index' }), { keyEncoding: 'utf-8', valueEncoding: 'binary' })
  t.teardown(async () => {
    await bee.close()
    await store.close()
  })
  await bee.ready()
  return bee
}

/** A bee on a Corestore in t.tmp() with `n` keys written in batches of `batch`; `ends` are the batch ends. */
async function makeBee (t: Assertion, n: number, batch = 100): Promise<Fixture> {
  const bee = await emptyBee(t)
  const ends: number[] = []
  for (let i = 0; i < n; i += batch) {
    const b = bee.batch()
    for (let j = i; j < i + batch && j < n; j++) await b.put(keyOf(j), valueAt(j))
    await b.flush()
    ends.push(bee.core.length)
  }
  return { bee, ends }
}

/** What the live bee answers at `at` (a checkout, closed). */
async function liveList (bee: Hyperbee, at: number, range: IndexRange): Promise<ProvenEntry[]> {
  const c = bee.checkout(at)
  try {
    const out: ProvenEntry[] = []
    for await (const e of c.createReadStream(range)) out.push({ key: e.key, value: e.value, seq: e.seq })
    return out
  } finally {
    await c.close()
  }
}




test('bee-proof - get of a present and of an absent key at the latest version (5,000 keys, batches of 100)', async (t) => {
  const { bee } = await makeBee(t, 5000)
  const at = bee.core.length
  t.is(at, 5001, 'header + 5,000 blocks')
  const proof = await createIndexReadProof(bee, at, [{ kind: 'get', key: keyOf(1234) }, { kind: 'get', key: 'key/001234x' }])
  t.is(proof.type, 'vitra/index-read-proof')
  t.is(proof.key, bee.core.key.toString('hex'))
  t.is(proof.at, at)
  t.is(proof.blocks[0].seq, 0, 'the header block is included')
  const text = indexReadProofToJSON(proof)
  t.alike(indexReadProofFromJSON(text), proof, 'fromJSON(toJSON(p)) equals p')
  const r = await verifyIndexReadProof(text, { key: bee.core.key, at })
  t.is(r.at, at)
  t.ok(r.key.equals(bee.core.key))
  const [present, absent] = r.results as ProvenGet[]
  const live = await bee.get(keyOf(1234))
  t.is(present.key, keyOf(1234))
  t.alike(present.value, valueAt(1234), 'present key: proven value')
  t.is(present.seq, live?.seq, 'present key: proven seq is the live one')
  t.alike(absent, { key: 'key/001234x', value: null, seq: null }, 'absent key proven absent')
  t.comment(`one get + one absent get on 5,000 keys: ${proof.blocks.length} blocks, ${proof.nodes.length} nodes, ${text.length} JSON bytes`)
})

test('bee-proof - proof size of one get on 5,000 keys', async (t) => {
  const { bee } = await makeBee(t, 5000)
  let maxBlocks = 0
  let maxBytes = 0
  let sumBytes = 0
  const probes = [0, 1, 777, 2500, 4321, 4999]
  for (const i of probes) {
    const p = await createIndexReadProof(bee, bee.core.length, [{ kind: 'get', key: keyOf(i) }])
    const bytes = indexReadProofToJSON(p).length
    maxBlocks = Math.max(maxBlocks, p.blocks.length)
    maxBytes = Math.max(maxBytes, bytes)
    sumBytes += bytes
  }
  t.comment(`one get on 5,000 keys: at most ${maxBlocks} blocks (header included), JSON mean ${Math.round(sumBytes / probes.length)} bytes, max ${maxBytes}`)
  t.ok(maxBlocks <= 24, `at most 24 blocks (${maxBlocks}): about 4 tree levels × (1 node block + up to 4 key blocks of the binary search) + the header`)
  t.ok(maxBytes < 16_000, `under 16 KB (${maxBytes})`)
})

test('bee-proof - lists (prefix range with limit, reverse) at an older batch end and at the latest', async (t) => {
  const { bee, ends } = await makeBee(t, 5000)
  const older = ends[9] // after 1,000 keys
  const latest = bee.core.length
  const ranges: IndexRange[] = [
    { gte: 'key/0005', lt: 'key/0006', limit: 7 }, // prefix key/0005.. with limit
    { gte: 'key/0009', lt: 'key/0010', reverse: true, limit: 5 }, // reverse with limit
    { gt: keyOf(990), lte: keyOf(1010) }, // straddles the end of the older version
    { lt: 'key/', reverse: true } // empty range
  ]
  for (const at of [older, latest]) {
    const proof = await createIndexReadProof(bee, at, [...ranges.map(range => ({ kind: 'list' as const, range })), { kind: 'get', key: keyOf(3000) }])
    const r = await verifyIndexReadProof(JSON.parse(JSON.stringify(proof)), { key: bee.core.key.toString('hex'), at })
    for (let i = 0; i < ranges.length; i++) {
      t.alike(r.results[i], await liveList(bee, at, ranges[i]), `at ${at}: range ${JSON.stringify(ranges[i])} equals the live checkout`)
    }
    const get = r.results[ranges.length] as ProvenGet
    if (at === older) t.is(get.seq, null, `at ${at}: key 3000 (written later) is proven absent`)
    else t.alike(get.value, valueAt(3000), `at ${at}: key 3000 is present`)
    t.comment(`at ${at}: ${ranges.length} lists + 1 get: ${proof.blocks.length} blocks, ${JSON.stringify(proof).length} JSON bytes`)
  }
  const first = (await verifyIndexReadProof(await createIndexReadProof(bee, older, [{ kind: 'list', range: ranges[0] }]))).results[0] as ProvenEntry[]
  t.alike(first.map(e => e.key), [500, 501, 502, 503, 504, 505, 506].map(keyOf), 'prefix list with limit 7')
  const rev = (await verifyIndexReadProof(await createIndexReadProof(bee, older, [{ kind: 'list', range: ranges[1] }]))).results[0] as ProvenEntry[]
  t.alike(rev.map(e => e.key), [999, 998, 997, 996, 995].map(keyOf), 'reverse prefix list with limit 5')
})

test('bee-proof - proofReader answers covered reads and throws incomplete for the rest', async (t) => {
  const { bee } = await makeBee(t, 5000)
  const at = bee.core.length
  const proof = await createIndexReadProof(bee, at, [{ kind: 'get', key: keyOf(42) }, { kind: 'list', range: { gte: 'key/0020', lt: 'key/0021' } }])
  const reader = await proofReader(proof, { key: bee.core.key })
  t.teardown(() => reader.close())
  t.alike((await reader.get(keyOf(42)))?.value, valueAt(42), 'the proven get')
  t.alike((await reader.list({ gte: 'key/0020', lt: 'key/0021' })).length, 100, 'the proven list')
  t.alike((await reader.list({ gte: keyOf(2010), lt: keyOf(2015) })).map(e => e.key), [2010, 2011, 2012, 2013, 2014].map(keyOf), 'a sub-range of the proven list is covered')
  t.alike((await reader.get(keyOf(2050)))?.value, valueAt(2050), 'a key of the proven list is covered by get')
  await rejects(t, () => reader.get(keyOf(4000)), 'incomplete', 'get of a key the proof does not cover')
  await rejects(t, () => reader.list({ gte: keyOf(3000), limit: 3 }), 'incomplete', 'list the proof does not cover')
  await rejects(t, () => reader.list({ gte: 'key/0020', lt: 'key/0022' }), 'incomplete', 'list running past the covered range')
  // a proof whose reads were changed after it was made replays the new reads and fails
  const forged = clone(proof)
  forged.reads[0] = { kind: 'get', key: keyOf(4000) }
  await rejects(t, () => verifyIndexReadProof(forged), 'incomplete', 'reads edited to one the blocks do not cover')
})

test('bee-proof - verified in a fresh child process from the JSON alone', async (t) => {
  const { bee, ends } = await makeBee(t, 5000)
  const proof = await createIndexReadProof(bee, ends[20], [{ kind: 'get', key: keyOf(1500) }, { kind: 'get', key: keyOf(4500) }, { kind: 'list', range: { gte: 'key/0015', limit: 3 } }])
  const script = `
    import { verifyIndexReadProof } from ${JSON.stringify(ROOT + 'dist/src/proofs/bee/bee-proofs.js')}
    let text = ''
    for await (const c of process.stdin) text += c
    const r = await verifyIndexReadProof(text)
    const show = v => v === null ? null : v.toString()
    console.log(JSON.stringify({ at: r.at, key: r.key.toString('hex'), results: r.results.map(x => Array.isArray(x) ? x.map(e => [e.key, show(e.value), e.seq]) : [x.key, show(x.value), x.seq]) }))
  `
  const out = JSON.parse(await runChild(script, indexReadProofToJSON(proof))) as { at: number, key: string, results: unknown[] }
  t.is(out.at, ends[20])
  t.is(out.key, bee.core.key.toString('hex'))
  const seq1500 = (await bee.get(keyOf(1500)))?.seq
  t.alike(out.results, [
    [keyOf(1500), 'value 1500', seq1500],
    [keyOf(4500), null, null],
    [1500, 1501, 1502].map(i => [keyOf(i), `value ${i}`, i + 1])
  ], 'the child process proves the same results')
})

test('bee-proof - tampering is rejected', async (t) => {
  const { bee } = await makeBee(t, 5000)
  const at = bee.core.length
  const proof = await createIndexReadProof(bee, at, [{ kind: 'get', key: keyOf(2222) }])
  await t.execution(() => verifyIndexReadProof(clone(proof)), 'the untouched proof verifies')

  // forged block value: change the value bytes of the block holding the key
  const target = (await bee.get(keyOf(2222)))?.seq as number
  const forged = clone(proof)
  const b = forged.blocks.find(x => x.seq === target) as { seq: number, value: string }
  const hex = Buffer.from('value 2222').toString('hex')
  t.ok(b.value.includes(hex), 'the key block holds the value')
  b.value = b.value.replace(hex, Buffer.from('value 6666').toString('hex'))
  await rejects(t, () => verifyIndexReadProof(forged), 'tree-hash-mismatch', 'forged block value')

  // dropped block: without its leaf the tree does not fold
  const dropped = clone(proof)
  const i = dropped.blocks.findIndex(x => x.seq === target)
  const [gone] = dropped.blocks.splice(i, 1)
  await rejects(t, () => verifyIndexReadProof(dropped), 'missing-block', 'dropped block')
  t.is(gone.seq, target)
  // dropped block with a multiproof re-folded without it (as an attacker can): the tree hash
  // verifies, and the replay finds the block missing
  await rejects(t, () => verifyIndexReadProof(withoutBlock(proof, target)), 'incomplete', 'dropped block, multiproof re-folded')
  await rejects(t, () => verifyIndexReadProof(withoutBlock(proof, 0)), 'incomplete', 'dropped header block, multiproof re-folded')

  // multiproof nodes
  const forgedNode = clone(proof)
  forgedNode.nodes[3].hash = flip(forgedNode.nodes[3].hash)
  await rejects(t, () => verifyIndexReadProof(forgedNode), 'tree-hash-mismatch', 'forged multiproof node')
  const extra = clone(proof)
  extra.nodes.push({ index: extra.nodes[extra.nodes.length - 1].index + 2, size: 1, hash: '00'.repeat(32) })
  await rejects(t, () => verifyIndexReadProof(extra), 'extra-node', 'extra multiproof node')
  const lessNodes = clone(proof)
  lessNodes.nodes.splice(2, 1)
  await rejects(t, () => verifyIndexReadProof(lessNodes), 'missing-node', 'node removed')

  // wrong key
  const other = await makeBee(t, 10)
  await rejects(t, () => verifyIndexReadProof(proof, { key: other.bee.core.key }), 'unexpected-key', 'pinned to another key')
  const wrongKey = clone(proof)
  wrongKey.key = other.bee.core.key.toString('hex')
  await rejects(t, () => verifyIndexReadProof(wrongKey), 'manifest-key-mismatch', 'key replaced')

  // head signature from another core
  const otherHead = await captureSignedHead(other.bee.core)
  const badSig = clone(proof)
  badSig.head.signature = otherHead.signature
  await rejects(t, () => verifyIndexReadProof(badSig), 'bad-signature', 'signature of another core')
  const otherWhole = clone(proof)
  otherWhole.head = { length: otherHead.length, fork: otherHead.fork, treeHash: otherHead.treeHash, signature: otherHead.signature }
  await rejects(t, () => verifyIndexReadProof(otherWhole), 'bad-signature', 'whole head of another core')
  const otherSigner = clone(proof)
  otherSigner.key = otherHead.key
  otherSigner.manifest.signers[0].publicKey = (other.bee.core.manifest!.signers[0].publicKey as Buffer).toString('hex')
  await rejects(t, () => verifyIndexReadProof(otherSigner), 'bad-signature', 'manifest and key of another core')

  // versions and ranges
  const late = clone(proof)
  late.at = late.head.length + 1
  await rejects(t, () => verifyIndexReadProof(late), 'version-out-of-range', 'at beyond the head')
  await rejects(t, () => verifyIndexReadProof(proof, { at: at - 100 }), 'unexpected-version', 'pinned to another version')
  const early = clone(proof)
  early.at = 1000 // blocks above 1000 are then out of range
  await rejects(t, () => verifyIndexReadProof(early), 'block-out-of-range', 'at moved below the touched blocks')

  // shape
  await rejects(t, () => verifyIndexReadProof('{'), 'malformed', 'not JSON')
  const unsorted = clone(proof)
  unsorted.blocks.reverse()
  await rejects(t, () => verifyIndexReadProof(unsorted), 'malformed', 'unsorted blocks')
  const extraField = clone(proof) as unknown as Record<string, unknown>
  extraField.results = []
  await rejects(t, () => verifyIndexReadProof(extraField), 'malformed', 'a results field is not allowed (results come from the replay)')
  const badRead = clone(proof) as unknown as { reads: unknown[] }
  badRead.reads = [{ kind: 'del', key: 'x' }]
  await rejects(t, () => verifyIndexReadProof(badRead), 'malformed', 'unknown read kind')
})

test('bee-proof - random puts and dels in uneven batches: every batch end replays like the live bee', async (t) => {
  const bee = await emptyBee(t)
  let x = 12345
  const rnd = (n: number): number => { // mulberry32
    x = (x + 0x6d2b79f5) | 0
    let z = Math.imul(x ^ (x >>> 15), 1 | x)
    z = (z + Math.imul(z ^ (z >>> 7), 61 | z)) ^ z
    return ((z ^ (z >>> 14)) >>> 0) % n
  }
  const ends: number[] = []
  for (let batch = 0; batch < 60; batch++) {
    const b = bee.batch()
    const size = 1 + rnd(40)
    for (let j = 0; j < size; j++) {
      const k = keyOf(rnd(600))
      if (rnd(4) === 0) await b.del(k)
      else await b.put(k, Buffer.from(`v${batch}.${j}`))
    }
    await b.flush()
    if (ends[ends.length - 1] !== bee.core.length) ends.push(bee.core.length)
  }
  let checked = 0
  for (const at of ends.filter((_, i) => i % 3 === 0 || i === ends.length - 1)) {
    const reads: [IndexRead, IndexRead, { kind: 'list', range: IndexRange }, IndexRead] = [
      { kind: 'get' as const, key: keyOf(rnd(600)) },
      { kind: 'get' as const, key: keyOf(rnd(600)) },
      { kind: 'list' as const, range: { gte: keyOf(rnd(600)), limit: 1 + rnd(20) } },
      { kind: 'list' as const, range: { lt: keyOf(rnd(600)), limit: 1 + rnd(20), reverse: true } }
    ]
    // createIndexReadProof itself fails unless the replay equals the live checkout
    const proof = await createIndexReadProof(bee, at, reads)
    const r = await verifyIndexReadProof(proof, { at })
    t.alike(r.results[2], await liveList(bee, at, reads[2].range), `at ${at}: forward list`)
    checked++
  }
  t.ok(checked >= 20, `${checked} batch ends checked`)
})

test('bee-proof - the only version of an empty bee (header only) proves every key absent', async (t) => {
  const { bee } = await makeBee(t, 0)
  await bee.put('a', Buffer.from('1')) // writes the header and one entry
  const p1 = await createIndexReadProof(bee, 1, [{ kind: 'get', key: 'a' }, { kind: 'list', range: {} }])
  const r1 = await verifyIndexReadProof(p1)
  t.alike(r1.results, [{ key: 'a', value: null, seq: null }, []], 'at version 1 nothing exists')
  t.is(p1.blocks.length, 1, 'only the header block')
  const p2 = await createIndexReadProof(bee, 2, [{ kind: 'get', key: 'a' }])
  t.alike((await verifyIndexReadProof(p2)).results[0], { key: 'a', value: Buffer.from('1'), seq: 1 })
})

test('bee-proof - the worked example of whitepaper/proofs.md verifies', async (t) => {
  const md = readFileSync(ROOT + 'whitepaper/proofs.md', 'utf8')
  const at = md.indexOf('<!-- index-read-proof-example -->')
  t.ok(at >= 0, 'the example marker is there')
  const m = /```json\n([\s\S]*?)\n```/.exec(md.slice(at))
  const r = await verifyIndexReadProof(m?.[1] ?? '', { key: '04dc2c70d9b3954c86f4d0ffeae59b601b9739d285d5bb1849a9f93f45d95c18', at: 4 })
  t.alike(r.results, [{ key: 'b', value: Buffer.from('2'), seq: 2 }, { key: 'bb', value: null, seq: null }])
  t.is(r.length, 5)
})

test('bee-proof - a signed but malformed index is rejected (malformed-index, not-a-hyperbee)', async (t) => {
  const [Node, YoloIndex, Header] = [beeNode, beeYoloIndex, beeHeader]
  const header = Header.encode({ protocol: 'hyperbee', metadata: null })
  const node = (levels: Array<{ keys: number[], children: number[] }>): Buffer => Node.encode({ key: Buffer.from('k'), value: Buffer.from('v'), index: YoloIndex.encode({ levels }) })
  /** A hand-made proof over all blocks of a fresh core holding `blocks` (so the multiproof is empty). */
  async function signed (blocks: Buffer[], key = 'zzz'): Promise<IndexReadProof> {
    const core = new Hypercore(await t.tmp())
    t.teardown(() => core.close())
    await core.ready()
    await core.append(blocks)
    const head = await captureSignedHead(core)
    const proof: IndexReadProof = {
      version: 1,
      type: 'vitra/index-read-proof',
      key: head.key,
      manifest: coreManifest(core),
      at: blocks.length,
      head: { length: head.length, fork: head.fork, treeHash: head.treeHash, signature: head.signature },
      blocks: blocks.map((b, seq) => ({ seq, value: b.toString('hex') })),
      nodes: [],
      reads: [{ kind: 'get', key }]
    }
    return proof
  }
  const good = await signed([header, node([{ keys: [1], children: [] }])], 'k')
  t.alike((await verifyIndexReadProof(good)).results, [{ key: 'k', value: Buffer.from('v'), seq: 1 }], 'a hand-made one-key bee verifies')
  await rejects(t, async () => verifyIndexReadProof(await signed([header, node([{ keys: [1], children: [1, 0, 1, 0] }])])), 'malformed-index', 'a node that is its own child')
  await rejects(t, async () => verifyIndexReadProof(await signed([header, node([{ keys: [1], children: [1, 1, 1, 1] }, { keys: [1], children: [1, 0, 1, 0] }])])), 'malformed-index', 'a cycle of two levels')
  await rejects(t, async () => verifyIndexReadProof(await signed([header, node([{ keys: [7], children: [] }])])), 'malformed-index', 'a key pointer to a later block')
  await rejects(t, async () => verifyIndexReadProof(await signed([header, Buffer.from('not a node')])), 'malformed-index', 'a block that is not a node')
  await rejects(t, async () => verifyIndexReadProof(await signed([Buffer.from('not a header'), node([{ keys: [1], children: [] }])])), 'not-a-hyperbee', 'block 0 is not a Hyperbee header')
})

/** The merkle node `index` of the tree a (valid) proof proves, folded from its blocks and nodes. */
function nodeOf (p: IndexReadProof, index: number): TreeNode {
  const given = p.nodes.find(n => n.index === index)
  if (given !== undefined) return nodeFromJSON(given)
  if (flatDepth(index) === 0) {
    const b = p.blocks.find(x => x.seq === index / 2)
    if (b === undefined) throw new Error(`node ${index} is not determined by the proof`)
    return leafNode(b.seq, Buffer.from(b.value, 'hex'))
  }
  const half = 2 ** (flatDepth(index) - 1)
  return parentNode(nodeOf(p, index - half), nodeOf(p, index + half))
}

/** `p` without block `seq`, with the multiproof re-folded so that the tree hash still verifies. */
function withoutBlock (p: IndexReadProof, seq: number): IndexReadProof {
  const out = clone(p)
  out.blocks = out.blocks.filter(b => b.seq !== seq)
  const seqs = out.blocks.map(b => b.seq)
  const nodes: NodeJSON[] = []
  const fold = (index: number): void => {
    const first = flatFirstBlock(index)
    const inside = seqs.some(s => s >= first && s < first + flatLeaves(index))
    if (!inside) nodes.push(nodeToJSON(nodeOf(p, index)))
    else if (flatDepth(index) > 0) {
      const half = 2 ** (flatDepth(index) - 1)
      fold(index - half)
      fold(index + half)
    }
  }
  for (const r of fullRoots(p.head.length)) fold(r)
  out.nodes = nodes
  return out
}

