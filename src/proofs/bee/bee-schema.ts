/**
 * The block format of a Hyperbee log, from its documented protobuf schema (hyperbee's
 * `schema.proto`, whitepaper/proofs.md "Index blocks"), decoded and encoded here so
 * that checking a proof runs no hyperbee code on untrusted bytes:
 *
 *   message Node      { required bytes index = 1; required bytes key = 2; optional bytes value = 3; }
 *   message YoloIndex { message Level { repeated uint64 keys = 1 [packed]; repeated uint64 children = 2 [packed]; }
 *                       repeated Level levels = 1; }
 *   message Header    { required string protocol = 1; optional Metadata metadata = 2; }
 *
 * Block 0 is a Header, every other block a Node whose `index` is an encoded YoloIndex.
 * Stricter than a general protobuf reader: a field of the wrong wire type, a varint
 * beyond 2^53 − 1, a truncated field or a missing required field is an error (thrown
 * as a plain Error; callers turn it into their own). The encoding is canonical
 * (fields in number order, packed repeated fields, no unknown fields), byte for byte
 * what hyperbee writes (pinned by test/bee-schema.test.ts against a real Hyperbee).
 * A leaf: it imports nothing.
 */

export interface BeeCodec<T> { encode: (v: T) => Buffer, decode: (b: Uint8Array) => T }
/** A Hyperbee block: key, value and the encoded b-tree levels (`BeeYoloIndex`). */
export interface BeeNode { key: Buffer, value: Buffer | null, index: Buffer }
/** The b-tree levels a block carries: key pointers (block seqs) and child pointers (seq, level offset pairs). */
export interface BeeYoloIndex { levels: Array<{ keys: number[], children: number[] }> }
/** Block 0 of a Hyperbee log. `metadata` is kept as its encoded bytes. */
export interface BeeHeader { protocol: string, metadata: Buffer | null }

const VARINT = 0
const BYTES = 2
const I64 = 1
const I32 = 5

/** Reads protobuf fields from `buf`. */
class Reader {
  private pos = 0
  constructor (private readonly buf: Buffer) {}

  get done (): boolean { return this.pos >= this.buf.length }

  varint (): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint')
      const b = this.buf[this.pos++]!
      value += (b & 0x7f) * scale
      if (b < 0x80) {
        if (!Number.isSafeInteger(value)) throw new Error('varint beyond 2^53 - 1')
        return value
      }
      scale *= 128
    }
    throw new Error('varint beyond 2^53 - 1')
  }

  bytes (): Buffer {
    const len = this.varint()
    if (len > this.buf.length - this.pos) throw new Error('truncated field')
    const out = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return out
  }

  /** The next field's number and wire type. */
  tag (): { field: number, wire: number } {
    const t = this.varint()
    return { field: Math.floor(t / 8), wire: t % 8 }
  }

  skip (wire: number): void {
    if (wire === VARINT) this.varint()
    else if (wire === BYTES) this.bytes()
    else if (wire === I64 || wire === I32) {
      const n = wire === I64 ? 8 : 4
      if (n > this.buf.length - this.pos) throw new Error('truncated field')
      this.pos += n
    } else throw new Error(`unknown wire type ${wire}`)
  }

  /** A packed repeated varint field, appended to `out`. */
  packed (out: number[]): void {
    const len = this.varint()
    if (len > this.buf.length - this.pos) throw new Error('truncated field')
    const end = this.pos + len
    while (this.pos < end) out.push(this.varint())
    if (this.pos !== end) throw new Error('a packed varint runs past its field')
  }
}

function expect (wire: number, want: number, what: string): void {
  if (wire !== want) throw new Error(`${what} has wire type ${wire}, not ${want}`)
}

function toBuffer (b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}

// ---------------------------------------------------------------- writing

function varintBytes (n: number, out: number[]): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`cannot encode ${n} as a varint`)
  while (n >= 0x80) {
    out.push((n % 128) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
}

/** `tag` + length + bytes of a length-delimited field. */
function lengthField (field: number, body: Uint8Array): Buffer {
  const head: number[] = []
  varintBytes(field * 8 + BYTES, head)
  varintBytes(body.length, head)
  return Buffer.concat([Buffer.from(head), body])
}

function packedField (field: number, values: number[]): Buffer | null {
  if (values.length === 0) return null
  const body: number[] = []
  for (const v of values) varintBytes(v, body)
  return lengthField(field, Buffer.from(body))
}

function concat (parts: Array<Buffer | null>): Buffer {
  return Buffer.concat(parts.filter((p): p is Buffer => p !== null))
}

// ---------------------------------------------------------------- the three messages

function decodeLevel (buf: Buffer): { keys: number[], children: number[] } {
  const r = new Reader(buf)
  const level = { keys: [] as number[], children: [] as number[] }
  while (!r.done) {
    const { field, wire } = r.tag()
    if (field === 1 || field === 2) {
      expect(wire, BYTES, field === 1 ? 'Level.keys' : 'Level.children')
      r.packed(field === 1 ? level.keys : level.children)
    } else r.skip(wire)
  }
  return level
}

/** The b-tree levels of a block. */
export const beeYoloIndex: BeeCodec<BeeYoloIndex> = {
  encode (v) {
    return concat(v.levels.map(l => lengthField(1, concat([packedField(1, l.keys), packedField(2, l.children)]))))
  },
  decode (b) {
    const r = new Reader(toBuffer(b))
    const levels: BeeYoloIndex['levels'] = []
    while (!r.done) {
      const { field, wire } = r.tag()
      if (field === 1) {
        expect(wire, BYTES, 'YoloIndex.levels')
        levels.push(decodeLevel(r.bytes()))
      } else r.skip(wire)
    }
    return { levels }
  }
}

/** A Hyperbee block: key, value and its b-tree levels. */
export const beeNode: BeeCodec<BeeNode> = {
  encode (v) {
    return concat([lengthField(1, v.index), lengthField(2, v.key), v.value === null ? null : lengthField(3, v.value)])
  },
  decode (b) {
    const r = new Reader(toBuffer(b))
    let index: Buffer | null = null
    let key: Buffer | null = null
    let value: Buffer | null = null
    while (!r.done) {
      const { field, wire } = r.tag()
      if (field >= 1 && field <= 3) {
        expect(wire, BYTES, 'Node field ' + field)
        const bytes = r.bytes()
        if (field === 1) index = bytes
        else if (field === 2) key = bytes
        else value = bytes
      } else r.skip(wire)
    }
    if (index === null || key === null) throw new Error('a Hyperbee node needs an index and a key')
    return { index, key, value }
  }
}

/** Block 0 of a Hyperbee log. */
export const beeHeader: BeeCodec<BeeHeader> = {
  encode (v) {
    return concat([lengthField(1, Buffer.from(v.protocol, 'utf8')), v.metadata === null ? null : lengthField(2, v.metadata)])
  },
  decode (b) {
    const r = new Reader(toBuffer(b))
    let protocol: string | null = null
    let metadata: Buffer | null = null
    while (!r.done) {
      const { field, wire } = r.tag()
      if (field === 1 || field === 2) {
        expect(wire, BYTES, field === 1 ? 'Header.protocol' : 'Header.metadata')
        const bytes = r.bytes()
        if (field === 1) protocol = bytes.toString('utf8')
        else metadata = bytes
      } else r.skip(wire)
    }
    if (protocol === null) throw new Error('a Hyperbee header needs a protocol')
    return { protocol, metadata }
  }
}
