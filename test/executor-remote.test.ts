// The executor and a remote op block it cannot get yet: the oplog's new length
// reaches it through a peer that holds only the signed head, not the block. The
// batch ends there, the executor keeps running, and the op is executed exactly
// once as soon as a peer that has the block connects.
import test from 'brittle'
import type { Assertion } from 'brittle'
import Corestore from 'corestore'
import { createDb, contract, eventually, pipe } from './helpers.js'
import { Database, keyToPath, StorageInMemory } from '../src/index.js'
import { ackKey } from '../src/format/schemas.js'
import { honestOp, opOfSize } from './fixtures/hostile-entries.js'

async function missingBlock (t: Assertion, blockTimeoutMs: number): Promise<void> {
  const exec = await createDb(t, contract('kv-store'), { blockTimeoutMs })
  // the participant, first replicating with the executor directly
  let cut: (() => void) | null = null
  const part = await Database.load(new StorageInMemory(), exec.pubkey, { onCorestore: store => { cut = pipe(exec.store, store) } })
  t.teardown(() => part.close())
  const oplog = await part.createOplog()
  await (await exec.call('addParticipant', { pubkey: oplog.hex })).whenProcessed()
  t.ok(await eventually(async () => { await part.refresh(); return part.isParticipant }), 'the participant is active')
  ;(cut as unknown as () => void)()

  // a relay that will know the oplog's head but never holds its blocks
  const relay = new Corestore(await t.tmp())
  t.teardown(() => relay.close())
  const relayed = relay.get({ key: oplog.core.key })
  await relayed.ready()
  const cutRelay = pipe(part.store, relay)
  const tx = await part.call('put', { key: 'far', value: 'away' }, { proofs: false })
  t.ok(await eventually(async () => { await relayed.update({ wait: true }); return relayed.length === 1 }), 'the relay learned the new head')
  t.absent(await relayed.has(0), 'but not the block')
  cutRelay()

  const warnings: string[] = []
  exec.on('warning', (w: { code?: string }) => { warnings.push(w.code ?? '?') })
  pipe(exec.store, relay)
  const execOplog = exec.oplogs.find(o => o.hex === oplog.hex)
  t.ok(execOplog !== undefined, 'the executor has the oplog open')
  t.ok(await eventually(() => execOplog?.length === 1, 5000), 'the executor sees length 1 through the relay')
  await new Promise(resolve => setTimeout(resolve, 1500)) // with a short timeout: several fetches and retries
  t.is(await exec.index.getAck(oplog.hex, 0), null, 'the op is not acked while its block is missing')
  const started = Date.now()
  await (await exec.call('put', { key: 'local', value: 1 })).whenProcessed({ timeout: 3000 })
  t.is((await exec.index.get('values/local'))?.value, 1, `the executor executes the ops it can read meanwhile (in ${Date.now() - started} ms)`)

  pipe(exec.store, part.store)
  await tx.whenProcessed({ timeout: 15_000 })
  const [r] = await tx.fetchResults()
  t.is(r?.success, true, 'the op ran once its block arrived')
  t.is((await exec.index.get('values/far'))?.value, 'away')
  let acks = 0
  for await (const e of exec.index.history()) if (e.type === 'put' && e.path === keyToPath(ackKey(oplog.hex, 0))) acks++
  t.is(acks, 1, 'acked exactly once')
  t.ok(warnings.every(w => w === 'BLOCK_UNAVAILABLE'), `the only warnings are fetches that timed out (BLOCK_UNAVAILABLE: ${warnings.length})`)
  if (blockTimeoutMs < 1000) t.ok(warnings.length > 0, 'with a short timeout, there were some')
  await exec.verify()
  t.pass('the index verifies')
}

test('executor - a remote op block no peer serves holds up its own oplog only; fetches time out and are retried until it comes', { timeout: 60_000 }, async t => {
  await missingBlock(t, 300)
})

test('executor - a remote op block no peer serves: a fetch still waiting does not hold up the other oplogs', { timeout: 60_000 }, async t => {
  await missingBlock(t, 60_000)
})

/** Replicate two Corestores, counting the bytes that reach `b`. */
function countedPipe (a: Corestore, b: Corestore): { bytes: () => number, cut: () => void } {
  const s1 = a.replicate(true) as any
  const s2 = b.replicate(false) as any
  let n = 0
  s1.on('data', (d: Buffer) => { n += d.byteLength })
  s1.pipe(s2).pipe(s1)
  s1.on('error', () => undefined)
  s2.on('error', () => undefined)
  return { bytes: () => n, cut: () => { s1.destroy(); s2.destroy() } }
}

for (const eager of [false, true]) {
  test(`executor - sizes before bytes${eager ? ' (with a sized eager download)' : ''}: a remote op over maxOpBytes is acked OP_TOO_LARGE without being downloaded`, { timeout: 60_000 }, async t => {
    const exec = await createDb(t, contract('kv-store'), { maxOpBytes: 1000, blockTimeoutMs: 2000 })
    let link: { bytes: () => number, cut: () => void } | null = null
    const part = await Database.load(new StorageInMemory(), exec.pubkey, { onCorestore: store => { link = countedPipe(store, exec.store) } })
    t.teardown(() => part.close())
    const oplog = await part.createOplog()
    await (await exec.call('addParticipant', { pubkey: oplog.hex })).whenProcessed()
    t.ok(await eventually(async () => { await part.refresh(); return part.isParticipant }), 'the participant is active')
    const execOplog = exec.oplogs.find(o => o.hex === oplog.hex)
    if (eager && execOplog !== undefined) {
      const { SizedDownload } = await import('../src/logs/block-sizes.js')
      const d = new SizedDownload(execOplog.core, { max: 1000 })
      d.start()
      t.teardown(() => d.close())
    }
    const before = (link as unknown as { bytes: () => number }).bytes()
    const big = 200_000
    const seqs: number[] = []
    for (const block of [honestOp('before', 1), opOfSize(big), honestOp('after', 2)]) seqs.push((await oplog.core.append(block)).length - 1)
    t.ok(await eventually(async () => (await exec.index.getAck(oplog.hex, seqs[2])) !== null, 20_000), 'the executor acked the op after the big one')
    const acks = await Promise.all(seqs.map(async s => (await exec.index.getAck(oplog.hex, s))?.ack))
    t.is(acks[0]?.success, true, 'the small op before it ran')
    t.is(acks[1]?.errorCode, 'OP_TOO_LARGE', `the big op: ${acks[1]?.error ?? 'no ack'}`)
    t.is(acks[2]?.success, true, 'the small op after it ran')
    t.absent(await execOplog?.core.has(seqs[1]), 'the executor never stored the big block')
    const moved = (link as unknown as { bytes: () => number }).bytes() - before
    t.ok(moved < big / 4, `bytes that reached the executor: ${moved} (the op is ${big})`)
    await exec.verify()
    t.pass('the index verifies')
  })
}
