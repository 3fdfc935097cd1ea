// kv-store.js: a key-value store with an admin.
// At genesis the creator's oplog is the only participant, so the first op ever
// applied comes from it: that op records its origin at /admin. Only the
// admin may add or remove participants. Every participant may put and del
// values under /values/. A key is a path below /values ('a/b' is /values/a/b);
// get returns the stored value (or null), list a folder listing of a path.
import { index } from 'contract'
import assert from 'assert'

const PREFIX = '/values/'

function checkKey (key) {
  assert(typeof key === 'string' && key.length > 0 && key.length <= 512, 'key must be a non-empty string of at most 512 characters')
}

export async function get ({ key }) {
  checkKey(key)
  return (await index.get(PREFIX + key))?.value ?? null
}

// The entries and sub-folders under /values/<prefix>: [{ key, value, container }], keys relative to /values.
export async function list ({ prefix = '', limit } = {}) {
  const entries = await index.list(PREFIX + prefix, limit === undefined ? {} : { limit })
  return entries.map(e => ({ key: e.path.slice(PREFIX.length), value: e.value ?? null, container: e.container }))
}

export function put ({ key, value }, emit) {
  checkKey(key)
  assert(value !== undefined, 'value is required')
  emit({ op: 'PUT', key, value })
}

export function del ({ key }, emit) {
  checkKey(key)
  emit({ op: 'DEL', key })
}

export function addParticipant ({ pubkey }, emit) {
  assert(/^[0-9a-f]{64}$/.test(pubkey), 'pubkey must be 64 hex characters')
  emit({ op: 'ADD_PARTICIPANT', pubkey })
}

export function removeParticipant ({ pubkey }, emit) {
  assert(/^[0-9a-f]{64}$/.test(pubkey), 'pubkey must be 64 hex characters')
  emit({ op: 'REMOVE_PARTICIPANT', pubkey })
}

// The database's primary servers (http(s) URLs where every copy may sync; /.sys/servers): the admin's to set.
export function setServers ({ urls }, emit) {
  assert(Array.isArray(urls), 'urls must be an array of http(s) URLs')
  emit({ op: 'SET_SERVERS', urls })
}

// The witness policy (which witnesses cosign the index's checkpoints, how many must;
// /.sys/witnesses, whitepaper/witness.md): the admin's to set. The host checks its shape.
export function setWitnesses ({ policy }, emit) {
  assert(policy !== null && typeof policy === 'object', 'policy must be { version: 1, quorum, witnesses: [{ key, url? }] }')
  emit({ op: 'SET_WITNESSES', policy })
}

export async function getAdmin () {
  return (await index.get('/admin'))?.value ?? null
}

// Record the admin on the first op ever applied; returns the admin's key.
async function ensureAdmin (tx, ack) {
  const admin = await index.get('/admin')
  if (admin !== undefined) return admin.value
  tx.put('/admin', ack.origin)
  return ack.origin
}

async function requireAdmin (tx, ack) {
  const admin = await ensureAdmin(tx, ack)
  assert.equal(ack.origin, admin, 'only the admin may change participants')
}

export const apply = {
  async PUT (tx, op, ack) {
    await ensureAdmin(tx, ack)
    checkKey(op.key)
    tx.put(PREFIX + op.key, op.value)
  },
  async DEL (tx, op, ack) {
    await ensureAdmin(tx, ack)
    checkKey(op.key)
    tx.delete(PREFIX + op.key)
  },
  async ADD_PARTICIPANT (tx, op, ack) {
    await requireAdmin(tx, ack)
    await tx.addOplog({ pubkey: op.pubkey })
  },
  async SET_SERVERS (tx, op, ack) {
    const admin = await ensureAdmin(tx, ack)
    assert.equal(ack.origin, admin, 'only the admin may set the servers')
    tx.setServers({ urls: op.urls })
  },
  async SET_WITNESSES (tx, op, ack) {
    const admin = await ensureAdmin(tx, ack)
    assert.equal(ack.origin, admin, 'only the admin may set the witness policy')
    tx.setWitnesses(op.policy)
  },
  async REMOVE_PARTICIPANT (tx, op, ack) {
    await requireAdmin(tx, ack)
    assert.notEqual(op.pubkey, ack.origin, 'the admin cannot remove itself')
    await tx.removeOplog({ pubkey: op.pubkey })
  }
}
