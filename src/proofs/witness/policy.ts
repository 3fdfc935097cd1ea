/**
 * Witness policies and witnessed checkpoints: which witnesses a database trusts and
 * how many of them must cosign a checkpoint (N of M) before a reader accepts its head
 * (whitepaper/witness.md §4). A policy in JSON:
 *
 *   { "version": 1, "quorum": 2, "witnesses": [ { "key": "<verifier key>", "url": "http://…" }, … ] }
 *
 * `url` (optional) is where a host submits checkpoints; readers use only the keys.
 * Pure: checking a witnessed checkpoint needs the policy and the checkpoint text alone.
 */
import { InvalidProofError } from '../../errors/errors.js'
import type { ManifestJSON, SignedHead } from '../log/signed-head.js'
import { parseMaybe, readObject, verifyConsistencyProof } from '../log/signed-head.js'
import { parseCheckpoint, verifyCheckpointHead } from './checkpoint.js'
import { checkCosignature, parseWitnessKey, type Cosigned, type WitnessKey } from './cosignature.js'

/** At most this many witnesses in a policy. */
export const MAX_WITNESSES = 32

export interface WitnessPolicyJSON {
  version: 1
  quorum: number
  witnesses: Array<{ key: string, url?: string }>
}

/** A policy, read: its witnesses' keys parsed. */
export interface WitnessPolicy {
  quorum: number
  witnesses: Array<WitnessKey & { url: string | null }>
}

/** What verifyWitnessedCheckpoint establishes. */
export interface WitnessedCheckpoint {
  /** The index head the checkpoint states, signed by the database key (its signature checked). */
  head: SignedHead
  manifest: ManifestJSON
  /** The policy's witnesses whose cosignatures checked, each once. */
  cosigned: Cosigned[]
  quorum: number
  witnesses: number
  /** The checkpoint's text, as cosigned. */
  body: string
}

function bad (message: string): InvalidProofError {
  return new InvalidProofError('malformed-policy', message)
}

/** Reads a policy (JSON text or object). Throws InvalidProofError: malformed-policy | malformed-witness-key. */
export function readWitnessPolicy (json: unknown): WitnessPolicy {
  const o = readObject(parseMaybe(json), 'policy', ['version', 'quorum', 'witnesses'])
  if (o.version !== 1) throw bad('policy.version must be 1')
  if (!Array.isArray(o.witnesses) || o.witnesses.length === 0 || o.witnesses.length > MAX_WITNESSES) throw bad(`policy.witnesses must list 1 to ${MAX_WITNESSES} witnesses`)
  const quorum = o.quorum
  if (typeof quorum !== 'number' || !Number.isSafeInteger(quorum) || quorum < 1 || quorum > o.witnesses.length) throw bad(`policy.quorum must be an integer from 1 to the number of witnesses (${o.witnesses.length})`)
  const witnesses = o.witnesses.map((w: unknown, i: number) => {
    const e = readObject(w, `policy.witnesses[${i}]`, ['key'], ['url'])
    if (e.url !== undefined && (typeof e.url !== 'string' || !/^https?:\/\/\S+$/.test(e.url))) throw bad(`policy.witnesses[${i}].url must be an http(s) URL`)
    return { ...parseWitnessKey(e.key), url: typeof e.url === 'string' ? e.url : null }
  })
  const names = new Set(witnesses.map(w => w.name))
  const keys = new Set(witnesses.map(w => w.publicKey.toString('hex')))
  if (names.size !== witnesses.length || keys.size !== witnesses.length) throw bad('policy.witnesses must name each witness and key once')
  return { quorum, witnesses }
}

/** A policy in its JSON form. */
export function witnessPolicyToJSON (p: WitnessPolicy): WitnessPolicyJSON {
  return { version: 1, quorum: p.quorum, witnesses: p.witnesses.map(w => w.url === null ? { key: w.vkey } : { key: w.vkey, url: w.url }) }
}

/**
 * Checks a witnessed checkpoint: its head is signed by the database key (and is for
 * `opts.key` when given), and at least `policy.quorum` distinct witnesses of the policy
 * cosigned its text. Signature lines of other keys are ignored, as C2SP says. Returns
 * the head and who cosigned when. Throws InvalidProofError: malformed-note |
 * malformed-checkpoint | the signed-head reasons | witness-quorum.
 */
export function verifyWitnessedCheckpoint (text: unknown, policyJson: WitnessPolicy | unknown, opts: { key?: Uint8Array | string } = {}): WitnessedCheckpoint {
  const policy = isReadPolicy(policyJson) ? policyJson : readWitnessPolicy(policyJson)
  const cp = parseCheckpoint(text)
  verifyCheckpointHead(cp, opts)
  const cosigned: Cosigned[] = []
  for (const w of policy.witnesses) {
    for (const sig of cp.cosignatures) {
      const timestamp = checkCosignature(cp.body, sig, w)
      if (timestamp !== null) { cosigned.push({ name: w.name, vkey: w.vkey, timestamp }); break }
    }
  }
  if (cosigned.length < policy.quorum) {
    throw new InvalidProofError('witness-quorum', `The checkpoint at length ${cp.head.length} is cosigned by ${cosigned.length} of the policy's ${policy.witnesses.length} witnesses; the policy needs ${policy.quorum}`)
  }
  return { head: cp.head, manifest: cp.manifest, cosigned, quorum: policy.quorum, witnesses: policy.witnesses.length, body: cp.body }
}

/**
 * Checks that a proof's signed head is covered by a witnessed checkpoint: it is the
 * checkpoint's head (same key, length and tree hash), or `consistency` (a consistency
 * proof from the head's length whose own head is the checkpoint's) shows the witnessed
 * tree extends it. A proof made at the checkpoint (the API's `witnessed=true`) needs no
 * consistency. Throws InvalidProofError: not-witnessed, and the consistency proof's reasons.
 */
export function verifyUnderCheckpoint (head: { key: string, length: number, treeHash: string }, witnessed: WitnessedCheckpoint, consistency?: unknown): { length: number } {
  const cp = witnessed.head
  if (head.key !== cp.key) throw new InvalidProofError('not-witnessed', 'The proof is for another log than the checkpoint')
  if (head.length > cp.length) throw new InvalidProofError('not-witnessed', `The proof's head (length ${head.length}) is beyond the witnessed checkpoint (length ${cp.length})`)
  if (head.length === cp.length) {
    if (head.treeHash !== cp.treeHash) throw new InvalidProofError('not-witnessed', 'The proof\'s head has the checkpoint\'s length and another tree: it is not the witnessed history')
    return { length: cp.length }
  }
  if (consistency === undefined || consistency === null) throw new InvalidProofError('not-witnessed', `The proof's head (length ${head.length}) is older than the checkpoint (length ${cp.length}): a consistency proof must show the checkpoint extends it`)
  const v = verifyConsistencyProof(consistency, { older: { length: head.length, treeHash: head.treeHash }, key: head.key })
  if (v.length !== cp.length || v.treeHash.toString('hex') !== cp.treeHash) throw new InvalidProofError('not-witnessed', 'The consistency proof does not end at the witnessed checkpoint')
  return { length: cp.length }
}

function isReadPolicy (p: unknown): p is WitnessPolicy {
  return p !== null && typeof p === 'object' && Array.isArray((p as WitnessPolicy).witnesses) && (p as WitnessPolicy).witnesses.every(w => Buffer.isBuffer((w as WitnessKey).publicKey))
}
