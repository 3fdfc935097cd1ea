/**
 * The binary ack of protocol version 2 (whitepaper/protocol.md §4.1): the same fields as
 * version 1's JSON ack, in a fixed order, so that an ack takes about 86 bytes instead of
 * 287. One encoding per ack: the decoder refuses any other bytes (a longer varint, a
 * flag out of place, metadata that is not canonical JSON, trailing bytes), so replay
 * can compare acks byte for byte, as it does version 1's canonical JSON.
 *
 *   varint  version        2
 *   32      origin         the oplog's key
 *   varint  seq
 *   varint  oplogLength
 *   32      oplogTreeHash
 *   varint  ts
 *   varint  flags          bit 0 success, bit 1 error present, bit 2 errorCode present
 *   bytes   metadata       canonical JSON of process(op)'s result; empty for null
 *   varint  numChanges
 *   varint  batchStart
 *   bytes   errorCode      when flag bit 2
 *   bytes   error          when flag bit 1 (UTF-8)
 *
 * `varint` is unsigned LEB128 (7 bits a byte, low group first, high bit set on every
 * byte but the last), at most 2^53 − 1, with no trailing zero group; `bytes` is a
 * varint length, then that many bytes. Pure code (no Node APIs): it runs in the browser
 * build of vitra/proofs too.
 */
import { InvalidEntryError } from '../errors/errors.js'
import { canonicalJson, decodeValue, isCanonicalText, parseJson, type JsonValue } from './encoding.js'
import type { Ack } from './schemas.js'

export const ACK_V2 = 2

/** The fields of an ack (schemas.ts's Ack: the same in both versions, `v` tells the encoding; any number here, so that a wrong one can be refused). */
export type AckFields = Omit<Ack, 'v'> & { v: number }

/** A hex digit's value by its char code (0–9, a–f). */
const NIBBLE = new Uint8Array(128)
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i
for (let i = 0; i < 6; i++) NIBBLE[97 + i] = 10 + i
/** Two hex digits by byte value. */
const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'))

const SUCCESS = 1
const HAS_ERROR = 2
const HAS_ERROR_CODE = 4
const HEX64 = /^[0-9a-f]{64}$/
const utf8 = new TextEncoder()
const fatal = new TextDecoder('utf-8', { fatal: true })

/** The version 2 bytes of an ack. Throws a TypeError on fields that no ack has. */
export function encodeAckV2 (ack: AckFields): Uint8Array {
  if (ack.v !== ACK_V2) throw new TypeError(`A version 2 ack has v: 2, not ${String(ack.v)}`)
  if (!HEX64.test(ack.origin) || !HEX64.test(ack.oplogTreeHash)) throw new TypeError('origin and oplogTreeHash are 64-digit hex')
  const metadata = ack.metadata === null ? new Uint8Array(0) : utf8.encode(canonicalJson(ack.metadata))
  const error = ack.error === undefined ? null : utf8.encode(ack.error)
  const errorCode = ack.errorCode === undefined ? null : utf8.encode(ack.errorCode)
  const flags = (ack.success ? SUCCESS : 0) | (error !== null ? HAS_ERROR : 0) | (errorCode !== null ? HAS_ERROR_CODE : 0)
  const w = new Writer(96 + metadata.byteLength + (error?.byteLength ?? 0) + (errorCode?.byteLength ?? 0))
  w.varint(ACK_V2)
  w.hex32(ack.origin)
  w.varint(ack.seq)
  w.varint(ack.oplogLength)
  w.hex32(ack.oplogTreeHash)
  w.varint(ack.ts)
  w.varint(flags)
  w.bytes(metadata)
  w.varint(ack.numChanges)
  w.varint(ack.batchStart)
  if (errorCode !== null) w.bytes(errorCode)
  if (error !== null) w.bytes(error)
  return w.done()
}

/** Whether these bytes are a version 2 ack (and not version 1's JSON, which starts with `{`). */
export function isAckV2 (buf: Uint8Array): boolean {
  return buf.byteLength > 0 && buf[0] === ACK_V2
}

/** Decode a version 2 ack (untrusted bytes). Throws InvalidEntryError unless they are exactly one ack's encoding. */
export function decodeAckV2 (buf: Uint8Array): AckFields {
  const r = new Reader(buf)
  if (r.varint('version') !== ACK_V2) bad('unknown version')
  const origin = r.hex32()
  const seq = r.varint('seq')
  const oplogLength = r.varint('oplogLength')
  const oplogTreeHash = r.hex32()
  const ts = r.varint('ts')
  const flags = r.varint('flags')
  if ((flags & ~(SUCCESS | HAS_ERROR | HAS_ERROR_CODE)) !== 0) bad('unknown flags')
  const metaBytes = r.bytes('metadata')
  let metadata: JsonValue = null
  if (metaBytes.byteLength > 0) {
    const text = r.text(metaBytes, 'metadata')
    try { metadata = parseJson(text, 'The ack metadata') as JsonValue } catch { bad('metadata is not JSON') }
    if (metadata === null || !isCanonicalText(metadata, text)) bad('metadata is not canonical JSON of a value other than null')
  }
  const numChanges = r.varint('numChanges')
  const batchStart = r.varint('batchStart')
  const ack: AckFields = { v: ACK_V2, origin, seq, oplogLength, oplogTreeHash, ts, metadata, success: (flags & SUCCESS) !== 0, numChanges, batchStart }
  if ((flags & HAS_ERROR_CODE) !== 0) ack.errorCode = r.text(r.bytes('errorCode'), 'errorCode')
  if ((flags & HAS_ERROR) !== 0) ack.error = r.text(r.bytes('error'), 'error')
  if (!r.atEnd()) bad('bytes after the ack')
  return ack
}

function bad (what: string): never {
  throw new InvalidEntryError(`Malformed ack (version 2): ${what}`)
}

class Writer {
  private buf: Uint8Array
  private at = 0
  constructor (size: number) { this.buf = new Uint8Array(size) }

  private room (n: number): void {
    if (this.at + n <= this.buf.byteLength) return
    const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.at + n))
    next.set(this.buf)
    this.buf = next
  }

  varint (n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`A varint is a non-negative safe integer, not ${String(n)}`)
    this.room(8)
    while (n >= 0x80) {
      this.buf[this.at++] = (n % 0x80) | 0x80
      n = Math.floor(n / 0x80)
    }
    this.buf[this.at++] = n
  }

  /** 64 lowercase hex digits (checked by the caller) as 32 bytes: a table lookup per digit (this runs once per op on the executor). */
  hex32 (hex: string): void {
    this.room(32)
    for (let i = 0; i < 64; i += 2) this.buf[this.at++] = ((NIBBLE[hex.charCodeAt(i)] as number) << 4) | (NIBBLE[hex.charCodeAt(i + 1)] as number)
  }

  bytes (b: Uint8Array): void {
    this.varint(b.byteLength)
    this.room(b.byteLength)
    this.buf.set(b, this.at)
    this.at += b.byteLength
  }

  done (): Uint8Array { return this.buf.subarray(0, this.at) }
}

class Reader {
  private at = 0
  constructor (private readonly buf: Uint8Array) {}

  varint (what: string): number {
    let n = 0
    let scale = 1
    for (let i = 0; ; i++) {
      if (this.at >= this.buf.byteLength) bad(`${what} is cut short`)
      const b = this.buf[this.at++] as number
      n += (b & 0x7f) * scale
      if (b < 0x80) {
        if (b === 0 && i > 0) bad(`${what} is not in its shortest form`)
        break
      }
      scale *= 0x80
      if (i >= 7) bad(`${what} is too long`)
    }
    if (!Number.isSafeInteger(n)) bad(`${what} is over 2^53 − 1`)
    return n
  }

  hex32 (): string {
    if (this.at + 32 > this.buf.byteLength) bad('a key is cut short')
    let s = ''
    for (let i = 0; i < 32; i++) s += HEX_BYTE[this.buf[this.at++] as number] as string
    return s
  }

  bytes (what: string): Uint8Array {
    const n = this.varint(`${what}'s length`)
    if (this.at + n > this.buf.byteLength) bad(`${what} is cut short`)
    const b = this.buf.subarray(this.at, this.at + n)
    this.at += n
    return b
  }

  text (b: Uint8Array, what: string): string {
    try { return fatal.decode(b) } catch { return bad(`${what} is not UTF-8`) }
  }

  atEnd (): boolean { return this.at === this.buf.byteLength }
}

/**
 * A value stored in the index: canonical JSON (encoding.ts), or, in a version 2
 * database, an ack's binary form, given as its fields. The first byte tells them apart
 * (canonical JSON never starts with 0x02). Throws InvalidValueError / InvalidEntryError.
 */
export function decodeIndexValue (buf: Uint8Array): JsonValue {
  return isAckV2(buf) ? decodeAckV2(buf) as unknown as JsonValue : decodeValue(buf)
}
