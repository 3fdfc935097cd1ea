// Proof-of-authority from the CLI (issue 33): `vitra oplog create` shows the signer key
// that signatories approve, `keys approve` given the oplog key admits exactly that
// oplog (it stands for its signer key), `keys status` shows what is pending apart from
// the status, and the key commands on a database without a key quorum say so.
import test from 'brittle'
import { mkdirSync, readFileSync, writeFileSync } from 'fs'
import { join } from 'path'
import { fileURLToPath } from 'url'
import createTestnet from 'hyperdht/testnet.js'
import { splitWords } from '../cli/params.js'
import { contract, runVitra, startVitra } from './helpers.js'

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

test('cli poa - the README walkthrough, line by line: two signatories admit a third participant from the CLI alone (DHT testnet)', { timeout: 180_000 }, async t => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  t.teardown(() => testnet.destroy())
  const net = { VITRA_BOOTSTRAP: testnet.bootstrap.map((b: { host: string, port: number }) => `${b.host}:${b.port}`).join(','), VITRA_HOST: '127.0.0.1' }
  const cwd = await t.tmp()
  mkdirSync(join(cwd, 'contracts'))
  writeFileSync(join(cwd, 'contracts', 'kv-store.js'), contract('kv-store'))
  const vars: Record<string, string> = {}
  const lines = readmeWalkthrough()
  t.ok(lines.length >= 10, `the README block has its ${lines.length} commands`)
  for (const { command, comment } of lines) {
    const words = splitWords(command.replace(/\$([A-Z]+)/g, (_m, name: string) => vars[name] ?? `$${name}`)).slice(1) // drop "vitra"
    if (words[words.length - 1] === '&') {
      const bg = startVitra(t, words.slice(0, -1), { cwd, env: net, timeout: 170_000 })
      await bg.waitFor(/Hosting [0-9a-f]{64}/)
      t.pass(`started in the background: ${command}`)
      continue
    }
    const r = await runVitra(words, net, { cwd })
    t.is(r.code, 0, `${command} → exit 0 ${r.code === 0 ? '' : r.stderr.trim()}`)
    const wants = /\$([A-Z]+)\s*$/.exec(comment)
    if (wants !== null) {
      const found = /signer key\s+([0-9a-f]{64})/.exec(r.stdout) ?? /([0-9a-f]{64})/.exec(r.stdout)
      t.ok(found !== null, `${command} prints $${wants[1]}`)
      vars[wants[1]] = (found as RegExpExecArray)[1]
    }
    if (/keys list/.test(command)) t.is(r.stdout.match(/1:[0-9a-f]{64}/g)?.length, 2, 'two signatories')
    if (/keys status/.test(command)) t.ok(/status\s+accepted/.test(r.stdout) && /pending\s+nothing/.test(r.stdout), r.stdout.trim())
    if (/vitra get/.test(command)) t.is(r.stdout.trim(), '"hello"', 'Carol reads what Bob wrote')
    if (/put .*--dir carol/.test(command)) t.ok(/#0 {2}ok {2}ack at index seq \d+/.test(r.stdout), 'Carol\'s op executed')
    if (/vitra verify/.test(command)) t.ok(/^Valid: /.test(r.stdout), r.stdout.trim())
  }
})

/** The commands of the README's PoA walkthrough (the sh block after <!-- poa-walkthrough -->), with their comments. */
function readmeWalkthrough (): Array<{ command: string, comment: string }> {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8')
  const start = readme.indexOf('<!-- poa-walkthrough -->')
  const block = readme.slice(readme.indexOf('```sh\n', start) + 6, readme.indexOf('```\n', readme.indexOf('```sh\n', start) + 6))
  return block.split('\n').filter(l => l.startsWith('vitra ')).map(l => {
    const hash = l.indexOf(' # ')
    return hash === -1 ? { command: l.trim(), comment: '' } : { command: l.slice(0, hash).trim(), comment: l.slice(hash + 3).trim() }
  })
}
