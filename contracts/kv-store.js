// kv-store.js: a key-value store with an admin.
// At genesis the creator's oplog is the only participant, so the first op ever
// applied comes from it: that op records its origin under "admin". Only the
// admin may add or remove participants. Every participant may put and del
// values under "values/".
import { index } from 'contract'
import assert from 'assert'

const PREFIX = 'values/'

function checkKey (key) {
  assert(typeof key === 'string' && key.length > 0 && key.length <= 512, 'key must be a non-empty string of at most 512 characters')
}

export async function get ({ key }) {
  checkKey(key)
  return await index.get(PREFIX + key)
}

export async function list ({ prefix = '', limit } = {}) {
  const entries = await index.list(PREFIX + prefix, limit === undefined ? {} : { limit })
  return entries.map(e => ({ key: e.key.slice(PREFIX.length), value: e.value }))
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

export async function getAdmin () {
  return await index.get('admin')
}

// Record the admin on the first op ever applied; returns the admin's key.
async function ensureAdmin (tx, ack) {
  const admin = await tx.get('admin')
  if (admin !== null) return admin
  await tx.put('admin', ack.origin)
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
    await tx.put(PREFIX + op.key, op.value)
  },
  async DEL (tx, op, ack) {
    await ensureAdmin(tx, ack)
    checkKey(op.key)
    await tx.delete(PREFIX + op.key)
  },
  async ADD_PARTICIPANT (tx, op, ack) {
    await requireAdmin(tx, ack)
    await tx.addOplog({ pubkey: op.pubkey })
  },
  async REMOVE_PARTICIPANT (tx, op, ack) {
    await requireAdmin(tx, ack)
    assert.notEqual(op.pubkey, ack.origin, 'the admin cannot remove itself')
    await tx.removeOplog({ pubkey: op.pubkey })
  }
}
