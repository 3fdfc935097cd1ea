// Primary servers in the database (issue 34): a contract records the http(s) URLs where
// every copy may sync (`tx.setServers` → /.sys/servers); verifiers replay it like any
// write; a copy whose swarm finds no peer syncs over HTTP from them.
import test from 'brittle'
import { join } from 'path'
import createTestnet from 'hyperdht/testnet.js'
import { Database, StorageInMemory } from '../src/index.js'
import { createApi } from '../src/http/api.js'
import { contract, runVitra } from './helpers.js'

test('servers - the admin records the servers; bad URLs fail the op; a verifier replays it', async t => {
  const exec = await Database.create(await t.tmp(), { contract: { source: contract('kv-store') } })
  t.teardown(() => exec.close())
  t.alike(await exec.servers(), [], 'none at first')
  const ok = await exec.call('setServers', { urls: ['http://127.0.0.1:8686', 'https://vitra.example.com'] })
  await ok.whenProcessed()
  t.is((await ok.fetchResults())[0]?.success, true, 'the admin sets them')
  t.alike(await exec.servers(), ['http://127.0.0.1:8686', 'https://vitra.example.com'], 'db.servers() reads /.sys/servers')
  const bad = await exec.call('setServers', { urls: ['ftp://nope'] })
  await bad.whenProcessed()
  const r = (await bad.fetchResults())[0]
  t.is(r?.success, false, 'a URL that is not http(s): the op fails')
  t.ok(/setServers/.test(String(r?.error)), String(r?.error))
  const other = await Database.load(new StorageInMemory(), exec.pubkey, { onCorestore: s => { const a = exec.replicate(true) as NodeJS.ReadWriteStream; const b = s.replicate(false) as unknown as NodeJS.ReadWriteStream; a.pipe(b).pipe(a) } })
  t.teardown(() => other.close())
  await other.syncAll()
  t.is((await other.verify()).length, exec.index.core.length, 'a verifier replays the writes to /.sys/servers')
})

test('servers - a copy whose swarm finds no peer syncs over HTTP from the servers the database recorded', { timeout: 120_000 }, async t => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  t.teardown(() => testnet.destroy())
  const exec = await Database.create(await t.tmp(), { contract: { source: contract('kv-store') }, swarm: true, bootstrap: testnet.bootstrap, host: '127.0.0.1' })
  t.teardown(() => exec.close())
  const app = await createApi({ databases: [exec], monitor: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  await (await exec.call('setServers', { urls: [url] })).whenProcessed()
  await (await exec.call('put', { key: 'x', value: 1 })).whenProcessed()
  const env = { VITRA_BOOTSTRAP: testnet.bootstrap.map(b => `${b.host}:${b.port}`).join(','), VITRA_DHT_HOST: '127.0.0.1' }
  const dir = join(await t.tmp(), 'copy')
  t.is((await runVitra(['load', exec.pubkey.toString('hex'), '--dir', dir], env)).code, 0, 'vitra load over the swarm')
  const info = await runVitra(['info', '--dir', dir, '--timeout', '5000'], env)
  t.ok(info.stdout.includes(`servers       ${url}`), 'vitra info shows the servers')
  await exec.unswarm() // the swarm has no peer of it any more; its HTTP API still runs
  await (await exec.call('put', { key: 'x', value: 2 })).whenProcessed()
  const got = await runVitra(['get', '/values/x', '--dir', dir, '--timeout', '5000'], env)
  t.is(got.stdout.trim(), '2', `the newest value, over HTTP (${got.stderr.trim()})`)
  t.ok(/syncing over HTTP from its servers/.test(got.stderr), 'and it says where it synced from')
})
