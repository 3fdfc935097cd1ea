// The one door to Holepunch internals (issue 35): src/holepunch/ is the only importer of
// undocumented hyperbee/hypercore modules. Each codec used there is pinned by its bytes,
// so that a dependency upgrade that changes one fails here, by name, instead of somewhere
// in proof checking.
import test, { type Assertion } from 'brittle'
import { readdirSync, readFileSync, statSync } from 'fs'
import { join } from 'path'
import { fileURLToPath } from 'url'
import Corestore from 'corestore'
import { beeHeader, beeNode, beeYoloIndex } from '../src/holepunch/hyperbee-codecs.js'
import { coreStorage, replicationState, treeHashFromStorage } from '../src/holepunch/core-internals.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A Corestore in a temporary directory, closed at teardown. */
async function tmpStore (t: Assertion): Promise<Corestore> {
  const store = new Corestore(await t.tmp())
  t.teardown(() => store.close())
  return store
}

test('holepunch - hyperbee YoloIndex codec: the bytes this project was built against', t => {
  const levels = { levels: [{ keys: [1], children: [2, 3] }] }
  t.is(beeYoloIndex.encode(levels).toString('hex'), '0a070a010112020203')
  t.alike(beeYoloIndex.decode(Buffer.from('0a070a010112020203', 'hex')).levels.map(l => ({ keys: [...l.keys], children: [...l.children] })), levels.levels)
})

test('holepunch - hyperbee Node codec: the bytes this project was built against', t => {
  const hex = '0a090a070a0101120202031201611a0162'
  const node = beeNode.decode(Buffer.from(hex, 'hex'))
  t.is(node.key.toString(), 'a', 'key')
  t.is(node.value?.toString(), 'b', 'value')
  t.is(node.index?.toString('hex'), '0a070a010112020203', 'index: the encoded b-tree levels')
  t.is(beeNode.encode(node).toString('hex'), hex, 'encode(decode(x)) = x')
  t.is(beeNode.encode({ key: Buffer.from('a'), value: Buffer.from('b'), index: beeYoloIndex.encode({ levels: [{ keys: [1], children: [2, 3] }] }) }).toString('hex'), hex)
})

test('holepunch - hyperbee Header codec: the bytes this project was built against', t => {
  t.is(beeHeader.encode({ protocol: 'hyperbee', metadata: null }).toString('hex'), '0a086879706572626565')
  t.is(beeHeader.decode(Buffer.from('0a086879706572626565', 'hex')).protocol, 'hyperbee')
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
