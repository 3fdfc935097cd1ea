/**
 * A reader's side of witnessing (whitepaper/witness.md §6): gather the checkpoints the
 * policy's witnesses (and any hosts) hold for a database, merge the cosignatures of
 * identical checkpoints, keep the longest one a quorum cosigned, and check a local index
 * against it. A local index whose tree at the witnessed length differs from the
 * witnessed one is a fork: the proof is the witnessed head and the local one.
 */
import type Hypercore from 'hypercore'
import { captureSignedHead, createConsistencyProof } from '../logs/proof-builders.js'
import { LogForkFraudProof } from '../proofs/fraud/log-fork-proof.js'
import { parseCheckpoint } from '../proofs/witness/checkpoint.js'
import { formatNote, parseNote, type Note, type NoteSignature } from '../proofs/witness/note.js'
import { verifyWitnessedCheckpoint, type WitnessedCheckpoint, type WitnessPolicy } from '../proofs/witness/policy.js'

/** A witnessed checkpoint found for a database: its note (with every cosignature gathered) and what it proves. */
export interface FoundCheckpoint {
  note: string
  checked: WitnessedCheckpoint
}

/** What gathering found: the best witnessed checkpoint (or null) and the sources that failed. */
export interface GatherResult {
  best: FoundCheckpoint | null
  failures: Array<{ source: string, error: string }>
}

/**
 * Asks every witness of the policy with a URL (`GET /logs/<key>`) and every host in
 * `opts.hosts` (`GET /v1/databases/<key>/checkpoint`) for the checkpoint it holds.
 * Checkpoints with the same text pool their signature lines; the longest that a quorum
 * cosigned is the answer, each checked under the policy in force at its length
 * (`opts.policyAt`, when the reader holds the index that far) or else `policy`.
 */
export async function gatherWitnessedCheckpoint (keyHex: string, policy: WitnessPolicy, opts: { hosts?: string[], timeoutMs?: number, policyAt?: (length: number) => Promise<WitnessPolicy | null> } = {}): Promise<GatherResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const failures: GatherResult['failures'] = []
  const ask = async (source: string, url: URL, read: (res: Response) => Promise<string>): Promise<string | null> => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
      if (!res.ok) { failures.push({ source, error: `HTTP ${res.status}` }); return null }
      return await read(res)
    } catch (err) {
      failures.push({ source, error: (err as Error).message })
      return null
    }
  }
  const notes = await Promise.all([
    ...policy.witnesses.filter(w => w.url !== null).map(async w => await ask(w.name, new URL(`/logs/${keyHex}`, w.url as string), async res => await res.text())),
    ...(opts.hosts ?? []).map(async h => await ask(h, new URL(`/v1/databases/${keyHex}/checkpoint`, h), async res => String(((await res.json()) as { checkpoint?: unknown }).checkpoint ?? '')))
  ])
  // Pool the signature lines of identical checkpoint texts.
  const byBody = new Map<string, NoteSignature[]>()
  for (const note of notes) {
    if (note === null) continue
    let parsed: Note
    try { parsed = parseNote(note) } catch { continue }
    const lines = byBody.get(parsed.body) ?? []
    for (const sig of parsed.signatures) {
      if (!lines.some(l => l.name === sig.name && l.keyId.equals(sig.keyId) && l.bytes.equals(sig.bytes))) lines.push(sig)
    }
    byBody.set(parsed.body, lines)
  }
  let best: FoundCheckpoint | null = null
  for (const [body, signatures] of byBody) {
    const note = formatNote({ body, signatures })
    try {
      // the policy in force at the checkpoint's length, when the reader can tell (it may have changed since)
      const at = opts.policyAt === undefined ? null : await opts.policyAt(parseCheckpoint(note).head.length)
      const checked = verifyWitnessedCheckpoint(note, at ?? policy, { key: keyHex })
      if (best === null || checked.head.length > best.checked.head.length) best = { note, checked }
    } catch (err) {
      failures.push({ source: `checkpoint at ${safeLength(note)}`, error: (err as Error).message })
    }
  }
  return { best, failures }
}

function safeLength (note: string): string {
  try { return String(parseCheckpoint(note).head.length) } catch { return '?' }
}

/**
 * Checks a local index against a witnessed checkpoint: 'agrees' when its tree at the
 * checkpoint's length is the witnessed one, 'behind' when it is shorter (nothing to
 * compare yet), or the fork proof when it differs.
 */
export async function checkAgainstCheckpoint (core: Hypercore, witnessed: WitnessedCheckpoint): Promise<{ status: 'agrees' | 'behind' } | { status: 'fork', proof: LogForkFraudProof }> {
  const at = witnessed.head.length
  if (core.length < at) return { status: 'behind' }
  const local = (await core.treeHash(at)).toString('hex')
  if (local === witnessed.head.treeHash) return { status: 'agrees' }
  const head = await captureSignedHead(core)
  if (head.length === at) return { status: 'fork', proof: LogForkFraudProof.fromHeads(witnessed.head, head, witnessed.manifest) }
  const p = await createConsistencyProof(core, at, { head })
  return { status: 'fork', proof: LogForkFraudProof.fromHeads(witnessed.head, head, witnessed.manifest, { roots: p.from.roots, nodes: p.nodes }) }
}

/** What a reader's witness check found: the gathering, and the local index against its best checkpoint (null: none). */
export interface WitnessCheck extends GatherResult {
  check: Awaited<ReturnType<typeof checkAgainstCheckpoint>> | null
}

/**
 * Gathers the witnessed checkpoint of the index `core` holds and compares the index with
 * it: what `vitra verify` does once and a monitor's WitnessWatch at each interval.
 */
export async function checkWithWitnesses (core: Hypercore, policy: WitnessPolicy, opts: Parameters<typeof gatherWitnessedCheckpoint>[2] = {}): Promise<WitnessCheck> {
  const found = await gatherWitnessedCheckpoint(core.key.toString('hex'), policy, opts)
  return { ...found, check: found.best === null ? null : await checkAgainstCheckpoint(core, found.best.checked) }
}
