// Proof-of-authority governance: the system contract contracts/poa.js, replayed
// by verifiers like any contract (whitepaper/poa.md).
import test from 'brittle'
import type { Assertion } from 'brittle'
import { generateKeyPairSync } from 'crypto'
import { keyToPath, ContractFraudProof, verifyFraudProof, keyId, oplogKeyFor, quorum, signApproval, verifyApproval, approvalMessage, type Change, type ContractTransaction, type Database, type JsonValue } from '../src/index.js'
import { ackKey, encodeAck, type Ack } from '../src/format/schemas.js'
import type { ExecutorHooks as Hooks } from '../src/exec/executor.js'
import { encodeInput, inputKey } from '../src/format/schemas.js'
import { SEP, pathToKey } from '../src/format/paths.js'
import { encodeValue } from '../src/format/encoding.js'
import { contract, createDb, eventually, follow } from './helpers.js'
import { formatWitnessKey } from '../src/proofs/witness/cosignature.js'

const COUNTER = contract('counter')

/** The spec's table: Q(H) at the first height of each step (and Q(100000)). */
const TABLE: Array<[number, number]> = [
  [149, 10], [245, 11], [404, 12], [666, 13], [1097, 14], [1809, 15], [2981, 16], [4915, 17], [8104, 18],
  [13360, 19], [22027, 20], [36316, 21], [59875, 22], [98716, 23], [162755, 24]
]

interface Signer { publicKey: string, secretKey: Buffer }

/** An ed25519 key pair that never writes an oplog: a signatory that only signs bundles off-line. */
function offlineKey (): Signer {
  const { privateKey } = generateKeyPairSync('ed25519')
  const jwk = privateKey.export({ format: 'jwk' }) as { d: string, x: string }
  const pub = Buffer.from(jwk.x, 'base64url')
  return { publicKey: pub.toString('hex'), secretKey: Buffer.concat([Buffer.from(jwk.d, 'base64url'), pub]) }
}

interface Outcome { success: boolean, error?: string, errorCode?: string, ackSeq: number }

async function outcome (db: Database, tx: ContractTransaction): Promise<Outcome> {
  await tx.whenProcessed({ timeout: 15000 })
  const op = tx.ops[0]
  const found = await db.index.getAck(op.oplog, op.seq)
  if (found === null) throw new Error('no ack')
  return { success: found.ack.success, error: found.ack.error, errorCode: found.ack.errorCode, ackSeq: found.seq }
}

/** Append a raw op to the local oplog of `db` and wait for its ack (seen from `db`). */
async function raw (db: Database, op: JsonValue): Promise<Outcome> {
  const oplog = db.localOplog
  if (oplog === null) throw new Error('no local oplog')
  const seq = await oplog.append(op)
  const tx = { ops: [{ oplog: oplog.hex, seq }], whenProcessed: async () => {
    if (!await eventually(async () => (await db.index.getAck(oplog.hex, seq)) !== null, 15000)) throw new Error('no ack for raw op')
  } } as unknown as ContractTransaction
  return await outcome(db, tx)
}

async function poaDb (t: Assertion, signatories: string[] = [], opts: { executorHooks?: Hooks, source?: string } = {}): Promise<Database> {
  return await createDb(t, opts.source ?? COUNTER, { governance: 'poa', signatories, executorHooks: opts.executorHooks })
}

interface Member { peer: Database, publicKey: string, hex: string, secretKey: Buffer }

/** A follower with its own oplog: a candidate signatory. */
async function member (t: Assertion, db: Database): Promise<Member> {
  const peer = await follow(t, db)
  const log = await peer.createOplog()
  return { peer, publicKey: log.publicKey, hex: log.hex, secretKey: log.core.keyPair?.secretKey as Buffer }
}

async function becomesParticipant (peer: Database): Promise<boolean> {
  return await eventually(async () => { await peer.refresh(); return peer.isParticipant }, 10000)
}

async function caughtUp (peer: Database, db: Database): Promise<boolean> {
  return await eventually(() => peer.index.version >= db.index.version, 10000)
}

/** Append cheap user ops (counter increments, 2 index entries each) until the index length reaches `target`. */
async function pushHeight (db: Database, target: number): Promise<void> {
  while (db.index.version < target) {
    const n = Math.ceil((target - db.index.version) / 2)
    await Promise.all(Array.from({ length: n }, async () => await db.call('increment', {}, { proofs: false })))
    await db.executor?.sync()
  }
}

async function status (db: Database, key: string): Promise<Record<string, JsonValue>> {
  return (await db.call('getKeyStatus', { key })).response as Record<string, JsonValue>
}

async function inputActive (db: Database, oplog: string): Promise<boolean | null> {
  const rec = await db.index.get('/.sys/inputs/' + oplog)
  return rec === undefined ? null : (rec.value as { active: boolean }).active
}

async function fraud (p: Promise<unknown>): Promise<ContractFraudProof | null> {
  try { await p; return null } catch (err) {
    if (err instanceof ContractFraudProof) return err
    throw err
  }
}

test('poa - Q(H): the spec table exactly, boundaries included; host and system contract agree', async t => {
  const db = await poaDb(t)
  const heights: Array<[number, number]> = [[0, 1], [1, 1], [2, 1], [100, 1], [148, 1], [100000, 23]]
  for (const [h, q] of TABLE) heights.push([h, q], [h - 1, q === 10 ? 1 : q - 1])
  for (const [h, q] of heights) {
    const expr = h < 149 ? 1 : Math.floor(Math.log(h) * 2)
    t.is(expr, q, `Math.floor(Math.log(${h}) * 2) = ${q}`)
    t.is(quorum(h), q, `quorum(${h}) = ${q}`)
    t.is((await db.call('quorum', { height: h })).response, q, `the contract's Q(${h}) = ${q}`)
  }
  t.is(quorum(148), 1, 'H = 148 → 1')
  t.is(quorum(149), 10, 'H = 149 → 10')
  t.is(quorum(100000), 23, 'H = 100000 → 23')
  t.exception(() => quorum(-1), /non-negative/)
  const pub = db.localOplog?.publicKey as string
  t.is((await db.call('keyId', { pubkey: pub })).response, keyId(pub), 'key ids agree')
  t.ok(/^1:[0-9a-f]{64}$/.test(keyId(pub)))
  t.is((await db.call('approvalMessage', { key: pub, kind: 'revoke' })).response, approvalMessage(db.pubkey, pub, 'revoke'))
  t.is(approvalMessage(db.pubkey, pub), 'vitra-poa:approve:' + db.pubkey.toString('hex') + ':' + keyId(pub))
})

test('poa - genesis: the creator and the signatories are accepted; a user contract cannot add oplogs (GOVERNANCE_REFUSED)', async t => {
  const o1 = offlineKey()
  const db = await poaDb(t, [o1.publicKey], { source: contract('kv-store') })
  const me = db.localOplog?.publicKey as string
  t.is(oplogKeyFor(me), db.localOplog?.hex, 'the creator\'s oplog is the oplog of its key')
  const list = (await db.call('listSignatories')).response as Array<{ id: string, publicKey: string, oplog: string }>
  t.alike(list, [
    { id: keyId(me), publicKey: me, oplog: db.localOplog?.hex },
    { id: keyId(o1.publicKey), publicKey: o1.publicKey, oplog: oplogKeyFor(o1.publicKey) }
  ], 'creator first, then the genesis signatories')
  t.is(await inputActive(db, oplogKeyFor(o1.publicKey)), true, 'a genesis signatory has an active input')
  const st = await status(db, keyId(o1.publicKey))
  t.is(st.status, 'accepted')
  t.is(st.height, db.index.version, 'height: the index length (genesis only)')
  t.is(st.quorum, 1)
  t.is((await status(db, offlineKey().publicKey)).status, 'unknown')

  const stranger = offlineKey()
  const refused = await outcome(db, await db.call('addParticipant', { pubkey: oplogKeyFor(stranger.publicKey) }))
  t.is(refused.success, false)
  t.is(refused.errorCode, 'GOVERNANCE_REFUSED', refused.error)
  t.is(await inputActive(db, oplogKeyFor(stranger.publicKey)), null, 'no input was added')
  t.ok((await outcome(db, await db.call('put', { key: 'a', value: 1 }))).success, 'the user contract keeps its own ops')
  await t.execution(db.verify())
})

test('poa - admission with 1 signatory at low height; a new key needs its public key', async t => {
  const db = await poaDb(t)
  const f = await member(t, db)
  await t.exception(db.call('approveKey', { key: keyId(f.publicKey) }), /public key/, 'call-time: an id alone is refused')
  const byId = await raw(db, { op: 'SYS_APPROVE_KEY', key: keyId(f.publicKey) })
  t.is(byId.success, false)
  t.ok(/needs its public key/.test(byId.error ?? ''), byId.error)
  const mismatch = await raw(db, { op: 'SYS_APPROVE_KEY', key: keyId(f.publicKey), pubkey: offlineKey().publicKey })
  t.ok(!mismatch.success && /does not match/.test(mismatch.error ?? ''), mismatch.error)

  const ok = await outcome(db, await db.call('approveKey', { key: keyId(f.publicKey), pubkey: f.publicKey }))
  t.ok(ok.success, 'one approval is the quorum below height 149')
  t.ok(ok.ackSeq < 149, `H = ${ok.ackSeq}`)
  t.is(await inputActive(db, f.hex), true, 'admitted in the same op: its oplog is an active input')
  const st = await status(db, f.publicKey)
  t.is(st.status, 'accepted')
  t.is(st.acceptedAt, ok.ackSeq, 'acceptedAt is H, the index seq of the ack')
  t.is(((await db.call('listSignatories')).response as unknown[]).length, 2)

  t.ok(await becomesParticipant(f.peer), 'the admitted key writes')
  t.ok((await outcome(f.peer, await f.peer.call('increment', { amount: 7 }))).success)
  t.is((await db.index.get('/counter'))?.value, 7)
  const again = await outcome(f.peer, await f.peer.call('approveKey', { key: f.publicKey }))
  t.ok(!again.success && /already an accepted signatory/.test(again.error ?? ''), again.error)
  await t.execution(db.verify())
})

test('poa - revocation: later ops of a revoked key are never executed; revoked keys stay out; the last signatory stays', async t => {
  const db = await poaDb(t)
  const f = await member(t, db)
  t.ok((await outcome(db, await db.call('approveKey', { key: f.publicKey }))).success)
  t.ok(await becomesParticipant(f.peer))
  t.ok((await outcome(f.peer, await f.peer.call('increment'))).success, 'before: executed')

  const rev = await outcome(db, await db.call('revokeKey', { key: keyId(f.publicKey) }))
  t.ok(rev.success, rev.error)
  t.is(await inputActive(db, f.hex), false, 'its input is inactive')
  t.is((await status(db, f.publicKey)).status, 'revoked')
  t.is(((await db.call('listSignatories')).response as unknown[]).length, 1)

  // the revoked signatory keeps appending: none of it is executed
  const seq = await (f.peer.localOplog as NonNullable<Database['localOplog']>).append({ op: 'INCREMENT', amount: 100 })
  const theirs = (await db.openOplog(f.hex)).core
  t.ok(await eventually(() => theirs.length > seq), 'the executor has the op')
  await theirs.get(seq)
  for (let i = 0; i < 3; i++) await outcome(db, await db.call('increment'))
  await db.executor?.sync()
  t.is(await db.index.getAck(f.hex, seq), null, 'no ack for the revoked key\'s op')
  t.is((await db.index.get('counter'))?.value, 4, 'its increment never counted')
  t.ok(await eventually(async () => { await f.peer.refresh(); return !f.peer.isParticipant }))
  await t.exception(f.peer.call('increment'), /participant/)

  const back = await outcome(db, await db.call('approveKey', { key: f.publicKey }))
  t.ok(!back.success && /cannot be admitted again/.test(back.error ?? ''), back.error)
  const last = await outcome(db, await db.call('revokeKey', { key: db.localOplog?.publicKey }))
  t.ok(!last.success && /last accepted signatory/.test(last.error ?? ''), last.error)

  // approvals from a revoked key, or from a key that was never a signatory, fail the op
  const x = offlineKey()
  const fromRevoked = await outcome(db, await db.call('approveKey', { key: x.publicKey, signatures: [signApproval(f.secretKey, db.pubkey, x.publicKey)] }))
  t.ok(!fromRevoked.success && /which is revoked/.test(fromRevoked.error ?? ''), fromRevoked.error)
  const fromUnknown = await outcome(db, await db.call('approveKey', { key: x.publicKey, signatures: [signApproval(offlineKey().secretKey, db.pubkey, x.publicKey)] }))
  t.ok(!fromUnknown.success && /not a signatory/.test(fromUnknown.error ?? ''), fromUnknown.error)
  t.is((await status(db, x.publicKey)).status, 'unknown', 'nothing was recorded')
  await t.execution(db.verify(), 'the history verifies')
})

test('poa - signature bundle: valid signatures count (duplicates once); one forged signature fails the whole op', async t => {
  const [o1, o2, o3] = [offlineKey(), offlineKey(), offlineKey()]
  const db = await poaDb(t, [o1.publicKey, o2.publicKey])
  const x = offlineKey()
  const good1 = signApproval(o1.secretKey, db.pubkey, x.publicKey)
  const good2 = signApproval(o2.secretKey, db.pubkey, keyId(x.publicKey))
  t.ok(verifyApproval(good1, db.pubkey, x.publicKey) && verifyApproval(good2, db.pubkey, x.publicKey))
  t.absent(verifyApproval(good1, 'ee'.repeat(32), x.publicKey), 'a signature names its database: it does not count in another')
  t.is(good1.signer, o1.publicKey)
  const forgeries: Array<[string, { signer: string, signature: string }]> = [
    ['another key signed in o2\'s name', { signer: o2.publicKey, signature: signApproval(o3.secretKey, db.pubkey, x.publicKey).signature }],
    ['o2 signed a revocation, not an approval', signApproval(o2.secretKey, db.pubkey, x.publicKey, 'revoke')],
    ['o2 signed another key', signApproval(o2.secretKey, db.pubkey, o3.publicKey)],
    ['o2 signed this approval for another database', signApproval(o2.secretKey, 'ee'.repeat(32), x.publicKey)],
    ['random bytes', { signer: o2.publicKey, signature: 'ab'.repeat(64) }]
  ]
  for (const [why, forged] of forgeries) {
    const r = await outcome(db, await db.call('approveKey', { key: x.publicKey, signatures: [good1, forged] }))
    t.ok(!r.success && /invalid signature by/.test(r.error ?? ''), `${why}: ${r.error ?? ''}`)
  }
  t.is((await status(db, x.publicKey)).status, 'unknown', 'nothing counted')
  const ok = await outcome(db, await db.call('approveKey', { key: x.publicKey, signatures: [good1, good2, good1] }))
  t.ok(ok.success, ok.error)
  const rec = (await db.index.get('/.sys/poa/keys/' + keyId(x.publicKey)))?.value as { acceptedBy: string[], oplog: string }
  t.alike(rec.acceptedBy, [keyId(db.localOplog?.publicKey as string), keyId(o1.publicKey), keyId(o2.publicKey)].sort(), 'submitter + two signers, the duplicate once')
  t.is(rec.oplog, oplogKeyFor(x.publicKey))
  t.is(await inputActive(db, oplogKeyFor(x.publicKey)), true)
  await t.execution(db.verify())
})

test('poa - past height 149: 10 distinct approvals needed, 9 not enough; duplicates count once; revoked approvers drop out', async t => {
  const offline = Array.from({ length: 6 }, () => offlineKey())
  const db = await poaDb(t, offline.map(o => o.publicKey))
  const [f1, f2, f3, k] = [await member(t, db), await member(t, db), await member(t, db), await member(t, db)]
  for (const f of [f1, f2, f3]) t.ok((await outcome(db, await db.call('approveKey', { key: f.publicKey }))).success)
  t.ok(db.index.version < 149, `admitted at low height (now ${db.index.version})`)
  for (const f of [f1, f2, f3]) t.ok(await becomesParticipant(f.peer))
  t.is(((await db.call('listSignatories')).response as unknown[]).length, 10, '10 signatories')

  await pushHeight(db, 150)
  let st = await status(db, k.publicKey)
  t.is(st.height, db.index.version, 'getKeyStatus reports the index length')
  t.is(st.quorum, 10)
  t.is(st.signatories, 10)
  t.is(st.status, 'unknown')

  const a1 = await outcome(f1.peer, await f1.peer.call('approveKey', { key: k.publicKey }))
  t.ok(a1.success && a1.ackSeq >= 149 && quorum(a1.ackSeq) === 10, `H = ${a1.ackSeq}, Q = 10`)
  t.ok(await caughtUp(f2.peer, f1.peer))
  t.ok((await outcome(f2.peer, await f2.peer.call('approveKey', { key: keyId(k.publicKey) }))).success, 'later approvals may name the id')
  t.ok((await outcome(f3.peer, await f3.peer.call('approveKey', { key: k.publicKey }))).success)
  const dup = await outcome(f1.peer, await f1.peer.call('approveKey', { key: k.publicKey }))
  t.ok(!dup.success && /duplicate approval/.test(dup.error ?? ''), dup.error)
  st = await status(db, k.publicKey)
  t.is(st.status, 'pending')
  t.is(st.approvals, 3, 'the duplicate counted once')

  // the creator submits with five off-line signatures (one of them twice): 9 approvals
  const sigs = offline.slice(0, 5).map(o => signApproval(o.secretKey, db.pubkey, k.publicKey))
  const nine = await outcome(db, await db.call('approveKey', { key: k.publicKey, signatures: [...sigs, sigs[0]] }))
  t.ok(nine.success, nine.error)
  st = await status(db, k.publicKey)
  t.is(st.approvals, 9)
  t.is(st.quorum, 10)
  t.is(st.status, 'pending', '9 are not enough')
  t.is(await inputActive(db, k.hex), null, 'not admitted')

  // the tenth: the creator again (already counted) with a new signer
  const ten = await outcome(db, await db.call('approveKey', { key: k.publicKey, signatures: [signApproval(offline[5].secretKey, db.pubkey, k.publicKey)] }))
  t.ok(ten.success && quorum(ten.ackSeq) === 10, `H = ${ten.ackSeq}`)
  st = await status(db, k.publicKey)
  t.is(st.status, 'accepted', '10 are')
  t.is(st.pending, null)
  const rec = (await db.index.get('/.sys/poa/keys/' + keyId(k.publicKey)))?.value as { acceptedBy: string[], acceptedAt: number }
  t.is(rec.acceptedBy.length, 10)
  t.is(rec.acceptedAt, ten.ackSeq)
  t.is(await inputActive(db, k.hex), true)
  t.ok(await becomesParticipant(k.peer))
  t.ok((await outcome(k.peer, await k.peer.call('increment'))).success, 'the new signatory writes')

  // a pending admission approved by f3; then f3 is revoked by 10 approvals: its approval drops out
  const z = offlineKey()
  t.ok((await outcome(f3.peer, await f3.peer.call('approveKey', { key: z.publicKey }))).success)
  t.is((await status(db, z.publicKey)).approvals, 1)
  const revokers = [f1, f2, k].map(m => signApproval(m.secretKey, db.pubkey, f3.publicKey, 'revoke')).concat(offline.map(o => signApproval(o.secretKey, db.pubkey, f3.publicKey, 'revoke')))
  const notEnough = await outcome(db, await db.call('revokeKey', { key: f3.publicKey, signatures: revokers.slice(0, 8) }))
  t.ok(notEnough.success)
  t.is((await status(db, f3.publicKey)).pending, 'revoke')
  t.is((await status(db, f3.publicKey)).approvals, 9)
  const rev = await outcome(f1.peer, await f1.peer.call('revokeKey', { key: f3.publicKey, signatures: revokers.slice(8) }))
  t.ok(rev.success, rev.error)
  t.is((await status(db, f3.publicKey)).status, 'revoked')
  t.is(await inputActive(db, f3.hex), false)
  st = await status(db, z.publicKey)
  t.is(st.status, 'pending')
  t.is(st.approvals, 0, 'the revoked approver no longer counts')
  const late = await outcome(db, await db.call('approveKey', { key: z.publicKey, signatures: [signApproval(f3.secretKey, db.pubkey, z.publicKey)] }))
  t.ok(!late.success && /which is revoked/.test(late.error ?? ''), late.error)
  // an admission and a revocation of the same key cannot both be open
  const conflict = await outcome(db, await db.call('revokeKey', { key: z.publicKey }))
  t.ok(!conflict.success && /cannot both be open/.test(conflict.error ?? ''), conflict.error)
  t.ok(db.index.version < 245, `still under Q = 11 (height ${db.index.version})`)
  await t.execution(db.verify(), 'the executor\'s history verifies')
  t.ok(await caughtUp(f1.peer, db))
  await t.execution(f1.peer.verify(), 'and on a signatory\'s replica')
})

/** Executor hooks that replace the changes of the op whose changes hold a `.sys/poa/pending/` put. */
function tamperPending (rewrite: (pending: Change & { type: 'put' }, changes: Change[]) => Change[]): Hooks {
  return {
    changes: (_origin, _seq, changes) => {
      const p = changes.find(c => c.type === 'put' && c.key.startsWith(pathToKey('/.sys/poa/pending') + SEP))
      return p === undefined ? changes : rewrite(p as Change & { type: 'put' }, changes)
    }
  }
}

function inputPut (oplog: string): Change {
  return { type: 'put', key: inputKey(oplog), value: encodeInput({ pubkey: oplog, active: true }) }
}

test('poa - fraud: admitting a key without quorum is caught by verify() (CHANGE_MISMATCH)', async t => {
  const x = offlineKey()
  const hooks: Hooks = tamperPending(() => [inputPut(oplogKeyFor(x.publicKey))])
  const db = await poaDb(t, [], { executorHooks: hooks })
  await pushHeight(db, 150)
  await t.execution(db.verify(), 'honest so far')
  const r = await outcome(db, await db.call('approveKey', { key: x.publicKey }))
  t.ok(r.success && quorum(r.ackSeq) === 10, '1 approval of the 10 needed')
  t.is(await inputActive(db, oplogKeyFor(x.publicKey)), true, 'the cheating executor admitted the key')
  const proof = await fraud(db.verify())
  t.ok(proof !== null, 'caught')
  t.is(proof?.violation.code, 'CHANGE_MISMATCH')
  const data = proof?.violation.data as { expectedChange: { path: string }, publishedChange: { path: string } }
  t.ok(data.expectedChange.path.startsWith('/.sys/poa/pending/'), 'replay: a pending approval')
  t.ok(data.publishedChange.path.startsWith('/.sys/inputs/'), 'published: a new input')
  const offline = await verifyFraudProof(JSON.parse(JSON.stringify(proof)))
  t.is(offline.code, 'CHANGE_MISMATCH', 'the proof checks out offline')
  t.is(offline.selfEvident, true, 'its replay evidence re-runs poa.js offline')
})

test('poa - fraud: counting a duplicate approval is caught by verify() (CHANGE_COUNT_MISMATCH)', async t => {
  const offline = Array.from({ length: 8 }, () => offlineKey())
  const x = offlineKey()
  // the cheat: it counts the repeated signer, so 9 distinct + 1 duplicate reach Q = 10 and it admits
  const hooks = tamperPending((p) => {
    const pending = JSON.parse(p.value.toString()) as { id: string, publicKey: string, oplog: string, approvers: string[], openedAt: number }
    const acceptedBy = [...pending.approvers, keyId(offline[7].publicKey)].sort()
    return [
      { type: 'put', key: pathToKey('/.sys/poa/keys/' + pending.id), value: encodeValue({ id: pending.id, publicKey: pending.publicKey, oplog: pending.oplog, status: 'accepted', genesis: false, acceptedAt: pending.openedAt, acceptedBy }) },
      inputPut(pending.oplog)
    ]
  })
  const db = await poaDb(t, offline.map(o => o.publicKey), { executorHooks: hooks })
  await pushHeight(db, 150)
  const sigs = offline.map(o => signApproval(o.secretKey, db.pubkey, x.publicKey))
  const r = await outcome(db, await db.call('approveKey', { key: x.publicKey, signatures: [...sigs, sigs[7]] }))
  t.ok(r.success && quorum(r.ackSeq) === 10, '9 distinct approvals and a duplicate, Q = 10')
  t.is(await inputActive(db, oplogKeyFor(x.publicKey)), true, 'the cheating executor admitted the key')
  const proof = await fraud(db.verify())
  t.is(proof?.violation.code, 'CHANGE_COUNT_MISMATCH')
  t.is(proof?.violation.data.expected, 1, 'replay: one write (the pending approval)')
  t.is(proof?.violation.data.published, 2, 'published: the key record and the input')
  const checked = await verifyFraudProof(JSON.parse(JSON.stringify(proof)))
  t.is(checked.code, 'CHANGE_COUNT_MISMATCH', 'the proof checks out offline')
  t.is(checked.selfEvident, true, 'its replay evidence re-runs poa.js offline')
})

test('poa - fraud: executing an op of a revoked key is caught by verify() (NON_PARTICIPANT)', async t => {
  const db = await poaDb(t)
  const f = await member(t, db)
  t.ok((await outcome(db, await db.call('approveKey', { key: f.publicKey }))).success)
  t.ok(await becomesParticipant(f.peer))
  t.ok((await outcome(db, await db.call('revokeKey', { key: f.publicKey }))).success)
  const seq = await (f.peer.localOplog as NonNullable<Database['localOplog']>).append({ op: 'INCREMENT', amount: 100 })
  const core = (await db.openOplog(f.hex)).core
  t.ok(await eventually(() => core.length > seq))
  await core.get(seq)
  await db.executor?.sync()
  await t.execution(db.verify(), 'honest so far')
  // the executor executes it anyway: an ack and its write, straight into the index
  const ack: Ack = {
    v: (await db.index.genesis())?.v ?? 1, origin: f.hex, seq, oplogLength: core.length, oplogTreeHash: (await core.treeHash(core.length)).toString('hex'),
    ts: Date.now(), metadata: null, success: true, numChanges: 1, batchStart: db.index.version
  }
  await db.index.dangerousBatch([{ type: 'put', path: keyToPath(ackKey(f.hex, seq)), value: encodeAck(ack) }, { type: 'put', path: 'counter', value: 100 }])
  const proof = await fraud(db.verify())
  t.is(proof?.violation.code, 'NON_PARTICIPANT')
  t.is(proof?.violation.data.origin, f.hex)
  t.is(proof?.violation.data.opSeq, seq)
  t.is((await verifyFraudProof(JSON.parse(JSON.stringify(proof)))).code, 'NON_PARTICIPANT', 'the proof checks out offline')
})

test('poa - the witness policy changes by the quorum: one approval past height 149 is pending, the same signatory twice counts once', async t => {
  const offline = Array.from({ length: 3 }, () => offlineKey())
  const db = await poaDb(t, offline.map(o => o.publicKey))
  await pushHeight(db, 150)
  const w = (name: string): string => formatWitnessKey(name, Buffer.alloc(32, name.length))
  const policy = { version: 1, quorum: 1, witnesses: [{ key: w('w1') }] }
  const first = await outcome(db, await db.call('proposeWitnesses', { policy }))
  t.ok(first.success && first.ackSeq >= 149, `one approval at H = ${first.ackSeq} (Q = ${quorum(first.ackSeq)}): recorded, not yet the policy`)
  t.is(await db.witnessPolicy(), null, 'the policy is not set below the quorum')
  const pending = await db.index.list('/.sys/poa/pending-witnesses')
  t.is(pending.length, 1, 'the proposal is pending')
  t.is((pending[0]?.value as { approvers?: string[] } | undefined)?.approvers?.length, 1, 'with its one approver')
  // the same policy with its keys in another order is the same proposal
  const reordered = await outcome(db, await db.call('proposeWitnesses', { policy: { witnesses: policy.witnesses, quorum: 1, version: 1 } }))
  t.absent(reordered.success, 'the same signatory approving it again: refused')
  t.ok(/duplicate approval/.test(reordered.error ?? ''), reordered.error)
  t.is((await db.verify()).length, db.index.length, 'a verifier replays it')
})
