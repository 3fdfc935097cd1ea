/**
 * Hyperbee's block codecs: the one importer of `hyperbee/lib/messages.js`, an internal
 * module of hyperbee (not its documented API). A block of a Hyperbee log is a `Node`
 * (key, value, and the `YoloIndex` of the b-tree levels it carries); block 0 is the
 * `Header`. The proof checkers (`src/proofs/`), the index log and the CLI decode blocks
 * through these three, so a hyperbee release that changes them breaks one place, and
 * test/holepunch.test.ts says which codec by name (it pins their bytes).
 */
import messages from 'hyperbee/lib/messages.js'

export interface BeeCodec<T> { encode: (v: T) => Buffer, decode: (b: Uint8Array) => T }
export interface BeeNode { key: Buffer, value: Buffer | null, index: Buffer | null }
export interface BeeYoloIndex { levels: Array<{ keys: number[], children: number[] }> }
export interface BeeHeader { protocol: string, metadata: Buffer | null }

/** A Hyperbee block: key, value and the encoded b-tree levels (`BeeYoloIndex`). */
export const beeNode: BeeCodec<BeeNode> = messages.Node
/** The b-tree levels a block carries. */
export const beeYoloIndex: BeeCodec<BeeYoloIndex> = messages.YoloIndex
/** Block 0 of a Hyperbee log. */
export const beeHeader: BeeCodec<BeeHeader> = messages.Header
