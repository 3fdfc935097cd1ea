// The main job of `npm start`: a counter database on local disk.
// Creates ./.vitra-demo on the first run (reopens it on later runs), calls
// `increment` a few times, waits until the executor has processed the ops,
// and prints the value read back from the index.
import { join } from 'path'
import { Database, readShippedContract } from '../src/index.js'

const dir = process.env.VITRA_DEMO_DIR ?? join(process.cwd(), '.vitra-demo')

async function main (): Promise<void> {
  let db: Database
  try {
    db = await Database.load(dir)
    console.log(`Reopened database ${db.pubkey.toString('hex')} in ${dir}`)
  } catch (err) {
    if ((err as { code?: string }).code !== 'DATABASE_NOT_FOUND') throw err
    db = await Database.create(dir, { contract: { source: readShippedContract('counter') } })
    console.log(`Created database ${db.pubkey.toString('hex')} in ${dir}`)
  }
  try {
    const before = (await db.call('get')).response
    console.log(`counter = ${String(before)}`)
    const txs = []
    txs.push(await db.call('increment'))
    txs.push(await db.call('increment', { amount: 2 }))
    txs.push(await db.call('increment'))
    console.log(`called increment 3 times (ops ${txs.map(t => t.ops[0].seq).join(', ')} of oplog ${txs[0].ops[0].oplog.slice(0, 12)}…)`)
    for (const tx of txs) await tx.whenProcessed()
    const results = await txs[2].fetchResults()
    console.log(`last op: success=${String(results[0]?.success)}, wrote ${JSON.stringify(results[0]?.changes.map(c => [c.path, c.value]))}`)
    const after = (await db.call('get')).response
    console.log(`counter = ${String(after)}`)
    console.log(`index length ${db.index.version}, oplog length ${db.localOplog?.length ?? 0}`)
  } finally {
    await db.close()
  }
}

main().catch(err => {
  console.error(`error: ${(err as Error).message}`)
  process.exitCode = 1
})
