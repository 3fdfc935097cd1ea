// The REPL's .bg and .fg (issue 34): hosting handed to a background `vitra serve` that
// outlives the REPL, the prompt's commands running there meanwhile; .fg brings it back.
import test from 'brittle'
import { existsSync, readFileSync } from 'fs'
import { join } from 'path'
import { counterDir, runVitra, startVitra } from './helpers.js'

test('repl - .bg hands hosting to a background vitra serve, commands run there, .fg brings it back; .help lists both', { timeout: 120_000 }, async t => {
  const dir = await counterDir(t)
  const script = '.help\n.bg\n.call increment --amount 5\n.get counter\n.info\ndb === null\n.fg\n.get counter\n'
  const r = await startVitra(t, ['--dir', dir, '--offline'], { input: script }).done
  t.is(r.code, 0, `exit 0 ${r.stderr.trim()}`)
  t.ok(/\.bg \[--port n\]\s+hand hosting to a vitra serve in the background/.test(r.stdout) && /\.fg\s+stop the background host/.test(r.stdout), '.help lists .bg and .fg')
  const moved = /Hosting moved to process (\d+) \(`vitra serve` at (http:\/\/127\.0\.0\.1:\d+)/.exec(r.stdout)
  t.ok(moved !== null, '.bg says which process hosts it now, and where')
  t.ok(/put \/counter = 5/.test(r.stdout), '.call ran in the background host (its executor executed it)')
  t.ok(new RegExp(`open in\\s+process ${moved?.[1] ?? 'x'} \\(\`vitra serve\``).test(r.stdout), '.info ran there too')
  t.ok(/vitra> true\n/.test(r.stdout), '`db` is null here meanwhile')
  t.ok(/Using .*: database [0-9a-f]{64} \(executor\)/.test(r.stdout.slice(r.stdout.indexOf('Hosting moved'))), '.fg: the REPL has the database again')
  t.ok(/vitra> 5\n/.test(r.stdout.slice(r.stdout.lastIndexOf('Using'))), 'and reads it')
  t.absent(existsSync(join(dir, 'owner.json')), 'the background host is gone')
})

test('repl - a background host outlives the REPL; other commands run in it', { timeout: 120_000 }, async t => {
  const dir = await counterDir(t)
  const r = await startVitra(t, ['--dir', dir, '--offline'], { input: '.bg\n' }).done
  t.is(r.code, 0)
  t.ok(/The background host \(process \d+, http:\/\/127\.0\.0\.1:\d+\) keeps running/.test(r.stdout), 'leaving says the host keeps running')
  const owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as { pid: number, command: string }
  t.teardown(() => {
    try {
      process.kill(owner.pid, 'SIGTERM')
    } catch (err) {
      if ((err as { code?: string }).code !== 'ESRCH') throw err // ESRCH: the test stopped it already
    }
  })
  t.is(owner.command, 'vitra serve', 'owner.json names the background serve')
  const call = await runVitra(['call', 'increment', '--dir', dir])
  t.is(call.code, 0, 'a call after the REPL left runs in it')
  t.is((await runVitra(['get', '/counter', '--dir', dir])).stdout.trim(), '1')
  process.kill(owner.pid, 'SIGTERM')
  const end = Date.now() + 20_000
  while (existsSync(join(dir, 'owner.json')) && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 50))
  t.absent(existsSync(join(dir, 'owner.json')), 'SIGTERM stops it')
})
