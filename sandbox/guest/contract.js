// @ts-check
/**
 * The guest module `contract`: what a contract sees of the database (the index, its caller, the oplogs).
 * Runs inside the contract's isolate; loaded as text by sandbox/guest-sources.ts.
 */
import { rt } from 'vitra:runtime'

/** Whether the caller may append ops (calls only; false in process and apply). */
export let isWriter = false
/** The caller's oplog ({ pubkey, getLength(), get(seq) }), or undefined (always undefined in process and apply). */
export let oplog
rt.onCaller((w, o) => { isWriter = w; oplog = rt.oplogOf(o) })
/** Read access to the index: get(path) gives an entry or undefined, list(path, { reverse, offset, limit }) a folder listing. */
export const index = Object.freeze({
  get: (path) => rt.indexGet(path),
  list: (path, opts) => rt.indexList(path, opts)
})
/** The active participants' oplogs: [{ pubkey, getLength(), get(seq) }]. */
export function listOplogs () { return rt.listOplogs() }
export default Object.freeze({
  index,
  get isWriter () { return isWriter },
  get oplog () { return oplog },
  listOplogs
})
