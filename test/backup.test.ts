// Backups, moves and restores (issue 33, first slice): a live database copied
// consistently while it executes opens as the same database, verifies and carries on;
// a directory copied with cp -r refuses to open with STORAGE_COPIED, which names the one
// command that adopts it; the adoption refuses what is not a copy. Real databases on disk.
import test from 'brittle'
import { cpSync, mkdirSync, writeFileSync } from 'fs'
import { join } from 'path'
import { adoptCopy, Database } from '../src/index.js'
import { contract, runVitra } from './helpers.js'

const COUNTER = contract('counter')

async function codeOf (p: Promise<unknown>): Promise<{ code: string | null, message: string }> {
  try { await p; return { code: null, message: '' } } catch (err) { return { code: (err as { code?: string }).code ?? null, message: (err as Error).message } }
}

test('backup - a copy made while the executor runs opens as the same database, verifies and carries on', async t => {
  const dir = join(await t.tmp(), 'db')
  const db = await Database.create(dir, { contract: { source: COUNTER } })
  t.teardown(() => db.close())
  for (let i = 0; i < 20; i++) await db.call('increment', {}, { proofs: false })
  const inflight = Array.from({ length: 300 }, async () => await db.call('increment', {}, { proofs: false }))
  const dest = join(await t.tmp(), 'backup')
  const r = await db.backup(dest)
  await Promise.all(inflight)
  await db.executor?.sync()
  t.ok(r.indexLength > 1 && r.files > 0, `copied at index length ${r.indexLength} (${r.files} files) while calls were in flight`)
  t.is((await codeOf(db.backup(dest))).code, 'INVALID_ARGUMENT', 'a destination that is not empty is refused')
  const pubkey = db.pubkey.toString('hex')
  await db.close()

  const copy = await Database.load(dest)
  t.teardown(() => copy.close())
  t.is(copy.pubkey.toString('hex'), pubkey, 'the same database')
  t.ok(copy.isExecutor, 'with the executor key')
  t.ok(copy.index.core.length >= r.indexLength, `the index holds at least what was there at the copy (${copy.index.core.length})`)
  await copy.executor?.sync() // the ops appended but not executed at the copy run now
  t.alike(await copy.verify(), { length: copy.index.core.length }, 'verifies')
  const tx = await copy.call('increment')
  await tx.whenProcessed({ timeout: 10_000 })
  t.ok((await tx.fetchResults())[0]?.success, 'carries on: a new call is executed')
  await copy.verify()
  t.pass('and verifies after it')
})

test('backup - a directory copied with cp -r: STORAGE_COPIED names vitra restore; adoptCopy makes it open; what is not a copy is refused', async t => {
  const dir = join(await t.tmp(), 'db')
  const db = await Database.create(dir, { contract: { source: COUNTER } })
  for (let i = 0; i < 5; i++) await db.call('increment', {}, { proofs: false })
  await db.executor?.sync()
  const length = db.index.core.length
  await db.close()
  const copied = join(await t.tmp(), 'copied')
  cpSync(dir, copied, { recursive: true })
  const refused = await codeOf(Database.load(copied))
  t.is(refused.code, 'STORAGE_COPIED', 'the copy does not open silently')
  t.ok(refused.message.includes(`vitra restore --dir ${copied}`), `and says how to adopt it: ${refused.message}`)
  t.alike(await adoptCopy(copied), { dir: copied, pubkey: (await readKey(dir)) }, 'adopted')
  const opened = await Database.load(copied)
  t.is(opened.index.core.length, length, 'it opens with every entry')
  await opened.verify()
  await opened.close()
  t.is((await codeOf(adoptCopy(copied))).code, 'INVALID_ARGUMENT', 'adopting it again: it is not a copy any more')
  t.is((await codeOf(adoptCopy(dir))).code, 'INVALID_ARGUMENT', 'the original is not a copy')
  const empty = join(await t.tmp(), 'empty')
  mkdirSync(empty)
  writeFileSync(join(empty, 'note.txt'), 'not a database')
  t.is((await codeOf(adoptCopy(empty))).code, 'INVALID_ARGUMENT', 'a directory without a database')
})

test('backup - the CLI: vitra backup, then a cp -r copy refused with exit 1 and adopted by vitra restore', { timeout: 60_000 }, async t => {
  const root = await t.tmp()
  const dir = join(root, 'db')
  const file = join(root, 'counter.js')
  writeFileSync(file, COUNTER)
  t.is((await runVitra(['init', file, '--dir', dir])).code, 0, 'init')
  t.is((await runVitra(['call', 'increment', '--amount', '3', '--dir', dir])).code, 0, 'a call')
  const backup = await runVitra(['backup', join(root, 'bk'), '--dir', dir])
  t.is(backup.code, 0, `vitra backup: ${backup.stdout.split('\n')[0]}`)
  t.is((await runVitra(['get', '/counter', '--dir', join(root, 'bk')])).stdout.trim(), '3', 'the backup answers')
  cpSync(dir, join(root, 'cp'), { recursive: true })
  const refused = await runVitra(['get', '/counter', '--dir', join(root, 'cp')])
  t.is(refused.code, 1, 'the cp -r copy: exit 1')
  t.ok(/vitra restore --dir/.test(refused.stderr) && !/Unexpected error/.test(refused.stderr), `a clear error, no "Unexpected error": ${refused.stderr.trim()}`)
  t.is((await runVitra(['restore', '--dir', join(root, 'cp')])).code, 0, 'vitra restore')
  t.is((await runVitra(['get', '/counter', '--dir', join(root, 'cp')])).stdout.trim(), '3', 'the restored copy answers')
  t.is((await runVitra(['verify', '--dir', join(root, 'cp')])).code, 0, 'and verifies')
})

async function readKey (dir: string): Promise<string> {
  const { readFileSync } = await import('fs')
  return (JSON.parse(readFileSync(join(dir, 'vitra.json'), 'utf8')) as { pubkey: string }).pubkey
}
