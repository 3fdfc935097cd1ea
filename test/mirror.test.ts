// Bounded mirrors (issue 34): a reader that keeps only the newest N index entries
// (src/net/mirror.ts). Older blocks are cleared as the log grows and fetched on demand;
// proofs of the newest entries check as on a full copy; offline, an old read fails
// with a clear error instead of waiting.
import test from 'brittle'
import { Database, StorageInMemory, verifyInclusionProof } from '../src/index.js'
import { createInclusionProof } from '../src/logs/proof-builders.js'
import { createApi } from '../src/http/api.js'
import { BoundedMirror } from '../src/net/mirror.js'
import { contract, eventually, runVitra, startVitra } from './helpers.js'

async function held (core: { has: (i: number) => Promise<boolean>, length: number }): Promise<number> {
  let n = 0
  for (let i = 0; i < core.length; i++) if (await core.has(i)) n++
  return n
}

test('mirror - keeps the newest N blocks as the log grows; proofs of them check; older reads are fetched on demand, or fail offline', { timeout: 120_000 }, async t => {
  const exec = await Database.create(await t.tmp(), { contract: { source: contract('kv-store') } })
  t.teardown(() => exec.close())
  const app = await createApi({ databases: [exec], monitor: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  await (await exec.call('put', { key: 'first', value: 'old' })).whenProcessed()
  const r = await Database.load(new StorageInMemory(), exec.pubkey, { from: [url], timeout: 10_000 })
  t.teardown(() => r.close())
  const KEEP = 100
  const mirror = new BoundedMirror(r.index.core, KEEP)
  await mirror.ready()
  t.teardown(() => mirror.close())
  for (let round = 0; round < 3; round++) {
    const pending = []
    for (let i = 0; i < 200; i++) pending.push(exec.call('put', { key: `k${round}-${i}`, value: i }, { proofs: false }))
    await Promise.all(pending)
    await exec.executor?.sync()
    t.ok(await eventually(async () => { await r.index.core.update().catch(() => {}); return r.index.core.length === exec.index.core.length && await r.index.core.has(r.index.core.length - KEEP, r.index.core.length) }, 20_000), `round ${round}: the mirror follows the head (length ${exec.index.core.length}) and holds its newest ${KEEP} blocks`)
    // Blocks asked for while the head moved arrive below the floor, and are cleared in turn.
    // The database itself reads its state (participants) after each append: the Hyperbee
    // nodes on that path sit in a few old blocks, fetched again on demand (at most the tree's depth).
    let n = -1
    t.ok(await eventually(async () => { await mirror.flush(); n = await held(r.index.core); return n >= KEEP && n <= KEEP + 1 + 8 }, 10_000), `round ${round}: ${n} of ${r.index.core.length} blocks on disk (the newest ${KEEP}, the header, and the few old ones the database's own reads fetch)`)
  }
  t.ok(await r.index.core.has(0), 'the header block stays')
  const last = r.index.core.length - 1
  const proof = await createInclusionProof(r.index.core, last)
  t.is(verifyInclusionProof(proof, { key: exec.pubkey }).index, last, 'an inclusion proof of the newest entry checks against the key')
  t.absent(await r.index.core.has(2), 'an old block was cleared')
  t.is((await r.call('get', { key: 'first' })).response, 'old', 'a read of an old entry: fetched on demand')
  t.ok(await eventually(async () => { await mirror.flush(); return await held(r.index.core) <= KEEP + 1 + 8 }, 10_000), 'and cleared again')
  r.unsyncFrom()
  await app.close()
  const offline = await r.call('get', { key: 'k0-5' }).then(() => null, (err: { code?: string }) => err)
  t.ok(offline !== null, `offline, an old read fails instead of hanging (${String((offline as { code?: string } | null)?.code)})`)
})

test('mirror - vitra serve --follow <key> --from <url> --mirror-last N: a gateway with a bounded copy, no monitor; refused on the executor\'s directory', { timeout: 120_000 }, async t => {
  const dir = await t.tmp()
  const exec = await Database.create(dir, { contract: { source: contract('kv-store') } })
  t.teardown(() => exec.close())
  const app = await createApi({ databases: [exec], monitor: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  for (let i = 0; i < 50; i++) await exec.call('put', { key: `k${i}`, value: i }, { proofs: false })
  await exec.executor?.sync()
  const key = exec.pubkey.toString('hex')
  const gw = startVitra(t, ['serve', '--follow', key, '--from', url, '--mirror-last', '20', '--port', '0'], { cwd: await t.tmp() })
  const line = await gw.waitFor(/Serving [0-9a-f]{64} at http:\/\/127\.0\.0\.1:\d+\/v1\/databases\/[0-9a-f]{64}/)
  const base = (/http:\S+/.exec(line) as RegExpExecArray)[0]
  t.is(((await (await fetch(`${base}/entry?path=/values/k49`)).json()) as { entry?: { value: number } }).entry?.value, 49, 'a read through the mirror')
  const v = await fetch(`${base}/verification`)
  t.is(v.status, 404, 'no monitor on a bounded mirror (it cannot replay)')
  gw.child.kill('SIGTERM')
  t.is((await gw.done).code, 0)
  await exec.close()
  const refused = await runVitra(['serve', '--dir', dir, '--mirror-last', '20', '--offline', '--port', '0'])
  t.is(refused.code, 2, 'on the executor\'s own directory: a usage error')
  t.ok(/keeps its whole history/.test(refused.stderr), refused.stderr.trim())
})
