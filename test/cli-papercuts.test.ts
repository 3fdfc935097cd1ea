// Papercuts a new user met (issue 33): errors that say where and what to do.
import test from 'brittle'
import { createServer } from 'net'
import { existsSync, readFileSync, writeFileSync } from 'fs'
import { join } from 'path'
import { counterDir, runVitra, startVitra } from './helpers.js'

test('cli papercuts - a contract that does not compile is reported at the user\'s file, not contract.js', { timeout: 30_000 }, async t => {
  const root = await t.tmp()
  const file = join(root, 'my-contract.js')
  writeFileSync(file, 'export function x () {\n  return 1 +\n}\n')
  const r = await runVitra(['init', file, '--dir', join(root, 'db')])
  t.is(r.code, 1)
  t.ok(r.stderr.includes(`(${file}:3:1)`), `names the file and position: ${r.stderr.trim()}`)
  t.absent(r.stderr.includes('(contract.js:'), 'not the sandbox\'s name for it')
})

test('cli papercuts - vitra call --help shows switches, not positional params', async t => {
  const r = await runVitra(['call', '--help'])
  t.is(r.code, 0)
  t.ok(r.stdout.startsWith('Usage: vitra call [options] <method> [--name value ...]'), r.stdout.split('\n')[0])
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
  t.absent(existsSync(join(dir, 'http-token')), 'and leaves no http-token behind')
})

test('cli papercuts - serve: --host is refused as ambiguous; --no-auth beyond loopback warns; --host elsewhere warns it is --dht-host', { timeout: 60_000 }, async t => {
  const dir = await counterDir(t)
  const ambiguous = await runVitra(['serve', '--host', '0.0.0.0', '--dir', dir, '--offline', '--port', '0'])
  t.is(ambiguous.code, 2, 'serve --host: a usage error')
  t.ok(/--host is ambiguous here: give --http-host <address> for the HTTP server, --dht-host <address> for the DHT node/.test(ambiguous.stderr), ambiguous.stderr.trim())
  const open = startVitra(t, ['serve', '--no-auth', '--http-host', '0.0.0.0', '--dir', dir, '--offline', '--port', '0'])
  const line = await open.waitFor(/Serving [0-9a-f]{64} at http:\/\/0\.0\.0\.0:\d+\/v1\/databases\/[0-9a-f]{64}/)
  t.ok(/calls are open \(--no-auth\)/.test(open.output()), 'it says calls are open')
  const port = (/:(\d+)\//.exec(line) as RegExpExecArray)[1]
  const key = (/[0-9a-f]{64}/.exec(line) as RegExpExecArray)[0]
  const res = await fetch(`http://127.0.0.1:${port}/v1/databases/${key}/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'increment' }) })
  t.is(res.status, 200, 'a call without a token is served')
  open.child.kill('SIGTERM')
  const end = await open.done
  t.ok(/warning: calls are open to anyone who reaches 0\.0\.0\.0/.test(end.stderr), `a warning on stderr: ${end.stderr.trim()}`)
  t.absent(existsSync(join(dir, 'http-token')), 'no token file is made with --no-auth')
  const old = await runVitra(['get', '/counter', '--host', '127.0.0.1', '--dir', dir])
  t.is(old.code, 0, 'the old --host still works elsewhere')
  t.ok(/warning: --host is now --dht-host/.test(old.stderr), old.stderr.trim())
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

test('cli papercuts - one transaction id: vitra call and the HTTP API give the same kind of id; calls over HTTP are in vitra tx list', { timeout: 60_000 }, async t => {
  const dir = await counterDir(t)
  const cli = JSON.parse((await runVitra(['call', 'increment', '--dir', dir, '--json'])).stdout) as { id: string, ops: Array<{ oplog: string, seq: number }> }
  t.is(cli.id, `${cli.ops[0].oplog}-${cli.ops[0].seq}-1`, `vitra call: <oplog key>-<seq>-<count> (${cli.id})`)
  const serve = startVitra(t, ['serve', '--dir', dir, '--offline', '--port', '0'])
  const line = await serve.waitFor(/Serving [0-9a-f]{64} at http:\/\/127\.0\.0\.1:\d+\/v1\/databases\/[0-9a-f]{64}/)
  const base = (/http:\S+/.exec(line) as RegExpExecArray)[0]
  const token = readFileSync(join(dir, 'http-token'), 'utf8').trim()
  const res = await fetch(`${base}/call`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ method: 'increment', params: { amount: 2 } }) })
  const http = await res.json() as { id: string }
  const list = JSON.parse((await runVitra(['tx', 'list', '--dir', dir, '--json'])).stdout) as Array<{ id: string, status: string }>
  t.alike(list.map(x => x.id).sort(), [cli.id, http.id].sort(), 'tx list has both calls, each under the id its interface gave')
  t.is(list.find(x => x.id === http.id)?.status, 'executed', 'the HTTP call with its results')
  const short = `${http.id.slice(0, 8)}-${http.id.split('-')[1]}`
  const shown = await runVitra(['tx', 'show', short, '--dir', dir])
  t.is(shown.code, 0, `tx show takes the short form ${short}`)
  t.ok(shown.stdout.includes(http.id), 'and shows the one id')
  serve.child.kill('SIGTERM')
  t.is((await serve.done).code, 0)
})
