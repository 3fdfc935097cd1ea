// Known-answer vectors (issue 23): `npm run vectors` writes test/vectors/*.json from
// real databases made here; test/vectors.test.ts checks every case against the code.
// They are the files a second implementation tests itself against: each case is a
// proof (or fraud proof) JSON, the key to check it with, and the expected verdict.
//
//   { "type": "...", "format": "whitepaper/proofs.md §…", "cases": [
//       { "name", "key", "proof", "expect": { "verdict": "valid", ...what it proves } },
//       { "name", "key", "proof", "expect": { "verdict": "invalid", "code": "INVALID_PROOF" } } ] }
//
// Run as: node --no-node-snapshot dist/test/vectors/generate.js [outdir] (default test/vectors);
// VECTORS=log|fraud|fraud-v2|witness|ack makes one group only.
import Corestore from 'corestore'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { fileURLToPath } from 'url'
import { ContractFraudProof, Database, LogForkFraudProof, StorageInMemory, createIndexReadProof, createRangeProof, pathToKey, readShippedContract, verifyIndex } from '../../src/index.js'
import { captureSignedHead, coreManifest, createConsistencyProof } from '../../src/logs/proof-builders.js'
import { createHash } from 'crypto'
import Hypercore from 'hypercore'
import { formatAddCheckpoint } from '../../src/proofs/witness/add-checkpoint.js'
import { checkpointNote } from '../../src/proofs/witness/checkpoint.js'
import { parseNote } from '../../src/proofs/witness/note.js'
import { WitnessSigner } from '../../src/witness/keys.js'
import { encodeAckV2, type AckFields } from '../../src/format/ack-v2.js'
import { FIXTURES, buildFixture } from '../fixtures/fraud-fixtures.js'

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
interface Case { name: string, key: string, proof: Json, expect: Record<string, Json> }

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T

/** The proof with the string at `path` (dot/index path) changed by `edit`. */
function edited (proof: Json, path: Array<string | number>, edit: (s: string) => string): Json {
  const copy = clone(proof)
  let at = copy as Record<string | number, Json>
  for (const p of path.slice(0, -1)) at = at[p] as Record<string | number, Json>
  const last = path[path.length - 1]
  at[last] = edit(String(at[last]))
  return copy
}

/** Flip the first hex digit of a hex string. */
const flip = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1)

const INVALID = { verdict: 'invalid', code: 'INVALID_PROOF' }

async function logVectors (out: string): Promise<void> {
  const db = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') }, protocol: 1 }) // the version 1 vectors stay as they are
  try {
    const txs = []
    for (let i = 0; i < 7; i++) txs.push(await db.call('increment', { amount: i + 1 }))
    await db.executor?.sync()
    const oplog = db.localOplog
    if (oplog === null) throw new Error('no oplog')
    const opKey = oplog.hex
    const indexKey = db.pubkey.toString('hex')

    const inclusion = clone(txs[3].ops[0].proof) as unknown as Json
    const incl = inclusion as Record<string, Json>
    write(out, 'inclusion-proof.json', 'vitra/inclusion-proof', 'whitepaper/proofs.md §2 (inclusion proofs)', [
      { name: 'op 3 of a 7-op oplog, proven at the head its append produced', key: opKey, proof: inclusion, expect: { verdict: 'valid', index: 3, length: incl.head !== null && typeof incl.head === 'object' ? (incl.head as Record<string, Json>).length : null, value: Buffer.from(JSON.stringify({ amount: 4, op: 'INCREMENT' })).toString('hex') } },
      { name: 'the block changed', key: opKey, proof: edited(inclusion, ['value'], v => v.slice(0, -2) + (v.endsWith('00') ? '01' : '00')), expect: INVALID },
      { name: 'the head signature changed', key: opKey, proof: edited(inclusion, ['head', 'signature'], flip), expect: INVALID },
      { name: 'a tree node hash changed', key: opKey, proof: edited(inclusion, ['nodes', 0, 'hash'], flip), expect: INVALID },
      { name: 'checked against another key', key: indexKey, proof: inclusion, expect: INVALID }
    ])

    const range = clone(await createRangeProof(db.index.core, 4, 9)) as unknown as Json
    write(out, 'range-proof.json', 'vitra/range-proof', 'whitepaper/proofs.md, "Range proofs"', [
      { name: 'index blocks 4..8 under one signed head', key: indexKey, proof: range, expect: { verdict: 'valid', start: 4, blocks: 5 } },
      { name: 'one block changed', key: indexKey, proof: edited(range, ['values', 1], flip), expect: INVALID },
      { name: 'the head signature changed', key: indexKey, proof: edited(range, ['head', 'signature'], flip), expect: INVALID },
      { name: 'checked against another key', key: opKey, proof: range, expect: INVALID }
    ])

    const consistency = clone(await createConsistencyProof(oplog.core, 3)) as unknown as Json
    write(out, 'consistency-proof.json', 'vitra/consistency-proof', 'whitepaper/proofs.md §4 (consistency proofs)', [
      { name: 'the oplog at length 3 is a prefix of its head at 7', key: opKey, proof: consistency, expect: { verdict: 'valid', fromLength: 3, length: 7 } },
      { name: 'an older root changed', key: opKey, proof: edited(consistency, ['from', 'roots', 0, 'hash'], flip), expect: INVALID },
      { name: 'the head signature changed', key: opKey, proof: edited(consistency, ['head', 'signature'], flip), expect: INVALID }
    ])

    const at = db.index.bee.version
    const reads = [{ kind: 'get' as const, key: pathToKey('/counter') }, { kind: 'get' as const, key: pathToKey('/absent') }, { kind: 'list' as const, range: { gte: '.sys', limit: 3 } }]
    const read = clone(await createIndexReadProof(db.index.bee, at, reads)) as unknown as Json
    const counter = await db.index.get('/counter')
    write(out, 'index-read-proof.json', 'vitra/index-read-proof', 'whitepaper/proofs.md, "Index read proofs"', [
      { name: `get /counter, get /absent and a 3-entry listing at version ${at}`, key: indexKey, proof: read, expect: { verdict: 'valid', at, counter: Buffer.from(JSON.stringify(counter?.value)).toString('hex'), counterSeq: counter?.seq ?? null, absent: null, listed: 3 } },
      { name: 'a block changed', key: indexKey, proof: edited(read, ['blocks', 1, 'value'], flip), expect: INVALID },
      { name: 'the head signature changed', key: indexKey, proof: edited(read, ['head', 'signature'], flip), expect: INVALID },
      { name: 'checked against another key', key: opKey, proof: read, expect: INVALID }
    ])

    // the oplog takes back its last op and signs another one in its place
    await oplog.core.truncate(6)
    await oplog.append({ op: 'INCREMENT', amount: 1000 })
    const err = await txs[6].ops[0].verifyInclusion().then(() => null, (e: unknown) => e)
    if (!(err instanceof LogForkFraudProof)) throw new Error('expected a LogForkFraudProof')
    const fork = clone(err.toJSON()) as unknown as Json
    write(out, 'log-fork-proof.json', 'vitra/log-fork-proof', 'whitepaper/proofs.md §5 (log forks)', [
      { name: 'the oplog truncated to 6 and signed another 7th block: two signed heads that do not extend one another', key: opKey, proof: fork, expect: { verdict: 'valid', kind: 'truncation' } },
      { name: 'one head signature changed', key: opKey, proof: edited(fork, ['heads', 1, 'signature'], flip), expect: INVALID },
      { name: 'checked against another key', key: indexKey, proof: fork, expect: INVALID }
    ])
  } finally {
    await db.close()
  }
}

/** One fraud proof per code from the golden fixtures: test/vectors/fraud/ at protocol version 1, fraud-v2/ at version 2. */
async function fraudVectors (out: string, protocol: 1 | 2): Promise<void> {
  const dir = join(out, protocol === 1 ? 'fraud' : 'fraud-v2')
  mkdirSync(dir, { recursive: true })
  const tmp = mkdtempSync(join(tmpdir(), 'vitra-vectors-'))
  try {
    for (const code of Object.keys(FIXTURES)) {
      const at = join(tmp, code)
      await buildFixture(code, at, protocol)
      const store = new Corestore(join(at, 'corestore'))
      try {
        const index = store.get({ name: 'index' })
        await index.ready()
        const proof = await verifyIndex({ index, openOplog: async hex => store.get({ key: Buffer.from(hex, 'hex') }) }).then(() => null, (e: unknown) => e)
        if (!(proof instanceof ContractFraudProof)) throw new Error(`${code}: the fixture gave no fraud proof`)
        const json = clone(proof.toJSON()) as unknown as Json
        const key = index.key.toString('hex')
        write(dir, `${code}.json`, 'vitra/contract-fraud-proof', 'whitepaper/verification.md §4', [
          { name: `${code}: the golden fixture's violation`, key, proof: json, expect: { verdict: 'valid', code } },
          { name: `${code}: the signed head's signature changed`, key, proof: edited(json, ['index', 'head', 'signature'], flip), expect: INVALID }
        ])
      } finally {
        await store.close()
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

function write (dir: string, file: string, type: string, format: string, cases: Case[]): void {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, file), JSON.stringify({ type, format, generator: 'npm run vectors (test/vectors/generate.ts)', cases }, null, 1) + '\n')
  console.log(`${join(dir, file)}: ${cases.length} cases`)
}

/** Witness keys from fixed seeds and fixed times: a regenerated file differs only in the database's key. */
const WITNESS_TIME = 1_765_000_000
function witnessSigner (name: string): WitnessSigner {
  return new WitnessSigner(name, createHash('sha256').update(`vitra vector witness ${name}`).digest())
}

async function witnessVectors (out: string): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'vitra-vectors-'))
  const honest = new Hypercore(join(tmp, 'honest'))
  try {
    await honest.ready()
    await honest.append(Array.from({ length: 6 }, (_, i) => Buffer.from(`block ${i}`)))
    const key = honest.key.toString('hex')
    const manifest = coreManifest(honest)
    const at6 = await captureSignedHead(honest)
    const [a, b, c] = [witnessSigner('witness-a.example'), witnessSigner('witness-b.example'), witnessSigner('witness-c.example')]
    const policy = { version: 1, quorum: 2, witnesses: [a, b, c].map(w => ({ key: w.key.vkey })) }
    const note6 = checkpointNote(at6, manifest)
    const body6 = parseNote(note6).body
    const cos = (w: WitnessSigner, body = body6): string => w.cosign(body, WITNESS_TIME)
    const outsider = witnessSigner('outsider.example')
    write(out, 'witnessed-checkpoint.json', 'vitra/witnessed-checkpoint', 'whitepaper/witness.md §2-§4', [
      { name: '2 of 3 of the policy\'s witnesses cosigned', key, proof: { checkpoint: note6 + cos(a) + cos(c), policy }, expect: { verdict: 'valid', length: 6, cosigned: ['witness-a.example', 'witness-c.example'] } },
      { name: 'all three cosigned, and a witness outside the policy', key, proof: { checkpoint: note6 + cos(outsider) + cos(a) + cos(b) + cos(c), policy }, expect: { verdict: 'valid', length: 6, cosigned: ['witness-a.example', 'witness-b.example', 'witness-c.example'] } },
      { name: 'one cosignature: below the quorum', key, proof: { checkpoint: note6 + cos(b), policy }, expect: INVALID },
      { name: 'the same witness twice: it counts once', key, proof: { checkpoint: note6 + cos(b) + cos(b), policy }, expect: INVALID },
      { name: 'cosignatures of another checkpoint text', key, proof: { checkpoint: note6 + cos(a, body6.replace('fork 0', 'fork 1')) + cos(b, body6.replace('fork 0', 'fork 1')), policy }, expect: INVALID },
      { name: 'the log\'s head signature changed', key, proof: { checkpoint: note6.replace(/ (\S+)\n$/, (_m, sig: string) => ' ' + Buffer.from(Buffer.from(sig, 'base64').map((x, i) => i === 10 ? x ^ 1 : x)).toString('base64') + '\n') + cos(a) + cos(b), policy }, expect: INVALID }
    ])

    // The witness's rule: a state (the checkpoint it holds), a request, its decision.
    await honest.append(Array.from({ length: 4 }, (_, i) => Buffer.from(`block ${6 + i}`)))
    const at10 = await captureSignedHead(honest)
    const extend = await checkpointRequestFor(honest, at10, 6)
    const fork = new Hypercore(join(tmp, 'fork'), { keyPair: honest.keyPair })
    await fork.ready()
    await fork.append(Array.from({ length: 6 }, (_, i) => Buffer.from(`other ${i}`)))
    const fork6 = await captureSignedHead(fork)
    await fork.append(Array.from({ length: 4 }, (_, i) => Buffer.from(`other ${6 + i}`)))
    const fork10 = await checkpointRequestFor(fork, await captureSignedHead(fork), 6)
    await fork.close()
    const decisions: Case[] = [
      { name: 'a first checkpoint (old 0): cosign', key, proof: { last: null, request: formatAddCheckpoint({ old: 0, nodes: [], checkpoint: note6 }) }, expect: { verdict: 'cosign', length: 6 } },
      { name: 'an extension from 6 to 10 with its consistency nodes: cosign', key, proof: { last: note6, request: extend }, expect: { verdict: 'cosign', length: 10 } },
      { name: 'old 0 while the witness holds 6: stale, with its size', key, proof: { last: note6, request: formatAddCheckpoint({ old: 0, nodes: [], checkpoint: checkpointNote(at10, manifest) }) }, expect: { verdict: 'stale', size: 6 } },
      { name: 'another tree at the same length: fork (equivocation)', key, proof: { last: note6, request: formatAddCheckpoint({ old: 6, nodes: [], checkpoint: checkpointNote(fork6, manifest) }) }, expect: { verdict: 'fork', kind: 'equivocation' } },
      { name: 'a longer head whose nodes imply another tree at 6: fork (equivocation)', key, proof: { last: note6, request: fork10 }, expect: { verdict: 'fork', kind: 'equivocation' } },
      { name: 'a consistency node changed: INVALID_PROOF', key, proof: { last: note6, request: extend.replace(/^(old 6\n\d+ )(\S)/, (_m, p: string, ch: string) => p + (ch === 'A' ? 'B' : 'A')) }, expect: INVALID }
    ]
    write(out, 'witness-decision.json', 'vitra/witness-decision', 'whitepaper/witness.md §3', decisions)
  } finally {
    await honest.close()
    rmSync(tmp, { recursive: true, force: true })
  }
}

/**
 * Version 2 acks (whitepaper/protocol.md §4.1): each valid case is an ack's fields and
 * its bytes (hex), both ways; each invalid case is bytes a decoder must refuse.
 */
function ackVectors (out: string): void {
  const base: AckFields = { v: 2, origin: 'a1'.repeat(32), seq: 41, oplogLength: 42, oplogTreeHash: '5e'.repeat(32), ts: 1_765_000_000_123, metadata: null, success: true, numChanges: 1, batchStart: 130 }
  const valid: Array<[string, AckFields]> = [
    ['a successful op with one write (the counter contract)', base],
    ['a failed op: error and errorCode, no writes', { ...base, success: false, numChanges: 0, error: 'AssertionError: amount must be an integer', errorCode: 'CONTRACT_RUNTIME_ERROR' }],
    ['process(op) metadata, as canonical JSON (keys sorted)', { ...base, metadata: { who: 'ü ✓', amounts: [1, 2.5, -3] }, numChanges: 3 }],
    ['the first op of an oplog, in the first batch', { ...base, seq: 0, oplogLength: 1, batchStart: 1, ts: 0 }],
    ['the largest numbers: 2^53 − 1', { ...base, seq: Number.MAX_SAFE_INTEGER, oplogLength: Number.MAX_SAFE_INTEGER, ts: Number.MAX_SAFE_INTEGER, batchStart: Number.MAX_SAFE_INTEGER }]
  ]
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
  const cases: Json[] = valid.map(([name, ack]) => ({ name, bytes: hex(encodeAckV2(ack)), expect: { verdict: 'valid', ack: clone(ack) as unknown as Json } }))
  const ok = Buffer.from(encodeAckV2(base))
  const seqAt = 1 + 32 // the seq varint (41: one byte)
  const invalid: Array<[string, string, Buffer]> = [
    ['version 1\'s JSON is not a version 2 ack', 'unknown version', Buffer.from(JSON.stringify({ v: 1 }))],
    ['a varint not in its shortest form (seq 41 as two bytes)', 'shortest form', Buffer.concat([ok.subarray(0, seqAt), Buffer.from([41 | 0x80, 0x00]), ok.subarray(seqAt + 1)])],
    ['an unknown flag bit', 'unknown flags', (() => { const b = Buffer.from(encodeAckV2({ ...base, numChanges: 0 })); b[1 + 32 + 1 + 1 + 32 + 6] = 0x09; return b })()],
    ['a byte after the ack', 'bytes after the ack', Buffer.concat([ok, Buffer.from([0])])],
    ['cut short', 'cut short', ok.subarray(0, ok.length - 1)],
    ['metadata that is not canonical JSON', 'canonical JSON', Buffer.concat([ok.subarray(0, 1 + 32 + 1 + 1 + 32 + 6 + 1), Buffer.from([8]), Buffer.from('{"b":1 }'), ok.subarray(1 + 32 + 1 + 1 + 32 + 6 + 2)])],
    ['metadata "null" (null is written as no bytes)', 'other than null', Buffer.concat([ok.subarray(0, 1 + 32 + 1 + 1 + 32 + 6 + 1), Buffer.from([4]), Buffer.from('null'), ok.subarray(1 + 32 + 1 + 1 + 32 + 6 + 2)])],
    ['an error that is not UTF-8', 'not UTF-8', Buffer.concat([Buffer.from(encodeAckV2({ ...base, success: false, numChanges: 0, error: 'x' })).subarray(0, -1), Buffer.from([0xff])])]
  ]
  for (const [name, reason, bytes] of invalid) cases.push({ name, bytes: hex(bytes), expect: { verdict: 'invalid', code: 'INVALID_ENTRY', reason } })
  write(out, 'ack-v2.json', 'vitra/ack-v2', 'whitepaper/protocol.md §4.1 (the binary ack of version 2)', cases as unknown as Case[])
}

async function checkpointRequestFor (core: Hypercore, head: Awaited<ReturnType<typeof captureSignedHead>>, old: number): Promise<string> {
  const p = await createConsistencyProof(core, old, { head })
  return formatAddCheckpoint({ old, nodes: [...p.from.roots, ...p.nodes].map(n => ({ size: n.size, hash: Buffer.from(n.hash, 'hex') })), checkpoint: checkpointNote(head, coreManifest(core)) })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? fileURLToPath(new URL('../../../test/vectors', import.meta.url))
  const only = process.env.VECTORS // one group: log, fraud or witness (default all)
  if (only === undefined || only === 'log') await logVectors(out)
  if (only === undefined || only === 'fraud') await fraudVectors(out, 1)
  if (only === undefined || only === 'fraud-v2') await fraudVectors(out, 2)
  if (only === undefined || only === 'witness') await witnessVectors(out)
  if (only === undefined || only === 'ack') ackVectors(out)
}
