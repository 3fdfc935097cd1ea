// `vitra init --protocol 2` (issue 38): a database whose acks are binary, used and
// audited from the command line as any other; a version that does not exist is a usage error.
import test from 'brittle'
import { writeFileSync } from 'fs'
import { join } from 'path'
import { contract, runVitra } from './helpers.js'

test('cli protocol - init --protocol 2: calls and verify as in version 1; --protocol 3 is refused', { timeout: 120_000 }, async t => {
  const root = await t.tmp()
  const file = join(root, 'counter.js')
  writeFileSync(file, contract('counter'))
  const bad = await runVitra(['init', file, '--dir', join(root, 'bad'), '--protocol', '3'])
  t.is(bad.code, 2, '--protocol 3: a usage error')
  t.ok(/--protocol must be 1 or 2/.test(bad.stderr), bad.stderr.trim())
  const dir = join(root, 'db')
  t.is((await runVitra(['init', file, '--dir', dir, '--protocol', '2'])).code, 0, 'vitra init --protocol 2')
  for (let i = 0; i < 3; i++) t.is((await runVitra(['call', 'increment', '--dir', dir, '--offline'])).code, 0, `call ${i + 1}`)
  const got = await runVitra(['call', 'get', '--dir', dir, '--offline', '--json'])
  t.is(JSON.parse(got.stdout).response, 3, 'the counter reads 3')
  const ack = await runVitra(['get', `/.sys/acks/genesis`, '--dir', dir, '--offline', '--json'])
  t.is(JSON.parse(ack.stdout).value?.v, 2, 'the genesis marker says version 2')
  const verified = await runVitra(['verify', '--dir', dir, '--offline'])
  t.is(verified.code, 0, `vitra verify: valid (${verified.stderr.trim()})`)
})
