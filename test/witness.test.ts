// Witnesses (issue 37): checkpoints of real Hypercores as C2SP signed notes, witness keys
// and cosignatures, the witness's rule, and real witnesses over HTTP on 127.0.0.1: they
// cosign checkpoints that extend what they cosigned, refuse a fork with a log-fork proof
// anyone can check, keep their state across a restart, and a reader accepts a checkpoint
// only with the policy's quorum of cosignatures.
import test from 'brittle'
import type { Assertion } from 'brittle'
import Hypercore from 'hypercore'
import { captureSignedHead, coreManifest } from '../src/logs/proof-builders.js'
import { checkpointNote, parseCheckpoint, verifyCheckpointHead } from '../src/proofs/witness/checkpoint.js'
import { formatWitnessKey, parseWitnessKey } from '../src/proofs/witness/cosignature.js'
import { parseNote } from '../src/proofs/witness/note.js'
import { readWitnessPolicy, verifyWitnessedCheckpoint } from '../src/proofs/witness/policy.js'
import { verifyLogForkProof } from '../src/proofs/fraud/log-fork-proof.js'
import { createWitnessKey } from '../src/witness/keys.js'
import { Witness } from '../src/witness/witness.js'
import { checkpointRequest, postCheckpoint } from '../src/witness/client.js'
import { rejects } from './proof-helpers.js'

async function makeCore (t: Assertion, blocks: number, opts: Record<string, unknown> = {}): Promise<Hypercore> {
  const core = new Hypercore(await t.tmp(), opts)
  t.teardown(() => core.close())
  await core.ready()
  await append(core, blocks, 'block')
  return core
}

async function append (core: Hypercore, n: number, tag: string): Promise<void> {
  if (n > 0) await core.append(Array.from({ length: n }, (_, i) => Buffer.from(`${tag} ${core.length + i}`)))
}

async function startWitness (t: Assertion, name: string, dir?: string): Promise<Witness> {
  const d = dir ?? await t.tmp()
  if (dir === undefined) createWitnessKey(d, name)
  const w = new Witness({ dir: d })
  t.teardown(() => w.close())
  await w.ready()
  return w
}

/** Asks witness `w` to cosign the core's current head, from the size it holds (learned from a 409 when unknown). */
async function submit (w: Witness, core: Hypercore, old = 0): Promise<{ status: number, type: string, body: string }> {
  const head = await captureSignedHead(core)
  const first = await postCheckpoint(w.url, await checkpointRequest(core, head, old))
  if (first.status !== 409 || first.type !== 'text/x.tlog.size') return first
  return await postCheckpoint(w.url, await checkpointRequest(core, head, Number(first.body)))
}

test('witness - a checkpoint is a signed note of the head; tampering fails its check', async t => {
  const core = await makeCore(t, 9)
  const head = await captureSignedHead(core)
  const note = checkpointNote(head, coreManifest(core))
  const lines = note.split('\n')
  t.is(lines[0], `vitra/index/${core.key.toString('hex')}`, 'origin line')
  t.is(lines[1], '9', 'tree size')
  t.is(Buffer.from(lines[2] ?? '', 'base64').toString('hex'), head.treeHash, 'root hash: Hypercore\'s tree hash')
  t.is(lines[3], 'fork 0')
  t.ok(lines[4]?.startsWith('signer '), 'the manifest signer')
  t.is(lines[5], '', 'a blank line before the signatures')
  t.ok(lines[6]?.startsWith(`\u2014 vitra/index/${core.key.toString('hex')} `), 'the log\'s signature line')
  const cp = parseCheckpoint(note)
  t.alike(cp.head, head, 'the head reads back')
  t.ok(verifyCheckpointHead(cp, { key: core.key }).key.equals(core.key))
  const other = await makeCore(t, 1)
  rejects(t, () => verifyCheckpointHead(cp, { key: other.key }), 'unexpected-key', 'pinned to another key')
  rejects(t, () => verifyCheckpointHead(parseCheckpoint(note.replace('\n9\n', '\n8\n'))), 'bad-signature', 'another size')
  rejects(t, () => verifyCheckpointHead(parseCheckpoint(note.replace('fork 0', 'fork 1'))), 'bad-signature', 'another fork')
  rejects(t, () => parseCheckpoint(note.replace('\n\n', '\n')), 'malformed-note', 'no blank line')
  rejects(t, () => parseCheckpoint(note.replace('fork 0', 'fork 00')), 'malformed-checkpoint', 'a non-canonical number')
  const b64 = lines[2] ?? ''
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  const sameBytes = b64.slice(0, 42) + alphabet[alphabet.indexOf(b64[42] ?? 'A') ^ 1] + b64.slice(43)
  t.alike(Buffer.from(sameBytes, 'base64'), Buffer.from(b64, 'base64'), '(a non-canonical base64 of the same tree hash)')
  rejects(t, () => parseCheckpoint(note.replace(b64, sameBytes)), 'malformed-checkpoint', 'a root hash in non-canonical base64: one text per head')
  rejects(t, () => parseCheckpoint(note.replace('fork 0\n', 'fork 0\nextra\n')), 'malformed-checkpoint', 'an unknown line')
  rejects(t, () => parseCheckpoint(note.replace(`\u2014 vitra/index/${core.key.toString('hex')} `, '\u2014 someone ')), 'malformed-checkpoint', 'no log signature')
  rejects(t, () => parseCheckpoint(note.slice(0, note.lastIndexOf('\u2014'))), 'malformed-note', 'no signature at all')
  rejects(t, () => parseNote(note.replace('fork', 'f\u0007rk')), 'malformed-note', 'a control character')
})

test('witness - verifier keys: C2SP format, key ID checked', async t => {
  const w = await startWitness(t, 'witness.example/one')
  const vkey = w.key.vkey
  t.ok(/^witness\.example\/one\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/.test(vkey), vkey)
  t.alike(parseWitnessKey(vkey).publicKey, w.key.publicKey)
  t.is(formatWitnessKey(w.key.name, w.key.publicKey), vkey)
  const [name, id] = vkey.split('+')
  const key = vkey.slice(`${name}+${id}+`.length)
  rejects(t, () => parseWitnessKey(`${name}+${id === '00000000' ? '00000001' : '00000000'}+${key}`), 'malformed-witness-key', 'a wrong key ID')
  rejects(t, () => parseWitnessKey(`other+${id}+${key}`), 'malformed-witness-key', 'another name')
  rejects(t, () => parseWitnessKey('no pluses'), 'malformed-witness-key', 'not a key')
  const res = await fetch(w.url + '/')
  t.is((await res.text()).trim(), vkey, 'GET / answers the verifier key')
})

test('witness - cosigns checkpoints that extend its state, refuses the rest, keeps state across a restart', async t => {
  const core = await makeCore(t, 5)
  const dir = await t.tmp()
  createWitnessKey(dir, 'w1')
  let w = await startWitness(t, 'w1', dir)
  const policy = readWitnessPolicy({ version: 1, quorum: 1, witnesses: [{ key: w.key.vkey }] })
  const key = core.key.toString('hex')

  const first = await submit(w, core)
  t.is(first.status, 200, 'the first checkpoint (old 0) is cosigned')
  const note = checkpointNote(await captureSignedHead(core), coreManifest(core)) + first.body
  const v = verifyWitnessedCheckpoint(note, policy, { key: core.key })
  t.is(v.head.length, 5)
  t.is(v.cosigned.length, 1)

  await append(core, 20, 'block')
  const stale = await postCheckpoint(w.url, await checkpointRequest(core, await captureSignedHead(core), 0))
  t.is(stale.status, 409, 'old 0 when the witness holds 5: 409')
  t.is(stale.type, 'text/x.tlog.size')
  t.is(stale.body, '5\n', 'with the size it holds')
  const grown = await submit(w, core, 5)
  t.is(grown.status, 200, 'an extension with its consistency proof is cosigned')

  // A consistency proof with a changed hash: 422; a changed log signature: 403.
  await append(core, 3, 'block')
  const head = await captureSignedHead(core)
  const good = await checkpointRequest(core, head, 25)
  const [oldLine, firstNode, ...rest] = good.split('\n')
  const [size, hash] = (firstNode ?? '').split(' ')
  const flipped = Buffer.from(hash ?? '', 'base64')
  flipped[0] = (flipped[0] ?? 0) ^ 1
  t.is((await postCheckpoint(w.url, [oldLine, `${size} ${flipped.toString('base64')}`, ...rest].join('\n'))).status, 422, 'a wrong consistency node: 422')
  const sigLine = good.trimEnd().split('\n').at(-1) ?? ''
  const sigBytes = Buffer.from(sigLine.split(' ')[2] ?? '', 'base64')
  sigBytes[10] = (sigBytes[10] ?? 0) ^ 1
  const badSig = good.replace(sigLine, sigLine.split(' ').slice(0, 2).join(' ') + ' ' + sigBytes.toString('base64'))
  t.is((await postCheckpoint(w.url, badSig)).status, 403, 'a head the log did not sign: 403')
  t.is((await postCheckpoint(w.url, 'old x\n\nnot a note\n')).status, 400, 'a malformed request: 400')

  // Restart: the witness holds 25 and says so.
  await w.close()
  w = await startWitness(t, 'w1', dir)
  const again = await postCheckpoint(w.url, await checkpointRequest(core, head, 0))
  t.is(again.body, '25\n', 'after a restart it still holds the last size it cosigned')
  t.is((await submit(w, core, 25)).status, 200)
  const held = await (await fetch(`${w.url}/logs/${key}`)).text()
  t.is(verifyWitnessedCheckpoint(held, policy).head.length, 28, 'GET /logs/<key>: its last cosigned checkpoint, with its cosignature')
})

test('witness - a fork gets no cosignature: the refusal is a log-fork proof anyone can check', async t => {
  const honest = await makeCore(t, 8)
  const w = await startWitness(t, 'w1')
  t.is((await submit(w, honest)).status, 200, 'the honest head at 8 is cosigned')
  const key = honest.key.toString('hex')
  const before = await (await fetch(`${w.url}/logs/${key}`)).text()

  // The same key signs another history: same length, then longer.
  const forked = await makeCore(t, 0, { keyPair: honest.keyPair })
  await append(forked, 8, 'other')
  const same = await submit(w, forked, 8)
  t.is(same.status, 409, 'another tree at the same length: refused')
  t.is(same.type, 'application/json')
  const sameProof = JSON.parse(same.body) as { error: { code: string }, proof: unknown }
  t.is(sameProof.error.code, 'LOG_FORK')
  t.is(verifyLogForkProof(sameProof.proof, { key: honest.key }).kind, 'equivocation', 'the proof checks with the key alone')

  await append(forked, 5, 'other')
  const longer = await submit(w, forked, 8)
  t.is(longer.status, 409, 'a longer head whose tree at 8 differs: refused')
  const longerProof = JSON.parse(longer.body) as { proof: { consistency: unknown } }
  t.ok(longerProof.proof.consistency !== null, 'with the consistency nodes that show it')
  t.is(verifyLogForkProof(longerProof.proof).kind, 'equivocation')

  // Truncate and rewrite: the fork counter changes.
  await honest.truncate(4)
  await append(honest, 6, 'rewritten')
  const truncated = await submit(w, honest, 8)
  t.is(truncated.status, 409, 'a truncated log: refused')
  t.is(verifyLogForkProof((JSON.parse(truncated.body) as { proof: unknown }).proof).kind, 'truncation')

  t.is(await (await fetch(`${w.url}/logs/${key}`)).text(), before, 'the witness still holds the honest checkpoint')
})

test('witness - a reader accepts a checkpoint only with the policy\'s quorum (2 of 3)', async t => {
  const core = await makeCore(t, 12)
  const [a, b, c] = [await startWitness(t, 'a'), await startWitness(t, 'b'), await startWitness(t, 'c')]
  const outsider = await startWitness(t, 'outsider')
  const policy = { version: 1, quorum: 2, witnesses: [a, b, c].map(w => ({ key: w.key.vkey, url: w.url })) }
  const base = checkpointNote(await captureSignedHead(core), coreManifest(core))
  const lineA = (await submit(a, core)).body
  const lineB = (await submit(b, core)).body
  const lineOut = (await submit(outsider, core)).body
  const two = verifyWitnessedCheckpoint(base + lineA + lineB, policy, { key: core.key })
  t.alike(two.cosigned.map(x => x.name).sort(), ['a', 'b'], 'two of the policy\'s witnesses')
  rejects(t, () => verifyWitnessedCheckpoint(base + lineA, policy), 'witness-quorum', 'one cosignature is not a quorum')
  rejects(t, () => verifyWitnessedCheckpoint(base + lineA + lineA, policy), 'witness-quorum', 'the same witness twice counts once')
  rejects(t, () => verifyWitnessedCheckpoint(base + lineA + lineOut, policy), 'witness-quorum', 'a witness outside the policy does not count')
  const tampered = lineB.slice(0, -6) + (lineB.at(-6) === 'A' ? 'B' : 'A') + lineB.slice(-5)
  rejects(t, () => verifyWitnessedCheckpoint(base + lineA + tampered, policy), 'witness-quorum', 'a broken cosignature does not count')
  await append(core, 1, 'block')
  const newer = checkpointNote(await captureSignedHead(core), coreManifest(core))
  rejects(t, () => verifyWitnessedCheckpoint(newer + lineA + lineB, policy), 'witness-quorum', 'cosignatures of another checkpoint do not count')
  rejects(t, () => readWitnessPolicy({ version: 1, quorum: 4, witnesses: policy.witnesses }), 'malformed-policy', 'a quorum above the witness count')
  rejects(t, () => readWitnessPolicy({ version: 1, quorum: 1, witnesses: [policy.witnesses[0], policy.witnesses[0]] }), 'malformed-policy', 'a witness twice')
})

test('witness - garbage gets a clear refusal and changes nothing; --only limits the logs it cosigns', async t => {
  const core = await makeCore(t, 4)
  const dir = await t.tmp()
  createWitnessKey(dir, 'w1')
  const other = await makeCore(t, 2)
  const w = new Witness({ dir, only: [core.key.toString('hex')] })
  t.teardown(() => w.close())
  await w.ready()
  t.is((await submit(w, core)).status, 200, 'the log it serves is cosigned')
  const key = core.key.toString('hex')
  const held = await (await fetch(`${w.url}/logs/${key}`)).text()
  const post = async (body: string | Buffer): Promise<number> => (await fetch(`${w.url}/add-checkpoint`, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body) })).status
  t.is((await submit(w, other)).status, 404, '--only: another log is not cosigned')
  t.is(await post(Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80])), 400, 'binary garbage: 400')
  t.is(await post(''), 400, 'an empty body: 400')
  t.is(await post('old 0\n\n' + 'x'.repeat(1000) + '\n'), 400, 'not a note: 400')
  t.is(await post(Buffer.alloc(200 * 1024, 0x61)), 413, 'a body over the limit: 413')
  const note = checkpointNote(await captureSignedHead(core), coreManifest(core))
  const many = note + Array.from({ length: 101 }, (_, i) => `\u2014 s${i} ${Buffer.alloc(72).toString('base64')}\n`).join('')
  t.is(await post(`old 4\n\n${many}`), 400, 'a note with more than 100 signatures: 400')
  t.is((await fetch(`${w.url}/add-checkpoint`)).status, 404, 'GET on the POST route: 404')
  t.is((await fetch(`${w.url}/logs/zz`)).status, 404, 'a malformed log key: 404')
  t.is(await (await fetch(`${w.url}/logs/${key}`)).text(), held, 'its state is unchanged')
  t.is((await submit(w, core, 4)).status, 200, 'and it still cosigns')
})
