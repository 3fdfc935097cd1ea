// The known-answer vectors in test/vectors/ (made by `npm run vectors`), checked against
// the code: every valid case proves what it says, every tampered case is INVALID_PROOF.
// Proof types through `vitra/proofs` with both primitive sets; fraud proofs through
// verifyFraudProof (which replays transactions in the sandbox where the code needs it).
import test from 'brittle'
import { readdirSync, readFileSync } from 'fs'
import { fileURLToPath } from 'url'
import { verifyFraudProof } from '../src/index.js'
import { decodeAck, encodeAck, type Ack } from '../src/format/schemas.js'
import { decodeAckV2 } from '../src/format/ack-v2.js'
import {
  decideCheckpoint, noblePrimitives, parseAddCheckpoint, parseCheckpoint, primitives, setPrimitives, verifyConsistencyProof, verifyInclusionProof,
  verifyIndexReadProof, verifyLogForkProof, verifyRangeProof, verifyWitnessedCheckpoint, type ProvenGet
} from '../src/proofs/index.js'

const DIR = fileURLToPath(new URL('../../test/vectors/', import.meta.url))
interface Case { name: string, key: string, proof: unknown, expect: Record<string, unknown> }
interface VectorFile { type: string, cases: Case[] }

function load (file: string): VectorFile { return JSON.parse(readFileSync(DIR + file, 'utf8')) as VectorFile }

/** What a valid proof of each type establishes, in the vectors' terms. */
const CHECKS: Record<string, (c: Case) => Record<string, unknown> | Promise<Record<string, unknown>>> = {
  'vitra/index-read-proof': async c => {
    const v = await verifyIndexReadProof(c.proof, { key: c.key })
    const [counter, absent, listed] = v.results as [ProvenGet, ProvenGet, unknown[]]
    return { at: v.at, counter: counter.value?.toString('hex') ?? null, counterSeq: counter.seq, absent: absent.value, listed: listed.length }
  },
  'vitra/inclusion-proof': c => { const v = verifyInclusionProof(c.proof, { key: c.key }); return { index: v.index, length: v.length, value: v.value.toString('hex') } },
  'vitra/range-proof': c => { const v = verifyRangeProof(c.proof, { key: c.key }); return { start: v.start, blocks: v.values.length } },
  'vitra/consistency-proof': c => { const v = verifyConsistencyProof(c.proof, { key: c.key }); return { fromLength: v.fromLength, length: v.length } },
  'vitra/log-fork-proof': c => { const v = verifyLogForkProof(c.proof, { key: c.key }); return { kind: v.kind } },
  'vitra/witnessed-checkpoint': c => {
    const p = c.proof as { checkpoint: string, policy: unknown }
    const v = verifyWitnessedCheckpoint(p.checkpoint, p.policy, { key: c.key })
    return { length: v.head.length, cosigned: v.cosigned.map(x => x.name).sort() }
  },
  'vitra/witness-decision': c => {
    const p = c.proof as { last: string | null, request: string }
    const d = decideCheckpoint(p.last === null ? null : parseCheckpoint(p.last), parseAddCheckpoint(p.request), { key: c.key })
    if (d.kind === 'cosign') return { verdict: 'cosign', length: d.checkpoint.head.length }
    if (d.kind === 'stale') return { verdict: 'stale', size: d.size }
    return { verdict: 'fork', kind: d.proof.verify({ key: c.key }).kind }
  }
}

async function outcome (fn: () => Record<string, unknown> | Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  try { return { verdict: 'valid', ...await fn() } } catch (err) { return { verdict: 'invalid', code: (err as { code?: string }).code ?? String(err) } }
}

const LOG_FILES = ['inclusion-proof.json', 'range-proof.json', 'consistency-proof.json', 'log-fork-proof.json', 'index-read-proof.json', 'witnessed-checkpoint.json', 'witness-decision.json']

test('vectors - proof types: every case gives its expected verdict, with either primitive set', async t => {
  const node = primitives()
  t.teardown(() => { setPrimitives(node) })
  for (const set of [node, noblePrimitives]) {
    setPrimitives(set)
    for (const file of LOG_FILES) {
      const v = load(file)
      const check = CHECKS[v.type]
      t.ok(check !== undefined && v.cases.length >= 3, `${file}: ${v.cases.length} cases of ${v.type}`)
      for (const c of v.cases) {
        const got = await outcome(() => check(c))
        const want = c.expect
        t.alike(Object.fromEntries(Object.keys(want).map(k => [k, got[k]])), want, `${set.name.split(' ')[0]}: ${file}: ${c.name}`)
      }
    }
  }
})

test('vectors - fraud proofs: one per fraud code and protocol version, valid as given, INVALID_PROOF once tampered', async t => {
  const files = ['fraud', 'fraud-v2'].flatMap(d => readdirSync(DIR + d).filter(f => f.endsWith('.json')).sort().map(f => `${d}/${f}`))
  t.is(files.length, 28, 'one file per fraud code, for version 1 (fraud/) and version 2 (fraud-v2/)')
  for (const file of files) {
    for (const c of load(file).cases) {
      let got: Record<string, unknown>
      try {
        const v = await verifyFraudProof(c.proof)
        got = { verdict: 'valid', code: v.code, key: v.key }
      } catch (err) {
        got = { verdict: 'invalid', code: (err as { code?: string }).code }
      }
      const want = c.expect.verdict === 'valid' ? { ...c.expect, key: c.key } : c.expect
      t.alike(Object.fromEntries(Object.keys(want).map(k => [k, got[k]])), want, c.name)
    }
  }
})

test('vectors - version 2 acks: each valid case encodes to its bytes and decodes back; each invalid case is refused', t => {
  const file = JSON.parse(readFileSync(DIR + 'ack-v2.json', 'utf8')) as { type: string, cases: Array<{ name: string, bytes: string, expect: { verdict: string, ack?: Ack, code?: string, reason?: string } }> }
  t.is(file.type, 'vitra/ack-v2')
  t.ok(file.cases.some(c => c.expect.verdict === 'valid') && file.cases.some(c => c.expect.verdict === 'invalid'), 'both kinds of case')
  for (const c of file.cases) {
    const bytes = Buffer.from(c.bytes, 'hex')
    if (c.expect.verdict === 'valid') {
      const ack = c.expect.ack as Ack
      t.is(encodeAck(ack).toString('hex'), c.bytes, `${c.name}: encodes to its bytes`)
      t.alike(decodeAck(bytes), ack, `${c.name}: decodes to its fields`)
    } else {
      let code: string | undefined
      let message = ''
      try { decodeAckV2(bytes) } catch (err) { code = (err as { code?: string }).code; message = (err as Error).message }
      t.is(code, c.expect.code, `${c.name}: refused (${String(c.expect.code)})`)
      t.ok(message.includes(String(c.expect.reason)), `for its reason: ${message}`)
    }
  }
})
