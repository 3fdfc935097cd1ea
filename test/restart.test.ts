import test from 'brittle'
import { spawn } from 'child_process'
import { fileURLToPath } from 'url'
import { Database } from '../src/index.js'

const CHILD = fileURLToPath(new URL('./fixtures/kill-child.js', import.meta.url))

/** Run the child until it has reported `batches` executor batches, then SIGKILL it. */
function runAndKill (dir: string, batches: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-node-snapshot', CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let seen = 0
    let err = ''
    child.stderr.on('data', d => { err += String(d) })
    child.stdout.on('data', d => {
      seen += (String(d).match(/^batch/gm) ?? []).length
      if (seen >= batches) child.kill('SIGKILL')
    })
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve()
      else reject(new Error(`child exited with ${String(code)}: ${err}`))
    })
  })
}

test('executor - resumes after kill: no op lost, skipped or applied twice', async t => {
  const dir = await t.tmp()
  for (const batches of [1, 4, 9]) await runAndKill(dir, batches)
  const db = await Database.load(dir)
  t.teardown(() => db.close())
  await db.executor?.sync()
  const oplog = db.localOplog
  t.ok(oplog !== null)
  const length = oplog?.length ?? 0
  t.ok(length > 100, `ops appended across three killed runs: ${length}`)
  const acks = await db.index.list(`.sys/acks/${oplog?.hex as string}/`)
  t.is(acks.length, length, 'one ack per op')
  t.ok(acks.every((a, i) => (a.value as { seq: number }).seq === i), 'acks are seq 0..n-1 in order')
  t.is((await db.call('get')).response, length, 'counter equals the number of increments')
})
