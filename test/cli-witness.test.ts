// Witnesses from the command line (issue 37), as users run them: `vitra witness init`
// and `vitra witness serve` (three real witness processes on 127.0.0.1), `vitra init
// --witnesses`, `vitra serve` collecting cosignatures, and `vitra verify` accepting the
// history only when a quorum of the witnesses cosigned it.
import test from 'brittle'
import type { Assertion } from 'brittle'
import { mkdtempSync, rmSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { fileURLToPath } from 'url'
import createTestnet from 'hyperdht/testnet.js'
import { parseCheckpoint } from '../src/proofs/witness/checkpoint.js'
import { verifyWitnessedCheckpoint } from '../src/proofs/witness/policy.js'
import { eventually, startVitra as start, type Run } from './helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const COUNTER = join(ROOT, 'contracts', 'counter.js')
const PATIENCE_MS = 60_000

function tmp (t: Assertion): string {
  const dir = mkdtempSync(join(tmpdir(), 'vitra-cli-witness-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function vitra (t: Assertion, args: string[]): Promise<Run> {
  return await start(t, args).done
}

/** The --json output: one document (a result), or one event per line (the last one). */
function json (r: Run): any {
  try { return JSON.parse(r.stdout) } catch { return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? 'null') }
}

test('cli witness - init, serve three witnesses, a database with a 2-of-3 policy, verify against them', { timeout: 180_000 }, async t => {
  const root = tmp(t)
  const vkeys: string[] = []
  for (const name of ['w0', 'w1', 'w2']) {
    const r = await vitra(t, ['witness', 'init', '--dir', join(root, name), '--name', name, '--json'])
    t.is(r.code, 0, `witness init ${name}`)
    vkeys.push(String(json(r).vkey))
  }
  const again = await vitra(t, ['witness', 'init', '--dir', join(root, 'w0')])
  t.is(again.code, 1, 'a second init in the same directory fails')
  t.ok(/already holds a witness key/.test(again.stderr), again.stderr.trim())

  const urls: string[] = []
  for (const name of ['w0', 'w1', 'w2']) {
    const w = start(t, ['witness', 'serve', '--dir', join(root, name), '--port', '0', '--offline', '--json'])
    const line = await w.waitFor(/\{"event":"witness-serving"[^\n]*/)
    urls.push((JSON.parse(line) as { url: string }).url)
  }
  const policyFile = join(root, 'policy.json')
  writeFileSync(policyFile, JSON.stringify({ version: 1, quorum: 2, witnesses: vkeys.map((key, i) => ({ key, url: urls[i] })) }))
  const badFile = join(root, 'bad-policy.json')
  writeFileSync(badFile, JSON.stringify({ version: 1, quorum: 3, witnesses: [{ key: vkeys[0] }] }))

  const dir = join(root, 'db')
  const bad = await vitra(t, ['init', COUNTER, '--dir', dir, '--witnesses', badFile])
  t.is(bad.code, 2, 'a policy whose quorum exceeds its witnesses is a usage error')
  const init = await vitra(t, ['init', COUNTER, '--dir', dir, '--witnesses', policyFile, '--json'])
  t.is(init.code, 0, `init with --witnesses (${init.stderr.trim()})`)
  const key = String(json(init).pubkey)
  const shown = json(await vitra(t, ['info', '--dir', dir, '--offline', '--json']))
  t.alike(shown.witnesses, { quorum: 2, witnesses: ['w0', 'w1', 'w2'] }, 'vitra info shows the policy')
  for (let i = 0; i < 3; i++) t.is((await vitra(t, ['call', 'increment', '--dir', dir, '--offline'])).code, 0, `call ${i + 1}`)

  const unwitnessed = await vitra(t, ['verify', '--dir', dir, '--offline'])
  t.is(unwitnessed.code, 4, 'nobody collected cosignatures yet: verify cannot tell that others see this history (exit 4)')
  t.ok(/Not witnessed/.test(unwitnessed.stdout), unwitnessed.stdout.trim())
  t.is((await vitra(t, ['verify', '--dir', dir, '--offline', '--no-witnesses'])).code, 0, '--no-witnesses: the replay alone')

  t.is((await vitra(t, ['serve', '--dir', dir, '--port', '0', '--offline', '--checkpoint-interval', 'soon'])).code, 2, '--checkpoint-interval takes milliseconds')
  const serve = start(t, ['serve', '--dir', dir, '--port', '0', '--offline', '--checkpoint-interval', '50', '--json'])
  const serving = JSON.parse(await serve.waitFor(/\{"event":"serving"[^\n]*/)) as { url: string }
  const route = `${serving.url}/v1/databases/${key}/checkpoint`
  const info = await (await fetch(`${serving.url}/v1/databases/${key}`)).json() as { length?: number, index?: { length?: number } }
  const length = info.index?.length ?? info.length
  t.ok(await eventually(async () => {
    const res = await fetch(route)
    return res.status === 200 && (await res.json() as { length: number }).length === length
  }, PATIENCE_MS), `vitra serve collected a checkpoint at ${length}`)
  const cp = await (await fetch(route)).json() as { checkpoint: string }
  const cpFile = join(root, 'checkpoint.json')
  writeFileSync(cpFile, JSON.stringify(cp))
  const proofRun = await vitra(t, ['proof', 'verify', cpFile, '--policy', policyFile, '--key', key, '--json'])
  t.is(proofRun.code, 0, `vitra proof verify of the checkpoint (${proofRun.stderr.trim()})`)
  t.is(json(proofRun).length, length, 'it proves the witnessed length')
  t.is((await vitra(t, ['proof', 'verify', cpFile])).code, 2, 'without --policy: a usage error')
  const onePolicy = join(root, 'one-policy.json')
  writeFileSync(onePolicy, JSON.stringify({ version: 1, quorum: 1, witnesses: [{ key: vkeys[0] }] }))
  writeFileSync(join(root, 'stripped.json'), JSON.stringify({ ...cp, checkpoint: cp.checkpoint.split('\n').filter(l => !l.startsWith('\u2014 w')).join('\n') }))
  t.is((await vitra(t, ['proof', 'verify', join(root, 'stripped.json'), '--policy', onePolicy])).code, 1, 'a checkpoint without its cosignatures does not check')
  t.is(verifyWitnessedCheckpoint(cp.checkpoint, { version: 1, quorum: 2, witnesses: vkeys.map(k => ({ key: k })) }, { key }).head.length, length, 'it checks under the policy')
  serve.child.kill('SIGTERM')
  await serve.done

  const verified = await vitra(t, ['verify', '--dir', dir, '--offline', '--json'])
  t.is(verified.code, 0, `verify: valid and witnessed (${verified.stderr.trim()})`)
  const result = json(verified)
  t.is(result.witnessed?.length, length, 'the witnessed length')
  t.ok(result.witnessed?.cosigned.length >= 2, `cosigned by ${result.witnessed?.cosigned.length} of 3`)

  // vitra monitor checks the index against the witnesses too; entries left unwitnessed raise the alert.
  const mon = await vitra(t, ['monitor', '--dir', dir, '--offline', '--once', '--json'])
  t.is(mon.code, 0, `monitor --once (${mon.stderr.trim()})`)
  t.ok(mon.stdout.includes(`"event":"witnessed","length":${length}`), 'monitor: witnessed up to the checkpoint')
  t.is((await vitra(t, ['call', 'increment', '--dir', dir, '--offline'])).code, 0, 'a call nobody collects cosignatures for')
  const stale = await vitra(t, ['monitor', '--dir', dir, '--offline', '--once', '--max-unwitnessed', '0', '--json'])
  t.is(stale.code, 0, 'an alert is not a verdict of fraud')
  t.ok(stale.stdout.includes('"event":"alert","code":"STALE_CHECKPOINT"'), 'monitor: STALE_CHECKPOINT for entries waiting beyond --max-unwitnessed')
})

test('cli witness - a witness follows a database on the swarm (--follow): no host submits, yet its heads get cosigned', { timeout: 180_000 }, async t => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  t.teardown(() => testnet.destroy(), { order: Infinity })
  const net = ['--bootstrap', testnet.bootstrap.map(b => `${b.host}:${b.port}`).join(','), '--dht-host', '127.0.0.1']
  const root = tmp(t)
  const wdir = join(root, 'w')
  const vkey = String(json(await vitra(t, ['witness', 'init', '--dir', wdir, '--name', 'w', '--json'])).vkey)
  // The policy gives the witness no URL: no host can submit to it; it sees heads only on the swarm.
  const policy = { version: 1 as const, quorum: 1, witnesses: [{ key: vkey }] }
  const policyFile = join(root, 'policy.json')
  writeFileSync(policyFile, JSON.stringify(policy))
  const dir = join(root, 'db')
  const key = String(json(await vitra(t, ['init', COUNTER, '--dir', dir, '--witnesses', policyFile, '--json'])).pubkey)
  for (let i = 0; i < 3; i++) t.is((await vitra(t, ['call', 'increment', '--dir', dir, '--offline'])).code, 0, `call ${i + 1}`)

  const refused = await vitra(t, ['witness', 'serve', '--dir', wdir, '--offline', '--follow', key])
  t.is(refused.code, 2, '--follow with --offline is a usage error')
  const w = start(t, ['witness', 'serve', '--dir', wdir, '--port', '0', '--follow', key, ...net, '--json'])
  const url = (JSON.parse(await w.waitFor(/\{"event":"witness-serving"[^\n]*/)) as { url: string }).url
  await w.waitFor(new RegExp(`\\{"event":"witness-following","key":"${key}"\\}`))
  const serve = start(t, ['serve', '--dir', dir, '--port', '0', ...net, '--json'])
  const serving = JSON.parse(await serve.waitFor(/\{"event":"serving"[^\n]*/)) as { url: string }
  const info = await (await fetch(`${serving.url}/v1/databases/${key}`)).json() as { length?: number, index?: { length?: number } }
  const length = info.index?.length ?? info.length
  let note = ''
  t.ok(await eventually(async () => {
    const res = await fetch(`${url}/logs/${key}`)
    note = await res.text()
    return res.status === 200 && parseCheckpoint(note).head.length === length
  }, PATIENCE_MS), `the witness cosigned the head it saw on the swarm (${length})`)
  t.is(verifyWitnessedCheckpoint(note, policy, { key }).head.length, length, 'GET /logs/<key> is a checkpoint witnessed under the policy')
})
