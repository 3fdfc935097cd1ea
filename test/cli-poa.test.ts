// Proof-of-authority from the CLI (issue 33): `vitra oplog create` shows the signer key
// that signatories approve, `keys approve` given the oplog key admits exactly that
// oplog (it stands for its signer key), `keys status` shows what is pending apart from
// the status, and the key commands on a database without a key quorum say so.
import test from 'brittle'
import { writeFileSync } from 'fs'
import { join } from 'path'
import { contract, runVitra } from './helpers.js'

test('cli poa - a new oplog admitted from the CLI by its oplog key or its signer key; status and list', { timeout: 90_000 }, async t => {
  const root = await t.tmp()
  const file = join(root, 'kv.js')
  writeFileSync(file, contract('kv-store'))
  const dir = join(root, 'poa')
  t.is((await runVitra(['init', file, '--poa', '--dir', dir])).code, 0, 'vitra init --poa')

  const created = await runVitra(['oplog', 'create', '--dir', dir, '--json'])
  t.is(created.code, 0, 'vitra oplog create')
  const { oplog, signer } = JSON.parse(created.stdout) as { oplog: string, signer: string }
  t.ok(/^[0-9a-f]{64}$/.test(signer) && signer !== oplog, 'it shows the signer key, which is not the oplog key')
  const human = await runVitra(['oplog', 'create', '--dir', dir])
  t.ok(/signer key {2}[0-9a-f]{64}/.test(human.stdout) && /vitra keys approve [0-9a-f]{64}/.test(human.stdout), `and says which key to approve:\n${human.stdout}`)

  // approving the oplog key admits that oplog (its signer key), not another one
  const approved = await runVitra(['keys', 'approve', oplog, '--dir', dir])
  t.is(approved.code, 0, `keys approve <oplog key>: ${approved.stderr.trim()}`)
  t.ok(approved.stdout.includes(`using its signer key ${signer}`), 'it says it approved the signer key')
  const info = JSON.parse((await runVitra(['info', '--dir', dir, '--json'])).stdout) as { oplogs: Array<{ key: string, participant: string, signer?: string }> }
  const row = info.oplogs.find(o => o.key === oplog)
  t.is(row?.participant, 'active', 'the oplog created is now a participant')
  t.is(row?.signer, signer, 'vitra info shows its signer key')

  const status = await runVitra(['keys', 'status', signer, '--dir', dir])
  t.ok(/status\s+accepted/.test(status.stdout) && /pending\s+nothing/.test(status.stdout), `keys status: accepted, nothing pending:\n${status.stdout}`)
  const list = await runVitra(['keys', 'list', '--dir', dir, '--json'])
  t.ok(list.stdout.includes(signer), 'keys list lists it')

  const plain = join(root, 'plain')
  t.is((await runVitra(['init', file, '--dir', plain])).code, 0)
  const refused = await runVitra(['keys', 'list', '--dir', plain])
  t.is(refused.code, 1, 'keys list on a database without PoA: exit 1')
  t.ok(/has no key quorum/.test(refused.stderr) && !/listSignatories/.test(refused.stderr), `a clear error: ${refused.stderr.trim()}`)
  const plainOplog = await runVitra(['oplog', 'create', '--dir', plain])
  t.ok(/vitra call addParticipant --pubkey [0-9a-f]{64}/.test(plainOplog.stdout), 'without PoA, oplog create points at the contract')
})
