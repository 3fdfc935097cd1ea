// The explorer: a page over the /v1 API of `vitra serve` that checks every proof it
// shows in the browser (marks.js, with the vitra/proofs browser build). Plain modules,
// no framework; hash routes:
//   #/                         the databases served (one: straight to it)
//   #/db/KEY                   database: keys, contract source, participants, lengths,
//                              verification, fraud proofs, the call form
//   #/db/KEY/history[/PAGE]    the index, newest first, acks with their writes
//   #/db/KEY/oplog/OPLOG[/START]   a participant's ops, each with its ack
//   #/db/KEY/tx/ID             one transaction: ops, acks, writes, all proven
import { highlight } from './highlight.js'
import { checkEntry, checkOp, mark, settle, primitives } from './marks.js'
import * as proofs from './vitra-proofs.js'

const PAGE = 50
const app = document.getElementById('app')
const alerts = document.getElementById('alerts')
const live = document.getElementById('live')
let events = null // the EventSource of the database shown
let eventsKey = null
let onEntries = () => {}

const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') el.className = v
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? '' : v)
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return el
}
const short = key => `${key.slice(0, 8)}…${key.slice(-4)}`
const compact = v => { const s = JSON.stringify(v); return s === undefined ? '' : s.length > 160 ? s.slice(0, 159) + '…' : s }

async function api (path, init) {
  const res = await fetch(path, init)
  const body = await res.json().catch(() => null)
  if (!res.ok) {
    const err = new Error(body && body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`)
    err.code = body && body.error ? body.error.code : 'HTTP_' + res.status
    throw err
  }
  return body
}

/** Replace the page's content; focus its heading (for screen readers and the keyboard) unless this is a live refresh. */
function show (...children) {
  app.replaceChildren(...children.filter(c => c !== null && c !== undefined)) // a section left out is not the text "null"
  if (refreshing) return
  const first = app.querySelector('h1, h2')
  if (first) { first.tabIndex = -1; first.focus({ preventScroll: true }) }
}
let refreshing = false

function failure (err) {
  show(h('h1', {}, 'Could not load this page'), h('p', { class: 'error' }, err.message))
}

// ---------------------------------------------------------------- live events

function follow (key) {
  if (eventsKey === key) return
  if (events !== null) events.close()
  eventsKey = key
  events = new EventSource(`/v1/databases/${key}/events`)
  live.textContent = 'connecting…'
  events.addEventListener('hello', () => { live.textContent = '● live' ; live.dataset.state = 'on' })
  events.addEventListener('entries', e => {
    const { length } = JSON.parse(e.data)
    for (const el of document.querySelectorAll('[data-index-length]')) el.textContent = String(length)
    onEntries(length)
  })
  events.addEventListener('verified', e => {
    const { length } = JSON.parse(e.data)
    for (const el of document.querySelectorAll('[data-verified-length]')) el.textContent = String(length)
  })
  events.addEventListener('violation', e => fraudAlert(key, JSON.parse(e.data)))
  events.onerror = () => { live.textContent = '○ reconnecting'; live.dataset.state = 'off' }
}

/** The fraud alert: a banner at the top of every page, with the proof to download; one per database (the page load and the live event may both report it). */
const alerted = new Set()
async function fraudAlert (key, proof) {
  if (alerted.has(key)) return
  alerted.add(key)
  let n = 0
  try {
    const list = await api(`/v1/databases/${key}/fraud-proofs`)
    const found = list.fraudProofs.find(f => f.code === (proof.details && proof.details.code))
    if (found) n = found.n
  } catch {}
  // the alert shows only what the browser checked: the proof's own description is a claim anyone can edit
  let envelope = 'not checked'
  let statement = 'the proof\'s envelope does not check here, so nothing of it is shown'
  try {
    const v = proofs.checkFraudProofEnvelope(proof)
    envelope = 'its envelope checks in your browser'
    statement = (v.selfEvident ? `${v.code}: ` : '') + proofs.fraudStatement(v.code, v.proven, v.selfEvident)
  } catch (err) { envelope = `its envelope does not check: ${err.message}` }
  alerts.append(h('section', { class: 'fraud', role: 'alert', 'data-fraud': key },
    h('h2', {}, '⚠ FRAUD DETECTED'),
    h('p', {}, `The monitor of this host found that the executor of database ${short(key)} broke its contract. ${statement}.`),
    h('p', {}, `The fraud proof names the evidence; anyone can check it with the public keys alone (${envelope}).`),
    h('p', {}, h('a', { class: 'button', href: `/v1/databases/${key}/fraud-proofs/${n}`, download: `fraud-proof-${key.slice(0, 8)}-${n}.json` }, 'Download the fraud proof'))))
  document.body.classList.add('has-fraud')
}

// ---------------------------------------------------------------- pages

async function home () {
  const { databases } = await api('/v1/databases')
  if (databases.length === 1) { location.replace(`#/db/${databases[0].key}`); return }
  show(h('h1', {}, 'Databases on this host'),
    h('ul', { class: 'plain' }, databases.map(d => h('li', {}, h('a', { href: `#/db/${d.key}` }, d.key), ` — ${d.isExecutor ? 'executor' : d.isParticipant ? 'participant' : 'reader'}, index length ${d.length}`))))
}

function nav (key, here) {
  const link = (href, text, name) => h('a', { href, 'aria-current': here === name ? 'page' : null }, text)
  return h('nav', { class: 'tabs', 'aria-label': 'database' }, link(`#/db/${key}`, 'Database', 'db'), link(`#/db/${key}/history`, 'History', 'history'))
}

async function databasePage (key) {
  follow(key)
  const [info, frauds] = await Promise.all([api(`/v1/databases/${key}`), api(`/v1/databases/${key}/fraud-proofs`)])
  const v = info.verification
  const role = [info.isExecutor && 'executor', info.isParticipant && 'participant'].filter(Boolean).join(' + ') || 'reader'
  const participants = h('tbody', { 'data-participants': '' }, participantRows(key, info.participants))
  // new index entries (a call through the form, or anyone's) change the participants' lengths: follow them
  const witnessed = h('span', { 'data-witnessed': 'pending' }, 'checking…')
  void checkWitnessed(witnessed, key, info)
  onEntries = () => liveRefresh(async () => {
    const now = await api(`/v1/databases/${key}`)
    participants.replaceChildren(...participantRows(key, now.participants))
    await checkWitnessed(witnessed, key, now)
  })
  show(
    nav(key, 'db'),
    h('h1', {}, 'Database'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'key'), h('dd', { class: 'key' }, info.key),
      h('dt', {}, 'this host'), h('dd', {}, role),
      h('dt', {}, 'index length'), h('dd', {}, h('span', { 'data-index-length': '' }, info.length)),
      h('dt', {}, 'witnessed'), h('dd', {}, witnessed),
      h('dt', {}, 'verified by the host\'s monitor'), h('dd', {}, v === null ? 'no monitor' : h('span', { 'data-verified-length': '' }, v.verifiedLength), v && v.violation ? h('strong', { class: 'bad' }, ' — violation found') : ''),
      h('dt', {}, 'largest op'), h('dd', {}, `${info.maxOpBytes} bytes`),
      h('dt', {}, 'peers'), h('dd', {}, info.peers),
      h('dt', {}, 'proof checks'), h('dd', {}, `in this browser (${primitives()} primitives)`)),
    h('h2', {}, 'Participants'),
    h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'oplog'), h('th', {}, 'status'), h('th', {}, 'length'), h('th', {}, 'executed'))),
      participants),
    frauds.fraudProofs.length === 0 ? null : h('section', {}, h('h2', {}, 'Fraud proofs'),
      h('ul', {}, frauds.fraudProofs.map(f => h('li', {}, h('a', { href: `/v1/databases/${key}/fraud-proofs/${f.n}`, download: '' }, `#${f.n} ${f.code}`), ` found ${new Date(f.foundAt).toLocaleString()}`)))),
    callForm(key, info.methods),
    h('h2', {}, 'Contract'),
    info.contract === null ? h('p', {}, '(no contract source in the index)') : codeBlock(info.contract))
  if (v && v.violation) void fraudAlert(key, v.violation)
}

/**
 * Whether the history the host shows is the one the database's witnesses cosigned,
 * checked here: the policy from the index (its read proof against the database key, not
 * the host's word), then the host's latest checkpoint under that policy. Green with
 * "cosigned by k of M"; red when there is no checkpoint with the quorum.
 */
async function checkWitnessed (el, key, { witnessPolicy, length }) {
  const set = (state, text) => { el.dataset.witnessed = state; el.className = state === 'valid' ? 'ok' : state === 'invalid' ? 'bad' : ''; el.textContent = text }
  if (witnessPolicy === null || witnessPolicy === undefined) { set('none', 'no witness policy: nobody cosigns this database\'s checkpoints'); return }
  try {
    const read = await proofs.verifyIndexReadProof(witnessPolicy.proof, { key })
    const got = read.results[0]
    if (got === undefined || got.value === null) throw new Error('the index holds no witness policy')
    const policy = JSON.parse(got.value.toString())
    let cp
    try { cp = await api(`/v1/databases/${key}/checkpoint`) } catch (err) { set('invalid', `✗ not witnessed: ${err.message}`); return }
    const v = proofs.verifyWitnessedCheckpoint(cp.checkpoint, policy, { key })
    const behind = cp.length < length ? ' (newer entries not witnessed yet)' : ''
    set('valid', `✓ cosigned by ${v.cosigned.length} of ${v.witnesses} witnesses (quorum ${v.quorum}) at index length ${v.head.length}${behind}: ${v.cosigned.map(c => c.name).join(', ')}`)
  } catch (err) {
    set('invalid', `✗ not witnessed: ${err && err.message ? err.message : String(err)}`)
  }
}

function participantRows (key, participants) {
  return participants.map(p => h('tr', {},
    h('td', {}, h('a', { href: `#/db/${key}/oplog/${p.pubkey}`, class: 'key' }, short(p.pubkey))),
    h('td', {}, p.active ? 'active' : 'removed'), h('td', {}, p.length ?? '?'), h('td', {}, p.processed)))
}

function codeBlock (source) {
  const pre = h('pre', { class: 'code', tabindex: '0', 'aria-label': 'contract source' })
  pre.innerHTML = highlight(source) // highlight() escapes every character of the source
  return pre
}

function callForm (key, methods) {
  const out = h('div', { class: 'call-result', 'aria-live': 'polite' })
  const token = h('input', { id: 'call-token', type: 'password', autocomplete: 'off', value: sessionStorage.getItem('vitra-token') || '', placeholder: 'contents of http-token (empty with --no-auth)' })
  const method = h('select', { id: 'call-method' }, methods.map(m => h('option', { value: m }, m)))
  const params = h('textarea', { id: 'call-params', rows: '3', spellcheck: 'false' }, '{}')
  const submit = h('button', { type: 'submit' }, 'Call')
  const form = h('form', {
    class: 'call',
    async onsubmit (e) {
      e.preventDefault()
      let body
      try { body = { method: method.value, params: JSON.parse(params.value || '{}') } } catch (err) { out.replaceChildren(h('p', { class: 'error' }, `params are not JSON: ${err.message}`)); return }
      sessionStorage.setItem('vitra-token', token.value)
      submit.disabled = true
      out.replaceChildren(h('p', {}, 'calling…'))
      try {
        const headers = { 'content-type': 'application/json' }
        if (token.value.trim() !== '') headers.authorization = `Bearer ${token.value.trim()}`
        const r = await api(`/v1/databases/${key}/call`, { method: 'POST', headers, body: JSON.stringify(body) })
        const results = r.results || []
        out.replaceChildren(
          h('p', { class: 'ok' }, `response: ${compact(r.transaction.response)}`),
          r.id === null ? h('p', {}, 'no ops (a read)') : h('p', {}, `${r.transaction.ops.length} op(s), ${results.filter(x => x && x.success).length} executed ok — `, h('a', { href: `#/db/${key}/tx/${r.id}` }, `transaction ${r.id.slice(0, 8)}…-${r.id.split('-').slice(1).join('-')}`)))
      } catch (err) {
        out.replaceChildren(h('p', { class: 'error' }, err.code === 'UNAUTHORIZED' ? 'The host refused the token (401). Calls need the token in the served directory\'s http-token file.' : err.message))
      } finally {
        submit.disabled = false
      }
    }
  },
  h('h2', {}, 'Call a method'),
  h('p', { class: 'hint' }, 'Reading needs nothing; calling needs the host\'s bearer token.'),
  h('label', { for: 'call-token' }, 'token'), token,
  h('label', { for: 'call-method' }, 'method'), method,
  h('label', { for: 'call-params' }, 'params (JSON)'), params,
  submit, out)
  return form
}

/** Index entries newest first, acks with their writes; each entry's proof checked here. */
async function historyPage (key, page) {
  follow(key)
  const info = await api(`/v1/databases/${key}`)
  const length = info.length
  const end = Math.max(1, length - page * PAGE)
  const start = Math.max(1, end - PAGE)
  const { entries } = end > start ? await api(`/v1/databases/${key}/history?start=${start}&limit=${end - start}&proof=true`) : { entries: [] }
  const rows = []
  // newest first; an ack groups the writes that follow it
  const groups = []
  for (const e of entries) {
    const ack = e.path.startsWith('/.sys/acks/') && e.path !== '/.sys/acks/genesis' && e.value && typeof e.value === 'object'
    if (ack || groups.length === 0) groups.push({ ack: ack ? e : null, items: ack ? [] : [e] })
    else groups[groups.length - 1].items.push(e)
  }
  for (const g of groups.reverse()) {
    const writes = h('ul', { class: 'writes' }, g.items.map(e => {
      const m = mark(`index entry ${e.seq}`)
      checkEntry(m, key, e)
      return h('li', { 'data-seq': e.seq }, m, ' ', h('span', { class: 'seq' }, `#${e.seq}`), ` ${e.type} `, h('code', {}, e.path), e.type === 'put' ? ` = ${compact(e.value)}` : '')
    }))
    if (g.ack === null) { rows.push(h('li', { class: 'group' }, writes)); continue }
    const a = g.ack.value
    const m = mark(`ack ${g.ack.seq}`)
    checkEntry(m, key, g.ack)
    rows.push(h('li', { class: `group ${a.success ? '' : 'failed'}`, 'data-seq': g.ack.seq },
      h('div', { class: 'ack' }, m, ' ', h('span', { class: 'seq' }, `#${g.ack.seq}`), ' ack of ',
        h('a', { href: `#/db/${key}/oplog/${a.origin}/${Math.max(0, a.seq - 5)}` }, `${short(a.origin)}/${a.seq}`), ' ',
        a.success ? h('span', { class: 'ok' }, 'ok') : h('span', { class: 'bad' }, `failed: ${a.errorCode || a.error || ''}`),
        ` — ${a.numChanges} write(s) `, h('a', { href: `#/db/${key}/tx/${a.origin}-${a.seq}-1` }, 'transaction')),
      writes))
  }
  const pages = Math.max(1, Math.ceil((length - 1) / PAGE))
  show(nav(key, 'history'),
    h('h1', {}, 'History'),
    h('p', {}, 'Index length ', h('span', { 'data-index-length': '' }, length), `; entries ${start}–${end - 1}, newest first. Every mark is a proof checked in this browser against the database key.`),
    h('ol', { class: 'history', reversed: true }, rows),
    pager(page, pages, p => `#/db/${key}/history/${p}`))
  // the newest page follows the index live: new entries appear (and are proven) without a reload
  if (page === 0) onEntries = n => { if (n > length) liveRefresh(() => historyPage(key, 0)) }
}

/** Re-render the current page for new data, at most every 500 ms, without moving the focus. */
let refreshTimer = null
function liveRefresh (render) {
  if (refreshTimer !== null) return
  refreshTimer = setTimeout(async () => {
    const at = location.hash
    refreshing = true
    try { if (location.hash === at) await render() } catch (err) { console.warn(err) } finally { refreshing = false; refreshTimer = null }
  }, 500)
}

function pager (page, pages, href) {
  return h('nav', { class: 'pager', 'aria-label': 'pages' },
    page > 0 ? h('a', { href: href(page - 1), rel: 'prev' }, '← newer') : h('span', {}, '← newer'),
    h('span', {}, ` page ${page + 1} of ${pages} `),
    page + 1 < pages ? h('a', { href: href(page + 1), rel: 'next' }, 'older →') : h('span', {}, 'older →'))
}

async function oplogPage (key, oplog, start) {
  follow(key)
  const page = await api(`/v1/databases/${key}/oplogs/${oplog}?start=${start}&limit=${PAGE}&proof=true`)
  show(nav(key, 'oplog'),
    h('h1', {}, 'Oplog'),
    h('p', { class: 'key' }, oplog),
    h('p', {}, `${page.active ? 'active participant' : 'not an active participant'}; ${page.length} op(s); showing ${start}–${start + page.ops.length - 1}.`),
    h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'proof'), h('th', {}, 'seq'), h('th', {}, 'op'), h('th', {}, 'executed'))),
      h('tbody', {}, page.ops.map(op => {
        const m = mark(`op ${op.seq}`)
        checkOp(m, oplog, op)
        return h('tr', { 'data-seq': op.seq }, h('td', {}, m), h('td', {}, op.seq), h('td', {}, h('code', {}, compact(op.value))),
          h('td', {}, op.ack === null ? 'pending' : h('a', { href: `#/db/${key}/tx/${oplog}-${op.seq}-1` }, op.ack.success ? `ok (index #${op.ack.seq})` : `failed: ${op.ack.error} (index #${op.ack.seq})`)))
      }))),
    h('nav', { class: 'pager' },
      start > 0 ? h('a', { href: `#/db/${key}/oplog/${oplog}/${Math.max(0, start - PAGE)}` }, '← earlier') : null, ' ',
      page.next !== null ? h('a', { href: `#/db/${key}/oplog/${oplog}/${page.next}` }, 'later →') : null))
}

async function txPage (key, id) {
  follow(key)
  const tx = await api(`/v1/databases/${key}/transactions/${id}`)
  const whole = mark('the whole transaction')
  settle(whole, () => proofs.verifyTransactionProofs({ database: key, ops: tx.ops, results: tx.results }))
  show(nav(key, 'tx'),
    h('h1', {}, 'Transaction'),
    h('p', {}, whole, ' ', h('code', {}, id), tx.processed ? ' — executed' : ' — not executed yet'),
    h('ol', { class: 'tx' }, tx.ops.map((op, i) => {
      const r = tx.results[i]
      const om = mark(`op ${op.seq}`)
      checkOp(om, op.oplog, op)
      const parts = [h('div', {}, om, ` op ${short(op.oplog)}/${op.seq} `, h('code', {}, compact(op.value)))]
      if (r === null) parts.push(h('div', {}, 'not executed yet'))
      else {
        const am = mark(`ack ${r.ackSeq}`)
        settle(am, () => {
          const p = proofs.verifyIndexEntryProof(r.ackProof, { key, seq: r.ackSeq })
          const a = p.value
          if (a === null || a.origin !== op.oplog || a.seq !== op.seq || a.success !== r.success) throw new Error('the proven ack is not this op\'s')
        })
        parts.push(h('div', { class: r.success ? '' : 'failed' }, am, ` ack at index #${r.ackSeq}: `, r.success ? h('span', { class: 'ok' }, 'ok') : h('span', { class: 'bad' }, `failed: ${r.error || ''}`)))
        parts.push(h('ul', { class: 'writes' }, r.changes.map(c => {
          const wm = mark(`write ${c.seq}`)
          checkEntry(wm, key, c)
          return h('li', {}, wm, ` #${c.seq} ${c.type} `, h('code', {}, c.path), c.type === 'put' ? ` = ${compact(c.value)}` : '')
        })))
      }
      return h('li', {}, parts)
    })))
}

// ---------------------------------------------------------------- router

async function route () {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean)
  onEntries = () => {}
  try {
    if (parts.length === 0) return await home()
    const [kind, key, sub, a, b] = parts
    if (kind !== 'db' || !/^[0-9a-f]{64}$/.test(key)) return show(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Home')))
    if (sub === undefined) return await databasePage(key)
    if (sub === 'history') return await historyPage(key, Math.max(0, Number(a) || 0))
    if (sub === 'oplog' && /^[0-9a-f]{64}$/.test(a)) return await oplogPage(key, a, Math.max(0, Number(b) || 0))
    if (sub === 'tx' && a) return await txPage(key, a)
    show(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: `#/db/${key}` }, 'Back to the database')))
  } catch (err) {
    failure(err)
  }
}

window.addEventListener('hashchange', route)
void route()
