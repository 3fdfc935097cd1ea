// The HTTP API's read routes (src/http/api.ts), over real HTTP on 127.0.0.1: every
// route, its JSON, proofs that check offline, and bad input answered with a 4xx and a
// stable code while the host keeps serving.
import test from 'brittle'
import type { Assertion } from 'brittle'
import type { AddressInfo } from 'net'
import { performance } from 'perf_hooks'
import { createDb, contract } from './helpers.js'
import { createApi } from '../src/http/api.js'
import { verifyFolderListProof, verifyIndexReadProof } from '../src/proofs/index.js'

async function served (t: Assertion): Promise<{ url: string, key: string }> {
  const db = await createDb(t, contract('kv-store'))
  for (const [k, v] of [['a', 1], ['b/c', 'deep'], ['d', { x: [1] }]] as const) await (await db.call('put', { key: k, value: v })).whenProcessed()
  const app = await createApi({ databases: [db] })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, key: db.pubkey.toString('hex') }
}

async function get (url: string): Promise<{ status: number, body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(url)
  const text = await res.text()
  // JSON answers are parsed (a malformed one fails the test); the page at / is text
  const body: unknown = (res.headers.get('content-type') ?? '').startsWith('application/json') ? JSON.parse(text) : text
  return { status: res.status, body }
}

test('http api - the read routes', async t => {
  const { url, key } = await served(t)
  const home = await get(url + '/')
  t.is(home.status, 200)
  t.ok(String(home.body).includes('/v1/databases'), 'the page links to the API')
  const list = await get(url + '/v1/databases')
  t.alike(list.body.databases.map((d: { key: string }) => d.key), [key])
  const info = await get(`${url}/v1/databases/${key}`)
  t.is(info.status, 200)
  t.ok(info.body.methods.includes('put') && info.body.isExecutor === true && info.body.maxOpBytes === 1048576, 'info: methods, role, limits')
  t.is(info.body.participants.length, 1)
  t.ok(typeof info.body.contract === 'string' && info.body.contract.includes('export'), 'the contract source')
  const entry = await get(`${url}/v1/databases/${key}/entry?path=/values/d`)
  t.alike(entry.body.entry.value, { x: [1] })
  t.is(entry.body.entry.path, '/values/d')
  const proven = await get(`${url}/v1/databases/${key}/entry?path=values/a&proof=true`)
  const v = await verifyIndexReadProof(proven.body.proof, { key })
  t.is(v.at, proven.body.at, 'the entry comes with an index read proof that checks offline')
  t.is(v.results.length, 1)
  const missing = await get(`${url}/v1/databases/${key}/entry?path=/values/nope&proof=true`)
  t.is(missing.status, 404)
  t.is(missing.body.error.code, 'ENTRY_NOT_FOUND')
  t.ok((await verifyIndexReadProof(missing.body.proof, { key })).results.length === 1, 'and its absence is proven too')
  const folder = await get(`${url}/v1/databases/${key}/list?path=/values`)
  t.alike(folder.body.entries.map((e: { path: string, container: boolean }) => [e.path, e.container]), [['/values/a', false], ['/values/b', true], ['/values/d', false]])
  const provenList = await get(`${url}/v1/databases/${key}/list?path=/values&proof=true`)
  const checked = await verifyFolderListProof(provenList.body.proof, '/values', { key, at: provenList.body.at })
  t.alike(checked.entries, folder.body.entries, 'a proven listing: the walk over the proven blocks gives the same entries')
  const tampered = JSON.parse(JSON.stringify(provenList.body.proof)) as { blocks: Array<{ value: string }> }
  const last = tampered.blocks[tampered.blocks.length - 1]
  last.value = last.value.slice(0, -2) + (last.value.endsWith('00') ? '01' : '00')
  await t.exception(verifyFolderListProof(tampered, '/values', { key }), /tree hash/, 'a tampered block fails the check')
  t.is((await get(`${url}/v1/databases/${key}/list?path=/values&proof=true&offset=399&limit=5`)).status, 400, 'a proven page is bounded')
  const page = await get(`${url}/v1/databases/${key}/list?path=/values&limit=1&offset=1`)
  t.alike(page.body.entries.map((e: { path: string }) => e.path), ['/values/b'])
  const history = await get(`${url}/v1/databases/${key}/history?start=1&limit=3`)
  t.is(history.body.entries.length, 3)
  t.is(history.body.next, 4)
})

test('http api - bad input gets a 4xx with a stable code, and the host keeps serving', async t => {
  const { url, key } = await served(t)
  const cases: Array<[string, number, string]> = [
    ['/v1/databases/not-a-key', 400, 'INVALID_ARGUMENT'],
    [`/v1/databases/${'ab'.repeat(32)}`, 404, 'DATABASE_NOT_FOUND'],
    [`/v1/databases/${key}/entry`, 400, 'INVALID_ARGUMENT'],
    [`/v1/databases/${key}/entry?path=/a%00b`, 400, 'INVALID_ARGUMENT'],
    [`/v1/databases/${key}/list?limit=0`, 400, 'INVALID_ARGUMENT'],
    [`/v1/databases/${key}/list?limit=abc`, 400, 'INVALID_ARGUMENT'],
    [`/v1/databases/${key}/list?frob=1`, 400, 'INVALID_ARGUMENT'],
    [`/v1/databases/${key}/history?start=-5`, 400, 'INVALID_ARGUMENT'],
    ['/v1/nothing', 404, 'NO_SUCH_ROUTE']
  ]
  for (const [path, status, code] of cases) {
    const r = await get(url + path)
    t.is(r.status, status, `${path}: ${status}`)
    t.is(r.body?.error?.code, code, `${path}: ${code}`)
  }
  const malformed = await fetch(`${url}/v1/databases/${key}/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sql": ' })
  t.is(malformed.status, 400, 'a body that is not JSON: 400')
  t.is((await malformed.json() as { error: { code: string } }).error.code, 'BAD_REQUEST', 'BAD_REQUEST (refused before any route)')
  const big = await fetch(`${url}/v1/databases`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x: 'y'.repeat(2 * 1024 * 1024) }) })
  t.ok(big.status === 413 || big.status === 404, `a huge body is refused (${big.status})`)
  t.is((await get(`${url}/v1/databases/${key}`)).status, 200, 'the host still serves')
})

test('http api - call: a bearer token, results with proofs, contract errors as 4xx', async t => {
  const db = await createDb(t, contract('kv-store'))
  const token = 'ab'.repeat(32)
  const app = await createApi({ databases: [db], token })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/databases/${db.pubkey.toString('hex')}/call`
  const post = async (body: unknown, auth: string | null = `Bearer ${token}`): Promise<{ status: number, body: any }> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth === null ? {} : { authorization: auth }) }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }
  t.is((await post({ method: 'put', params: { key: 'k', value: 1 } }, null)).body.error.code, 'UNAUTHORIZED', 'no token: 401')
  t.is((await post({ method: 'put', params: { key: 'k', value: 1 } }, 'Bearer ' + 'cd'.repeat(32))).status, 401, 'a wrong token: 401')
  const ok = await post({ method: 'put', params: { key: 'k', value: 1 } })
  t.is(ok.status, 200)
  t.is(ok.body.transaction.ops.length, 1)
  t.is(ok.body.results[0].success, true, 'waited for the result')
  const { verifyTransactionProofs } = await import('../src/proofs/index.js')
  const checks = verifyTransactionProofs({ database: db.pubkey.toString('hex'), ops: ok.body.transaction.ops, results: ok.body.results })
  t.ok(/write\(s\) proven/.test(checks[1]), 'the op, ack and write proofs check offline')
  t.is(ok.body.id, `${ok.body.transaction.ops[0].oplog}-${ok.body.transaction.ops[0].seq}-1`, 'the call names its transaction')
  const txUrl = url.replace(/\/call$/, '/transactions/')
  const status = await (await fetch(txUrl + ok.body.id)).json() as any // eslint-disable-line @typescript-eslint/no-explicit-any
  t.is(status.processed, true, 'GET …/transactions/:id: processed')
  t.alike(status.ops.map((o: { value: unknown }) => o.value), ok.body.transaction.ops.map((o: { value: unknown }) => o.value), 'the same ops')
  t.ok(/write\(s\) proven/.test(verifyTransactionProofs({ database: db.pubkey.toString('hex'), ops: status.ops, results: status.results })[1]), 'with proofs that check offline')
  const later = await post({ method: 'put', params: { key: 'k2', value: 2 }, wait: false })
  t.is(later.body.results, null, 'wait: false answers before the result')
  await db.transaction(later.body.transaction).whenProcessed()
  t.is((await (await fetch(txUrl + later.body.id)).json() as { results: Array<{ success: boolean }> }).results[0].success, true, 'and its status shows it once processed')
  const oplog = ok.body.transaction.ops[0].oplog as string
  for (const [id, code, statusCode] of [['nope', 'INVALID_ARGUMENT', 400], [`${oplog}-0-0`, 'INVALID_ARGUMENT', 400], [`${'ab'.repeat(32)}-0-1`, 'TRANSACTION_NOT_FOUND', 404], [`${oplog}-999-1`, 'TRANSACTION_NOT_FOUND', 404]] as const) {
    const r = await fetch(txUrl + id)
    t.is(r.status, statusCode, `transaction ${id.slice(0, 12)}: ${statusCode}`)
    t.is((await r.json() as { error: { code: string } }).error.code, code)
  }
  const read = await post({ method: 'get', params: { key: 'k' } })
  t.is(read.body.transaction.response, 1, 'a read-only method answers at once')
  t.is((await post({ method: 'nope' })).body.error.code, 'UNKNOWN_METHOD')
  const refused = await post({ method: 'put', params: { key: '', value: 1 } })
  t.is(refused.status, 422)
  t.is(refused.body.error.code, 'CONTRACT_RUNTIME_ERROR')
  t.is((await post({ params: {} })).body.error.code, 'INVALID_ARGUMENT', 'no method: 400')
  t.is((await post({ method: 'put', params: { key: 'big', value: 'x'.repeat(2 * 1024 * 1024) } })).status, 413, 'a body over 1 MiB: 413')
  const open = await createApi({ databases: [db] })
  await open.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => open.close())
  const openUrl = `http://127.0.0.1:${(open.server.address() as AddressInfo).port}/v1/databases/${db.pubkey.toString('hex')}/call`
  const res = await fetch(openUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'get', params: { key: 'k' } }) })
  t.is(res.status, 200, 'without a token configured, calls are open')
})

test('http api - Server-Sent Events: new entries, and the fraud proof of a tamper', async t => {
  const db = await createDb(t, contract('counter'))
  const app = await createApi({ databases: [db] })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/databases/${db.pubkey.toString('hex')}`
  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const res = await fetch(base + '/events', { signal: controller.signal })
  t.is(res.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  let text = ''
  const until = async (re: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const m = re.exec(text)
      if (m !== null) return m
      const { value, done } = await reader.read()
      if (done) throw new Error('the stream ended: ' + text)
      text += Buffer.from(value).toString('utf8')
    }
  }
  await until(/event: hello\n/)
  await (await db.call('increment', {})).whenProcessed()
  await until(/event: entries\ndata: \{"length":\d+\}/)
  t.pass('an entries event when the index grew')
  await until(/event: verified\n/)
  t.is((await (await fetch(base + '/verification')).json()).violation, null, 'no violation yet')
  const tampered = performance.now()
  await db.index.dangerousBatch([{ type: 'put', path: '/counter', value: 1000 }])
  const m = await until(/event: violation\ndata: (.*)\n/)
  // the issue asks for under a second; a figure, not an assertion (a loaded machine must not fail the suite)
  t.comment(`violation event ${(performance.now() - tampered).toFixed(0)} ms after the tamper`)
  const proof = JSON.parse(m[1]) as { details: { code: string } }
  t.is(proof.details.code, 'UNPROMPTED_CHANGE', 'the tamper arrives as a violation event carrying the fraud proof')
  const { verifyFraudProof } = await import('../src/index.js')
  t.is((await verifyFraudProof(proof)).code, 'UNPROMPTED_CHANGE', 'which checks offline')
  const state = await (await fetch(base + '/verification')).json() as { violation: { details: { code: string } } | null }
  t.is(state.violation?.details.code, 'UNPROMPTED_CHANGE', 'GET …/verification reports it')
  const list = await (await fetch(base + '/fraud-proofs')).json() as { fraudProofs: Array<{ n: number, code: string }> }
  t.alike(list.fraudProofs.map(f => [f.n, f.code]), [[0, 'UNPROMPTED_CHANGE']], 'GET …/fraud-proofs lists it')
  const download = await fetch(base + '/fraud-proofs/0')
  t.ok(/attachment; filename="fraud-proof-[0-9a-f]{8}-0\.json"/.test(download.headers.get('content-disposition') ?? ''), 'as a file to download')
  t.is((await verifyFraudProof(await download.json())).code, 'UNPROMPTED_CHANGE', 'the download checks offline')
  t.is((await fetch(base + '/fraud-proofs/7')).status, 404, 'an unknown one: 404')
})

test('http api - /metrics in Prometheus text format', async t => {
  const db = await createDb(t, contract('counter'))
  const app = await createApi({ databases: [db] })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  for (let i = 0; i < 3; i++) await (await db.call('increment', {})).whenProcessed()
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/metrics`
  const res = await fetch(url)
  t.ok((res.headers.get('content-type') ?? '').startsWith('text/plain'), 'text/plain')
  const text = await res.text()
  const key = db.pubkey.toString('hex')
  const value = (name: string): number => Number((new RegExp(`^${name}\\{database="${key}"\\} (\\S+)$`, 'm').exec(text) ?? [])[1])
  t.is(value('vitra_ops_executed_total'), 3, 'ops executed')
  t.is(value('vitra_index_length'), db.index.length, 'index length')
  t.ok(value('vitra_batch_seconds_count') >= 1, 'batch latency observed')
  t.ok(Number.isFinite(value('vitra_monitor_lag_entries')) && Number.isFinite(value('vitra_verified_length')), 'monitor figures')
  t.is(value('vitra_peers'), 0, 'no peers (not on the swarm)')
  t.is(value('vitra_violations_total'), 0, 'no violation')
})

test('http api - a contract method that loops, and a client that sends too slowly, fail alone', async t => {
  const source = `export function loop () { for (;;) {} }
export async function put (p, emit) { emit({ op: 'PUT', value: p.value }) }
export const apply = { async PUT (tx, op) { tx.put('/v', op.value) } }`
  const db = await createDb(t, source, { limits: { timeoutMs: 100 } })
  const app = await createApi({ databases: [db], requestTimeoutMs: 400 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const port = (app.server.address() as AddressInfo).port
  const base = `http://127.0.0.1:${port}/v1/databases/${db.pubkey.toString('hex')}`
  const call = async (body: unknown): Promise<{ status: number, body: any }> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await fetch(base + '/call', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }
  const [looped, fine] = await Promise.all([call({ method: 'loop' }), call({ method: 'put', params: { value: 7 } })])
  t.is(looped.status, 422)
  t.is(looped.body.error.code, 'CONTRACT_TIMEOUT', 'a looping method: 422 CONTRACT_TIMEOUT')
  t.is(fine.body.results[0].success, true, 'a call beside it succeeds')
  // a client that opens a request and never finishes it is answered 408 and dropped
  const { connect } = await import('net')
  const socket = connect(port, '127.0.0.1')
  socket.write(`POST /v1/databases/${db.pubkey.toString('hex')}/call HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"meth`)
  let answer = ''
  socket.on('data', d => { answer += String(d) })
  await new Promise<void>(resolve => socket.on('close', () => resolve()))
  t.ok(/^HTTP\/1\.1 408/.test(answer), `the slow request is answered 408 and closed (${answer.split('\r\n')[0]})`)
  const entry = await (await fetch(`${base}/entry?path=/v`)).json() as { entry: { value: number } }
  t.is(entry.entry.value, 7, 'and the host serves on')
})

test('http api - SQL: GET and POST …/query, row proofs that check offline, writes refused, a runaway query stopped while the host serves', async t => {
  const { url, key } = await served(t)
  const base = `${url}/v1/databases/${key}`
  const post = async (body: unknown): Promise<{ status: number, body: any }> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await fetch(base + '/query', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }
  const state = await post({ sql: "SELECT path, value, seq FROM state WHERE path LIKE '/values/%' ORDER BY path", proofs: true })
  t.is(state.status, 200)
  t.alike(state.body.rows.map((r: { path: string }) => r.path), ['/values/a', '/values/b/c', '/values/d'], 'POST …/query: the rows')
  t.ok(state.body.at >= 1, 'with the index length the answer reflects')
  const { verifyQueryRowProofs } = await import('../src/proofs/index.js')
  t.is(verifyQueryRowProofs(state.body, { key }).proven, 3, 'each row proven offline with the key alone')
  const byGet = await get(`${base}/query?sql=${encodeURIComponent('SELECT value FROM state WHERE path = ?')}&params=${encodeURIComponent('["/values/a"]')}`)
  t.alike(byGet.body.rows, [{ value: '1' }], 'GET …/query?sql=&params=')
  t.is((await post({ sql: 'DELETE FROM state' })).body.error.code, 'SQL_NOT_READ_ONLY', 'a write: refused')
  t.is((await post({ sql: 'SELECT FROM' })).status, 400, 'bad SQL: 400 SQL_ERROR')
  t.is((await post({ sql: 'SELECT 1', timeoutMs: 0 })).status, 400, 'a bad time limit: 400')
  const runaway = post({ sql: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c', timeoutMs: 300 })
  t.is((await get(`${base}/entry?path=/values/a`)).status, 200, 'other requests are served meanwhile')
  const stopped = await runaway
  t.is(stopped.status, 422)
  t.is(stopped.body.error.code, 'QUERY_TIMEOUT', 'the runaway query: 422 QUERY_TIMEOUT')
  t.is((await post({ sql: 'SELECT count(*) AS n FROM history' })).status, 200, 'and the next query runs')
})
