// One owner per directory (issue 33): whatever vitra process has a database open
// (host, monitor, a REPL, a short call), every other command on the directory runs
// in it (cli/owner.ts); those that cannot name it.
import test from 'brittle'
import { existsSync, readFileSync, writeFileSync } from 'fs'
import { join } from 'path'
import { counterDir, runVitra, startVitra } from './helpers.js'

test('cli owner - while `vitra host` runs, every command on its directory works through it; host, destroy and the REPL name it', { timeout: 120_000 }, async t => {
  const dir = await counterDir(t)
  const host = startVitra(t, ['host', '--offline', '--dir', dir])
  await host.waitFor(/Hosting [0-9a-f]{64} as executor/)
  const owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as { pid: number, command: string, socket: string, url: string | null }
  t.is(owner.command, 'vitra host', 'owner.json names the command')
  t.ok(existsSync(owner.socket), 'and its socket')

  const call = await runVitra(['call', 'increment', '--amount', '3', '--dir', dir])
  t.is(call.code, 0, `call: ${call.stderr.trim()}`)
  t.ok(/#0 {2}ok {2}ack at index seq \d+/.test(call.stdout), 'executed by the host, with its result')
  await host.waitFor(/executed 1 op\(s\)/)
  t.is((await runVitra(['get', '/counter', '--dir', dir])).stdout.trim(), '3', 'get')
  const json = await runVitra(['get', '/counter', '--json', '--dir', dir])
  t.is((JSON.parse(json.stdout) as { value: number }).value, 3, 'get --json: one JSON document, as alone')
  t.ok(/\/counter\s+3/.test((await runVitra(['list', '--dir', dir])).stdout), 'list')
  t.ok(/put\s+\/counter/.test((await runVitra(['history', '--dir', dir])).stdout), 'history of the index')
  t.ok(/ok \(index \d+\)/.test((await runVitra(['history', 'local', '--dir', dir])).stdout), 'history of the local oplog')
  t.ok(/get\s+increment/.test((await runVitra(['methods', '--dir', dir])).stdout), 'methods')
  t.ok(/function increment/.test((await runVitra(['source', '--dir', dir])).stdout), 'source')
  const info = await runVitra(['info', '--dir', dir])
  t.ok(new RegExp(`open in\\s+process ${owner.pid} \\(\`vitra host\`\\); this command ran there`).test(info.stdout), 'info says where it ran')
  t.ok(/yes\s+active/.test((await runVitra(['oplog', 'list', '--dir', dir])).stdout), 'oplog list')
  const q = await runVitra(['query', "SELECT value FROM state WHERE path = '/counter'", '--dir', dir])
  t.is(q.stdout.trim().split('\n').pop()?.trim(), '3', 'query')
  const verify = await runVitra(['verify', '--dir', dir])
  t.is(verify.code, 0, 'verify')
  t.ok(/^Valid: replayed/.test(verify.stdout), verify.stdout.trim())
  const once = await runVitra(['monitor', '--once', '--dir', dir])
  t.is(once.code, 0, 'monitor --once')
  t.ok(/Valid up to index length \d+/.test(once.stdout), 'with its verdict')
  const txs = await runVitra(['tx', 'list', '--dir', dir])
  const id = (/([0-9a-f]{64}-0-1)/.exec(txs.stdout) ?? [])[1]
  t.ok(id !== undefined, 'tx list shows the call')
  t.is((await runVitra(['tx', 'verify', String(id), '--dir', dir])).code, 0, 'tx verify')
  const copy = join(dir, '..', 'copy')
  const backup = await runVitra(['backup', 'copy', '--dir', dir], {}, { cwd: join(dir, '..') })
  t.is(backup.code, 0, `backup to a path relative to the caller's directory (${backup.stderr.trim()})`)
  t.ok(existsSync(join(copy, 'vitra.json')), 'the copy is where the caller meant')
  t.absent(existsSync(join(copy, 'owner.json')), 'without the owner\'s files')
  t.is((await runVitra(['get', '/counter', '--offline', '--dir', copy])).stdout.trim(), '3', 'and opens as the same database')
  const keys = await runVitra(['keys', 'list', '--dir', dir])
  t.is(keys.code, 1, 'errors come back with their exit code')
  t.ok(/no key quorum/i.test(keys.stderr), keys.stderr.trim())

  for (const [args, what] of [[['host', '--offline'], 'keeps the database online already'], [['destroy', '--yes'], 'stop it first'], [[], 'stop it first to open a REPL']] as const) {
    const r = await runVitra([...args, '--dir', dir])
    t.is(r.code, 1, `vitra ${args.join(' ')}: refused`)
    t.ok(r.stderr.includes(`open in process ${owner.pid} (\`vitra host\`)`) && r.stderr.includes(what), r.stderr.trim())
  }
  t.ok(existsSync(join(dir, 'vitra.json')), 'nothing was destroyed')

  host.child.kill('SIGTERM')
  t.is((await host.done).code, 0, 'the host stops with 0')
  t.absent(existsSync(join(dir, 'owner.json')), 'owner.json is gone')
  t.absent(existsSync(owner.socket), 'and its socket')
})

test('cli owner - a running monitor in the executor\'s directory never stops its calls; Ctrl-C ends a monitor run through it', { timeout: 120_000 }, async t => {
  const dir = await counterDir(t)
  const monitor = startVitra(t, ['monitor', '--offline', '--dir', dir])
  await monitor.waitFor(/Monitoring [0-9a-f]{64}/)
  await monitor.waitFor(/verified up to index length/)
  const call = await runVitra(['call', 'increment', '--dir', dir])
  t.is(call.code, 0, `call while the monitor runs: ${call.stderr.trim()}`)
  t.ok(/#0 {2}ok/.test(call.stdout), 'executed')
  await monitor.waitFor(/verified up to index length (?!3\b)\d+/)
  const second = startVitra(t, ['monitor', '--dir', dir])
  await second.waitFor(/Monitoring [0-9a-f]{64}/)
  process.kill(-(second.child.pid as number), 'SIGINT')
  const end = await second.done
  t.is(end.code, 0, `Ctrl-C: it stops with 0, as alone ${end.stderr.trim()}`)
  t.ok(/Valid up to index length \d+/.test(end.stdout), 'with its verdict')
  monitor.child.kill('SIGTERM')
  t.is((await monitor.done).code, 0)
})

test('cli owner - a REPL owns its directory too; a killed owner leaves nothing in the way; a foreign owner.json is ignored', { timeout: 120_000 }, async t => {
  const dir = await counterDir(t)
  const repl = startVitra(t, ['--dir', dir, '--offline'])
  await eventually(() => existsSync(join(dir, 'owner.json')))
  const call = await runVitra(['call', 'increment', '--amount', '7', '--dir', dir])
  t.is(call.code, 0, `call while a REPL has it open: ${call.stderr.trim()}`)
  const info = await runVitra(['info', '--dir', dir])
  t.ok(/open in\s+process \d+ \(`vitra`\)/.test(info.stdout), 'the REPL is named as `vitra`')
  process.kill(-(repl.child.pid as number), 'SIGKILL')
  await repl.done
  t.ok(existsSync(join(dir, 'owner.json')), 'a killed owner leaves owner.json behind')
  const after = await runVitra(['get', '/counter', '--dir', dir])
  t.is(after.stdout.trim(), '7', `the next command opens the directory itself (${after.stderr.trim()})`)

  // a copied owner.json (another directory's) names another directory: never followed
  const other = await counterDir(t)
  const host = startVitra(t, ['host', '--offline', '--dir', other])
  await host.waitFor(/Hosting/)
  writeFileSync(join(dir, 'owner.json'), readFileSync(join(other, 'owner.json')))
  t.is((await runVitra(['get', '/counter', '--dir', dir])).stdout.trim(), '7', 'the directory\'s own database answers')
  host.child.kill('SIGTERM')
  await host.done
})

test('cli owner - commands started together on one directory all run: one opens it, the others run in it', { timeout: 120_000 }, async t => {
  const dir = await counterDir(t)
  const runs = await Promise.all(Array.from({ length: 5 }, async () => await runVitra(['call', 'increment', '--dir', dir])))
  runs.forEach((r, i) => { t.is(r.code, 0, `call ${i}: exit 0 ${r.stderr.trim()}`) })
  t.is((await runVitra(['get', '/counter', '--dir', dir])).stdout.trim(), '5', 'every call executed once')
  t.is((await runVitra(['verify', '--dir', dir])).code, 0, 'and the database verifies')
  // a host started among calls: whichever opens the directory first, the host waits for a short owner, the calls run in the host
  const host = startVitra(t, ['host', '--offline', '--dir', dir])
  const calls = await Promise.all(Array.from({ length: 5 }, async () => await runVitra(['call', 'increment', '--dir', dir])))
  calls.forEach((r, i) => { t.is(r.code, 0, `call ${i} beside a starting host: exit 0 ${r.stderr.trim()}`) })
  await host.waitFor(/Hosting [0-9a-f]{64} as executor/)
  t.is((await runVitra(['get', '/counter', '--dir', dir])).stdout.trim(), '10', 'all ten calls executed once')
  host.child.kill('SIGTERM')
  t.is((await host.done).code, 0, 'the host stops with 0')
})

async function eventually (fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}
