// "Verified in your browser": every op, ack and write on a page carries a mark that
// starts pending and turns valid or invalid once this page has checked the block's
// inclusion proof against the database key (or the oplog key) with vitra/proofs, and
// compared the proven block with what the row shows. The host is not trusted: a row
// whose proof is missing, does not check, or proves something else is INVALID.
import * as proofs from './vitra-proofs.js'

const STATES = {
  pending: ['…', 'checking the proof in your browser'],
  valid: ['✓', 'verified in your browser'],
  invalid: ['✗', 'INVALID: the proof does not check out']
}

/** A new mark element (pending). */
export function mark (what) {
  const el = document.createElement('span')
  el.className = 'mark'
  el.dataset.what = what
  setMark(el, 'pending')
  return el
}

export function setMark (el, state, reason) {
  el.dataset.state = state
  const [sym, text] = STATES[state]
  el.textContent = `${sym} ${state === 'valid' ? 'verified' : state === 'invalid' ? 'INVALID' : 'checking'}`
  el.title = reason === undefined ? `${el.dataset.what}: ${text}` : `${el.dataset.what}: ${text} (${reason})`
  el.setAttribute('aria-label', el.title)
  if (state === 'invalid') document.body.classList.add('has-invalid')
}

/** Runs `check` (which throws when the proof fails) on a later tick and sets the mark. */
export function settle (el, check) {
  setTimeout(() => {
    try {
      check()
      setMark(el, 'valid')
    } catch (err) {
      setMark(el, 'invalid', err && err.message ? err.message : String(err))
    }
  }, 0)
}

/** Canonical JSON for comparing a shown value with a proven one. */
function same (a, b) {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))
}
function canonical (v) {
  if (Array.isArray(v)) return v.map(canonical)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map(k => [k, canonical(v[k])]))
  return v
}

/** Checks an index entry row `{ seq, type, path, value, proof }` of database `key`. */
export function checkEntry (el, key, entry) {
  settle(el, () => {
    if (entry.proof === undefined || entry.proof === null) throw new Error('the host sent no proof')
    const p = proofs.verifyIndexEntryProof(entry.proof, { key, seq: entry.seq })
    if (p.type !== entry.type || p.path !== entry.path || !same(p.value, entry.value)) throw new Error(`the proven entry is ${p.type} ${p.path}, not what the row shows`)
  })
}

/** Checks an op row `{ seq, value, proof }` of oplog `oplog`. */
export function checkOp (el, oplog, op) {
  settle(el, () => {
    if (op.proof === undefined || op.proof === null) throw new Error('the host sent no proof')
    const p = proofs.verifyOpProof(op.proof, { oplog, seq: op.seq })
    if (!same(p.value, op.value)) throw new Error('the proven op is not what the row shows')
  })
}

/** Checks a whole transaction (ops, acks, writes) and sets one mark per op and result. */
export function checkTransaction (els, key, tx) {
  settle(els.all, () => {
    proofs.verifyTransactionProofs({ database: key, ops: tx.ops, results: tx.results })
  })
}

export const primitives = () => proofs.primitives().name
