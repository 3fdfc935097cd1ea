// The one door to Holepunch internals (issue 35): src/holepunch/ is the only place that
// reads undocumented hypercore fields or stands in for a core, and nothing imports
// hyperbee/lib. Each internal is pinned here against the real library, so that a
// dependency upgrade that changes one fails here, by name, instead of somewhere in proof
// checking.
import test, { type Assertion } from 'brittle'
import { readdirSync, readFileSync, statSync } from 'fs'
import { join } from 'path'
import { fileURLToPath } from 'url'
import Corestore from 'corestore'
import Hyperbee from 'hyperbee'
import { beeNode } from '../src/proofs/bee/bee-schema.js'
import { BlockCore, hyperbeeOver } from '../src/holepunch/block-core.js'
import { coreStorage, remoteHeads, replicationState, treeHashFromStorage } from '../src/holepunch/core-internals.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A Corestore in a temporary directory, closed at teardown. */
async function tmpStore (t: Assertion): Promise<Corestore> {
  const store = new Corestore(await t.tmp())
  t.teardown(() => store.close())
  return store
}

test('holepunch - BlockCore: a Hyperbee over it answers as the bee whose blocks it serves', async t => {
  const store = await tmpStore(t)
  const bee = new Hyperbee(store.get({ name: 'index' }), { keyEncoding: 'utf-8', valueEncoding: 'binary' })
  await bee.ready()
  const batch = bee.batch()
  for (let i = 0; i < 300; i++) await batch.put(`k${String(i).padStart(3, '0')}`, Buffer.from(`v${i}`))
  await batch.flush()
  await bee.del('k007')
  const at = bee.core.length
  const served: number[] = []
  const core = new BlockCore(bee.core.key, at, bee.core.fork, {
    async raw (seq) { served.push(seq); return (await bee.core.get(seq)) as Buffer },
    async node (seq) {
      served.push(seq)
      const n = beeNode.decode((await bee.core.get(seq)) as Buffer)
      return { key: n.key, value: n.value, index: n.index }
    }
  })
  const replay = hyperbeeOver(core, at)
  for (const key of ['k000', 'k007', 'k150', 'k299', 'zzz']) {
    const want = await bee.get(key)
    const got = await replay.get(key)
    t.alike(got === null ? null : { seq: got.seq, value: got.value }, want === null ? null : { seq: want.seq, value: want.value }, `get ${key}`)
  }
  const range = { gte: 'k100', lt: 'k120', limit: Number.MAX_SAFE_INTEGER }
  const list = async (b: Hyperbee): Promise<string[]> => { const out: string[] = []; for await (const e of b.createReadStream(range)) out.push(`${e.key}@${e.seq}`); return out }
  t.alike(await list(replay), await list(bee), 'a range listing')
  t.ok(served.length > 2, `it read the b-tree nodes through the BlockCore (${served.length} reads)`)
  await replay.close()
})

test('holepunch - no file outside src/holepunch imports hyperbee/lib', t => {
  const offenders: string[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) { walk(p); continue }
      if (!p.endsWith('.ts') || p.includes(join('src', 'holepunch'))) continue
      if (/from ['"]hyperbee\/lib\//.test(readFileSync(p, 'utf8'))) offenders.push(p.slice(ROOT.length))
    }
  }
  for (const dir of ['src', 'cli', 'sandbox', 'bench', 'test', 'examples']) walk(join(ROOT, dir))
  t.alike(offenders, [], 'hyperbee/lib is imported through src/holepunch only')
})

test('holepunch - core.state.storage.read(): a read batch gives the stored blocks and tree leaves', async t => {
  const core = (await tmpStore(t)).get({ name: 'shape' })
  await core.append([Buffer.from('first'), Buffer.from('second block')])
  const storage = coreStorage(core)
  t.ok(storage !== null, 'the storage has read()')
  if (storage === null) return
  const rx = storage.read()
  const block = rx.getBlock(1)
  const leaf = rx.getTreeNode(2)
  rx.tryFlush()
  t.is((await block)?.toString(), 'second block', 'getBlock(i): the block')
  t.is((await leaf)?.size, 'second block'.length, 'getTreeNode(2i): its leaf, with the byte size')
})

test('holepunch - core.replicator: peers (stream, stats) and the open requests (peer, timestamp)', async t => {
  const a = await tmpStore(t)
  const b = await tmpStore(t)
  const writer = a.get({ name: 'shape' })
  await writer.append(Buffer.from('x'))
  const reader = b.get({ key: writer.key })
  await reader.ready()
  const s1 = a.replicate(true) as unknown as NodeJS.ReadWriteStream
  const s2 = b.replicate(false) as unknown as NodeJS.ReadWriteStream
  s1.pipe(s2).pipe(s1)
  t.teardown(() => { (s1 as unknown as { destroy: () => void }).destroy(); (s2 as unknown as { destroy: () => void }).destroy() })
  t.is((await reader.get(0))?.toString(), 'x', 'replicated')
  await reader.update({ wait: true })
  t.alike(remoteHeads(reader), [{ length: 1, synced: true }], 'remoteHeads: the peer said its copy holds 1 block')
  const state = replicationState(reader)
  t.ok(state !== null, 'the replicator exposes peers and _inflight')
  if (state === null) return
  t.is(state.peers.length, 1, 'one peer')
  t.is(typeof state.peers[0].stream.destroy, 'function', 'a peer has its stream')
  t.is(typeof state.peers[0].stats, 'object', 'and its per-message stats')
  t.ok(typeof (state.inflight as Iterable<unknown>)[Symbol.iterator] === 'function', 'the open requests are iterable')
  // many blocks at once: watch the requests while they are open
  const blocks = Array.from({ length: 500 }, (_, i) => Buffer.alloc(1024, i % 256))
  await writer.append(blocks)
  let done = false
  const all = reader.download({ start: 1, end: 501 }).done().then(() => { done = true })
  let seen: Array<{ peer?: unknown, timestamp?: number }> = []
  while (!done && seen.length === 0) {
    seen = [...state.inflight]
    await new Promise(resolve => setImmediate(resolve))
  }
  await all
  t.ok(seen.length > 0 && seen.every(r => r.peer === state.peers[0] && typeof r.timestamp === 'number'), `open requests name their peer and start time (${seen.length} seen)`)
})

test('holepunch - Hypercore.treeHashFromStorage: the tree hash at a length, as core.treeHash gives it', async t => {
  const core = (await tmpStore(t)).get({ name: 'tree' })
  await core.append([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')])
  for (const length of [1, 2, 3]) t.alike(await treeHashFromStorage(core, length), await core.treeHash(length), `length ${length}`)
})
