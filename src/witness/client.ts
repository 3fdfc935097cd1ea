/**
 * The host's side of a witness: the request for a checkpoint of a log it holds, made
 * from its own tree (src/proofs/witness/add-checkpoint.ts), and one round trip to a
 * witness over HTTP.
 */
import type Hypercore from 'hypercore'
import { errors } from '../errors/errors.js'
import { formatAddCheckpoint } from '../proofs/witness/add-checkpoint.js'
import { checkpointNote } from '../proofs/witness/checkpoint.js'
import type { SignedHead } from '../proofs/log/signed-head.js'
import { coreManifest, createConsistencyProof } from '../logs/proof-builders.js'

/** The body of POST /add-checkpoint for `head` of `core`, from the size the witness holds. */
export async function checkpointRequest (core: Hypercore, head: SignedHead, old: number): Promise<string> {
  if (!Number.isSafeInteger(old) || old < 0 || old > head.length) throw errors.INVALID_ARGUMENT(`The witness holds size ${old}; this head has ${head.length} blocks`)
  const checkpoint = checkpointNote(head, coreManifest(core))
  if (old === 0 || old === head.length) return formatAddCheckpoint({ old, nodes: [], checkpoint })
  const p = await createConsistencyProof(core, old, { head })
  const nodes = [...p.from.roots, ...p.nodes].map(n => ({ size: n.size, hash: Buffer.from(n.hash, 'hex') }))
  return formatAddCheckpoint({ old, nodes, checkpoint })
}

/** A witness's answer to POST /add-checkpoint. */
export interface WitnessReply { status: number, type: string, body: string }

/** Sends a request to the witness at `url` (its base URL). Rejects on network failure or timeout. */
export async function postCheckpoint (url: string, body: string, timeoutMs = 10_000): Promise<WitnessReply> {
  const res = await fetch(new URL('/add-checkpoint', url), {
    method: 'POST',
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body,
    signal: AbortSignal.timeout(timeoutMs)
  })
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
}
