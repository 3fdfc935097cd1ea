/**
 * Index read proofs: "at version `at`, the Hyperbee index of log `key` answered these
 * reads with these entries", checkable offline by a stranger who has only the JSON.
 *
 * A proof carries every index block the reads touched (plus the header, block 0), one
 * signed head of the index core, and one merkle multiproof that ties all those blocks
 * to that head. The verifier checks the head (manifest → key, ed25519 signature), folds
 * the blocks and the multiproof nodes into the tree's roots and compares the tree hash,
 * and then REPLAYS the reads by running Hyperbee's own code (hyperbee 2.27) over a
 * minimal in-memory core that serves only the proven blocks. A read that needs a block
 * the proof does not hold fails with InvalidProofError('incomplete'). The lookup
 * algorithm is therefore Hyperbee's, not a re-implementation.
 *
 * `at` must be a batch end of the index (a length the index had right after a flush):
 * Hyperbee checkouts at other lengths read inconsistent trees. The proof cannot check
 * this; the caller guarantees it (vitra records where batches end).
 *
 * See whitepaper/proofs.md, "Index read proofs".
 */
import Hyperbee from 'hyperbee'
import { BlockCore, hyperbeeOver, type NodeView } from '../../holepunch/block-core.js'
import { beeHeader, beeNode, beeYoloIndex, type BeeNode, type BeeYoloIndex } from './bee-schema.js'
import { InvalidArgumentError, InvalidProofError, VitraError } from '../../errors/errors.js'
import { flatDepth, flatFirstBlock, flatLeaves, fullRoots, leafNode, parentNode, treeHash, type TreeNode } from '../crypto/hypercore-crypto.js'
import { checkHeadSignature, checkManifest, nodeFromJSON, parseMaybe, readConst, readHead, readHex, readInt, readManifest, readNode, readObject, type HeadJSON, type ManifestJSON, type NodeJSON } from '../log/signed-head.js'

/** A key range of a `list` read, as Hyperbee's createReadStream takes it (keys are utf-8 strings). */
export interface IndexRange {
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  limit?: number
  reverse?: boolean
}

/** One read a proof covers: a point lookup or a range listing. */
export type IndexRead = { kind: 'get', key: string } | { kind: 'list', range: IndexRange }

/** A proven index entry. */
export interface ProvenEntry {
  key: string
  /** The stored bytes (a key stored with a null value, which vitra never writes, reads as an empty buffer). */
  value: Buffer
  /** The index block that holds the entry. */
  seq: number
}

/** The proven answer to a `get`: `value` and `seq` are null when the key is absent. */
export interface ProvenGet {
  key: string
  value: Buffer | null
  seq: number | null
}

/** The answer to one read: a ProvenGet for `get`, the entries in order for `list`. */
export type ProvenReadResult = ProvenGet | ProvenEntry[]

/**
 * Proof of what a set of reads returned from the index at `at`, in JSON form (bytes as
 * lowercase hex). Format (whitepaper/proofs.md, "Index read proofs"):
 * - `head`: the one signed head every block is proven against (`at ≤ head.length`);
 * - `blocks`: every block the reads touched and block 0 (the Hyperbee header), sorted by
 *   seq, each `{ seq, value }` with `seq < at`;
 * - `nodes`: the merkle multiproof, sorted by flat index: the roots of the largest
 *   subtrees of the tree at `head.length` that hold no proven block. With the blocks'
 *   leaves they determine every root, hence the tree hash. No node is repeated.
 */
export interface IndexReadProof {
  version: 1
  type: 'vitra/index-read-proof'
  /** Index core key (32 bytes hex). */
  key: string
  /** The index core's manifest; it must hash to `key`. */
  manifest: ManifestJSON
  /** The bee version (index core length, a batch end) the reads were made at. */
  at: number
  head: HeadJSON
  blocks: Array<{ seq: number, value: string }>
  nodes: NodeJSON[]
  reads: IndexRead[]
}

/** What verifyIndexReadProof establishes. */
export interface VerifiedIndexReads {
  /** The index core key. */
  key: Buffer
  /** The bee version the reads were answered at. */
  at: number
  /** The signed head the blocks were proven against. */
  length: number
  fork: number
  /** One result per read, in the order of `proof.reads`. */
  results: ProvenReadResult[]
}

/** A reader over a verified proof: answers only from proven blocks. */
export interface IndexProofReader {
  readonly key: Buffer
  readonly at: number
  /** The entry of `key` at `at`, or null when it is absent. Throws InvalidProofError('incomplete') when the proof does not cover the lookup. */
  get (key: string): Promise<{ value: Buffer, seq: number } | null>
  /** The entries in `range` at `at`. Throws InvalidProofError('incomplete') when the proof does not cover the whole listing. */
  list (range?: IndexRange): Promise<ProvenEntry[]>
  /** Releases the in-memory bee (no files or sockets are held). */
  close (): Promise<void>
}

/**
 * What the verifier pins. `key`: the index core key it expects (unexpected-key otherwise).
 * `at`: the version it expects (unexpected-version otherwise). The proof cannot show that
 * `at` is a batch end, and a checkout inside a batch reads a wrong tree, so a verifier
 * must take `at` from a trusted record of batch ends (for example the ack that names
 * it), never from the prover alone.
 */
export interface VerifyIndexReadOptions {
  key?: string | Buffer
  at?: number
}

/** Upper bound on the reads one proof may carry (and that verification replays). */
export const MAX_READS = 1024


// ---------------------------------------------------------------- create


// ---------------------------------------------------------------- verify

/**
 * Checks offline, from the proof alone, what the index answered, and returns the
 * results (one per read, in order). Pure: no network, no files. Checks, in order:
 * the JSON shape (malformed); the manifest hashes to `key` and `key` equals `opts.key`
 * when given (unsupported-manifest | manifest-key-mismatch | unexpected-key); the
 * head's signature (bad-signature); `1 ≤ at ≤ head.length` (version-out-of-range);
 * every block has `seq < at` (block-out-of-range); the multiproof has exactly the nodes
 * the blocks need (missing-node | extra-node, or missing-block when the nodes split a
 * subtree that would hold a proven block left out of the proof) and the blocks and nodes hash to the signed
 * tree hash (tree-hash-mismatch); block 0 is a Hyperbee header (not-a-hyperbee); then
 * every read is replayed by Hyperbee over the proven blocks only: a read that needs a
 * block the proof lacks is `incomplete`, a proven block that is not a well-formed
 * Hyperbee node is `malformed-index`. With `opts.at`, the proof must be at that version
 * (unexpected-version). Throws InvalidProofError with that `details.reason`.
 * The results are computed by the replay; the proof does not carry them.
 */
export async function verifyIndexReadProof (proof: IndexReadProof | unknown, opts: VerifyIndexReadOptions = {}): Promise<VerifiedIndexReads> {
  const checked = checkProof(proof, opts)
  const results = await runReads(checked.core, checked.at, checked.reads)
  return { key: checked.key, at: checked.at, length: checked.length, fork: checked.fork, results }
}

/**
 * Verifies the proof's blocks against its signed head (every check of
 * verifyIndexReadProof except the replay of `proof.reads`) and returns a reader whose
 * `get` and `list` run Hyperbee over the proven blocks only. Reads other than the
 * proof's own are allowed; any that needs a block outside the proof throws
 * InvalidProofError('incomplete') (never a partial answer).
 */
export async function proofReader (proof: IndexReadProof | unknown, opts: VerifyIndexReadOptions = {}): Promise<IndexProofReader> {
  const checked = checkProof(proof, opts)
  const bee = hyperbeeOver(checked.core, checked.at)
  return {
    key: checked.key,
    at: checked.at,
    async get (key: string) {
      if (typeof key !== 'string') throw new InvalidArgumentError('key must be a string')
      const r = await readGet(bee, key)
      return r.seq === null ? null : { value: r.value as Buffer, seq: r.seq }
    },
    async list (range: IndexRange = {}) {
      return readList(bee, readRange(range, 'range'))
    },
    async close () {
      await bee.close()
    }
  }
}

/** The proof as a JSON string (shape validated first; throws InvalidProofError('malformed')). */
export function indexReadProofToJSON (proof: IndexReadProof): string {
  return JSON.stringify(indexReadProofFromJSON(proof))
}

/**
 * Parses (when given a string) and validates the shape of untrusted index-read-proof
 * JSON: exact fields, lowercase hex, safe integers, blocks and nodes strictly sorted,
 * at most 64 × (blocks + 1) nodes, at most MAX_READS reads. Returns a fresh object. Checks no hash or signature.
 * Throws InvalidProofError with reason malformed (or unsupported-manifest).
 */
export function indexReadProofFromJSON (json: string | unknown): IndexReadProof {
  const o = readObject(parseMaybe(json), 'proof', ['version', 'type', 'key', 'manifest', 'at', 'head', 'blocks', 'nodes', 'reads'])
  readConst(o.version, 1, 'proof.version')
  readConst(o.type, 'vitra/index-read-proof', 'proof.type')
  if (!Array.isArray(o.blocks)) throw malformed('proof.blocks must be an array')
  if (!Array.isArray(o.nodes)) throw malformed('proof.nodes must be an array')
  const blocks = o.blocks.map((b: unknown, i: number) => {
    const r = readObject(b, `proof.blocks[${i}]`, ['seq', 'value'])
    return { seq: readInt(r.seq, `proof.blocks[${i}].seq`), value: readHex(r.value, `proof.blocks[${i}].value`) }
  })
  for (let i = 1; i < blocks.length; i++) {
    if (blocks[i]!.seq <= blocks[i - 1]!.seq) throw malformed('proof.blocks must be sorted by seq, without repeats')
  }
  if (o.nodes.length > 64 * (blocks.length + 1)) throw malformed(`proof.nodes has more than 64 × (blocks + 1) nodes`)
  const nodes = o.nodes.map((n: unknown, i: number) => readNode(n, `proof.nodes[${i}]`))
  for (let i = 1; i < nodes.length; i++) {
    if (nodes[i]!.index <= nodes[i - 1]!.index) throw malformed('proof.nodes must be sorted by index, without repeats')
  }
  return {
    version: 1,
    type: 'vitra/index-read-proof',
    key: readHex(o.key, 'proof.key', 32),
    manifest: readManifest(o.manifest),
    at: readInt(o.at, 'proof.at'),
    head: readHead(o.head, 'proof.head'),
    blocks,
    nodes,
    reads: readReads(o.reads, 'proof.reads')
  }
}

// ---------------------------------------------------------------- checks shared by verify and reader

interface CheckedProof {
  key: Buffer
  at: number
  length: number
  fork: number
  reads: IndexRead[]
  core: BlockCore
}

function checkProof (proof: unknown, opts: VerifyIndexReadOptions): CheckedProof {
  const p = indexReadProofFromJSON(proof)
  const signer = checkManifest(p.manifest, p.key, opts.key)
  const head = checkHeadSignature(signer, p.head, 'head')
  if (p.at < 1 || p.at > head.length) throw new InvalidProofError('version-out-of-range', `at = ${p.at} must be between 1 and the head length ${head.length}`)
  if (opts.at !== undefined && p.at !== opts.at) throw new InvalidProofError('unexpected-version', `The proof reads at version ${p.at}, the verifier expects ${opts.at}`)
  const seqs = p.blocks.map(b => b.seq)
  const values = p.blocks.map(b => Buffer.from(b.value, 'hex'))
  for (const seq of seqs) {
    if (seq >= p.at) throw new InvalidProofError('block-out-of-range', `Block ${seq} is not below at = ${p.at}: a read at version ${p.at} cannot touch it`)
  }
  const given = p.nodes.map(nodeFromJSON)
  let next = 0
  const roots = foldRoots(head.length, seqs, values, index => {
    const n = given[next]
    if (n !== undefined && n.index === index) {
      next++
      return n
    }
    if (n !== undefined && flatCovers(index, n.index)) {
      throw new InvalidProofError('missing-block', `The multiproof splits tree node ${index}, which holds no proven block: a block under it was left out`)
    }
    if (n !== undefined && n.index < index) throw new InvalidProofError('extra-node', `Tree node ${n.index} is not one the proven blocks need`)
    throw new InvalidProofError('missing-node', `The multiproof lacks tree node ${index}`)
  })
  if (next < given.length) throw new InvalidProofError('extra-node', `Tree node ${given[next]!.index} is not one the proven blocks need`)
  if (!treeHash(roots).equals(head.treeHash)) {
    throw new InvalidProofError('tree-hash-mismatch', 'The blocks and multiproof nodes do not hash to the signed tree hash')
  }
  const store = new Map<number, Buffer>()
  seqs.forEach((seq, i) => { store.set(seq, values[i]!) })
  const header = store.get(0)
  if (header === undefined) throw new InvalidProofError('incomplete', 'The proof lacks block 0 (the Hyperbee header)')
  if (headerProtocol(header) !== 'hyperbee') throw new InvalidProofError('not-a-hyperbee', 'Block 0 is not a Hyperbee header')
  const core = blockCore(signer.key, p.at, head.fork, async seq => {
    const v = store.get(seq)
    if (v === undefined) throw new InvalidProofError('incomplete', `The read needs index block ${seq}, which the proof does not hold`)
    return v
  })
  return { key: signer.key, at: p.at, length: head.length, fork: head.fork, reads: p.reads, core }
}

/** True when flat-tree node `inner` is `outer` or lies under it. */
function flatCovers (outer: number, inner: number): boolean {
  const first = flatFirstBlock(outer)
  const innerFirst = flatFirstBlock(inner)
  return flatDepth(inner) <= flatDepth(outer) && innerFirst >= first && innerFirst + flatLeaves(inner) <= first + flatLeaves(outer)
}

/**
 * Folds proven leaves and multiproof nodes into the roots of a tree of `length` blocks.
 * `seqs` are sorted, distinct and below `length`; `take(index)` supplies the node of a
 * maximal subtree holding no proven block; it is called in increasing index order.
 */
export function foldRoots (length: number, seqs: number[], values: Buffer[], take: (index: number) => TreeNode): TreeNode[] {
  const last = seqs[seqs.length - 1]
  if (last !== undefined && last >= length) throw new InvalidProofError('block-out-of-range', `Block ${last} is not below the head length ${length}`)
  const lowerBound = (lo: number, hi: number, block: number): number => {
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (seqs[mid]! < block) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  const fold = (index: number, lo: number, hi: number): TreeNode => {
    if (lo === hi) return take(index)
    const depth = flatDepth(index)
    if (depth === 0) return leafNode(seqs[lo]!, values[lo]!)
    const half = 2 ** (depth - 1)
    const split = lowerBound(lo, hi, flatFirstBlock(index) + flatLeaves(index) / 2)
    return parentNode(fold(index - half, lo, split), fold(index + half, split, hi))
  }
  const roots: TreeNode[] = []
  let lo = 0
  for (const r of fullRoots(length)) {
    const hi = lowerBound(lo, seqs.length, flatFirstBlock(r) + flatLeaves(r))
    roots.push(fold(r, lo, hi))
    lo = hi
  }
  return roots
}

// ---------------------------------------------------------------- replay

/**
 * A BlockCore (src/holepunch/block-core.ts) over `fetch` for a Hyperbee at version
 * `length`: the recording fetch when a proof is made, the proven-blocks-only fetch when
 * it is checked. A read outside the bee is `malformed-index`; every node is decoded and
 * checked once (decodeNode) and handed to Hyperbee re-encoded, so Hyperbee's own
 * decoder reads the canonical bytes of what this module checked.
 */
export function blockCore (key: Buffer, length: number, fork: number, fetch: (seq: number) => Promise<Buffer>): BlockCore {
  const inside = (seq: number): void => {
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= length) {
      throw new InvalidProofError('malformed-index', `The index points at block ${seq}, outside the bee at version ${length}`)
    }
  }
  const nodes = new Map<number, NodeView>()
  return new BlockCore(key, length, fork, {
    async raw (seq) {
      inside(seq)
      return await fetch(seq)
    },
    async node (seq) {
      inside(seq)
      let node = nodes.get(seq)
      if (node === undefined) {
        const checked = decodeNode(seq, await fetch(seq))
        node = { key: checked.key, value: checked.value, index: beeYoloIndex.encode({ levels: checked.levels }) }
        nodes.set(seq, node)
      }
      return node
    }
  })
}

/**
 * Decodes block `seq` as a Hyperbee node and checks the pointers Hyperbee will follow:
 * keys and children point at blocks 1..seq, a child in the same block names an existing
 * level, and same-block child links have no cycle (so every lookup terminates).
 * Throws InvalidProofError('malformed-index').
 */
function decodeNode (seq: number, raw: Buffer): { key: Buffer, value: Buffer | null, levels: BeeYoloIndex['levels'] } {
  const bad = (why: string): InvalidProofError => new InvalidProofError('malformed-index', `Index block ${seq} ${why}`)
  let node: BeeNode
  let levels: BeeYoloIndex['levels']
  try {
    node = beeNode.decode(raw)
    levels = beeYoloIndex.decode(node.index).levels
  } catch {
    throw bad('is not a Hyperbee node')
  }
  const edges: number[][] = levels.map(() => [])
  levels.forEach((l, offset) => {
    for (const k of l.keys) if (!Number.isSafeInteger(k) || k < 1 || k > seq) throw bad(`has a key pointer to block ${k}`)
    if (l.children.length % 2 !== 0) throw bad('has an odd child list')
    for (let i = 0; i < l.children.length; i += 2) {
      const cs = l.children[i]!
      const co = l.children[i + 1]!
      if (!Number.isSafeInteger(cs) || cs < 1 || cs > seq || !Number.isSafeInteger(co)) throw bad(`has a child pointer to block ${cs}`)
      if (cs === seq) {
        if (co >= levels.length) throw bad(`has a child pointer to its own missing level ${co}`)
        edges[offset]!.push(co)
      }
    }
  })
  const state = new Uint8Array(levels.length) // 0 new, 1 on the stack, 2 done
  const visit = (v: number): void => {
    state[v] = 1
    for (const w of edges[v]!) {
      if (state[w] === 1) throw bad('has a cycle of child pointers')
      if (state[w] === 0) visit(w)
    }
    state[v] = 2
  }
  for (let v = 0; v < levels.length; v++) if (state[v] === 0) visit(v)
  return { key: node.key, value: node.value, levels }
}

/** Runs `reads` in order on one Hyperbee at version `at` over `core`, then closes it. */
export async function runReads (core: BlockCore, at: number, reads: IndexRead[]): Promise<ProvenReadResult[]> {
  const bee = hyperbeeOver(core, at)
  try {
    return await runReadsOnBee(bee, reads, false)
  } finally {
    await bee.close()
  }
}

export async function runReadsOnBee (bee: Hyperbee, reads: IndexRead[], close = true): Promise<ProvenReadResult[]> {
  try {
    const out: ProvenReadResult[] = []
    for (const r of reads) out.push(r.kind === 'get' ? await readGet(bee, r.key) : await readList(bee, r.range))
    return out
  } finally {
    if (close) await bee.close()
  }
}

async function readGet (bee: Hyperbee, key: string): Promise<ProvenGet> {
  const e = await guard(() => bee.get(key))
  if (e === null) return { key, value: null, seq: null }
  return { key, value: copy(e.value), seq: e.seq }
}

async function readList (bee: Hyperbee, range: IndexRange): Promise<ProvenEntry[]> {
  // An explicit limit keeps Hyperbee from prefetching past the range in the background
  // (it only does so for unlimited forward ranges); the answer is the same.
  const r = { ...range, limit: range.limit ?? Number.MAX_SAFE_INTEGER }
  return guard(async () => {
    const out: ProvenEntry[] = []
    for await (const e of bee.createReadStream(r)) out.push({ key: e.key as string, value: copy(e.value), seq: e.seq })
    return out
  })
}

/** Hyperbee errors on proven-but-malformed data become InvalidProofError('malformed-index'). */
async function guard<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof VitraError) throw err
    throw new InvalidProofError('malformed-index', `Hyperbee could not read the proven blocks: ${(err as Error).message}`)
  }
}

function copy (v: unknown): Buffer {
  return v === null || v === undefined ? Buffer.alloc(0) : Buffer.from(v as Uint8Array)
}

export function sameResults (a: ProvenReadResult[], b: ProvenReadResult[]): boolean {
  const norm = (r: ProvenReadResult[]): string => JSON.stringify(r, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('hex') : v)
  return norm(a) === norm(b)
}

// ---------------------------------------------------------------- JSON validation

function malformed (message: string): InvalidProofError {
  return new InvalidProofError('malformed', message)
}

function readString (v: unknown, path: string): string {
  if (typeof v !== 'string') throw malformed(`${path} must be a string`)
  return v
}

function readRange (v: unknown, path: string): IndexRange {
  const o = readObject(v, path, [], ['gt', 'gte', 'lt', 'lte', 'limit', 'reverse'])
  const out: IndexRange = {}
  for (const k of ['gt', 'gte', 'lt', 'lte'] as const) if (o[k] !== undefined) out[k] = readString(o[k], `${path}.${k}`)
  if (o.limit !== undefined) out.limit = readInt(o.limit, `${path}.limit`)
  if (o.reverse !== undefined) {
    if (typeof o.reverse !== 'boolean') throw malformed(`${path}.reverse must be a boolean`)
    out.reverse = o.reverse
  }
  return out
}

export function readReads (v: unknown, path: string): IndexRead[] {
  if (!Array.isArray(v)) throw malformed(`${path} must be an array`)
  if (v.length > MAX_READS) throw malformed(`${path} has more than ${MAX_READS} reads`)
  return v.map((r: unknown, i: number): IndexRead => {
    const p = `${path}[${i}]`
    const kind = (r !== null && typeof r === 'object') ? (r as { kind?: unknown }).kind : undefined
    if (kind === 'get') {
      const o = readObject(r, p, ['kind', 'key'])
      return { kind: 'get', key: readString(o.key, `${p}.key`) }
    }
    if (kind === 'list') {
      const o = readObject(r, p, ['kind', 'range'])
      return { kind: 'list', range: readRange(o.range, `${p}.range`) }
    }
    throw malformed(`${p}.kind must be "get" or "list"`)
  })
}

/** The protocol named by a Hyperbee header block, or null when the block is not a header at all. */
function headerProtocol (block: Buffer): string | null {
  try {
    return beeHeader.decode(block).protocol
  } catch (err) {
    if (err instanceof Error) return null // undecodable: not a header (the caller reports not-a-hyperbee)
    throw err
  }
}
