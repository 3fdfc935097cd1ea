// poa.js: the proof-of-authority system contract (whitepaper/poa.md).
//
// Under `governance: 'poa'` this contract owns the participant set of the
// database. It runs in the same sandbox as any contract, its source is stored in
// the index (`/.sys/governance`), and every verifier and monitor replays it: the
// rules below are checked by replay, not taken on faith.
//
// Routing (src/exec/contract-runtime.ts): ops whose `op` starts with `SYS_` come here,
// all others go to the user contract. Keys this contract reads and writes are
// stored under `/.sys/poa/` (it names them without that prefix); keys it names
// under `/.sys/` (`/.sys/governance`, `/.sys/inputs`, `/.sys/acks`) are
// read as they are. The user contract cannot add or remove oplogs under PoA.
//
// ## Names
//
// - A key is an ed25519 public key (64 hex). Its id is `1:` + the hex SHA-256 of
//   its 32 bytes. Ops and methods accept either form.
// - The oplog of a key is the Hypercore (made by Corestore) whose signer is that
//   key: `oplogKeyFor(publicKey)`. A signatory's ops are the ops of its oplog,
//   authenticated by the oplog's signatures; the approver of an op is the
//   signatory whose oplog is `ack.origin`.
//
// ## The rule
//
// Admitting or revoking a key needs approvals from Q(H) distinct signatories that
// are accepted when they are counted:
//
//     Q(H) = 1 if H < 149 else floor(ln(H) * 2)        (never below 1)
//
// H is the height of the op that brings the count to the quorum: `ack.height`,
// the index seq of that op's ack (the index length just before the ack). The
// executor and every verifier pass the same H, so the replay is deterministic.
// `Math.log` is V8's own (fdlibm) implementation: the same bits on every machine;
// test/poa.test.ts checks the whole table of the spec, boundaries included.
//
// ## State (under `/.sys/poa/`; the contract names these paths as if at the root)
//
//   /keys/{id}     { id, publicKey, oplog, status: 'accepted'|'revoked', genesis,
//                   acceptedAt, acceptedBy, revokedAt?, revokedBy? }
//                 written when a key is admitted or revoked
//   /pending/{id} { id, kind: 'approve'|'revoke', publicKey, oplog, approvers, openedAt }
//                 an open proposal; approvers are key ids, sorted
//
// The genesis signatories (`/.sys/governance`.signatories) need no record: a key
// named there is accepted unless `/keys/{id}` says otherwise. Their oplogs are
// active inputs from genesis on.
//
// ## Ops
//
//   { op: 'SYS_APPROVE_KEY', key, pubkey?, signatures? }
//   { op: 'SYS_REVOKE_KEY',  key, signatures? }
//   { op: 'SYS_SET_WITNESSES', policy }   (see "apply: SYS_SET_WITNESSES" below)
//
// `signatures` is an approval bundle: `[{ signer, signature }]`, each a detached
// ed25519 signature (128 hex) by the signatory `signer` (public key, 64 hex) of
// the UTF-8 message `vitra-poa:approve:<database>:<id>` (or `vitra-poa:revoke:…`),
// where <database> is this database's index key (hex, `/.sys/governance`.database:
// a signature counts in this database only) and <id> is the `1:` id of the key
// being approved or revoked. A candidate collects
// them off-line and any signatory submits them in one op.
import { index } from 'contract'
import assert from 'assert'
import { sha256, verifySignature, oplogKeyFor } from 'util'

const HEX64 = /^[0-9a-f]{64}$/
const HEX128 = /^[0-9a-f]{128}$/
const ID = /^1:[0-9a-f]{64}$/
/** Most signatures one bundle may carry (keeps one op's CPU time bounded). */
const MAX_SIGNATURES = 256
const KINDS = { SYS_APPROVE_KEY: 'approve', SYS_REVOKE_KEY: 'revoke' }

// --- rules as pure functions ----------------------------------------------

/** The quorum at height H: 1 below 149, then floor(2 ln H); never below 1. */
export function quorumAt (height) {
  assert(Number.isSafeInteger(height) && height >= 0, 'PoA: height must be a non-negative integer')
  if (height < 149) return 1
  return Math.max(1, Math.floor(Math.log(height) * 2))
}

/** The id of a public key: `1:` + hex SHA-256 of its 32 bytes. */
function idOf (publicKey) {
  return '1:' + sha256(publicKey, 'hex')
}

/** The message a bundle signature signs: `vitra-poa:<kind>:<database>:<id>` (UTF-8). */
function messageFor (kind, database, id) {
  return 'vitra-poa:' + kind + ':' + database + ':' + id
}

/** The value of the `/.sys/governance` entry, or null. */
async function governance () {
  return (await index.get('/.sys/governance'))?.value ?? null
}

/** This database's index key (hex), from `/.sys/governance`: it binds bundle signatures to this database. */
async function databaseKey () {
  const g = await governance()
  assert(g !== null && typeof g === 'object' && HEX64.test(g.database ?? ''), 'PoA: .sys/governance names no database key')
  return g.database
}

/**
 * `key` (an id or a public key) and an optional `pubkey` → { id, publicKey|null }.
 * When both name the key, they must agree.
 */
function resolveKey (key, pubkey) {
  assert(typeof key === 'string', 'PoA: key must be a key id (1:<64 hex>) or a public key (64 hex)')
  const k = key.trim().toLowerCase()
  let id
  let publicKey = null
  if (ID.test(k)) id = k
  else if (HEX64.test(k)) { publicKey = k; id = idOf(k) } else assert.fail(`PoA: "${key}" is neither a key id (1:<64 hex>) nor a public key (64 hex)`)
  if (pubkey !== undefined && pubkey !== null) {
    assert(typeof pubkey === 'string' && HEX64.test(pubkey.toLowerCase()), 'PoA: pubkey must be 64 hex characters (an ed25519 public key)')
    const p = pubkey.toLowerCase()
    assert(idOf(p) === id, `PoA: pubkey ${p} does not match key ${id} (its id is ${idOf(p)})`)
    publicKey = p
  }
  return { id, publicKey }
}

/** Sorted, without duplicates. */
function uniqueSorted (list) {
  return Array.from(new Set(list)).sort()
}

// --- reading the state ----------------------------------------------------

/** The genesis signatories' public keys, from `/.sys/governance`. */
async function genesisKeys () {
  const g = await governance()
  assert(g !== null && typeof g === 'object' && Array.isArray(g.signatories), 'PoA: .sys/governance is missing or has no signatories')
  return g.signatories
}

/**
 * Every key the contract knows, by id: the genesis signatories (accepted unless a
 * record says otherwise), then the `keys/` records. In apply this is the state
 * before the op (the op has not written yet when it is read).
 */
async function loadKeys () {
  const keys = new Map()
  for (const pk of await genesisKeys()) {
    const id = idOf(pk)
    if (!keys.has(id)) keys.set(id, { id, publicKey: pk, oplog: oplogKeyFor(pk), status: 'accepted', genesis: true, acceptedAt: 0, acceptedBy: [] })
  }
  for (const e of await index.list('/keys')) keys.set(e.value.id, e.value)
  return keys
}

/** The open proposal on a key id, or null. */
async function pendingOf (id) {
  return (await index.get('/pending/' + id))?.value ?? null
}

function accepted (keys) {
  return Array.from(keys.values()).filter(k => k.status === 'accepted')
}

/** The quorum-relevant approvers of a proposal: those still accepted now. */
function liveApprovers (pending, keys) {
  if (pending === null) return []
  return pending.approvers.filter(a => keys.get(a)?.status === 'accepted')
}

// --- apply: SYS_APPROVE_KEY / SYS_REVOKE_KEY --------------------------------

async function vote (tx, op, ack) {
  const kind = KINDS[op.op]
  // H: the index seq of this op's ack, given by the executor and by every verifier.
  assert(Number.isSafeInteger(ack.height) && ack.height >= 0, 'PoA: the ack carries no height (H); system ops need one')
  const height = ack.height
  const { id, publicKey: given } = resolveKey(op.key, op.pubkey)

  const keys = await loadKeys()
  const acceptedNow = accepted(keys)

  // The submitter: the signatory whose oplog the op came from. Only accepted
  // signatories have active oplogs, so an op from anyone else is never executed;
  // this check is the contract's own guard.
  const submitter = acceptedNow.find(k => k.oplog === ack.origin)
  assert(submitter !== undefined, `PoA: the op comes from oplog ${ack.origin}, which belongs to no accepted signatory`)

  // Bundle signatures. Every entry must be well formed and valid, and its signer
  // an accepted signatory: one bad entry fails the whole op (nothing is counted),
  // so a bundle is all or nothing and a forged or stale signature is never
  // silently dropped. A duplicate signer counts once.
  const signers = []
  if (op.signatures !== undefined && op.signatures !== null) {
    assert(Array.isArray(op.signatures), 'PoA: signatures must be an array of { signer, signature }')
    assert(op.signatures.length <= MAX_SIGNATURES, `PoA: at most ${MAX_SIGNATURES} signatures per op`)
    const message = messageFor(kind, await databaseKey(), id)
    for (const s of op.signatures) {
      assert(s !== null && typeof s === 'object' && typeof s.signer === 'string' && typeof s.signature === 'string',
        'PoA: each signature must be { signer: <64 hex public key>, signature: <128 hex> }')
      const signer = s.signer.toLowerCase()
      const signature = s.signature.toLowerCase()
      assert(HEX64.test(signer) && HEX128.test(signature), 'PoA: each signature must be { signer: <64 hex public key>, signature: <128 hex> }')
      const signerId = idOf(signer)
      assert(verifySignature(signer, message, signature),
        `PoA: invalid signature by ${signerId} over "${message}": the op is refused as a whole (resubmit without it)`)
      const rec = keys.get(signerId)
      assert(rec !== undefined, `PoA: signature by ${signerId}, which is not a signatory (unknown key): approvals count only from accepted signatories`)
      assert(rec.status === 'accepted', `PoA: signature by ${signerId}, which is revoked: approvals count only from accepted signatories`)
      signers.push(signerId)
    }
  }

  // The target and the open proposal, if any.
  const target = keys.get(id) ?? null
  const pending = await pendingOf(id)
  // An admission and a revocation of the same key are never open together: the
  // later one is refused while the other is pending.
  if (pending !== null && pending.kind !== kind) {
    assert.fail(pending.kind === 'approve'
      ? `PoA: ${id} is not accepted: its admission is pending, and an admission and a revocation of the same key cannot both be open`
      : `PoA: ${id} is accepted and its revocation is pending; an admission and a revocation of the same key cannot both be open`)
  }
  let publicKey
  let oplog
  if (kind === 'approve') {
    assert(target?.status !== 'accepted', `PoA: ${id} is already an accepted signatory`)
    // Revocation is final: a revoked key (possibly compromised) never comes back,
    // and ops its oplog appended while revoked are never executed. The holder
    // gets a new key admitted instead.
    assert(target?.status !== 'revoked', `PoA: ${id} was revoked; a revoked key cannot be admitted again (use a new key)`)
    publicKey = given ?? pending?.publicKey ?? null
    assert(publicKey !== null, `PoA: approving a new key needs its public key (its oplog key is derived from it, an id alone is not enough): pass key as the 64-hex public key, or add pubkey`)
    oplog = oplogKeyFor(publicKey)
  } else {
    assert(target !== null, `PoA: ${id} is not a signatory (unknown key)`)
    assert(target.status === 'accepted', `PoA: ${id} is already revoked`)
    // Never lock the database: the last accepted signatory stays.
    assert(acceptedNow.length > 1, `PoA: ${id} is the last accepted signatory and cannot be revoked`)
    publicKey = target.publicKey
    oplog = target.oplog
  }

  // Counting. Earlier approvals count only if their signatory is still accepted
  // (revoked approvers drop out: recounted at every op, not only at completion);
  // the submitter and the bundle signers join; each signatory counts once. An op
  // that adds no approval at all (every approver already counted) is refused, so
  // that a duplicate is visible as a failed ack.
  const before = liveApprovers(pending, keys)
  const mine = uniqueSorted([submitter.id, ...signers])
  const added = mine.filter(a => !before.includes(a))
  assert(added.length > 0, `PoA: duplicate approval: ${mine.join(', ')} already ${mine.length === 1 ? 'approves' : 'approve'} the ${kind === 'approve' ? 'admission' : 'revocation'} of ${id}; each signatory counts once`)
  const approvers = uniqueSorted([...before, ...added])
  const quorum = quorumAt(height)

  if (approvers.length < quorum) {
    // Not yet: record the proposal with the approvers counted so far.
    tx.put('/pending/' + id, { id, kind, publicKey, oplog, approvers, openedAt: pending?.openedAt ?? height })
    return
  }

  // Quorum reached at H: the change is made in this op and takes effect from the
  // next op (the executor ends its batch after a change to `.sys/inputs/`).
  if (pending !== null) tx.delete('/pending/' + id)
  if (kind === 'approve') {
    tx.put('/keys/' + id, { id, publicKey, oplog, status: 'accepted', genesis: false, acceptedAt: height, acceptedBy: approvers })
    tx.addOplog({ pubkey: oplog })
  } else {
    tx.put('/keys/' + id, { ...target, status: 'revoked', revokedAt: height, revokedBy: approvers })
    tx.removeOplog({ pubkey: oplog })
  }
}

// --- apply: SYS_SET_WITNESSES -------------------------------------------------
//
// The witness policy (/.sys/witnesses, whitepaper/witness.md §4) changes by the same
// quorum Q(H): each accepted signatory approves a policy by submitting it; approvals
// of one policy (compared in canonical JSON) are recorded under
// /pending-witnesses/<hex SHA-256 of that JSON>; the op that brings them to the
// quorum sets it (the host checks its shape, failing the op when it does not parse).

/** JSON with object keys sorted: one text per policy, whoever wrote it. */
function canonicalJson (v) {
  if (Array.isArray(v)) return '[' + v.map(canonicalJson).join(',') + ']'
  if (v !== null && typeof v === 'object') return '{' + Object.keys(v).sort().map(k => JSON.stringify(k) + ':' + canonicalJson(v[k])).join(',') + '}'
  return JSON.stringify(v)
}

async function setWitnessPolicy (tx, op, ack) {
  assert(Number.isSafeInteger(ack.height) && ack.height >= 0, 'PoA: the ack carries no height (H); system ops need one')
  assert(op.policy !== null && typeof op.policy === 'object' && !Array.isArray(op.policy), 'PoA: policy must be a witness policy { version: 1, quorum, witnesses }')
  const keys = await loadKeys()
  const submitter = accepted(keys).find(k => k.oplog === ack.origin)
  assert(submitter !== undefined, `PoA: the op comes from oplog ${ack.origin}, which belongs to no accepted signatory`)
  const id = sha256(canonicalJson(op.policy))
  const path = '/pending-witnesses/' + id
  const pending = (await index.get(path))?.value ?? null
  const before = liveApprovers(pending, keys)
  assert(!before.includes(submitter.id), `PoA: duplicate approval: ${submitter.id} already approves this witness policy; each signatory counts once`)
  const approvers = uniqueSorted([...before, submitter.id])
  if (approvers.length < quorumAt(ack.height)) {
    tx.put(path, { id, policy: op.policy, approvers, openedAt: pending?.openedAt ?? ack.height })
    return
  }
  if (pending !== null) tx.delete(path)
  tx.setWitnesses(op.policy)
}

export const apply = {
  SYS_APPROVE_KEY: vote,
  SYS_REVOKE_KEY: vote,
  SYS_SET_WITNESSES: setWitnessPolicy
}

// --- methods (db.call) -----------------------------------------------------

/**
 * The current index length as this replica sees it, from the acks (calls have no
 * ack, and a height passed in by the caller is not to be trusted): the start of
 * the last batch (the largest `batchStart`) plus, for every ack in that batch,
 * 1 + numChanges. With no op executed yet: the genesis length (header, contract
 * source, governance, the inputs, the genesis marker). The next system op
 * executes at this height or later, so `Q(height)` is the least quorum it needs.
 */
async function currentHeight () {
  const inputs = (await index.list('/.sys/inputs')).map(e => e.name)
  const last = []
  for (const hex of inputs) {
    const [e] = await index.list('/.sys/acks/' + hex, { reverse: true, limit: 1 })
    if (e !== undefined) last.push({ hex, ack: e.value })
  }
  if (last.length === 0) return 4 + inputs.length
  const start = Math.max(...last.map(l => l.ack.batchStart))
  let height = start
  for (const { hex, ack } of last) {
    if (ack.batchStart !== start) continue
    // this oplog's acks in the last batch are its newest ones: walk back from the newest
    const PAGE = 64
    for (let offset = 0, more = true; more; offset += PAGE) {
      const page = await index.list('/.sys/acks/' + hex, { reverse: true, offset, limit: PAGE })
      more = page.length === PAGE
      for (const e of page) {
        if (e.value.batchStart !== start) { more = false; break }
        height += 1 + e.value.numChanges
      }
    }
  }
  return height
}

function publicView (k) {
  return { id: k.id, publicKey: k.publicKey, oplog: k.oplog }
}

/** The accepted signatories: genesis ones in genesis order, then by admission height. */
export async function listSignatories () {
  const list = accepted(await loadKeys())
  list.sort((a, b) => a.acceptedAt - b.acceptedAt) // stable: genesis keys (acceptedAt 0) keep their order
  return list.map(publicView)
}

/**
 * { id, status, publicKey, pending, approvals, approvers, quorum, height }:
 * status 'accepted' | 'pending' (an admission is open) | 'revoked' | 'unknown';
 * pending: null | 'approve' | 'revoke' (an accepted key may have a revocation open);
 * approvals: approvers of the open proposal that are accepted now (0 when none);
 * height: the current index length on this replica; quorum: Q(height), the least
 * quorum the next approval needs; signatories: how many keys are accepted (when
 * fewer than the quorum, no proposal can complete: see whitepaper/poa.md).
 */
export async function getKeyStatus (params) {
  const { id, publicKey: given } = resolveKey(params?.key, params?.pubkey)
  const keys = await loadKeys()
  const rec = keys.get(id) ?? null
  const pending = await pendingOf(id)
  const approvers = liveApprovers(pending, keys)
  const height = await currentHeight()
  let status = 'unknown'
  if (rec !== null) status = rec.status
  else if (pending !== null) status = 'pending'
  const out = {
    id,
    status,
    publicKey: rec?.publicKey ?? pending?.publicKey ?? given ?? null,
    pending: pending === null ? null : pending.kind,
    approvals: approvers.length,
    approvers,
    quorum: quorumAt(height),
    height,
    signatories: accepted(keys).length
  }
  if (rec?.acceptedAt !== undefined) out.acceptedAt = rec.acceptedAt
  if (rec?.revokedAt !== undefined) out.revokedAt = rec.revokedAt
  return out
}

/** The id of a public key. */
export function keyId (params) {
  const pubkey = typeof params?.pubkey === 'string' ? params.pubkey.trim().toLowerCase() : ''
  assert(HEX64.test(pubkey), 'PoA: pubkey must be 64 hex characters')
  return idOf(pubkey)
}

/** Q(height), as the contract computes it. */
export function quorum (params) {
  return quorumAt(params?.height)
}

/** The message a bundle signature signs for `key` ('approve' by default, or 'revoke'). */
export async function approvalMessage (params) {
  const kind = params?.kind ?? 'approve'
  assert(kind === 'approve' || kind === 'revoke', 'PoA: kind must be "approve" or "revoke"')
  return messageFor(kind, await databaseKey(), resolveKey(params?.key).id)
}

function checkSignatures (signatures) {
  if (signatures === undefined || signatures === null) return undefined
  assert(Array.isArray(signatures) && signatures.length <= MAX_SIGNATURES, `PoA: signatures must be an array of at most ${MAX_SIGNATURES} { signer, signature }`)
  return signatures.map(s => {
    assert(s !== null && typeof s === 'object' && typeof s.signer === 'string' && HEX64.test(s.signer.toLowerCase()) &&
      typeof s.signature === 'string' && HEX128.test(s.signature.toLowerCase()), 'PoA: each signature must be { signer: <64 hex public key>, signature: <128 hex> }')
    return { signer: s.signer.toLowerCase(), signature: s.signature.toLowerCase() }
  })
}

/**
 * Emit SYS_APPROVE_KEY: approve the admission of `key` (with `pubkey` when key is
 * an id of a key not pending yet), optionally with a bundle of signatures.
 */
export async function approveKey (params, emit) {
  const { id, publicKey } = resolveKey(params?.key, params?.pubkey)
  if (publicKey === null) {
    const pending = await pendingOf(id)
    assert(pending?.publicKey, `PoA: approving a new key needs its public key (its oplog key is derived from it, an id alone is not enough): pass key as the 64-hex public key, or add pubkey`)
  }
  const op = { op: 'SYS_APPROVE_KEY', key: publicKey ?? id }
  const signatures = checkSignatures(params?.signatures)
  if (signatures !== undefined) op.signatures = signatures
  emit(op)
}

/** Emit SYS_SET_WITNESSES: approve `policy` as the database's witness policy (it takes effect at quorum). */
export function proposeWitnesses (params, emit) {
  const policy = params?.policy
  assert(policy !== null && typeof policy === 'object' && !Array.isArray(policy), 'PoA: policy must be a witness policy { version: 1, quorum, witnesses }')
  emit({ op: 'SYS_SET_WITNESSES', policy })
}

/** Emit SYS_REVOKE_KEY: approve the revocation of `key`, optionally with a bundle of signatures. */
export function revokeKey (params, emit) {
  const { id } = resolveKey(params?.key)
  const op = { op: 'SYS_REVOKE_KEY', key: id }
  const signatures = checkSignatures(params?.signatures)
  if (signatures !== undefined) op.signatures = signatures
  emit(op)
}
