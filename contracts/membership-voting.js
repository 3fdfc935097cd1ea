// membership-voting.js: participants are added or removed by majority vote.
//
// Members are the active participants of the database (listOplogs(): the
// `/.sys/inputs` records, which the contract may read but only change through
// tx.addOplog / tx.removeOplog). A member votes with voteAdd({ pubkey }) or
// voteRemove({ pubkey }). When the votes of current members for the same
// proposal reach a strict majority, floor(members / 2) + 1, the change is made
// in that same op and the proposal is cleared. With 1 member one vote passes,
// with 2 members both are needed, with 3 two, with 5 three. Votes from keys that
// are no longer members stop counting. A member votes once per proposal. The
// last member cannot be removed.
import { index, listOplogs } from 'contract'
import assert from 'assert'

const HEX = /^[0-9a-f]{64}$/

function members () {
  return listOplogs().map(o => o.pubkey).sort()
}

function proposalPath (action, pubkey) {
  return `/proposals/${action}/${pubkey}`
}

export async function listMembers () {
  return members()
}

// The open proposals: [{ key: 'add/<pubkey>' or 'remove/<pubkey>', votes }].
export async function listProposals () {
  const out = []
  for (const action of ['add', 'remove']) {
    for (const e of await index.list(`/proposals/${action}`)) out.push({ key: `${action}/${e.name}`, votes: e.value })
  }
  return out
}

export function majority ({ members }) {
  return Math.floor(members / 2) + 1
}

export function voteAdd ({ pubkey }, emit) {
  assert(HEX.test(pubkey), 'pubkey must be 64 hex characters')
  emit({ op: 'VOTE', action: 'add', pubkey })
}

export function voteRemove ({ pubkey }, emit) {
  assert(HEX.test(pubkey), 'pubkey must be 64 hex characters')
  emit({ op: 'VOTE', action: 'remove', pubkey })
}

export const apply = {
  async VOTE (tx, op, ack) {
    assert(op.action === 'add' || op.action === 'remove', 'action must be "add" or "remove"')
    assert(HEX.test(op.pubkey), 'pubkey must be 64 hex characters')
    const current = members()
    assert(current.includes(ack.origin), 'only members may vote')
    const isMember = current.includes(op.pubkey)
    if (op.action === 'add') assert(!isMember, 'already a member')
    else {
      assert(isMember, 'not a member')
      assert(current.length > 1, 'the last member cannot be removed')
    }
    const key = proposalPath(op.action, op.pubkey)
    const previous = (await index.get(key))?.value ?? []
    assert(!previous.includes(ack.origin), 'this member already voted for this proposal')
    const votes = previous.filter(v => current.includes(v)).concat(ack.origin).sort()
    if (votes.length >= Math.floor(current.length / 2) + 1) {
      tx.delete(key)
      if (op.action === 'add') tx.addOplog({ pubkey: op.pubkey })
      else tx.removeOplog({ pubkey: op.pubkey })
    } else {
      tx.put(key, votes)
    }
  }
}
