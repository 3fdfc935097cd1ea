// The one door to Holepunch internals (issue 35): src/holepunch/ is the only importer of
// undocumented hyperbee/hypercore modules. Each codec used there is pinned by its bytes,
// so that a dependency upgrade that changes one fails here, by name, instead of somewhere
// in proof checking.
import test from 'brittle'
import { readdirSync, readFileSync, statSync } from 'fs'
import { join } from 'path'
import { fileURLToPath } from 'url'
import { beeHeader, beeNode, beeYoloIndex } from '../src/holepunch/hyperbee-codecs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

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
