/**
 * Checkpoints: a database's index head as a C2SP checkpoint (c2sp.org/tlog-checkpoint)
 * in a signed note, the form witnesses cosign (whitepaper/witness.md §2):
 *
 *   vitra/index/<index key, hex>          origin
 *   <length>                              tree size (blocks of the index log)
 *   <tree hash, base64>                   Hypercore's tree hash at that length
 *   fork <fork>                           extension lines: Hypercore's fork counter,
 *   signer <public key, hex> <namespace, hex>   and the manifest's one ed25519 signer
 *
 *   — vitra/index/<key> <base64(key ID ‖ Hypercore head signature)>
 *
 * The log's own signature is Hypercore's (over signable(key, treeHash, length, fork)),
 * so its line uses C2SP's alternate signature type: key ID = SHA-256(origin ‖ "\n" ‖
 * 0xff ‖ "vitra-hypercore-head/v1" ‖ index key)[0:4]. The manifest rebuilt from the
 * signer line must hash to the key in the origin. Witness cosignatures follow as more
 * signature lines (cosignature.ts). Pure.
 */
import { InvalidProofError } from '../../errors/errors.js'
import { checkHeadSignature, checkManifest, defaultManifest, type ManifestJSON, type SignedHead, type VerifiedHead } from '../log/signed-head.js'
import { ALTERNATE_TYPE, formatSignatureLine, noteKeyId, parseNote, readBase64, type NoteSignature } from './note.js'

export const ORIGIN_PREFIX = 'vitra/index/'
/** The identifier after the alternate type byte in the key ID of a log's signature line. */
export const HEAD_SIGNATURE_ID = 'vitra-hypercore-head/v1'

/** A checkpoint read from its note: the signed head it states, its body and the other signature lines. */
export interface Checkpoint {
  origin: string
  head: SignedHead
  manifest: ManifestJSON
  /** The note's text (what cosignatures sign, after their header). */
  body: string
  /** Signature lines other than the log's own (cosignatures, and any the reader does not know). */
  cosignatures: NoteSignature[]
}

function malformed (message: string): InvalidProofError {
  return new InvalidProofError('malformed-checkpoint', message)
}

/** The origin line of a database's checkpoints. */
export function checkpointOrigin (keyHex: string): string { return ORIGIN_PREFIX + keyHex }

/** The key ID of the log's own signature line. */
export function headKeyId (origin: string, key: Uint8Array): Buffer {
  return noteKeyId(origin, ALTERNATE_TYPE, Buffer.concat([Buffer.from(HEAD_SIGNATURE_ID, 'utf8'), key]))
}

/** The text of a checkpoint (what its signatures follow). */
export function checkpointBody (head: SignedHead, manifest: ManifestJSON): string {
  const signer = manifest.signers[0]
  return [
    checkpointOrigin(head.key),
    String(head.length),
    Buffer.from(head.treeHash, 'hex').toString('base64'),
    `fork ${head.fork}`,
    `signer ${signer.publicKey} ${signer.namespace}`
  ].join('\n') + '\n'
}

/** A checkpoint note with the log's signature and no cosignatures yet. */
export function checkpointNote (head: SignedHead, manifest: ManifestJSON): string {
  const origin = checkpointOrigin(head.key)
  return checkpointBody(head, manifest) + '\n' + formatSignatureLine(origin, headKeyId(origin, Buffer.from(head.key, 'hex')), Buffer.from(head.signature, 'hex'))
}

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/
const HEX32 = /^[0-9a-f]{64}$/

function readDecimal (s: string | undefined, what: string): number {
  const n = s !== undefined && DECIMAL.test(s) ? Number(s) : NaN
  if (!Number.isSafeInteger(n)) throw malformed(`${what} is not a decimal integer`)
  return n
}

/**
 * Reads a checkpoint note: the body's five lines, and the log's signature line (exactly
 * one, by the origin's name and key ID). Checks shapes only, no signature: see
 * verifyCheckpointHead. Throws InvalidProofError: malformed-note | malformed-checkpoint.
 */
export function parseCheckpoint (text: unknown): Checkpoint {
  const note = parseNote(text)
  const lines = note.body.slice(0, -1).split('\n')
  if (lines.length !== 5) throw malformed(`A vitra checkpoint has 5 lines of text, this one ${lines.length}`)
  const [origin, size, hash, forkLine, signerLine] = lines as [string, string, string, string, string]
  const keyHex = origin.startsWith(ORIGIN_PREFIX) ? origin.slice(ORIGIN_PREFIX.length) : ''
  if (!HEX32.test(keyHex)) throw malformed(`The origin is "${ORIGIN_PREFIX}<64 lowercase hex>", not "${origin.slice(0, 100)}"`)
  const length = readDecimal(size, 'The tree size')
  const tree = readBase64(hash, 'The root hash')
  if (tree.byteLength !== 32) throw malformed('The root hash is 32 bytes')
  // one text per head: the body is exactly checkpointBody(head, manifest), so cosignatures of one head always pool
  if (tree.toString('base64') !== hash) throw malformed('The root hash is not in canonical base64')
  const fork = readDecimal(forkLine.startsWith('fork ') ? forkLine.slice(5) : undefined, 'The fork line ("fork <n>")')
  const signer = /^signer ([0-9a-f]{64}) ([0-9a-f]{64})$/.exec(signerLine)
  if (signer === null) throw malformed('The signer line is "signer <public key hex> <namespace hex>"')
  const manifest = defaultManifest(Buffer.from(signer[1]!, 'hex'))
  manifest.signers[0].namespace = signer[2]!
  const keyId = headKeyId(origin, Buffer.from(keyHex, 'hex'))
  const own = note.signatures.filter(s => s.name === origin && s.keyId.equals(keyId))
  if (own.length !== 1) throw malformed(`A checkpoint carries exactly one signature of its log, this one ${own.length}`)
  const sig = own[0]!.bytes
  if (sig.byteLength !== 64) throw malformed('The log\'s signature is 64 bytes')
  const head: SignedHead = { key: keyHex, length, fork, treeHash: tree.toString('hex'), signature: sig.toString('hex') }
  return { origin, head, manifest, body: note.body, cosignatures: note.signatures.filter(s => !own.includes(s)) }
}

/**
 * Checks the log's signature on a checkpoint: the manifest hashes to the origin's key
 * (and to `opts.key` when given) and its signer signed the head. Throws InvalidProofError.
 */
export function verifyCheckpointHead (cp: Checkpoint, opts: { key?: Uint8Array | string } = {}): VerifiedHead {
  const signer = checkManifest(cp.manifest, cp.head.key, opts.key)
  return checkHeadSignature(signer, cp.head, 'checkpoint')
}
