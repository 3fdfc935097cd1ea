// A gateway by key (issue 34): `vitra serve --follow <key>` serves a database it only
// knows by its key, fetched from the swarm (a DHT testnet on 127.0.0.1), read-only through
// the same /v1 API: reads with proofs that check against the key, history, live events,
// its own monitor, /metrics; a call that emits ops is refused with a clear code.
import test from 'brittle'
import { existsSync, readFileSync } from 'fs'
import { join } from 'path'
import createTestnet from 'hyperdht/testnet.js'
import { Database } from '../src/index.js'
import { verifyIndexReadProof } from '../src/proofs/index.js'
import { contract, eventually, startVitra } from './helpers.js'

test('gateway - serve --follow <key>: reads with proofs, history, events, its own monitor, metrics; op-emitting calls refused', { timeout: 120_000 }, async t => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  t.teardown(() => testnet.destroy())
  const root = await t.tmp()
  const db = await Database.create(join(root, 'executor'), { contract: { source: contract('kv-store') }, swarm: true, bootstrap: testnet.bootstrap, host: '127.0.0.1' })
  t.teardown(() => db.close())
  for (let i = 0; i < 5; i++) await (await db.call('put', { key: `k${i}`, value: i })).whenProcessed()
  const key = db.pubkey.toString('hex')
  const env = { VITRA_BOOTSTRAP: testnet.bootstrap.map(b => `${b.host}:${b.port}`).join(','), VITRA_DHT_HOST: '127.0.0.1' }

  const gw = startVitra(t, ['serve', '--follow', key, '--port', '0'], { cwd: root, env, timeout: 110_000 })
  const line = await gw.waitFor(/Serving [0-9a-f]{64} at http:\/\/127\.0\.0\.1:\d+\/v1\/databases\/[0-9a-f]{64}/, 60_000)
  const base = (/http:\S+/.exec(line) as RegExpExecArray)[0]
  t.ok(line.includes(key), 'it serves the database it was given by key')
  t.ok(existsSync(join(root, '.vitra-follow', key, 'vitra.json')), 'its copy is in ./.vitra-follow/<key>')

  const info = await (await fetch(base)).json() as { isExecutor: boolean, isParticipant: boolean }
  t.absent(info.isExecutor || info.isParticipant, 'a reader: neither executor nor participant')
  const read = await (await fetch(`${base}/entry?path=/values/k3&proof=true`)).json() as { entry: { value: number }, proof: unknown, at: number }
  t.is(read.entry?.value, 3, 'a read: the gateway served the newest head it found before it said "Serving"')
  const checked = await verifyIndexReadProof(read.proof, { key })
  t.is(checked.at, read.at, 'its proof checks against the database key alone')

  const events = await fetch(`${base}/events`)
  const reader = (events.body as ReadableStream<Uint8Array>).getReader()
  let streamed = ''
  const until = (re: RegExp): Promise<boolean> => eventually(async () => { const { value } = await reader.read(); streamed += new TextDecoder().decode(value); return re.test(streamed) }, 30_000)
  await (await db.call('put', { key: 'live', value: 'yes' })).whenProcessed()
  t.ok(await until(/event: entries/), 'a new entry at the executor reaches the gateway\'s event stream')
  await reader.cancel()
  t.ok(await eventually(async () => ((await (await fetch(`${base}/entry?path=/values/live`)).json()) as { entry?: { value: string } }).entry?.value === 'yes', 30_000), 'and its reads')
  const hist = await (await fetch(`${base}/history?start=1&limit=100`)).json() as { entries: Array<{ path: string }> }
  t.ok(hist.entries.some(e => e.path === '/values/live'), 'history')
  t.ok(await eventually(async () => {
    const v = await (await fetch(`${base}/verification`)).json() as { verifiedLength: number, violation: unknown }
    return v.violation === null && v.verifiedLength === db.index.core.length
  }, 30_000), 'its own monitor verified everything it fetched')
  const metrics = await fetch(base.replace(/\/v1\/.*$/, '/metrics'))
  t.is(metrics.status, 200, '/metrics')

  const token = readFileSync(join(root, '.vitra-follow', key, 'http-token'), 'utf8').trim()
  const call = async (method: string, params: unknown): Promise<{ status: number, body: { transaction?: { response: unknown }, error?: { code: string, message: string } } }> => {
    const res = await fetch(`${base}/call`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ method, params }) })
    return { status: res.status, body: await res.json() as { transaction?: { response: unknown }, error?: { code: string, message: string } } }
  }
  const readCall = await call('get', { key: 'k1' })
  t.is(readCall.status, 200, 'a call that only reads runs on the gateway')
  t.is(readCall.body.transaction?.response, 1)
  const write = await call('put', { key: 'x', value: 1 })
  t.is(write.status, 403, 'a call that emits ops: 403')
  t.is(write.body.error?.code, 'NOT_PARTICIPANT')
  t.ok(/serves database [0-9a-f]{64} read-only/.test(write.body.error?.message ?? ''), write.body.error?.message)

  gw.child.kill('SIGTERM')
  t.is((await gw.done).code, 0, 'the gateway stops with 0')
})
