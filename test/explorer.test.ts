// The explorer (explorer/, served by the HTTP API at /) in a real headless browser:
// Debian's chromium driven by playwright-core, over real HTTP on 127.0.0.1. The page
// checks every proof it shows with the vitra/proofs browser build; the test watches the
// marks turn valid, serves it a tampered proof (the mark turns invalid), tampers the
// index (the fraud alert appears, with a proof that checks), and calls a method through
// the form with the token. It saves a screenshot (dist/explorer.png) for the README.
import test from 'brittle'
import type { Assertion } from 'brittle'
import { existsSync } from 'fs'
import type { AddressInfo } from 'net'
import { fileURLToPath } from 'url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { createDb, contract } from './helpers.js'
import { createApi } from '../src/http/api.js'
import type { Database } from '../src/index.js'
import { createWitnessKey } from '../src/witness/keys.js'
import { Witness } from '../src/witness/witness.js'

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(p => p !== undefined && p !== '' && existsSync(p))
// this machine's network is closed: no background connections for chromium to try
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const SHOT = fileURLToPath(new URL('../explorer.png', import.meta.url))
const TOKEN = 'cd'.repeat(32)

/** A kv-store database with `n` puts, its host on 127.0.0.1, and a browser page that records every request it makes. */
async function setup (t: Assertion, n: number): Promise<{ db: Database, url: string, key: string, page: Page, requests: string[], errors: string[] }> {
  const db = await createDb(t, contract('kv-store'))
  const calls = []
  for (let i = 0; i < n; i++) calls.push(db.call('put', { key: `k${i % 40}`, value: { n: i, note: i % 7 === 0 ? 'seventh' : null } }))
  for (const tx of await Promise.all(calls)) await tx.whenProcessed()
  const app = await createApi({ databases: [db], token: TOKEN })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const requests: string[] = []
  const errors: string[] = []
  page.on('request', r => requests.push(r.url()))
  page.on('pageerror', e => errors.push(e.message))
  // the browser logs a refused call (401) as a failed resource: that one is expected
  page.on('console', m => { if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push(m.text()) })
  return { db, url, key: db.pubkey.toString('hex'), page, requests, errors }
}

/** The states of the marks on the page once none is pending. */
async function settledMarks (page: Page): Promise<Record<string, number>> {
  await page.waitForFunction(() => document.querySelectorAll('.mark').length > 0 && document.querySelectorAll('.mark[data-state=pending]').length === 0, undefined, { timeout: 60_000 })
  return await page.evaluate(() => {
    const out: Record<string, number> = {}
    for (const m of document.querySelectorAll<HTMLElement>('.mark')) out[m.dataset.state ?? '?'] = (out[m.dataset.state ?? '?'] ?? 0) + 1
    return out
  })
}

if (CHROMIUM === undefined) {
  test('explorer - SKIPPED: no chromium here (apt-get install chromium, or set CHROMIUM_PATH)', { skip: true }, () => {})
} else {
  test('explorer - the history of a few hundred ops: every proof mark turns valid in the browser; a tampered proof turns its mark invalid', { timeout: 180_000 }, async t => {
    const { db, url, key, page, requests, errors } = await setup(t, 300)
    await page.goto(url + '/')
    await page.waitForSelector('h1:has-text("Database")')
    t.ok(await page.locator('.key').first().textContent() === key, 'the database page shows the key')
    t.ok(await page.locator('pre.code .tok-keyword').count() > 5, 'the contract source is highlighted')
    t.ok(await page.locator('table a.key').count() === 1, 'one participant, linked to its oplog')
    await page.goto(`${url}/#/db/${key}/history`)
    const marks = await settledMarks(page)
    t.is(marks.invalid ?? 0, 0, 'no mark is invalid')
    t.ok((marks.valid ?? 0) >= 50, `${marks.valid} marks turned valid: every ack and write on the page was proven in the browser`)
    await page.setViewportSize({ width: 1000, height: 900 })
    await page.screenshot({ path: SHOT })
    t.comment(`screenshot: ${SHOT}`)
    await (await db.call('put', { key: 'live', value: 'arrives' })).whenProcessed()
    await page.waitForSelector('code:text-is("/values/live")', { timeout: 30_000 })
    const liveMarks = await settledMarks(page)
    t.is(liveMarks.invalid ?? 0, 0, 'a new entry appears on the newest page without a reload, and is proven')
    // the oplog page: ops proven in their oplog
    await page.locator('.ack a').first().click()
    await page.waitForSelector('h1:has-text("Oplog")')
    const opMarks = await settledMarks(page)
    t.ok((opMarks.valid ?? 0) > 0 && (opMarks.invalid ?? 0) === 0, `oplog page: ${opMarks.valid} ops proven in their oplog`)
    // a host that sends a tampered proof: one byte of one entry's block
    await page.route('**/history?*', async route => {
      const res = await route.fetch()
      const body = await res.json() as { entries: Array<{ seq: number, proof: { value: string } }> }
      const victim = body.entries[body.entries.length - 1]
      victim.proof.value = victim.proof.value.slice(0, -2) + (victim.proof.value.endsWith('00') ? '01' : '00')
      await route.fulfill({ response: res, json: body })
    })
    await page.goto(`${url}/#/db/${key}/history/1`)
    await page.reload()
    const tampered = await settledMarks(page)
    t.is(tampered.invalid, 1, 'the tampered proof: its mark is invalid')
    t.ok((tampered.valid ?? 0) > 0, 'the others stay valid')
    t.ok(await page.evaluate(() => document.body.classList.contains('has-invalid')), 'and the page says so loudly')
    t.ok(requests.every(r => r.startsWith(url)), `no request left the host (${requests.length} requests)`)
    t.alike(errors, [], 'no page errors')
  })

  test('explorer - a fraud alert appears live when the index is tampered; calls through the form need the token; a phone-width page', { timeout: 180_000 }, async t => {
    const { db, url, page, errors } = await setup(t, 5)
    await page.setViewportSize({ width: 390, height: 844 })
    await page.goto(url + '/')
    await page.waitForSelector('#live[data-state=on]')
    t.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no horizontal scrolling at a phone\'s width')
    // the call form: refused without the token (mouse), then made with it (keyboard only)
    await page.selectOption('#call-method', 'put')
    await page.fill('#call-params', '{"key":"from-the-page","value":42}')
    await page.click('form.call button')
    await page.waitForSelector('.call-result .error')
    t.ok(/refused the token/.test(await page.locator('.call-result').textContent() ?? ''), 'without the token: refused, and the page says why')
    await page.focus('#call-token')
    await page.keyboard.type(TOKEN)
    for (let i = 0; i < 3; i++) await page.keyboard.press('Tab') // method, params, the button
    t.is(await page.evaluate(() => document.activeElement?.textContent), 'Call', 'the keyboard reaches the button')
    await page.keyboard.press('Enter')
    await page.waitForSelector('.call-result a')
    t.ok(/1 executed ok/.test(await page.locator('.call-result').textContent() ?? ''), 'with the token: executed')
    const executed = String((await db.index.inputs()).length === 1 ? await db.index.lastAckedSeq(db.localOplog?.hex ?? '') + 1 : -1)
    await page.waitForFunction(n => document.querySelector('[data-participants] tr td:nth-child(4)')?.textContent === n, executed, { timeout: 10_000 })
    t.pass(`the participants table follows the call (executed ${executed}) without a reload`)
    t.absent(await page.evaluate(() => [...document.getElementById('app')?.childNodes ?? []].some(n => n.nodeType === 3 && n.textContent === 'null')), 'no stray "null" on the page')
    t.is((await db.index.get('/values/from-the-page'))?.value, 42, 'and the database has it')
    await page.locator('.call-result a').click()
    await page.waitForSelector('h1:has-text("Transaction")')
    const txMarks = await settledMarks(page)
    t.ok((txMarks.valid ?? 0) >= 4 && (txMarks.invalid ?? 0) === 0, `the transaction page: op, ack, write and the whole transaction proven (${txMarks.valid} marks)`)
    // the tamper: an unprompted write in the index
    await db.index.dangerousBatch([{ type: 'put', path: '/values/k0', value: 'forged' }])
    await page.waitForSelector('#alerts .fraud', { timeout: 30_000 })
    const alert = await page.locator('#alerts .fraud').textContent() ?? ''
    t.ok(/FRAUD DETECTED/.test(alert) && /UNPROMPTED_CHANGE/.test(alert), 'the fraud alert appears without a reload, naming the violation')
    t.ok(/envelope checks in your browser/.test(alert), 'its envelope checked in the browser')
    await page.reload() // the page load reports the violation, and so may the live events at the same time
    await page.waitForSelector('#alerts .fraud', { timeout: 30_000 })
    await new Promise(resolve => setTimeout(resolve, 1000))
    t.is(await page.locator('#alerts .fraud').count(), 1, 'one banner, however often it is reported')
    const href = await page.locator('#alerts .fraud a').getAttribute('href') ?? ''
    const { verifyFraudProof } = await import('../src/index.js')
    const proof = await (await fetch(url + href)).json()
    t.is((await verifyFraudProof(proof)).code, 'UNPROMPTED_CHANGE', 'the alert links to the fraud proof, which checks offline')
    t.alike(errors, [], 'no page errors')
  })

  test('explorer - witnesses: green "cosigned by k of M" for a witnessed database, red when the quorum is missing', { timeout: 180_000 }, async t => {
    const dirs = [await t.tmp(), await t.tmp()]
    const witnesses: Witness[] = []
    for (const [i, d] of dirs.entries()) {
      createWitnessKey(d, `w${i}`)
      const w = new Witness({ dir: d })
      t.teardown(() => w.close())
      await w.ready()
      witnesses.push(w)
    }
    const live = { version: 1 as const, quorum: 2, witnesses: witnesses.map(w => ({ key: w.key.vkey, url: w.url })) }
    // a policy whose second witness nobody runs: no checkpoint can reach its quorum
    const dead = { version: 1 as const, quorum: 2, witnesses: [live.witnesses[0]!, { key: witnesses[1]!.key.vkey, url: 'http://127.0.0.1:9' }] }
    const witnessed = await createDb(t, contract('counter'), { witnesses: live })
    const stalled = await createDb(t, contract('counter'), { witnesses: dead })
    for (const db of [witnessed, stalled]) await (await db.call('increment', {})).whenProcessed()
    const app = await createApi({ databases: [witnessed, stalled], checkpointIntervalMs: 20 })
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    const length = witnessed.index.length
    const res = async (): Promise<{ length?: number }> => await (await fetch(`${url}/v1/databases/${witnessed.pubkey.toString('hex')}/checkpoint`)).json() as { length?: number }
    for (let i = 0; i < 3000 && (await res()).length !== length; i++) await new Promise(resolve => setTimeout(resolve, 20))
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    t.teardown(() => browser.close())
    const fact = async (db: Database): Promise<{ state: string, text: string }> => {
      const page = await browser.newPage() // a page of its own: the check of one database is not the other's
      await page.goto(`${url}/#/db/${db.pubkey.toString('hex')}`)
      await page.waitForFunction(() => { const el = document.querySelector<HTMLElement>('[data-witnessed]'); return el !== null && el.dataset.witnessed !== 'pending' }, undefined, { timeout: 60_000 })
      return await page.evaluate(() => { const el = document.querySelector<HTMLElement>('[data-witnessed]') as HTMLElement; return { state: el.dataset.witnessed ?? '', text: el.textContent ?? '' } })
    }
    const green = await fact(witnessed)
    t.is(green.state, 'valid', green.text)
    t.ok(/cosigned by 2 of 2 witnesses/.test(green.text), 'the page says who cosigned, checked in the browser')
    const red = await fact(stalled)
    t.is(red.state, 'invalid', red.text)
    t.ok(/not witnessed/.test(red.text), 'no quorum: the page says the history is not witnessed')
  })
}
