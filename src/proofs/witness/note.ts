/**
 * C2SP signed notes (c2sp.org/signed-note), the envelope of witnessed checkpoints:
 * a text body of lines ending in "\n", a blank line, then one line per signature,
 * `— <name> <base64(key ID ‖ signature bytes)>` (an em dash, U+2014). A key ID is
 * the first 4 bytes of SHA-256(name ‖ "\n" ‖ signature type ‖ public key). Pure:
 * parsing, formatting and key IDs; what a signature means is the caller's.
 */
import { InvalidProofError } from '../../errors/errors.js'
import { primitives } from '../crypto/primitives.js'

/** The signature type of C2SP cosignature/v1 (c2sp.org/tlog-cosignature). */
export const COSIGNATURE_V1_TYPE = 0x04
/** The signature type C2SP reserves for other algorithms: the type byte is followed by an identifier. */
export const ALTERNATE_TYPE = 0xff
/** A note is at most this many bytes (its body and every signature line). */
export const MAX_NOTE_BYTES = 64 * 1024
/** A note carries at most this many signature lines. */
export const MAX_NOTE_SIGNATURES = 100

const DASH = '\u2014 '

/** One signature line: who signed (name and key ID) and the signature bytes after the key ID. */
export interface NoteSignature {
  name: string
  keyId: Buffer
  bytes: Buffer
}

/** A note split into its body (ending in "\n") and its signature lines. */
export interface Note {
  body: string
  signatures: NoteSignature[]
}

function malformed (message: string): InvalidProofError {
  return new InvalidProofError('malformed-note', message)
}

/** A key name: non-empty, no whitespace, no "+" (c2sp.org/signed-note). */
export function isKeyName (name: string): boolean {
  return name.length > 0 && name.length <= 256 && !/[\s+]/.test(name) && !/\p{C}/u.test(name)
}

/** The 4-byte key ID of a key: SHA-256(name ‖ "\n" ‖ type ‖ key bytes)[0:4]. */
export function noteKeyId (name: string, type: number, key: Uint8Array): Buffer {
  return primitives().sha256([Buffer.from(name + '\n', 'utf8'), Uint8Array.of(type), key]).subarray(0, 4)
}

/** Standard base64, padded, nothing else (the only encoding signed notes use). */
export function readBase64 (s: string, what: string): Buffer {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) throw malformed(`${what} is not standard padded base64`)
  return Buffer.from(s, 'base64')
}

function hasControl (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if ((c < 0x20 && c !== 0x0a) || c === 0x7f) return true
  }
  return false
}

/** Splits a note into body and signature lines. Throws InvalidProofError('malformed-note'). */
export function parseNote (text: unknown): Note {
  if (typeof text !== 'string') throw malformed('A signed note is text')
  if (Buffer.byteLength(text, 'utf8') > MAX_NOTE_BYTES) throw malformed(`A signed note is at most ${MAX_NOTE_BYTES} bytes`)
  if (!text.endsWith('\n')) throw malformed('A signed note ends with a newline')
  const split = text.lastIndexOf('\n\n')
  if (split === -1) throw malformed('A signed note has a blank line between its text and its signatures')
  const body = text.slice(0, split + 1)
  if (body.includes('\n\n') || body.startsWith('\n')) throw malformed('The text of a note has no blank lines')
  if (hasControl(body)) throw malformed('The text of a note has no control characters but newlines')
  const lines = text.slice(split + 2, -1).split('\n')
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformed(`A note has at most ${MAX_NOTE_SIGNATURES} signatures`)
  const signatures = lines.map((line, i) => {
    if (!line.startsWith(DASH)) throw malformed(`Signature line ${i + 1} does not start with "— "`)
    const parts = line.slice(DASH.length).split(' ')
    const [name, b64] = parts
    if (parts.length !== 2 || name === undefined || b64 === undefined || !isKeyName(name)) throw malformed(`Signature line ${i + 1} is not "— <name> <base64>"`)
    const raw = readBase64(b64, `The signature on line ${i + 1}`)
    if (raw.byteLength < 5) throw malformed(`The signature on line ${i + 1} is shorter than a key ID and one byte`)
    return { name, keyId: raw.subarray(0, 4), bytes: raw.subarray(4) }
  })
  return { body, signatures }
}

/** One signature line, "\n" included. */
export function formatSignatureLine (name: string, keyId: Uint8Array, bytes: Uint8Array): string {
  return DASH + name + ' ' + Buffer.concat([keyId, bytes]).toString('base64') + '\n'
}

/** A note's text: its body, the blank line, its signature lines. */
export function formatNote (note: Note): string {
  return note.body + '\n' + note.signatures.map(s => formatSignatureLine(s.name, s.keyId, s.bytes)).join('')
}
