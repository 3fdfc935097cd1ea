// The `vitra` command, driven as users drive it: the real launcher (bin/vitra.js)
// run with child_process in temp dirs, real databases on disk. Every child is
// bounded in time and killed at teardown.
import test from 'brittle'
import type { Assertion } from 'brittle'
import { spawn } from 'child_process'
import { createHash } from 'crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { fileURLToPath } from 'url'
import createTestnet from 'hyperdht/testnet.js'
import Corestore from 'corestore'
import { createRangeProof } from '../src/index.js'
import { startVitra as start, type Run } from './helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BIN = join(ROOT, 'bin', 'vitra.js')
const COUNTER = join(ROOT, 'contracts', 'counter.js')
const KV = join(ROOT, 'contracts', 'kv-store.js')
const TAMPER = join(ROOT, 'dist', 'test', 'fixtures', 'cli-tamper.js')
const FORGET = join(ROOT, 'dist', 'test', 'fixtures', 'cli-forget.js')


/** A temp dir removed at teardown. */
function tmp (t: Assertion): string {
  const dir = mkdtempSync(join(tmpdir(), 'vitra-cli-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Run `vitra args…` to completion. */
async function vitra (t: Assertion, args: string[], o: { cwd?: string, input?: string, env?: Record<string, string>, timeout?: number } = {}): Promise<Run> {
  return await start(t, args, o).done
}

/** Run and parse the --json output. */
async function vitraJson (t: Assertion, args: string[], o: { env?: Record<string, string> } = {}): Promise<{ code: number | null, json: any, stderr: string }> {
  const r = await vitra(t, [...args, '--json'], o)
  let json: unknown = null
  try { json = JSON.parse(r.stdout) } catch { t.fail(`not JSON: ${r.stdout} / ${r.stderr}`) }
  return { code: r.code, json, stderr: r.stderr }
}

/** A counter database in a fresh temp dir; returns the dir (the --dir) and its key. */
async function counterDb (t: Assertion): Promise<{ root: string, dir: string, key: string }> {
  const root = tmp(t)
  const dir = join(root, 'db')
  const r = await vitraJson(t, ['init', COUNTER, '--dir', dir])
  succeeded(t, r, 'init')
  return { root, dir, key: String(r.json?.pubkey) }
}

/** The command succeeded (its stderr in the message when not). */
function succeeded (t: Assertion, r: { code: number | null, stderr: string }, what: string): void {
  t.is(r.code, 0, `${what} exits 0${r.code === 0 ? '' : ` (stderr: ${r.stderr.trim()})`}`)
}

/** An error is one line on stderr, without a stack trace. */
function oneLineError (t: Assertion, r: Run, code: number, match: RegExp, what: string): void {
  t.is(r.code, code, `${what}: exit ${code}`)
  const lines = r.stderr.trim().split('\n')
  t.is(lines.length, 1, `${what}: one line (${r.stderr.trim()})`)
  t.ok(match.test(lines[0]), `${what}: says ${String(match)} (${lines[0]})`)
  t.absent(/\n\s+at /.test(r.stderr), `${what}: no stack trace`)
}

test('cli - init → call → get → verify exits 0; info, tx list and tx verify', { timeout: 120_000 }, async t => {
  const { dir, key } = await counterDb(t)
  t.ok(/^[0-9a-f]{64}$/.test(key), 'init prints the public key')
  t.ok(existsSync(join(dir, 'vitra.json')), 'the database is in --dir')

  const call = await vitraJson(t, ['call', 'increment', '--amount', '2', '--dir', dir])
  succeeded(t, call, 'call')
  t.alike(call.json.ops.map((o: { value: unknown }) => o.value), [{ op: 'INCREMENT', amount: 2 }], 'the switches became the params')
  t.is(call.json.results[0].success, true, 'executed (this directory is the executor)')
  t.ok(existsSync(call.json.file), 'the transaction is tracked on disk')

  const human = await vitra(t, ['call', 'increment', '--dir', dir])
  succeeded(t, human, 'call (human output)')
  t.ok(/put \/counter = 3/.test(human.stdout), 'human output shows the write')

  const get = await vitraJson(t, ['get', 'counter', '--dir', dir])
  t.is(get.json.value, 3, 'get reads the value')
  const plain = await vitra(t, ['get', 'counter', '--dir', dir])
  t.is(plain.stdout.trim(), '3')

  const verify = await vitra(t, ['verify', '--dir', dir])
  t.is(verify.code, 0, 'verify exits 0')
  t.ok(/Valid/.test(verify.stdout), verify.stdout.trim())
  const vj = await vitraJson(t, ['verify', '--dir', dir])
  t.alike([vj.code, vj.json.valid, vj.json.database], [0, true, key])

  const info = await vitraJson(t, ['status', '--dir', dir])
  t.alike(info.json.role, ['executor', 'participant'])
  t.is(info.json.database, key)
  t.alike(info.json.methods, ['get', 'increment'])
  t.is(info.json.verification.lastVerify.valid, true, 'info shows the last verification')

  const list = await vitraJson(t, ['tx', 'list', '--dir', dir])
  t.is(list.json.length, 2, 'two tracked transactions')
  t.alike(list.json.map((x: { status: string }) => x.status), ['executed', 'executed'])
  const txv = await vitra(t, ['tx', 'verify', list.json[0].id, '--dir', dir])
  t.is(txv.code, 0, 'tx verify exits 0')
  t.ok(/ack at index seq \d+ and 1 write\(s\) proven/.test(txv.stdout), 'ack and write proofs checked')

  const opProof = join(dir, '..', 'op-proof.json')
  writeFileSync(opProof, JSON.stringify(call.json.ops[0].proof))
  const pv = await vitraJson(t, ['proof', 'verify', opProof])
  t.is(pv.code, 0, 'an op inclusion proof from call --json passes proof verify')
  t.alike(pv.json.content, { op: 'INCREMENT', amount: 2 })

  // a range proof of the first three blocks of the same oplog, made by the library
  const store = new Corestore(join(dir, 'corestore'))
  const oplog = store.get({ key: Buffer.from(call.json.ops[0].oplog as string, 'hex') })
  await oplog.ready()
  const rangeFile = join(dir, '..', 'range-proof.json')
  const rangeProof = await createRangeProof(oplog, 0, 2)
  await store.close()
  writeFileSync(rangeFile, JSON.stringify(rangeProof))
  const rv = await vitraJson(t, ['proof', 'verify', rangeFile, '--key', call.json.ops[0].oplog as string])
  t.alike([rv.code, rv.json.type, rv.json.start, rv.json.count], [0, 'vitra/range-proof', 0, 2], 'a range proof passes proof verify')
  rangeProof.values[1] = rangeProof.values[0]
  writeFileSync(rangeFile, JSON.stringify(rangeProof))
  const bad = await vitra(t, ['proof', 'verify', rangeFile])
  t.is(bad.code, 1, 'a range proof with a block swapped fails (exit 1)')
})

test('cli - --help lists every command and the exit codes; --version', async t => {
  const help = await vitra(t, ['--help'])
  t.is(help.code, 0)
  for (const cmd of ['init', 'load', 'info|status', 'methods', 'source', 'call', 'get', 'list', 'history', 'oplog', 'host', 'serve', 'verify', 'monitor', 'tx', 'fraud', 'proof', 'test', 'destroy', 'keys']) {
    t.ok(new RegExp(`\\n  ${cmd.replace('|', '\\|')}\\b`).test(help.stdout), `--help lists ${cmd}`)
  }
  t.ok(/Exit codes:[\s\S]*3 +fraud[\s\S]*4 +could not verify/.test(help.stdout), 'exit codes are documented')
  const sub = await vitra(t, ['monitor', '--help'])
  t.ok(/--on-violation <command>/.test(sub.stdout) && /--once/.test(sub.stdout), 'subcommands have --help')
  const version = await vitra(t, ['--version'])
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  t.is(version.stdout.trim(), pkg.version)
})

test('cli - a dangerousBatch-tampered database: verify exits 3 with a fraud proof that proof verify accepts', { timeout: 120_000 }, async t => {
  const { root, dir, key } = await counterDb(t)
  succeeded(t, await vitra(t, ['call', 'increment', '--dir', dir]), 'call')
  const tamper = spawn(process.execPath, ['--no-node-snapshot', TAMPER, dir], { stdio: 'inherit' })
  t.is(await new Promise(resolve => tamper.on('close', resolve)), 0, 'the fixture tampered with the index')

  const human = await vitra(t, ['verify', '--dir', dir])
  t.is(human.code, 3, 'verify exits 3 on fraud')
  t.ok(/FRAUD UNPROMPTED_CHANGE at index seq \d+/.test(human.stdout), 'prints the fraud proof')
  t.ok(/Write to \/counter that no op explains/.test(human.stdout))

  const r = await vitra(t, ['verify', '--dir', dir, '--json'])
  t.is(r.code, 3)
  const proof = JSON.parse(r.stdout)
  t.is(proof.type, 'vitra/contract-fraud-proof', '--json prints the fraud proof itself')
  t.is(proof.details.code, 'UNPROMPTED_CHANGE')
  t.is(proof.index.key, key)
  const saved = join(dir, 'fraud', `UNPROMPTED_CHANGE-${String(proof.details.seq)}.json`)
  t.ok(existsSync(saved), 'saved under <dir>/fraud/<code>-<seq>.json')

  const file = join(root, 'proof.json')
  writeFileSync(file, r.stdout)
  const pv = await vitra(t, ['proof', 'verify', file])
  t.is(pv.code, 0, 'proof verify accepts the --json output')
  t.ok(/Valid fraud proof: UNPROMPTED_CHANGE/.test(pv.stdout))
  const pinned = await vitra(t, ['proof', 'verify', file, '--key', 'ab'.repeat(32)])
  oneLineError(t, pinned, 1, /not ab/, 'proof for another key')

  proof.index.head.signature = proof.index.head.signature.replace(/^./, (c: string) => c === '0' ? '1' : '0')
  writeFileSync(file, JSON.stringify(proof))
  oneLineError(t, await vitra(t, ['proof', 'verify', file]), 1, /signature/i, 'forged proof')

  const list = await vitraJson(t, ['fraud', 'list', '--dir', dir])
  t.alike(list.json.map((f: { id: string }) => f.id), [`UNPROMPTED_CHANGE-${String(proof.details.seq)}`])
  const show = await vitraJson(t, ['fraud', 'show', 'UNPROMPTED', '--dir', dir])
  t.is(show.json.details.code, 'UNPROMPTED_CHANGE', 'fraud show finds it by prefix')
  const info = await vitraJson(t, ['info', '--dir', dir])
  t.is(info.json.verification.lastVerify.valid, false, 'info shows the fraud')
})

test('cli - monitor --once resumes from its checkpoint; --on-violation gets the proof on stdin', { timeout: 120_000 }, async t => {
  const { root, dir } = await counterDb(t)
  succeeded(t, await vitra(t, ['call', 'increment', '--dir', dir]), 'call')
  const first = await vitra(t, ['monitor', '--once', '--dir', dir])
  t.is(first.code, 0, 'a valid database: exit 0')
  t.ok(/from genesis/.test(first.stdout))
  t.ok(existsSync(join(dir, 'monitor-checkpoint.json')), 'checkpoint saved')

  succeeded(t, await vitra(t, ['call', 'increment', '--dir', dir]), 'call')
  const second = await vitra(t, ['monitor', '--once', '--dir', dir])
  t.is(second.code, 0)
  t.ok(/resuming after index length \d+/.test(second.stdout), 'the restarted monitor resumes from its checkpoint')

  const tamper = spawn(process.execPath, ['--no-node-snapshot', TAMPER, dir, 'counter', '-5'], { stdio: 'inherit' })
  t.is(await new Promise(resolve => tamper.on('close', resolve)), 0)
  const hookOut = join(root, 'alert.json')
  const third = await vitra(t, ['monitor', '--once', '--dir', dir, '--on-violation', `cat > '${hookOut}'`])
  t.is(third.code, 3, 'a violation: exit 3')
  t.ok(/FRAUD UNPROMPTED_CHANGE/.test(third.stdout))
  const alert = JSON.parse(readFileSync(hookOut, 'utf8'))
  t.is(alert.type, 'vitra/contract-fraud-proof', 'the command got the proof JSON on stdin')
  t.is(alert.details.code, 'UNPROMPTED_CHANGE')
  t.is((await vitra(t, ['proof', 'verify', hookOut])).code, 0, 'and it verifies offline')
})

test('cli - monitor keeps running until stopped; SIGTERM through the launcher stops it cleanly', { timeout: 60_000 }, async t => {
  const { dir } = await counterDb(t)
  const m = start(t, ['monitor', '--dir', dir, '--json'])
  await m.waitFor(/"event":"verified"/)
  t.is(m.child.exitCode, null, 'still running after verifying')
  m.child.kill('SIGTERM')
  const r = await m.done
  t.is(r.code, 0, 'exit 0 after SIGTERM')
  const events = r.stdout.trim().split('\n').map(l => JSON.parse(l).event)
  t.alike(events, ['start', 'verified', 'valid'], 'one JSON event per line')
})

test('cli - REPL through stdin: .init, .call, .get, .verify and JavaScript with db', { timeout: 60_000 }, async t => {
  const root = tmp(t)
  const dir = join(root, 'db')
  const script = [
    `.init ${COUNTER}`,
    '.call increment --amount 5',
    '.get counter',
    '(await db.call("get")).response * 10',
    '.verify',
    '.call nope',
    '.txlist',
    ''
  ].join('\n')
  const r = await vitra(t, ['--dir', dir], { input: script })
  t.is(r.code, 1, 'the REPL exits 1 at the end of its input: a line of the script failed (.call nope)')
  t.ok(/Created database [0-9a-f]{64}/.test(r.stdout), '.init created the database')
  t.ok(/put \/counter = 5/.test(r.stdout), '.call executed')
  t.ok(/vitra> 5\n/.test(r.stdout), '.get printed the value')
  t.ok(/vitra> 50\n/.test(r.stdout), 'JavaScript sees db')
  t.ok(/Valid: replayed/.test(r.stdout), '.verify verified')
  t.ok(/increment +1 +executed/.test(r.stdout), '.txlist lists the call')
  t.ok(/The contract has no method "nope"/.test(r.stderr), 'errors are one line on stderr')
  t.absent(/\n\s+at /.test(r.stderr), 'no stack trace')
  t.ok(existsSync(join(dir, 'vitra.json')))
})

test('cli - REPL through stdin: an unknown dot-command and a JavaScript throw are errors in their turn; the script goes on and exits 1', { timeout: 60_000 }, async t => {
  const { dir } = await counterDb(t)
  const ok = await vitra(t, ['--dir', dir], { input: '.get counter\n1 + 1\n' })
  t.is(ok.code, 0, 'a script whose lines all work exits 0')
  const r = await vitra(t, ['--dir', dir], { input: '.get counter\n.frob\nthrow new Error("boom")\n.get counter\n40 + 2\n' })
  t.is(r.code, 1, 'exit 1: lines failed')
  const all = r.stdout + r.stderr
  t.ok(/vitra: Unknown command \.frob: \.help lists the commands/.test(r.stderr), 'the unknown command is named, with what to do')
  t.absent(/Invalid REPL keyword/.test(all), 'not Node\'s message')
  t.ok(r.stdout.indexOf('null') !== -1 && r.stdout.indexOf('null') < r.stdout.indexOf('Uncaught Error: boom'), 'the throw in its turn, after the line before it')
  t.ok(/vitra> 42\n/.test(r.stdout), 'the lines after a throw still run')
})

test('cli - vitra test: a throwaway database that is gone afterwards', { timeout: 60_000 }, async t => {
  const root = tmp(t)
  const r = await vitra(t, ['test', COUNTER], { cwd: root, input: '.call increment --amount 7\n.get counter\n.methods\n' })
  t.is(r.code, 0)
  t.ok(/vitra> 7\n/.test(r.stdout), 'the contract runs')
  t.ok(/get\nincrement/.test(r.stdout), '.methods lists the methods')
  t.alike(readdirSync(root), [], 'nothing written to the working directory')
})

test('cli - errors: one line, no stack trace, documented exit codes', { timeout: 120_000 }, async t => {
  const { root, dir } = await counterDb(t)
  oneLineError(t, await vitra(t, ['frobnicate', '--dir', dir]), 2, /unknown command 'frobnicate'/, 'unknown command')
  oneLineError(t, await vitra(t, ['info', '--frob', '--dir', dir]), 2, /unknown option '--frob'/, 'unknown option')
  oneLineError(t, await vitra(t, ['get', '--dir', dir]), 2, /missing required argument 'path'/, 'missing argument')
  oneLineError(t, await vitra(t, ['get', 'counter', '--dir', join(root, 'nothing-here')]), 1, /No database in .*nothing-here.*vitra init/, 'missing database')
  oneLineError(t, await vitra(t, ['call', 'increment', '--params', '{"amount":', '--dir', dir]), 2, /--params is not valid JSON/, 'bad JSON')
  oneLineError(t, await vitra(t, ['call', 'increment', 'stray', '--dir', dir]), 2, /Unexpected argument "stray"/, 'stray argument')
  oneLineError(t, await vitra(t, ['call', 'decrement', '--dir', dir]), 1, /no method "decrement".*Known methods: get, increment/, 'unknown method')
  oneLineError(t, await vitra(t, ['call', 'increment', '--amount', '"x"', '--dir', dir]), 1, /The contract refused: amount must be an integer/, 'contract error')
  oneLineError(t, await vitra(t, ['load', 'not-a-key', '--dir', join(root, 'other')]), 2, /Not a database public key/, 'bad key')
  oneLineError(t, await vitra(t, ['init', COUNTER, '--dir', dir]), 1, /already exists/, 'init over a database')
  oneLineError(t, await vitra(t, ['tx', 'show', 'nope', '--dir', dir]), 1, /No tracked transaction "nope"/, 'unknown tx')
  const debug = await vitra(t, ['call', 'decrement', '--dir', dir, '--debug'])
  t.ok(/\n\s+at /.test(debug.stderr), '--debug prints the stack trace')
  t.is((await vitraJson(t, ['get', 'counter', '--dir', dir])).json, null, 'no failed call appended anything')
})

test('cli - init with a contract that does not compile leaves nothing on disk', { timeout: 60_000 }, async t => {
  const root = tmp(t)
  writeFileSync(join(root, 'broken.js'), 'export function get ( {\n')
  const r = await vitra(t, ['init', 'broken.js', '--dir', join(root, 'db')], { cwd: root })
  oneLineError(t, r, 1, /does not compile/, 'broken contract')
  t.alike(readdirSync(root), ['broken.js'], 'no database dir, no temp dir left behind')
  oneLineError(t, await vitra(t, ['init', 'missing.js', '--dir', join(root, 'db')], { cwd: root }), 1, /Contract file not found/, 'missing contract file')
  t.alike(readdirSync(root), ['broken.js'])
})

test('cli - keys id is 1: + SHA-256 of the public key; keys on a database without PoA fails cleanly', { timeout: 60_000 }, async t => {
  const pub = '00'.repeat(32)
  const r = await vitra(t, ['keys', 'id', pub])
  t.is(r.code, 0)
  t.is(r.stdout.trim(), '1:' + createHash('sha256').update(Buffer.alloc(32)).digest('hex'))
  t.is(r.stdout.trim(), '1:66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925')
  oneLineError(t, await vitra(t, ['keys', 'id', 'xyz']), 2, /Not a public key/, 'bad key')
  const { dir } = await counterDb(t)
  oneLineError(t, await vitra(t, ['keys', 'list', '--dir', dir]), 1, /has no key quorum/, 'keys list without PoA')
})

test('cli - oplog create and delete: refused while an active participant', { timeout: 60_000 }, async t => {
  const { dir } = await counterDb(t)
  const info = await vitraJson(t, ['info', '--dir', dir])
  const active = info.json.oplogs[0].key as string
  oneLineError(t, await vitra(t, ['oplog', 'delete', active, '--dir', dir]), 1, /active participant/, 'deleting an active participant')
  const created = await vitraJson(t, ['oplog', 'create', '--dir', dir])
  t.is(created.code, 0)
  const hex = created.json.oplog as string
  const del = await vitra(t, ['oplog', 'delete', hex.slice(0, 10), '--dir', dir])
  t.is(del.code, 0, 'a local oplog that is not a participant can be deleted (by key prefix)')
  const after = await vitraJson(t, ['oplog', 'list', '--dir', dir])
  t.alike(after.json.map((o: { key: string }) => o.key), [active])
})

test('cli - destroy asks for --yes without a terminal, then deletes the database', { timeout: 60_000 }, async t => {
  const { dir } = await counterDb(t)
  oneLineError(t, await vitra(t, ['destroy', '--dir', dir]), 2, /pass --yes/, 'destroy without confirmation')
  t.ok(existsSync(join(dir, 'vitra.json')), 'still there')
  const r = await vitra(t, ['destroy', '--yes', '--dir', dir])
  t.is(r.code, 0)
  t.absent(existsSync(dir), 'deleted')
})

test('cli - load follows a database that vitra host serves (local testnet); a reader gets, cannot verify without the ops (4), verifies with them', { timeout: 120_000 }, async t => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  t.teardown(() => testnet.destroy())
  const bootstrap = testnet.bootstrap.map((b: { host: string, port: number }) => `${b.host}:${b.port}`).join(',')
  const net = { VITRA_BOOTSTRAP: bootstrap, VITRA_HOST: '127.0.0.1' }
  const root = tmp(t)
  const dir = join(root, 'executor')
  const init = await vitraJson(t, ['init', KV, '--dir', dir])
  t.is((await vitra(t, ['call', 'put', '--key', 'greeting', '--value', '"hello"', '--dir', dir])).code, 0)
  const host = start(t, ['host', '--dir', dir], { env: net, timeout: 110_000 })
  await host.waitFor(/Hosting [0-9a-f]{64} as executor/)

  const reader = join(root, 'reader')
  const load = await vitraJson(t, ['load', init.json.pubkey, '--dir', reader], { env: net })
  t.is(load.code, 0, 'load exits 0')
  t.alike(load.json.role, ['reader'])
  const get = await vitraJson(t, ['get', 'values/greeting', '--dir', reader], { env: net })
  t.is(get.json.value, 'hello', 'the reader reads the executor\'s state')
  host.child.kill('SIGINT')
  t.is((await host.done).code, 0, 'host stops cleanly on SIGINT')
  const forget = spawn(process.execPath, ['--no-node-snapshot', FORGET, reader], { stdio: 'inherit' })
  t.is(await new Promise(resolve => forget.on('close', resolve)), 0, 'the fixture dropped the reader\'s oplog blocks')
  const offline = await vitra(t, ['verify', '--dir', reader, '--offline', '--block-timeout', '500', '--timeout', '3000'], { env: net })
  oneLineError(t, offline, 4, /Could not verify: .*not a verdict of fraud/, 'verify without the oplog blocks')
  const again = start(t, ['host', '--dir', dir], { env: net, timeout: 110_000 })
  await again.waitFor(/Hosting [0-9a-f]{64} as executor/)
  const verify = await vitra(t, ['verify', '--dir', reader], { env: net })
  succeeded(t, verify, 'online, the reader fetches the missing ops and verify')
  again.child.kill('SIGTERM')
  t.is((await again.done).code, 0, 'host stops cleanly on SIGTERM')
})

/** An in-process REPL on a counter database in memory: its session, its input, everything it printed, its server. */
async function inProcessRepl (t: Assertion): Promise<{
  session: import('../cli/session.js').Session, input: import('stream').PassThrough, text: () => string,
  start: () => Promise<{ server: import('repl').REPLServer, done: Promise<number> }>
}> {
  const { runRepl } = await import('../cli/repl.js')
  const { Session, resolveGlobals } = await import('../cli/session.js')
  const { Output } = await import('../cli/output.js')
  const { PassThrough } = await import('stream')
  const input = new PassThrough()
  const output = new PassThrough()
  let text = ''
  output.on('data', d => { text += String(d) })
  const session = new Session(resolveGlobals({ dir: tmp(t) }, {}), { keepOpen: true, out: new Output({ json: false, stdout: output, stderr: output }) })
  await session.useMemory(readFileSync(COUNTER, 'utf8'), 'counter.js')
  const start = async (): Promise<{ server: import('repl').REPLServer, done: Promise<number> }> => {
    let server: import('repl').REPLServer | null = null
    const done = runRepl(session, { input, output, onStart: s => { server = s } })
    while (server === null) await new Promise(resolve => setTimeout(resolve, 10))
    return { server, done }
  }
  return { session, input, text: () => text, start }
}

test('cli - REPL: Ctrl-C stops a running .verify, and the REPL goes on', { timeout: 120_000 }, async t => {
  const { session, input, text, start } = await inProcessRepl(t)
  const db = session.db as NonNullable<typeof session.db>
  const N = 20_000 // a verification that takes about a second on this machine
  let next = 0
  const lane = async (): Promise<void> => { while (next < N) { next++; await db.call('increment', {}, { proofs: false }) } }
  await Promise.all(Array.from({ length: 200 }, lane))
  await db.executor?.sync()
  const { server, done } = await start()
  const until = async (re: RegExp, what: string): Promise<void> => {
    const end = Date.now() + 30_000
    while (!re.test(text()) && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 10))
    t.ok(re.test(text()), what)
  }
  input.write('.verify\n')
  await new Promise(resolve => setTimeout(resolve, 150))
  server.emit('SIGINT')
  await until(/Cancelled: verification stopped at index length \d+ of \d+/, 'Ctrl-C stopped the verification, saying how far it got')
  t.absent(/Valid: replayed/.test(text()), 'it did not finish')
  t.absent(/To exit, press Ctrl\+C again/.test(text()), 'without Node\'s hint about leaving')
  input.write('.get counter\n')
  await until(/\b20000\b/, 'the next command runs')
  input.end()
  t.is(await done, 0, 'the REPL ends normally')
})

test('cli - REPL tab completion: dot-commands and, after .call, the contract methods', { timeout: 60_000 }, async t => {
  const { input, start } = await inProcessRepl(t)
  const { server, done } = await start()
  type Completer = (line: string, cb: (err: Error | null, r?: [string[], string]) => void) => void
  const complete = async (line: string): Promise<[string[], string]> => await new Promise((resolve, reject) => {
    (server.completer as unknown as Completer)(line, (err, r) => err !== null ? reject(err) : resolve(r as [string[], string]))
  })
  t.alike(await complete('.ca'), [['.call'], '.ca'], 'dot-commands complete')
  t.alike((await complete('.tx'))[0], ['.tx', '.txlist', '.txverify'])
  t.alike(await complete('.call in'), [['increment'], 'in'], 'methods complete after .call')
  t.alike(await complete('.call '), [['get', 'increment'], ''])
  t.ok((await complete('db.ind'))[0].includes('db.index'), 'JavaScript completes as usual')
  input.end()
  t.is(await done, 0)
})

test('cli - output to a closed pipe (vitra --help | head -1) ends quietly with status 0', async t => {
  for (const args of [['--help'], ['methods', '--help']]) {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout?.destroy() // the reader is gone before the command writes anything: every write gets EPIPE
    let stderr = ''
    child.stderr?.on('data', d => { stderr += String(d) })
    const code = await new Promise<number | null>(resolve => child.on('close', c => resolve(c)))
    t.is(code, 0, `vitra ${args.join(' ')}: exit 0`)
    t.absent(/EPIPE|Unhandled/.test(stderr), `vitra ${args.join(' ')}: nothing on stderr (${stderr.slice(0, 200)})`)
  }
})

test('cli - serve: the HTTP API of the database in --dir, on 127.0.0.1; a second serve is refused; SIGTERM stops it with 0', async t => {
  const { dir, key } = await counterDb(t)
  t.is((await vitra(t, ['call', 'increment', '--amount', '3', '--dir', dir])).code, 0)
  const serve = start(t, ['serve', '--dir', dir, '--offline', '--port', '0'], { timeout: 60_000 })
  const line = await serve.waitFor(/Serving [0-9a-f]{64} at http:\/\/127\.0\.0\.1:\d+/)
  const url = (/http:\/\/127\.0\.0\.1:\d+/.exec(line) as RegExpExecArray)[0]
  const list = await (await fetch(`${url}/v1/databases`)).json() as { databases: Array<{ key: string }> }
  t.alike(list.databases.map(d => d.key), [key], 'GET /v1/databases lists it')
  const entry = await (await fetch(`${url}/v1/databases/${key}/entry?path=/counter`)).json() as { entry: { value: number } }
  t.is(entry.entry.value, 3, 'GET …/entry reads the counter')
  const bad = await fetch(`${url}/v1/databases/xyz`)
  t.is(bad.status, 400, 'a malformed key: 400')
  const token = readFileSync(join(dir, 'http-token'), 'utf8').trim()
  t.is(statSync(join(dir, 'http-token')).mode & 0o777, 0o600, 'the token file is private (0600)')
  const callUrl = `${url}/v1/databases/${key}/call`
  const denied = await fetch(callUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'increment' }) })
  t.is(denied.status, 401, 'call without the token: 401')
  const called = await fetch(callUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ method: 'increment', params: { amount: 2 } }) })
  const done = await called.json() as { results: Array<{ success: boolean }> }
  t.is(done.results[0].success, true, 'call with the token: executed')
  const after = await (await fetch(`${url}/v1/databases/${key}/entry?path=/counter`)).json() as { entry: { value: number } }
  t.is(after.entry.value, 5, 'and the state shows it')
  const second = await vitra(t, ['serve', '--dir', dir, '--offline', '--port', '0'])
  t.is(second.code, 1, 'a second serve on the same directory fails')
  t.ok(/open in process \d+ \(`vitra serve` at http:\/\/127\.0\.0\.1:\d+\): stop it first/.test(second.stderr), `with a clear error naming the host (${second.stderr.trim()})`)
  // while served, the CLI's commands on the directory run in the host (cli/owner.ts)
  const owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as { command: string, url: string, pid: number }
  t.is(owner.command, 'vitra serve', 'owner.json names the host')
  t.is(owner.url, url, 'and its URL')
  const got = await vitraJson(t, ['get', '/counter', '--dir', dir])
  t.is((got.json as { value: number } | null)?.value, 5, `get goes through the host (${got.stderr.trim()})`)
  const viaHost = await vitraJson(t, ['call', 'increment', '--amount', '10', '--dir', dir])
  succeeded(t, viaHost, 'call through the host')
  t.is((viaHost.json as { results: Array<{ success: boolean }> } | null)?.results[0].success, true, 'call through the host: executed, with its results')
  const info = await vitra(t, ['info', '--dir', dir])
  t.ok(new RegExp(`open in\\s+process ${owner.pid} \\(\`vitra serve\` at http`).test(info.stdout), `info says where it ran (${info.stdout.split('\n')[2]})`)
  const hist = await vitraJson(t, ['history', '--dir', dir])
  t.ok(Array.isArray(hist.json) && (hist.json as Array<{ path: string }>).some(e => e.path === '/counter'), 'history through the host')
  const q = await vitra(t, ['query', "SELECT path, value, seq FROM state WHERE path = '/counter'", '--proofs', '--dir', dir])
  t.ok(/\/counter\s+15/.test(q.stdout) && /1 row\(s\) proven/.test(q.stderr), `query through the host, its row proven here (${q.stdout.trim().split('\n').pop() ?? q.stderr})`)
  serve.child.kill('SIGTERM')
  const end = await serve.done
  t.is(end.code, 0, 'SIGTERM: exit 0')
  t.ok(/Stopped\./.test(end.stdout), 'it says it stopped')
  t.absent(existsSync(join(dir, 'owner.json')), 'owner.json is gone')
  t.is(((await vitraJson(t, ['get', '/counter', '--dir', dir])).json as { value: number } | null)?.value, 15, 'the call made through the host is in the database')
  const q2 = await vitraJson(t, ['query', 'SELECT count(*) AS n FROM acks WHERE success = ?', '--params', '[1]', '--dir', dir])
  t.is((q2.json as { rows: Array<{ n: number }> } | null)?.rows[0].n, 3, 'vitra query --json --params on the directory itself: three executed ops')
  const proven = await vitraJson(t, ['query', 'SELECT path, value, seq FROM state', '--proofs', '--dir', dir])
  const file = join(dir, '..', 'query.json')
  writeFileSync(file, JSON.stringify(proven.json))
  const checked = await vitra(t, ['proof', 'verify', file])
  t.is(checked.code, 0, `vitra proof verify checks a query result offline (${checked.stdout.trim().split('\n')[0]})`)
  const lie = proven.json as { rows: Array<{ value: string }> }
  lie.rows[0].value = '999'
  writeFileSync(file, JSON.stringify(lie))
  t.is((await vitra(t, ['proof', 'verify', file])).code, 1, 'and refuses it with a row changed')
  const refused = await vitra(t, ['query', 'DELETE FROM state', '--dir', dir])
  t.is(refused.code, 1, 'a write: exit 1')
  t.ok(/Only queries that read/.test(refused.stderr), refused.stderr.trim())
})

test('cli - serve several databases: directories and --root; one token per host; the same directory twice is refused', async t => {
  const a = await counterDb(t)
  const bDir = join(a.root, 'kv')
  const b = await vitraJson(t, ['init', KV, '--dir', bDir])
  succeeded(t, b, 'init kv')
  const serve = start(t, ['serve', '--root', a.root, '--offline', '--port', '0'], { timeout: 60_000 })
  const line = await serve.waitFor(/Serving 2 databases at http:\/\/127\.0\.0\.1:\d+/)
  const url = (/http:\/\/127\.0\.0\.1:\d+/.exec(line) as RegExpExecArray)[0]
  const list = await (await fetch(`${url}/v1/databases`)).json() as { databases: Array<{ key: string }> }
  t.alike(list.databases.map(d => d.key).sort(), [a.key, String(b.json?.pubkey)].sort(), 'both are served')
  const token = readFileSync(join(a.root, 'http-token'), 'utf8').trim()
  const called = await fetch(`${url}/v1/databases/${String(b.json?.pubkey)}/call`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ method: 'put', params: { key: 'x', value: 1 } }) })
  t.is(called.status, 200, 'the root\'s token works for every database')
  serve.child.kill('SIGTERM')
  t.is((await serve.done).code, 0)
  const twice = await vitra(t, ['serve', a.dir, a.dir, '--offline', '--port', '0'])
  t.is(twice.code, 2, 'the same directory twice: a usage error')
  const empty = await vitra(t, ['serve', '--root', tmp(t), '--offline', '--port', '0'])
  t.is(empty.code, 1, 'a root without databases: an error')
  t.ok(/No database directory under/.test(empty.stderr), empty.stderr.trim())
})

test('cli - serve: SIGTERM with calls in flight loses nothing acked', async t => {
  const { dir } = await counterDb(t)
  const serve = start(t, ['serve', '--dir', dir, '--offline', '--port', '0'], { timeout: 60_000 })
  const line = await serve.waitFor(/Serving [0-9a-f]{64} at http:\/\/127\.0\.0\.1:\d+\/v1\/databases\/[0-9a-f]{64}/)
  const base = (/http:\S+/.exec(line) as RegExpExecArray)[0].replace(/;$/, '')
  const token = readFileSync(join(dir, 'http-token'), 'utf8').trim()
  const one = async (): Promise<{ status: number, body: any } | { error: string }> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      const res = await fetch(base + '/call', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ method: 'increment', params: { amount: 1 } }) })
      return { status: res.status, body: await res.json() }
    } catch (err) {
      return { error: String((err as Error).cause ?? err) }
    }
  }
  const first = one()
  const calls = [first, ...Array.from({ length: 39 }, one)]
  await first // at least one call is answered before the signal; the others are in flight or queued
  serve.child.kill('SIGTERM')
  for (let i = 0; i < 10; i++) calls.push(one()) // sent while it stops: answered, 503, or refused
  const answers = await Promise.all(calls)
  t.is((await serve.done).code, 0, 'SIGTERM: exit 0')
  const acked = answers.filter((a): a is { status: number, body: any } => 'status' in a && a.status === 200) // eslint-disable-line @typescript-eslint/no-explicit-any
  const others = answers.filter(a => !('status' in a) || a.status !== 200)
  t.ok(acked.length >= 1, `${acked.length} answered with results, ${others.length} refused or cut off`)
  t.ok(others.every(a => 'error' in a || a.status === 503), 'the rest failed cleanly: 503 or a closed connection')
  const history = (await vitraJson(t, ['history', '--dir', dir])).json as Array<{ seq: number, path: string, value: { origin?: string, seq?: number } }>
  const bySeq = new Map(history.map(e => [e.seq, e]))
  const lost = acked.filter(a => {
    const r = a.body.results[0] as { ackSeq: number, seq: number }
    const e = bySeq.get(r.ackSeq)
    return e === undefined || !e.path.startsWith('/.sys/acks/') || e.value.seq !== r.seq
  })
  t.is(lost.length, 0, 'every acked call\'s ack is in the index after the restart')
  const verified = await vitra(t, ['verify', '--dir', dir])
  t.is(verified.code, 0, `and the database verifies (${verified.stdout.trim().split('\n').pop() ?? ''})`)
})

test('cli - serve alerts as monitor does: a tampered database is reported, its proof saved, --on-violation run; the host keeps serving', { timeout: 120_000 }, async t => {
  const { root, dir, key } = await counterDb(t)
  succeeded(t, await vitra(t, ['call', 'increment', '--dir', dir]), 'call')
  const tamper = spawn(process.execPath, ['--no-node-snapshot', TAMPER, dir], { stdio: 'inherit' })
  t.is(await new Promise(resolve => tamper.on('close', resolve)), 0, 'the fixture tampered with the index')
  const hookOut = join(root, 'hook.json')
  const serve = start(t, ['serve', '--dir', dir, '--offline', '--port', '0', '--on-violation', `cat > ${hookOut}`], { timeout: 60_000 })
  const line = await serve.waitFor(/Serving [0-9a-f]{64} at http:\/\/127\.0\.0\.1:\d+/)
  const url = (/http:\/\/127\.0\.0\.1:\d+/.exec(line) as RegExpExecArray)[0]
  const deadline = Date.now() + 30_000
  while (!existsSync(hookOut) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  t.ok(existsSync(hookOut), '--on-violation ran')
  const list = await (await fetch(`${url}/v1/databases/${key}/fraud-proofs`)).json() as { fraudProofs: Array<{ code: string }> }
  t.alike(list.fraudProofs.map(f => f.code), ['UNPROMPTED_CHANGE'], 'the API lists the violation')
  t.is((await fetch(`${url}/v1/databases/${key}/entry?path=/counter`)).status, 200, 'and keeps serving')
  serve.child.kill('SIGTERM')
  const end = await serve.done
  t.is(end.code, 0, 'SIGTERM: exit 0')
  t.ok(/FRAUD in [0-9a-f]{64}: UNPROMPTED_CHANGE/.test(end.stderr), `the violation is printed (${end.stderr.trim().split('\n')[0]})`)
  t.ok(readdirSync(join(dir, 'fraud')).some(f => f.startsWith('UNPROMPTED_CHANGE-')), 'the proof is saved under <dir>/fraud/')
  const hooked = JSON.parse(readFileSync(hookOut, 'utf8')) as { type: string }
  t.is(hooked.type, 'vitra/contract-fraud-proof', 'the hook got the fraud proof on stdin')
})

test('cli - REPL .query takes the rest of the line as SQL, quotes and all', { timeout: 60_000 }, async t => {
  const { session, input, text, start } = await inProcessRepl(t)
  const db = session.db as NonNullable<typeof session.db>
  for (let i = 0; i < 3; i++) await (await db.call('increment', { amount: 5 })).whenProcessed()
  const { done } = await start()
  input.write(".query SELECT path, value FROM state WHERE path = '/counter'\n")
  const end = Date.now() + 30_000
  while (!/reflecting index length/.test(text()) && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 10))
  t.ok(/\/counter\s+15/.test(text()), 'the row, with the quoted literal intact')
  t.ok(/1 row\(s\), reflecting index length \d+/.test(text()), 'and the index length it reflects')
  input.end()
  t.is(await done, 0)
})
