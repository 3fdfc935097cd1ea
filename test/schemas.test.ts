import test from 'brittle'
import { encodeValue, canonicalJson } from '../src/format/encoding.js'
import { encodeAck, decodeAck, decodeOp, encodeOp, ackKey, parseAckKey, actionsToChanges, ackErrorText, inputKey, ACKS_PREFIX, CONTRACT_SOURCE_KEY, GENESIS_KEY, GOVERNANCE_KEY, type Ack } from '../src/format/schemas.js'
import { keyToPath, pathToKey, SEP } from '../src/format/paths.js'

const base: Ack = { v: 1, origin: 'ab'.repeat(32), seq: 3, oplogLength: 4, oplogTreeHash: 'cd'.repeat(32), ts: 1700000000000, metadata: { z: 1, a: [1, { y: 2, b: null }] }, success: true, numChanges: 2, batchStart: 7 }

test('schemas - encodeAck gives exactly the canonical encoding', t => {
  for (const ack of [base, { ...base, success: false, error: 'boom "quoted"', errorCode: 'CONTRACT_RUNTIME_ERROR', numChanges: 0, metadata: null }, { ...base, metadata: 'ünïcode', ts: 0 }]) {
    t.alike(encodeAck(ack), encodeValue(ack))
    t.alike(decodeAck(encodeAck(ack)), JSON.parse(canonicalJson(ack)))
  }
})

test('schemas - decodeAck rejects malformed acks', t => {
  for (const bad of [{ ...base, v: 2 }, { ...base, origin: 'xyz' }, { ...base, seq: -1 }, { ...base, success: 'yes' }, { ...base, error: 5 }, [1, 2]]) {
    t.exception(() => decodeAck(encodeValue(bad)), /Malformed ack/)
  }
  t.exception(() => decodeAck(Buffer.from('{nope')), /JSON/)
})

test('schemas - ops: canonical JSON objects with a string op', t => {
  t.alike(decodeOp(encodeOp({ op: 'X', b: 1, a: 2 })), { a: 2, b: 1, op: 'X' })
  t.exception(() => decodeOp(Buffer.from('{"op":"X","a":1}')), /canonical/)
  t.exception(() => encodeOp({ nop: 1 }), /"op"/)
  t.exception(() => encodeOp({ op: 'X', v: NaN }), /finite/)
})

test('schemas - ack keys sort by seq and parse back', t => {
  const o = 'ef'.repeat(32)
  t.ok(ackKey(o, 9) < ackKey(o, 10))
  t.alike(parseAckKey(ackKey(o, 12345)), { origin: o, seq: 12345 })
  t.is(parseAckKey(GENESIS_KEY), null)
  const key = ackKey(o, 7)
  t.is(key, pathToKey(`/.sys/acks/${o}/0000000000000007`), 'the stored key of /.sys/acks/{hex}/{16-digit seq}')
  t.is(keyToPath(key), `/.sys/acks/${o}/0000000000000007`)
  t.is(GENESIS_KEY, '.sys\x00acks\x00genesis')
  t.is(CONTRACT_SOURCE_KEY, '.sys\x00contract\x00source')
  t.is(inputKey(o), '.sys\x00inputs\x00' + o)
  t.is(GOVERNANCE_KEY, '.sys\x00governance')
  const rest = key.slice(ACKS_PREFIX.length)
  for (const bad of [
    key.toUpperCase(), key + '0', key.slice(0, -1), key.replace(SEP + '0', '-0'), key.replace(SEP + '0', '/0'), key.slice(0, -1) + 'x',
    '.sys' + SEP + 'ack' + SEP + rest, '.sys/acks/' + o + '/0000000000000007', key.replace('ef', 'eg')
  ]) {
    t.is(parseAckKey(bad), null, `not an ack key: ${JSON.stringify(bad)}`)
  }
})

test('schemas - oplog entries must be canonical JSON (fast check and full check agree)', t => {
  const ok = ['{"op":"X"}', '{"a":1,"op":"X"}', '{"10":1,"9":2,"op":"X"}', '{"op":"X","v":[{"a":null,"b":[1.5,-2,"\\u0000"]}]}', '{"op":"é"}', '{"op":"X","v":1e+21}']
  for (const text of ok) t.is(JSON.stringify(decodeOp(Buffer.from(text))), JSON.stringify(JSON.parse(text)), `canonical: ${text}`)
  const bad = ['{"op":"X","a":1}', '{"op":"X","op":"X"}', '{ "op":"X"}', '{"op":"\\u00e9"}', '{"op":"X","v":1.0}', '{"op":"X","v":-0}', '{"9":2,"10":1,"op":"X"}', '{"op":"X","v":{"b":1,"a":2}}']
  for (const text of bad) t.exception(() => decodeOp(Buffer.from(text)), /canonical/, `not canonical: ${text}`)
})

test('schemas - a delete of an absent key is not a change', async t => {
  const has = async (k: string): Promise<boolean> => k === 'present'
  const changes = await actionsToChanges([{ type: 'del', key: 'absent' }, { type: 'put', key: 'absent', value: 1 }, { type: 'del', key: 'absent' }, { type: 'del', key: 'present' }], has)
  t.alike(changes.map(c => [c.type, c.key]), [['put', 'absent'], ['del', 'absent'], ['del', 'present']])
})

test('schemas - a failed op\'s ack error is "Name: message", as Vitra writes it', t => {
  const guest = (name: string, message: string): Error & { details: Record<string, unknown> } => Object.assign(new Error(message), { details: { name } })
  t.is(ackErrorText(guest('Error', 'TX failed')), 'Error: TX failed')
  t.is(ackErrorText(guest('AssertionError', 'amount must be an integer')), 'AssertionError: amount must be an integer')
  t.is(ackErrorText(guest('TypeError', 'an index entry is a record')), 'TypeError: an index entry is a record')
  t.is(ackErrorText(guest('Thrown', 'the contract threw a bare string')), 'the contract threw a bare string', 'a thrown non-error: its message alone')
  const host = new RangeError('no details')
  t.is(ackErrorText(host), 'RangeError: no details', 'a host error without details: its own name')
})
