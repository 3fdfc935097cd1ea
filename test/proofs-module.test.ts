// `vitra/proofs` (issue 23): the offline checks as their own module. It must load
// without Node flags and without the engine, check real proofs with Node's primitives
// and with the pure-JavaScript ones alike, and reject the same proofs tampered.
import test from 'brittle'
import { spawnSync } from 'child_process'
import { writeFileSync } from 'fs'
import { join } from 'path'
import { fileURLToPath } from 'url'
import { randomBytes, generateKeyPairSync, sign } from 'crypto'
import { createDb, contract } from './helpers.js'
import { realProofs } from './fixtures/real-proofs.js'
import { noblePrimitives, primitives, setPrimitives, verifyInclusionProof } from '../src/proofs/index.js'

const CHILD = fileURLToPath(new URL('./fixtures/proofs-child.js', import.meta.url))

test('proofs module - loads without flags and without the engine; node and noble primitives give the same verdicts', async t => {
  const db = await createDb(t, contract('counter'))
  const proofs = await realProofs(db)
  const file = join(await t.tmp(), 'proofs.json')
  writeFileSync(file, JSON.stringify(proofs))
  const fraudDir = fileURLToPath(new URL('../../test/vectors/fraud', import.meta.url))
  const r = spawnSync(process.execPath, [CHILD, file, fraudDir], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) })
  t.is(r.status, 0, `the child ran: ${r.stderr.slice(0, 500)}`)
  const { verdicts, packages } = JSON.parse(r.stdout) as { verdicts: Record<string, Record<string, string>>, packages: string[] }
  for (const set of ['node', 'noble']) {
    for (const name of Object.keys(proofs)) {
      t.is(verdicts[set][name], 'valid', `${set}: the ${name} proof is valid`)
      t.is(verdicts[set][name + ' tampered'], 'INVALID_PROOF', `${set}: the ${name} proof tampered is INVALID_PROOF`)
    }
  }
  const fraud = Object.entries(verdicts.fraud)
  t.is(fraud.length, 28, 'the envelope of every fraud vector was checked')
  for (const [name, got] of fraud) t.is(got, /signature changed/.test(name) ? 'INVALID_PROOF' : 'valid', `fraud proof envelope: ${name}`)
  // hyperbee (pure JavaScript) is allowed: index read proofs replay its lookup over proven blocks
  const engine = packages.filter(p => ['hypercore', 'corestore', 'hyperswarm', 'isolated-vm', 'hyperdht', 'hypercore-storage', 'rocksdb-native', 'sodium-universal'].includes(p))
  t.alike(engine, [], `no engine package loaded (loaded: ${packages.join(', ')})`)
})

test('proofs module - the two primitive sets agree byte for byte', async t => {
  const node = primitives()
  t.teardown(() => { setPrimitives(node) })
  for (let i = 0; i < 50; i++) {
    const parts = Array.from({ length: 1 + (i % 4) }, () => randomBytes(i * 7 % 200))
    t.ok(node.blake2b256(parts).equals(noblePrimitives.blake2b256(parts)), `blake2b-256 of ${parts.length} parts`)
    t.ok(node.sha256(parts).equals(noblePrimitives.sha256(parts)), `SHA-256 of ${parts.length} parts`)
  }
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(12)
  for (let i = 0; i < 20; i++) {
    const msg = randomBytes(32 + i)
    const sig = sign(null, msg, privateKey)
    const bad = Buffer.from(sig)
    bad[i % 64] ^= 1
    t.is(noblePrimitives.ed25519Verify(raw, msg, sig), node.ed25519Verify(raw, msg, sig))
    t.is(noblePrimitives.ed25519Verify(raw, msg, bad), node.ed25519Verify(raw, msg, bad))
    t.is(noblePrimitives.ed25519Verify(raw, msg, sig), true)
    t.is(noblePrimitives.ed25519Verify(raw, msg, bad), false)
  }
  // the same proof under both, in process
  const db = await createDb(t, contract('counter'))
  const tx = await db.call('increment', {})
  const proof = JSON.parse(JSON.stringify(tx.ops[0].proof))
  const a = verifyInclusionProof(proof)
  setPrimitives(noblePrimitives)
  const b = verifyInclusionProof(proof)
  setPrimitives(node)
  t.alike([b.index, b.length, b.value.toString('hex')], [a.index, a.length, a.value.toString('hex')], 'the same inclusion proof checks the same')
})

test('proofs module - a transaction\'s op, ack and write proofs, checked offline', async t => {
  const { verifyTransactionProofs } = await import('../src/proofs/index.js')
  const db = await createDb(t, contract('kv-store'))
  const tx = await db.call('put', { key: 'a', value: { deep: [1, 2] } })
  await tx.whenProcessed()
  const results = await tx.fetchResults({ proofs: true })
  const input = JSON.parse(JSON.stringify({ database: db.pubkey.toString('hex'), ops: tx.ops, results }))
  const checks = verifyTransactionProofs(input)
  t.is(checks.length, 2, checks.join('; '))
  t.ok(/ack at index seq \d+ and 2 write\(s\) proven/.test(checks[1]), 'the ack and both writes (/admin, /values/a) are proven')
  const forged = JSON.parse(JSON.stringify(input))
  forged.results[0].changes[1].value = { deep: [1, 3] }
  t.exception(() => verifyTransactionProofs(forged), /write 1 does not match its proof/, 'a changed write is refused')
  const wrongOp = JSON.parse(JSON.stringify(input))
  wrongOp.ops[0].value.key = 'b'
  t.exception(() => verifyTransactionProofs(wrongOp), /the proven block is not the op/, 'a changed op is refused')
})
