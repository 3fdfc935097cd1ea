// Papercuts a new user met (issue 33): errors that say where and what to do.
import test, { type Assertion } from 'brittle'
import { createServer } from 'net'
import { writeFileSync } from 'fs'
import { join } from 'path'
import { contract, runVitra } from './helpers.js'

test('cli papercuts - a contract that does not compile is reported at the user\'s file, not contract.js', { timeout: 30_000 }, async t => {
  const root = await t.tmp()
  const file = join(root, 'my-contract.js')
  writeFileSync(file, 'export function x () {\n  return 1 +\n}\n')
  const r = await runVitra(['init', file, '--dir', join(root, 'db')])
  t.is(r.code, 1)
  t.ok(r.stderr.includes(`(${file}:3:1)`), `names the file and position: ${r.stderr.trim()}`)
  t.absent(r.stderr.includes('(contract.js:'), 'not the sandbox\'s name for it')
})

test('cli papercuts - serve on a port that is taken says which port and how to choose another', { timeout: 60_000 }, async t => {
  const dir = await counterDir(t)
  const blocker = createServer()
  await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  const r = await runVitra(['serve', '--dir', dir, '--offline', '--port', String(port)])
  t.is(r.code, 1, 'exit 1')
  t.ok(r.stderr.includes(`Port ${port} on 127.0.0.1 is taken`) && r.stderr.includes('--port'), `a clear error: ${r.stderr.trim()}`)
  t.absent(/Unexpected error/.test(r.stderr), 'not "Unexpected error"')
})

test('cli papercuts - vitra query: an unknown table lists the tables; the footer goes to stderr, the rows alone to stdout', { timeout: 60_000 }, async t => {
  const dir = await counterDir(t)
  t.is((await runVitra(['call', 'increment', '--amount', '2', '--dir', dir])).code, 0)
  const unknown = await runVitra(['query', 'SELECT * FROM counters', '--dir', dir])
  t.is(unknown.code, 1)
  t.ok(/no such table: counters.*the tables are state, history, acks, ops, oplogs/.test(unknown.stderr), `lists the tables: ${unknown.stderr.trim()}`)
  const rows = await runVitra(['query', "SELECT value FROM state WHERE path = '/counter'", '--dir', dir])
  t.is(rows.code, 0)
  t.is(rows.stdout.trim().split('\n').pop()?.trim(), '2', `stdout ends with the row: ${JSON.stringify(rows.stdout)}`)
  t.absent(/row\(s\)/.test(rows.stdout), 'no footer on stdout')
  t.ok(/1 row\(s\), reflecting index length \d+/.test(rows.stderr), 'the footer on stderr')
})

test('cli papercuts - vitra verify into a pipe prints progress lines on stderr, the verdict on stdout', { timeout: 60_000 }, async t => {
  const dir = await counterDir(t)
  for (let i = 0; i < 3; i++) t.is((await runVitra(['call', 'increment', '--dir', dir])).code, 0)
  const r = await runVitra(['verify', '--dir', dir], { VITRA_PROGRESS_MS: '1' })
  t.is(r.code, 0)
  t.ok(/^Valid: /.test(r.stdout), 'the verdict on stdout')
  t.ok(/vitra: verifying: \d+ of \d+ index entries/.test(r.stderr), `progress lines on stderr: ${r.stderr.trim().split('\n')[0] ?? ''}`)
})

/** A counter database made by `vitra init` in a temporary directory. */
async function counterDir (t: Assertion): Promise<string> {
  const root = await t.tmp()
  const file = join(root, 'counter.js')
  writeFileSync(file, contract('counter'))
  const dir = join(root, 'db')
  t.is((await runVitra(['init', file, '--dir', dir])).code, 0, 'vitra init')
  return dir
}
