// The browser build of `vitra/proofs` (dist/browser/vitra-proofs.js, made by
// scripts/build-browser.js) in a real headless browser: Debian's chromium driven by
// playwright-core, the page and the module served over real HTTP on 127.0.0.1. The page
// checks real proofs (valid) and the same proofs tampered (INVALID_PROOF) with the
// pure-JavaScript primitives. scripts/install-browser.sh (run by `npm test`) installs
// chromium where it can; where there is none, this test says so and is skipped.
import test from 'brittle'
import { existsSync, readFileSync } from 'fs'
import { createServer, type Server } from 'http'
import type { AddressInfo } from 'net'
import { fileURLToPath } from 'url'
import { chromium } from 'playwright-core'
import { createDb, contract } from './helpers.js'
import { realProofs } from './fixtures/real-proofs.js'

const BUNDLE = fileURLToPath(new URL('../browser/vitra-proofs.js', import.meta.url))
const WITNESS_VECTORS = fileURLToPath(new URL('../../test/vectors/witnessed-checkpoint.json', import.meta.url))
const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(p => p !== undefined && p !== '' && existsSync(p))

const PAGE = `<!doctype html><meta charset="utf-8"><title>vitra proofs</title>
<script type="module">
  import * as proofs from '/vitra-proofs.js'
  window.vitraProofs = proofs
  document.title = 'ready'
</script>`

/** Serve the page, the bundle and the proofs on 127.0.0.1. */
async function serve (files: Record<string, { type: string, body: string | Buffer }>): Promise<{ server: Server, url: string }> {
  const server = createServer((req, res) => {
    const f = files[req.url ?? '']
    if (f === undefined) { res.writeHead(404).end(); return }
    res.writeHead(200, { 'content-type': f.type }).end(f.body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

if (CHROMIUM === undefined) {
  test('browser proofs - SKIPPED: no chromium here (apt-get install chromium, or set CHROMIUM_PATH)', { skip: true }, () => {})
} else {
  test('browser proofs - the bundle checks real proofs in headless chromium, and rejects them tampered', { timeout: 120_000 }, async t => {
    t.ok(existsSync(BUNDLE), 'the browser build exists (npm run build makes it)')
    const db = await createDb(t, contract('counter'))
    const proofs = await realProofs(db)
    const { server, url } = await serve({
      '/': { type: 'text/html', body: PAGE },
      '/vitra-proofs.js': { type: 'text/javascript', body: readFileSync(BUNDLE) },
      '/proofs.json': { type: 'application/json', body: JSON.stringify(proofs) },
      '/fraud.json': { type: 'application/json', body: readFileSync(fileURLToPath(new URL('../../test/vectors/fraud/UNPROMPTED_CHANGE.json', import.meta.url))) },
      '/witness.json': { type: 'application/json', body: readFileSync(WITNESS_VECTORS) }
    })
    t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
    t.teardown(() => browser.close())
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', e => errors.push(e.message))
    await page.goto(url + '/')
    await page.waitForFunction(() => document.title === 'ready', undefined, { timeout: 30_000 })
    const result = await page.evaluate(async () => {
      const m = (window as unknown as { vitraProofs: Record<string, (...a: unknown[]) => unknown> & { primitives: () => { name: string } } }).vitraProofs
      const all = await (await fetch('/proofs.json')).json() as Record<string, { key: string, proof: unknown }>
      const checks: Record<string, string> = { inclusion: 'verifyInclusionProof', range: 'verifyRangeProof', consistency: 'verifyConsistencyProof', fork: 'verifyLogForkProof', read: 'verifyIndexReadProof' }
      const verdict = async (name: string, proof: unknown, key: string): Promise<string> => {
        try { await m[checks[name]](proof, { key }); return 'valid' } catch (err) { return (err as { code?: string }).code ?? String(err) }
      }
      const tampered = (proof: unknown): unknown => {
        const text = JSON.stringify(proof)
        const i = text.indexOf('"signature":"') + 13
        return JSON.parse(text.slice(0, i) + (text[i] === '0' ? '1' : '0') + text.slice(i + 1))
      }
      const out: Record<string, string> = {}
      for (const [name, { key, proof }] of Object.entries(all)) {
        out[name] = await verdict(name, proof, key)
        out[name + ' tampered'] = await verdict(name, tampered(proof), key)
      }
      const fraud = await (await fetch('/fraud.json')).json() as { cases: Array<{ name: string, proof: unknown }> }
      for (const c of fraud.cases) {
        try { const e = m.checkFraudProofEnvelope(c.proof) as { code: string, selfEvident: boolean }; out['fraud: ' + c.name] = `valid ${e.code} ${String(e.selfEvident)}` } catch (err) { out['fraud: ' + c.name] = (err as { code?: string }).code ?? String(err) }
      }
      const witnessed = await (await fetch('/witness.json')).json() as { cases: Array<{ name: string, key: string, proof: { checkpoint: string, policy: unknown } }> }
      for (const c of witnessed.cases) {
        try {
          const v = m.verifyWitnessedCheckpoint(c.proof.checkpoint, c.proof.policy, { key: c.key }) as { head: { length: number }, cosigned: Array<{ name: string }> }
          out['witness: ' + c.name] = `valid ${v.head.length} ${v.cosigned.map(x => x.name).sort().join(',')}`
        } catch (err) { out['witness: ' + c.name] = (err as { code?: string }).code ?? String(err) }
      }
      return { primitives: m.primitives().name, hasBuffer: typeof (globalThis as { Buffer?: unknown }).Buffer, out }
    })
    t.alike(errors, [], 'no page errors')
    t.ok(/noble/.test(result.primitives), `the page uses the pure-JavaScript primitives (${result.primitives})`)
    t.is(result.hasBuffer, 'undefined', 'the page has no Node Buffer of its own: the bundle brings what it needs')
    t.is(result.out['fraud: UNPROMPTED_CHANGE: the golden fixture\'s violation'], 'valid UNPROMPTED_CHANGE true', 'a fraud proof (UNPROMPTED_CHANGE) checks in the browser, self-evident')
    t.is(result.out['fraud: UNPROMPTED_CHANGE: the signed head\'s signature changed'], 'INVALID_PROOF', 'and tampered it does not')
    const vectors = JSON.parse(readFileSync(WITNESS_VECTORS, 'utf8')) as { cases: Array<{ name: string, expect: { verdict: string, length?: number, cosigned?: string[] } }> }
    for (const c of vectors.cases) {
      const want = c.expect.verdict === 'valid' ? `valid ${c.expect.length} ${(c.expect.cosigned ?? []).join(',')}` : 'INVALID_PROOF'
      t.is(result.out['witness: ' + c.name], want, `witnessed checkpoint in the browser: ${c.name}`)
    }
    for (const name of Object.keys(proofs)) {
      t.is(result.out[name], 'valid', `${name} proof: valid in the browser`)
      t.is(result.out[name + ' tampered'], 'INVALID_PROOF', `${name} proof tampered: INVALID_PROOF in the browser`)
    }
  })
}
