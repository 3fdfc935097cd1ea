/**
 * Signed heads and consistency proofs of a Hypercore, in a JSON form a stranger
 * can check offline with only the log's key.
 *
 * A signed head is what the log's signer commits to: (key, length, fork, treeHash),
 * signed with ed25519. Hypercore stores only the newest signature, so a head must be
 * captured (`captureSignedHead`) when it is made if it is needed later.
 *
 * A consistency proof shows that a newer signed head extends an older tree (RFC 6962
 * in spirit): it carries the roots of the tree at the older length and the nodes that
 * grow those roots into the newer tree. The verifier recomputes every node that covers
 * a block of the older prefix; only nodes entirely after the prefix come from the proof.
 *
 * The JSON helpers at the end of this file validate untrusted proof JSON and are
 * shared by inclusion-proofs.ts and log-fork-proof.ts.
 */
import { InvalidProofError, VitraError } from '../../errors/errors.js'
import { parseJson } from '../../format/encoding.js'
import {
  DEFAULT_NAMESPACE, appendRoot, ed25519Verify, extensionIndexes, fullRoots, manifestKey,
  signable, treeHash, type TreeNode
} from '../crypto/hypercore-crypto.js'

/** A tree node in JSON: flat-tree index, byte size, blake2b-256 hash (hex). */
export interface NodeJSON {
  index: number
  size: number
  hash: string
}

/** The signer of a log (a version-1 Hypercore manifest with one ed25519 signer, quorum 1). */
export interface ManifestSignerJSON {
  signature: 'ed25519'
  /** 32 bytes hex; Corestore and `new Hypercore()` use NS("hypercore", 4). */
  namespace: string
  /** 32 bytes hex: the signer's ed25519 public key. */
  publicKey: string
}

/** A version-1 Hypercore manifest in JSON; `key = H(NS("hypercore",3) ‖ encoding)` must hold. */
export interface ManifestJSON {
  version: 1
  hash: 'blake2b'
  quorum: 1
  signers: [ManifestSignerJSON]
}

/** A signed head without its key (inside proofs the key is given once, at the top). */
export interface HeadJSON {
  length: number
  fork: number
  /** 32 bytes hex: treeHash(roots of the tree at `length`). */
  treeHash: string
  /** 64 bytes hex: the raw ed25519 signature of signable(key, treeHash, length, fork). */
  signature: string
}

/** A signed head of a log: the signer's commitment to (key, length, fork, treeHash). All bytes hex. */
export interface SignedHead extends HeadJSON {
  key: string
}

/** Proof that the tree at `from.length` is a prefix of the tree of a signed head. */
export interface ConsistencyProof {
  version: 1
  type: 'vitra/consistency-proof'
  key: string
  manifest: ManifestJSON
  /** The older tree: its length and all its roots (left to right). */
  from: { length: number, roots: NodeJSON[] }
  /** The newer, signed head. */
  head: HeadJSON
  /** The nodes that extend `from.roots` to the roots of `head`, in the order of extensionIndexes(from.length, head.length). */
  nodes: NodeJSON[]
}

/** What verifySignedHead establishes. */
export interface VerifiedHead {
  key: Buffer
  length: number
  fork: number
  treeHash: Buffer
  signature: Buffer
}

/** What verifyConsistencyProof establishes: the signed head, and the tree hash at `fromLength` it implies. */
export interface VerifiedConsistency {
  key: Buffer
  fromLength: number
  fromTreeHash: Buffer
  length: number
  fork: number
  treeHash: Buffer
}

// ---------------------------------------------------------------- live cores


/** The manifest JSON of the default signer of `publicKey` (what Corestore and `new Hypercore()` create). */
export function defaultManifest (publicKey: Uint8Array): ManifestJSON {
  return {
    version: 1,
    hash: 'blake2b',
    quorum: 1,
    signers: [{ signature: 'ed25519', namespace: DEFAULT_NAMESPACE.toString('hex'), publicKey: Buffer.from(publicKey).toString('hex') }]
  }
}



/**
 * Checks offline that `head` is signed by the signer of `manifest` and that the manifest
 * hashes to `head.key` (and to `opts.key` when given). Throws InvalidProofError with
 * reason malformed | unsupported-manifest | manifest-key-mismatch | unexpected-key | bad-signature.
 */
export function verifySignedHead (head: SignedHead | unknown, manifest: ManifestJSON | unknown, opts: { key?: Uint8Array | string } = {}): VerifiedHead {
  const h = readSignedHead(head, 'head')
  const signer = checkManifest(readManifest(manifest), h.key, opts.key)
  return checkHeadSignature(signer, h, 'head')
}

/** Validates the shape of an untrusted signed head (hex, integers). Throws InvalidProofError('malformed'). */
export function signedHeadFromJSON (json: string | unknown): SignedHead {
  return readSignedHead(parseMaybe(json), 'head')
}

// ---------------------------------------------------------------- consistency


/**
 * Checks offline that the signed head in `proof` extends the tree at `proof.from.length`:
 * the manifest hashes to the key, the head's signature is valid, `from.roots` are exactly
 * the roots of a tree of that length, `nodes` are exactly the nodes after the prefix,
 * and growing the roots with them gives the signed tree hash. Returns the tree hash the
 * head implies at `fromLength`. With `opts.older` (a head or `{ length, treeHash }`),
 * also checks that it equals that tree hash (and its signature, when it has one).
 * Throws InvalidProofError: malformed | unsupported-manifest | manifest-key-mismatch |
 * unexpected-key | bad-signature | consistency-range | roots-mismatch | consistency-path |
 * tree-hash-mismatch | inconsistent.
 */
export function verifyConsistencyProof (proof: ConsistencyProof | unknown, opts: { older?: SignedHead | { length: number, treeHash: string }, key?: Uint8Array | string } = {}): VerifiedConsistency {
  const p = consistencyProofFromJSON(proof)
  const signer = checkManifest(p.manifest, p.key, opts.key)
  const head = checkHeadSignature(signer, p.head, 'head')
  if (p.from.length > head.length) throw new InvalidProofError('consistency-range', `from.length ${p.from.length} is beyond the head length ${head.length}`)
  const { fromTreeHash, toTreeHash } = extendTree(p.from.length, p.from.roots.map(nodeFromJSON), head.length, p.nodes.map(nodeFromJSON))
  if (!toTreeHash.equals(head.treeHash)) throw new InvalidProofError('tree-hash-mismatch', 'The consistency nodes do not lead to the signed tree hash')
  if (opts.older !== undefined) {
    const older = readObject(opts.older, 'older', ['length', 'treeHash'], ['key', 'fork', 'signature'])
    const olderLength = readInt(older.length, 'older.length')
    const olderTree = readHex(older.treeHash, 'older.treeHash', 32)
    if (olderLength !== p.from.length) throw new InvalidProofError('consistency-range', `The older head has length ${olderLength}, the proof starts at ${p.from.length}`)
    if ('signature' in older) {
      const h = readSignedHead(older, 'older')
      if (h.key !== p.key) throw new InvalidProofError('unexpected-key', 'The older head is for another log key')
      checkHeadSignature(signer, h, 'older head')
    }
    if (!fromTreeHash.equals(Buffer.from(olderTree, 'hex'))) {
      throw new InvalidProofError('inconsistent', `The signed head does not extend the older head: the tree hash it implies at length ${olderLength} differs`)
    }
  }
  return { key: signer.key, fromLength: p.from.length, fromTreeHash, length: head.length, fork: head.fork, treeHash: head.treeHash }
}

/** Validates the shape of an untrusted consistency proof. Throws InvalidProofError('malformed'). */
export function consistencyProofFromJSON (json: string | unknown): ConsistencyProof {
  const o = readObject(parseMaybe(json), 'proof', ['version', 'type', 'key', 'manifest', 'from', 'head', 'nodes'])
  readConst(o.version, 1, 'proof.version')
  readConst(o.type, 'vitra/consistency-proof', 'proof.type')
  const from = readObject(o.from, 'proof.from', ['length', 'roots'])
  return {
    version: 1,
    type: 'vitra/consistency-proof',
    key: readHex(o.key, 'proof.key', 32),
    manifest: readManifest(o.manifest),
    from: { length: readInt(from.length, 'proof.from.length'), roots: readNodes(from.roots, 'proof.from.roots') },
    head: readHead(o.head, 'proof.head'),
    nodes: readNodes(o.nodes, 'proof.nodes')
  }
}

/**
 * Pure tree arithmetic behind consistency: checks that `fromRoots` are the roots of a tree
 * of `fromLength` blocks and `nodes` the extension nodes to `toLength`, and returns both
 * tree hashes. Every node over the old prefix is recomputed by merging. Throws
 * InvalidProofError: roots-mismatch | consistency-path | consistency-range.
 */
export function extendTree (fromLength: number, fromRoots: TreeNode[], toLength: number, nodes: TreeNode[]): { fromTreeHash: Buffer, toTreeHash: Buffer, roots: TreeNode[] } {
  if (fromLength > toLength) throw new InvalidProofError('consistency-range', `Cannot extend a tree of ${fromLength} blocks to ${toLength}`)
  const expectRoots = fullRoots(fromLength)
  if (fromRoots.length !== expectRoots.length || fromRoots.some((r, i) => r.index !== expectRoots[i])) {
    throw new InvalidProofError('roots-mismatch', `The roots of a tree of ${fromLength} blocks are [${expectRoots.join(', ')}], got [${fromRoots.map(r => r.index).join(', ')}]`)
  }
  const expectNodes = extensionIndexes(fromLength, toLength)
  if (nodes.length !== expectNodes.length || nodes.some((n, i) => n.index !== expectNodes[i])) {
    throw new InvalidProofError('consistency-path', `Extending ${fromLength} to ${toLength} blocks needs nodes [${expectNodes.join(', ')}], got [${nodes.map(n => n.index).join(', ')}]`)
  }
  let roots: TreeNode[] = fromRoots.slice()
  for (const n of nodes) roots = appendRoot(roots, n)
  return { fromTreeHash: treeHash(fromRoots), toTreeHash: treeHash(roots), roots }
}

// ---------------------------------------------------------------- shared checks (exported for sibling modules)

/** The signer of a checked manifest and the key it hashes to. */
export interface CheckedSigner {
  key: Buffer
  publicKey: Buffer
}

/**
 * Checks that `manifest` hashes to `keyHex` (reason manifest-key-mismatch) and, when
 * `expectedKey` is given, that the key is the expected one (reason unexpected-key).
 */
export function checkManifest (manifest: ManifestJSON, keyHex: string, expectedKey?: Uint8Array | string): CheckedSigner {
  const publicKey = Buffer.from(manifest.signers[0].publicKey, 'hex')
  const namespace = Buffer.from(manifest.signers[0].namespace, 'hex')
  const key = Buffer.from(keyHex, 'hex')
  if (!manifestKey({ publicKey, namespace }).equals(key)) {
    throw new InvalidProofError('manifest-key-mismatch', 'The manifest does not hash to the log key')
  }
  if (expectedKey !== undefined) {
    const want = typeof expectedKey === 'string' ? Buffer.from(expectedKey, 'hex') : Buffer.from(expectedKey)
    if (!want.equals(key)) throw new InvalidProofError('unexpected-key', 'The proof is for another log key than the expected one')
  }
  return { key, publicKey }
}

/** Checks the ed25519 signature of a head over signable(key, treeHash, length, fork) (reason bad-signature). */
export function checkHeadSignature (signer: CheckedSigner, head: HeadJSON, what: string): VerifiedHead {
  const tree = Buffer.from(head.treeHash, 'hex')
  const signature = Buffer.from(head.signature, 'hex')
  if (!ed25519Verify(signer.publicKey, signable(signer.key, tree, head.length, head.fork), signature)) {
    throw new InvalidProofError('bad-signature', `The signature of the ${what} (length ${head.length}, fork ${head.fork}) is not valid for this key`)
  }
  return { key: signer.key, length: head.length, fork: head.fork, treeHash: tree, signature }
}

/** A tree node in JSON form. */
export function nodeToJSON (n: TreeNode): NodeJSON {
  return { index: n.index, size: n.size, hash: Buffer.from(n.hash).toString('hex') }
}

/** A tree node from (already validated) JSON. */
export function nodeFromJSON (n: NodeJSON): TreeNode {
  return { index: n.index, size: n.size, hash: Buffer.from(n.hash, 'hex') }
}

// ---------------------------------------------------------------- JSON validation of untrusted input

/** Upper bound on node lists: a tree of 2^53 blocks has fewer than 64 levels and roots. */
const MAX_NODES = 64

function malformed (message: string): InvalidProofError {
  return new InvalidProofError('malformed', message)
}

/** JSON.parse a string (malformed on error); anything else is returned as is. */
export function parseMaybe (json: unknown): unknown {
  if (typeof json !== 'string') return json
  try {
    return parseJson(json, 'The proof')
  } catch (err) {
    if (err instanceof VitraError) throw err
    throw malformed(`Not JSON: ${(err as Error).message}`)
  }
}

/** A plain object with exactly the keys `required` (plus any of `optional`). */
export function readObject (v: unknown, path: string, required: string[], optional: string[] = []): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw malformed(`${path} must be an object`)
  const o = v as Record<string, unknown>
  for (const k of required) if (!Object.hasOwn(o, k)) throw malformed(`${path}.${k} is missing`)
  for (const k of Object.keys(o)) if (!required.includes(k) && !optional.includes(k)) throw malformed(`${path}.${k} is not allowed`)
  return o
}

/** A safe non-negative integer. */
export function readInt (v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw malformed(`${path} must be a non-negative integer`)
  return v
}

/** Lowercase hex; exactly `bytes` bytes when given. */
export function readHex (v: unknown, path: string, bytes?: number): string {
  if (typeof v !== 'string' || v.length % 2 !== 0 || !/^[0-9a-f]*$/.test(v)) throw malformed(`${path} must be lowercase hex`)
  if (bytes !== undefined && v.length !== 2 * bytes) throw malformed(`${path} must be ${bytes} bytes`)
  return v
}

/** Exactly the value `want`. */
export function readConst<T> (v: unknown, want: T, path: string): T {
  if (v !== want) throw malformed(`${path} must be ${JSON.stringify(want)}`)
  return want
}

/** A tree node `{ index, size, hash }`. */
export function readNode (v: unknown, path: string): NodeJSON {
  const o = readObject(v, path, ['index', 'size', 'hash'])
  return { index: readInt(o.index, `${path}.index`), size: readInt(o.size, `${path}.size`), hash: readHex(o.hash, `${path}.hash`, 32) }
}

/** An array of at most `max` (default 64) tree nodes. */
export function readNodes (v: unknown, path: string, max = MAX_NODES): NodeJSON[] {
  if (!Array.isArray(v)) throw malformed(`${path} must be an array`)
  if (v.length > max) throw malformed(`${path} has more than ${max} nodes`)
  return v.map((n, i) => readNode(n, `${path}[${i}]`))
}

/** A head `{ length, fork, treeHash, signature }` (plus the keys in `optional`, which the caller reads). */
export function readHead (v: unknown, path: string, optional: string[] = []): HeadJSON {
  const o = readObject(v, path, ['length', 'fork', 'treeHash', 'signature'], optional)
  return {
    length: readInt(o.length, `${path}.length`),
    fork: readInt(o.fork, `${path}.fork`),
    treeHash: readHex(o.treeHash, `${path}.treeHash`, 32),
    signature: readHex(o.signature, `${path}.signature`, 64)
  }
}

/** A signed head with its key. */
export function readSignedHead (v: unknown, path: string): SignedHead {
  const o = readObject(v, path, ['key', 'length', 'fork', 'treeHash', 'signature'])
  return { key: readHex(o.key, `${path}.key`, 32), ...readHead({ length: o.length, fork: o.fork, treeHash: o.treeHash, signature: o.signature }, path) }
}

/**
 * A manifest. Shape errors are `malformed`; a well-formed manifest of a kind vitra
 * does not verify (another version, quorum, hash or several signers) is `unsupported-manifest`.
 */
export function readManifest (v: unknown): ManifestJSON {
  const o = readObject(v, 'manifest', ['version', 'hash', 'quorum', 'signers'])
  if (!Array.isArray(o.signers)) throw malformed('manifest.signers must be an array')
  if (o.version !== 1 || o.hash !== 'blake2b' || o.quorum !== 1 || o.signers.length !== 1) {
    throw new InvalidProofError('unsupported-manifest', 'Only version-1 blake2b manifests with one signer and quorum 1 are supported')
  }
  const s = readObject(o.signers[0], 'manifest.signers[0]', ['signature', 'namespace', 'publicKey'])
  if (s.signature !== 'ed25519') throw new InvalidProofError('unsupported-manifest', 'Only ed25519 signers are supported')
  return {
    version: 1,
    hash: 'blake2b',
    quorum: 1,
    signers: [{ signature: 'ed25519', namespace: readHex(s.namespace, 'manifest.signers[0].namespace', 32), publicKey: readHex(s.publicKey, 'manifest.signers[0].publicKey', 32) }]
  }
}
