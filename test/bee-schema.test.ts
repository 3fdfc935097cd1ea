// Hyperbee's block format decoded from its documented schema (src/proofs/bee/bee-schema.ts):
// pinned bytes, every block of a real Hyperbee read back and re-encoded byte for byte,
// and malformed blocks refused.
import test from 'brittle'
import Corestore from 'corestore'
import Hyperbee from 'hyperbee'
import { beeHeader, beeNode, beeYoloIndex } from '../src/proofs/bee/bee-schema.js'

test('bee schema - YoloIndex, Node and Header: the bytes hyperbee writes', t => {
  const levels = { levels: [{ keys: [1], children: [2, 3] }] }
  t.is(beeYoloIndex.encode(levels).toString('hex'), '0a070a010112020203')
  t.alike(beeYoloIndex.decode(Buffer.from('0a070a010112020203', 'hex')), levels)
  const hex = '0a090a070a0101120202031201611a0162'
  const node = beeNode.decode(Buffer.from(hex, 'hex'))
  t.is(node.key.toString(), 'a', 'key')
  t.is(node.value?.toString(), 'b', 'value')
  t.is(node.index.toString('hex'), '0a070a010112020203', 'index: the encoded b-tree levels')
  t.is(beeNode.encode(node).toString('hex'), hex, 'encode(decode(x)) = x')
  t.is(beeNode.encode({ key: Buffer.from('a'), value: null, index: beeYoloIndex.encode({ levels: [] }) }).toString('hex'), '0a001201' + '61', 'no value: no field 3')
  t.is(beeHeader.encode({ protocol: 'hyperbee', metadata: null }).toString('hex'), '0a086879706572626565')
  t.is(beeHeader.decode(Buffer.from('0a086879706572626565', 'hex')).protocol, 'hyperbee')
  t.alike(beeYoloIndex.decode(beeYoloIndex.encode({ levels: [{ keys: [2 ** 40], children: [] }] })).levels[0].keys, [2 ** 40], 'large seqs')
})

test('bee schema - every block of a real Hyperbee decodes to its entries and re-encodes to its bytes', async t => {
  const store = new Corestore(await t.tmp())
  t.teardown(() => store.close())
  const bee = new Hyperbee(store.get({ name: 'index' }), { keyEncoding: 'utf-8', valueEncoding: 'binary' })
  await bee.ready()
  for (let round = 0; round < 3; round++) {
    const batch = bee.batch()
    for (let i = 0; i < 200; i++) await batch.put(`key-${(i * 37 + round) % 211}`, Buffer.from(`value ${round} ${i}`))
    await batch.flush()
  }
  await bee.del('key-5')
  const history = new Map<number, { key: string, value: Buffer | null }>()
  for await (const e of bee.createHistoryStream()) history.set(e.seq, { key: e.key, value: e.type === 'del' ? null : e.value })
  const header = (await bee.core.get(0)) as Buffer
  t.is(beeHeader.decode(header).protocol, 'hyperbee', 'block 0 is the header')
  let checked = 0
  for (let seq = 1; seq < bee.core.length; seq++) {
    const raw = (await bee.core.get(seq)) as Buffer
    const node = beeNode.decode(raw)
    const want = history.get(seq)
    if (want === undefined || node.key.toString() !== want.key || (want.value !== null && !want.value.equals(node.value ?? Buffer.alloc(0)))) {
      t.fail(`block ${seq} does not hold its history entry`)
      return
    }
    const levels = beeYoloIndex.decode(node.index)
    if (!beeYoloIndex.encode(levels).equals(node.index) || !beeNode.encode(node).equals(raw)) {
      t.fail(`block ${seq} does not re-encode to its bytes`)
      return
    }
    checked++
  }
  t.is(checked, bee.core.length - 1, `${checked} blocks decoded to their entries and re-encoded byte for byte`)
})

test('bee schema - malformed blocks are refused', t => {
  const bad: Array<[string, string]> = [
    ['1201610a', 'truncated index field'],
    ['1201', 'truncated key'],
    ['1a0162', 'no index and no key'],
    ['0a00', 'an index and no key'],
    ['0a0012016108', 'a truncated varint field'],
    ['0800120161', 'index as a varint'],
    ['0a001201610f', 'wire type 7'],
    ['0a00120161' + '18' + 'ffffffffffffffffff01', 'a varint beyond 2^53']
  ]
  for (const [hex, why] of bad) t.exception(() => beeNode.decode(Buffer.from(hex, 'hex')), undefined, `node: ${why}`)
  t.exception(() => beeYoloIndex.decode(Buffer.from('0a030a0501', 'hex')), undefined, 'levels: a packed list longer than its level')
  t.exception(() => beeYoloIndex.decode(Buffer.from('0a0208ff', 'hex')), undefined, 'levels: keys not packed')
  t.exception(() => beeHeader.decode(Buffer.from('1200', 'hex')), undefined, 'header: no protocol')
  t.alike(beeNode.decode(Buffer.from('0a00120161' + '2001', 'hex')).key, Buffer.from('a'), 'an unknown varint field is skipped')
})
