// Following a database over HTTP alone (issue 34): Hypercore replication on an upgraded
// HTTP connection to a host's API (src/net/http-replication.ts), no swarm. The reader stores
// only what Hypercore verified against the keys; a host that speaks garbage is dropped.
import test from 'brittle'
import { createServer } from 'net'
import { randomBytes } from 'crypto'
import { Database, StorageInMemory } from '../src/index.js'
import { createApi } from '../src/http/api.js'
import { readFileSync } from 'fs'
import { join } from 'path'
import { verifyIndexReadProof } from '../src/proofs/index.js'
import { contract, eventually, runVitra, startVitra } from './helpers.js'

async function served (t: import('brittle').Assertion, db: Database): Promise<string> {
  const app = await createApi({ databases: [db], monitor: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
}

test('http sync - a reader follows a database from its host\'s HTTP API alone: reads, live appends, oplogs, a full verify', async t => {
  const exec = await Database.create(await t.tmp(), { contract: { source: contract('kv-store') } })
  t.teardown(() => exec.close())
  for (let i = 0; i < 20; i++) await (await exec.call('put', { key: `k${i}`, value: i })).whenProcessed()
  const url = await served(t, exec)
  const r = await Database.load(new StorageInMemory(), exec.pubkey, { from: [url], timeout: 5000 })
  t.teardown(() => r.close())
  t.is(r.network, null, 'no swarm')
  t.is(r.httpSync?.connections, 1, 'one HTTP host')
  t.is((await r.call('get', { key: 'k7' })).response, 7, 'a read')
  await (await exec.call('put', { key: 'later', value: true })).whenProcessed()
  t.ok(await eventually(async () => { await r.index.core.update().catch(() => {}); return (await r.call('get', { key: 'later' })).response === true }, 10_000), 'a later append reaches it')
  await r.syncAll()
  const v = await r.verify()
  t.is(v.length, exec.index.core.length, 'it verifies the whole history fetched over HTTP')
})

test('http sync - a host that answers the upgrade with garbage is dropped; the reader goes on with a good host', async t => {
  const exec = await Database.create(await t.tmp(), { contract: { source: contract('kv-store') } })
  t.teardown(() => exec.close())
  await (await exec.call('put', { key: 'a', value: 1 })).whenProcessed()
  let garbageConnections = 0
  const liar = createServer(socket => {
    garbageConnections++
    socket.on('error', () => {})
    socket.once('data', () => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: vitra-replication\r\nConnection: Upgrade\r\n\r\n')
      socket.write(Buffer.concat([Buffer.from([64, 0, 0]), randomBytes(64)])) // a frame of 64 random bytes where the Noise handshake belongs
    })
  })
  await new Promise<void>(resolve => liar.listen(0, '127.0.0.1', resolve))
  t.teardown(() => liar.close())
  const bad = `http://127.0.0.1:${(liar.address() as { port: number }).port}`
  const good = await served(t, exec)
  const r = await Database.load(new StorageInMemory(), exec.pubkey, { from: [bad, good], timeout: 5000 })
  t.teardown(() => r.close())
  t.is((await r.call('get', { key: 'a' })).response, 1, 'the good host serves it')
  t.ok(garbageConnections >= 1, 'the liar was asked')
  t.is(r.httpSync?.connections, 1, 'and dropped for its garbage: only the good host is connected')
  t.ok(await eventually(() => garbageConnections >= 2, 10_000), 'it is tried again later (with a back-off)')
  t.is((await r.verify()).length, exec.index.core.length, 'nothing it sent was stored: the copy verifies')
})

test('http sync - the CLI: vitra load <key> --from <url> follows over HTTP (remembered), verify audits it, serve --follow --from is a gateway of a gateway', { timeout: 120_000 }, async t => {
  const exec = await Database.create(await t.tmp(), { contract: { source: contract('kv-store') } })
  t.teardown(() => exec.close())
  for (let i = 0; i < 5; i++) await (await exec.call('put', { key: `k${i}`, value: i })).whenProcessed()
  const url = await served(t, exec)
  const key = exec.pubkey.toString('hex')
  const root = await t.tmp()
  const dir = join(root, 'reader')
  const load = await runVitra(['load', key, '--from', url, '--dir', dir, '--json'])
  t.is(load.code, 0, `vitra load --from: ${load.stderr.trim()}`)
  t.alike((JSON.parse(readFileSync(join(dir, 'cli.json'), 'utf8')) as { from: string[] }).from, [url], 'cli.json remembers the HTTP host')
  await (await exec.call('put', { key: 'later', value: 'yes' })).whenProcessed()
  const got = await runVitra(['get', '/values/later', '--dir', dir])
  t.is(got.stdout.trim(), '"yes"', `a later command syncs over HTTP again, no swarm (${got.stderr.trim()})`)
  const verify = await runVitra(['verify', '--dir', dir])
  t.is(verify.code, 0, `vitra verify replays what came over HTTP ${verify.stderr.trim()}`)
  t.ok(/^Valid: replayed/.test(verify.stdout), verify.stdout.trim())
  const gw = startVitra(t, ['serve', '--follow', key, '--from', url, '--port', '0'], { cwd: root })
  const line = await gw.waitFor(/Serving [0-9a-f]{64} at http:\/\/127\.0\.0\.1:\d+\/v1\/databases\/[0-9a-f]{64}/)
  const base = (/http:\S+/.exec(line) as RegExpExecArray)[0]
  const entry = await (await fetch(`${base}/entry?path=/values/k4&proof=true`)).json() as { entry?: { value: number }, proof: unknown, at: number }
  t.is(entry.entry?.value, 4, 'a gateway that follows over HTTP serves reads')
  t.is((await verifyIndexReadProof(entry.proof, { key })).at, entry.at, 'with proofs that check against the key')
  gw.child.kill('SIGTERM')
  t.is((await gw.done).code, 0)
})
