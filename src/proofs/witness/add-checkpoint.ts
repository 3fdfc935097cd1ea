/**
 * What a witness is asked and how it decides (c2sp.org/tlog-witness, adapted to
 * Hypercore's trees; whitepaper/witness.md §3). The body of `POST /add-checkpoint`:
 *
 *   old <size>                     the size of the checkpoint the witness last cosigned for this log
 *   <byte size> <base64 hash>      one line per consistency node: the roots of the tree at
 *   …                              `old`, then the nodes that extend them to the new size
 *                                  (extensionIndexes(old, new)); none when old is 0
 *   (blank line)
 *   <checkpoint note>
 *
 * Node indexes are not sent: they follow from the two sizes. A Hypercore parent hashes
 * its children's byte sizes, so the sizes are. Pure: decideCheckpoint is the whole rule.
 */
import { InvalidProofError } from '../../errors/errors.js'
import { extensionIndexes, fullRoots, type TreeNode } from '../crypto/hypercore-crypto.js'
import { LogForkFraudProof } from '../fraud/log-fork-proof.js'
import { extendTree, nodeToJSON, type SignedHead } from '../log/signed-head.js'
import { parseCheckpoint, verifyCheckpointHead, type Checkpoint } from './checkpoint.js'
import { readBase64 } from './note.js'

/** Consistency nodes in a request: at most 64 roots and 64 extension nodes. */
const MAX_NODES = 128

export interface AddCheckpointRequest {
  old: number
  /** The roots at `old`, then the extension nodes to the checkpoint's length, without their indexes. */
  nodes: Array<{ size: number, hash: Buffer }>
  checkpoint: string
}

/**
 * The witness's answer:
 * - cosign: the checkpoint extends (or equals) the last one cosigned; it becomes the state.
 * - stale: `old` is not the size of the last one cosigned (HTTP 409, the witness's size in the body).
 * - fork: the log signed a head that does not extend the last one cosigned (HTTP 409 with the
 *   proof): two signed heads, and the consistency nodes when their lengths differ.
 */
export type CheckpointDecision =
  | { kind: 'cosign', checkpoint: Checkpoint }
  | { kind: 'stale', size: number }
  | { kind: 'fork', proof: LogForkFraudProof }

function malformed (message: string): InvalidProofError {
  return new InvalidProofError('malformed-request', message)
}

/** The request body for a checkpoint, from the witness's last size and the consistency nodes. */
export function formatAddCheckpoint (req: AddCheckpointRequest): string {
  return `old ${req.old}\n` + req.nodes.map(n => `${n.size} ${n.hash.toString('base64')}\n`).join('') + '\n' + req.checkpoint
}

/** Reads a request body. Throws InvalidProofError('malformed-request'), or the note's reasons. */
export function parseAddCheckpoint (text: unknown): AddCheckpointRequest {
  if (typeof text !== 'string') throw malformed('The request body is text')
  const blank = text.indexOf('\n\n')
  if (blank === -1) throw malformed('The request has a blank line between the consistency proof and the checkpoint')
  const lines = text.slice(0, blank).split('\n')
  const first = /^old (0|[1-9][0-9]{0,15})$/.exec(lines[0] ?? '')
  if (first === null) throw malformed('The request starts with "old <size>"')
  if (lines.length - 1 > MAX_NODES) throw malformed(`A consistency proof has at most ${MAX_NODES} nodes`)
  const nodes = lines.slice(1).map((line, i) => {
    const m = /^(0|[1-9][0-9]{0,15}) (\S+)$/.exec(line)
    if (m === null) throw malformed(`Consistency line ${i + 1} is not "<byte size> <base64 hash>"`)
    const hash = readBase64(m[2]!, `The hash on consistency line ${i + 1}`)
    if (hash.byteLength !== 32) throw malformed(`The hash on consistency line ${i + 1} is not 32 bytes`)
    return { size: Number(m[1]), hash }
  })
  return { old: Number(first[1]), nodes, checkpoint: text.slice(blank + 2) }
}

/**
 * The witness's rule. `last` is the checkpoint it last cosigned for this log (null: none
 * yet); `opts.key` pins the log when the witness serves one database only. Throws
 * InvalidProofError when the request cannot be checked: a checkpoint whose log signature
 * fails (HTTP 403), malformed input or consistency nodes that do not lead to the new
 * head (HTTP 422).
 */
export function decideCheckpoint (last: Checkpoint | null, req: AddCheckpointRequest, opts: { key?: Uint8Array | string } = {}): CheckpointDecision {
  const cp = parseCheckpoint(req.checkpoint)
  verifyCheckpointHead(cp, opts)
  const size = last === null ? 0 : last.head.length
  if (last !== null && last.head.key !== cp.head.key) throw new InvalidProofError('unexpected-key', 'The checkpoint is for another log than the witness state it was matched with')
  if (req.old !== size) return { kind: 'stale', size }
  if (last === null) {
    if (req.nodes.length !== 0) throw malformed('A first checkpoint (old 0) carries no consistency nodes')
    return { kind: 'cosign', checkpoint: cp }
  }
  const prev: SignedHead = last.head
  const next: SignedHead = cp.head
  if (next.fork !== prev.fork) return { kind: 'fork', proof: LogForkFraudProof.fromHeads(prev, next, cp.manifest) }
  if (next.length < prev.length) throw new InvalidProofError('consistency-range', `The checkpoint's size ${next.length} is below the last cosigned size ${prev.length}`)
  if (next.length === prev.length) {
    if (req.nodes.length !== 0) throw malformed('A checkpoint of the cosigned size carries no consistency nodes')
    if (next.treeHash === prev.treeHash) return { kind: 'cosign', checkpoint: cp }
    return { kind: 'fork', proof: LogForkFraudProof.fromHeads(prev, next, cp.manifest) }
  }
  const rootIndexes = fullRoots(prev.length)
  const extIndexes = extensionIndexes(prev.length, next.length)
  if (req.nodes.length !== rootIndexes.length + extIndexes.length) {
    throw new InvalidProofError('consistency-path', `From ${prev.length} to ${next.length} blocks the proof has ${rootIndexes.length} roots and ${extIndexes.length} nodes, not ${req.nodes.length} lines`)
  }
  const indexes = [...rootIndexes, ...extIndexes]
  const nodes: TreeNode[] = req.nodes.map((n, i) => ({ index: indexes[i]!, size: n.size, hash: n.hash }))
  const roots = nodes.slice(0, rootIndexes.length)
  const ext = nodes.slice(rootIndexes.length)
  const { fromTreeHash, toTreeHash } = extendTree(prev.length, roots, next.length, ext)
  if (toTreeHash.toString('hex') !== next.treeHash) throw new InvalidProofError('tree-hash-mismatch', 'The consistency nodes do not lead to the checkpoint\'s tree hash')
  if (fromTreeHash.toString('hex') === prev.treeHash) return { kind: 'cosign', checkpoint: cp }
  // Nodes that hash to the new signed head imply another tree at the old size: two histories.
  return { kind: 'fork', proof: LogForkFraudProof.fromHeads(prev, next, cp.manifest, { roots: roots.map(nodeToJSON), nodes: ext.map(nodeToJSON) }) }
}
