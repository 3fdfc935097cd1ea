// Known-answer vectors (issue 23): `npm run vectors` writes test/vectors/*.json from
// real databases made here; test/vectors.test.ts checks every case against the code.
// They are the files a second implementation tests itself against: each case is a
// proof (or fraud proof) JSON, the key to check it with, and the expected verdict.
//
//   { "type": "...", "format": "whitepaper/proofs.md §…", "cases": [
//       { "name", "key", "proof", "expect": { "verdict": "valid", ...what it proves } },
//       { "name", "key", "proof", "expect": { "verdict": "invalid", "code": "INVALID_PROOF" } } ] }
//
// Run as: node --no-node-snapshot dist/test/vectors/generate.js [outdir] (default test/vectors).
import Corestore from 'corestore'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { fileURLToPath } from 'url'
import { ContractFraudProof, Database, LogForkFraudProof, StorageInMemory, createIndexReadProof, createRangeProof, pathToKey, readShippedContract, verifyIndex } from '../../src/index.js'
import { createConsistencyProof } from '../../src/logs/proof-builders.js'
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
  const db = await Database.create(new StorageInMemory(), { contract: { source: readShippedContract('counter') } })
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

async function fraudVectors (out: string): Promise<void> {
  const dir = join(out, 'fraud')
  mkdirSync(dir, { recursive: true })
  const tmp = mkdtempSync(join(tmpdir(), 'vitra-vectors-'))
  try {
    for (const code of Object.keys(FIXTURES)) {
      const at = join(tmp, code)
      await buildFixture(code, at)
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

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? fileURLToPath(new URL('../../../test/vectors', import.meta.url))
  await logVectors(out)
  await fraudVectors(out)
}
