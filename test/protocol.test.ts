import test from 'brittle'
import { readFileSync } from 'fs'
import {
  decodeArgList,
  decodeBatchAnswer,
  decodeBindAnswer,
  decodeCallOutcome,
  decodeCallsAnswer,
  decodeGuestError,
  decodeListArg,
  decodeOpgetArg,
  isHostOp
} from '../sandbox/protocol.js'
import { guestSources } from '../sandbox/guest-sources.js'

const err = { name: 'Error', message: 'boom', stack: 'at x' }

test('protocol - well-formed guest answers decode to what the guest said', t => {
  t.alike(decodeCallOutcome('{"o":[{"op":"X"}],"r":5}'), { o: [{ op: 'X' }], r: 5 })
  t.alike(decodeCallOutcome('{"o":[]}'), { o: [] })
  t.alike(decodeCallsAnswer(JSON.stringify({ r: [{ o: [] }, 0, { x: err }], s: 'pending' })), { r: [{ o: [] }, 0, { x: err }], s: 'pending' })
  t.alike(decodeBatchAnswer(JSON.stringify({ r: [{ a: [], n: 2 }, { x: err }], s: 'sync' })), { r: [{ a: [], n: 2 }, { x: err }], s: 'sync' })
  t.alike(decodeBindAnswer('{"methods":["get"],"hasProcess":false,"problem":null}'), { methods: ['get'], hasProcess: false, problem: null })
  t.alike(decodeGuestError('!' + JSON.stringify(err)), err)
  t.alike(decodeListArg('{"dir":"a","opts":{"reverse":true,"limit":3}}'), { dir: 'a', opts: { reverse: true, limit: 3 } })
  t.alike(decodeOpgetArg('["ab",3]'), ['ab', 3])
  t.alike(decodeArgList('["x","hex"]'), ['x', 'hex'])
})

test('protocol - malformed guest answers and requests decode to null', t => {
  for (const bad of ['', 'nope', '[]', '{"r":5}', '{"o":{}}']) t.is(decodeCallOutcome(bad), null, `call ${bad}`)
  for (const bad of ['{"r":[],"s":"maybe"}', '{"r":[1],"s":"done"}', '{"r":[{"x":{"name":1}}],"s":"done"}', '{"s":"done"}']) t.is(decodeCallsAnswer(bad), null, `calls ${bad}`)
  for (const bad of ['{"r":[{"a":[],"n":-1}],"s":"done"}', '{"r":[{"a":[],"n":1.5}],"s":"done"}', '{"r":[],"s":"fault"}', '{"r":[null],"s":"done"}']) t.is(decodeBatchAnswer(bad), null, `batch ${bad}`)
  for (const bad of ['{"methods":[1],"hasProcess":false,"problem":null}', '{"methods":[],"hasProcess":0,"problem":null}', '{"methods":[],"hasProcess":false,"problem":3}']) t.is(decodeBindAnswer(bad), null, `bind ${bad}`)
  t.is(decodeGuestError('!{"name":"E","message":"m"}'), null)
  for (const bad of ['{"dir":1,"opts":{}}', '{"dir":"a","opts":{"limit":-1}}', '{"dir":"a","opts":{"reverse":"yes"}}', '{"dir":"a"}']) t.is(decodeListArg(bad), null, `list ${bad}`)
  for (const bad of ['["ab"]', '["ab",-1]', '[1,2]', '{}']) t.is(decodeOpgetArg(bad), null, `opget ${bad}`)
  t.is(decodeArgList('{"a":1}'), null)
})

test('protocol - every request the guest runtime makes is one the protocol names', t => {
  const { runtime, modules } = guestSources()
  const made = new Set<string>()
  for (const source of [runtime, ...Object.values(modules)]) {
    for (const m of source.matchAll(/\b(?:hostCall|pureCall|rt\.pure)\('([a-z0-9]+)'/g)) made.add(m[1])
  }
  t.ok(made.size >= 10, `found the requests (${[...made].join(', ')})`)
  for (const op of made) t.ok(isHostOp(op), `${op} is a HostOp`)
  t.absent(isHostOp('eval'))
})

test('protocol - the guest runtime captures the built-ins before anything else runs', t => {
  // Module code runs top to bottom: the first statements that use a built-in must be
  // the captures, so no function of the runtime can reach a built-in a contract replaced.
  const { runtime } = guestSources()
  const body = runtime.slice(runtime.indexOf('const G = globalThis'))
  const firstFunction = body.search(/^(?:export )?(?:async )?function /m)
  const captures = body.slice(0, firstFunction)
  for (const name of ['JSON.stringify', 'JSON.parse', 'Object.keys', 'Array.prototype.sort', 'String.prototype.split', 'Promise.prototype.then', 'MapCtor.prototype.get']) {
    t.ok(captures.includes(name), `${name} is captured before the first function`)
  }
  t.is(readFileSync(new URL('../../sandbox/guest/runtime.js', import.meta.url), 'utf8'), runtime, 'the runtime is loaded from sandbox/guest/runtime.js as written')
})
