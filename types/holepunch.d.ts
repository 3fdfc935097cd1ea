// Minimal type declarations for the Holepunch libraries this project uses.
// Only the members vitra calls are declared; extend as needed.

declare module 'hypercore' {
  import { EventEmitter } from 'events'
  interface HypercoreProofRequest {
    block?: { index: number, nodes: number }
    hash?: { index: number, nodes: number }
    seek?: { bytes: number, padding: number }
    upgrade?: { start: number, length: number }
  }
  /** A Merkle tree node of a proof. */
  interface TreeNode { index: number, size: number, hash: Buffer }
  /** What `proof()` returns: the parts the request asked for (see src/proofs/log/inclusion-proofs.ts). */
  interface HypercoreProof {
    fork: number
    block: { index: number, value: Buffer | null, nodes: TreeNode[] } | null
    hash: { index: number, nodes: TreeNode[] } | null
    seek: { bytes: number, nodes: TreeNode[] } | null
    upgrade: { start: number, length: number, nodes: TreeNode[], additionalNodes: TreeNode[], signature: Buffer } | null
    manifest: HypercoreManifest | null
  }
  /** A core's manifest (who signs it); its fields are read by src/proofs/manifest.ts from JSON copies. */
  interface HypercoreManifest {
    version: number
    hash: string
    allowPatch?: boolean
    quorum: number
    signers: Array<{ signature: string, namespace: Buffer, publicKey: Buffer }>
    prologue: { hash: Buffer, length: number } | null
  }
  /**
   * A peer of a core, as `peers` lists it: opaque, because its fields are not
   * documented (src/holepunch/core-internals.ts reads the few vitra needs).
   */
  type HypercorePeer = object
  /** A block download (`download()`). */
  interface HypercoreDownload { done (): Promise<void>, destroy (): void }
  /** A named message channel to every peer of a core (`registerExtension`). */
  interface HypercoreExtension {
    send (message: Buffer, peer: HypercorePeer): void
    broadcast (message: Buffer): void
    destroy (): void
  }
  class Hypercore extends EventEmitter {
    constructor (storage: unknown, key?: Buffer | null | Record<string, unknown>, opts?: Record<string, unknown>)
    /** A bare replication stream (Protomux over it), for cores attached later. */
    static createProtocolStream (isInitiator: boolean | unknown, opts?: Record<string, unknown>): unknown
    static key (manifest: Partial<HypercoreManifest> | Buffer, opts?: Record<string, unknown>): Buffer
    /** The tree hash at `length` from the stored tree nodes alone (no block is read or fetched). */
    static treeHashFromStorage (core: Hypercore, length?: number): Promise<Buffer>
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly keyPair: { publicKey: Buffer, secretKey: Buffer | null } | null
    readonly manifest: HypercoreManifest | null
    readonly length: number
    readonly contiguousLength: number
    readonly fork: number
    readonly writable: boolean
    readonly readable: boolean
    readonly closed: boolean
    readonly opened: boolean
    readonly byteLength: number
    readonly peers: HypercorePeer[]
    ready (): Promise<void>
    close (): Promise<void>
    append (blocks: Buffer | Buffer[], opts?: { postappend?: (values: Buffer[]) => Promise<void> }): Promise<{ length: number, byteLength: number }>
    get (index: number, opts?: { wait?: boolean, timeout?: number, valueEncoding?: string, [k: string]: unknown }): Promise<Buffer | null>
    has (start: number, end?: number): Promise<boolean>
    /** Delete the stored blocks [start, end) (the Merkle tree stays). */
    clear (start: number, end?: number, opts?: { diff?: boolean }): Promise<{ blocks: number } | null>
    update (opts?: { wait?: boolean, [k: string]: unknown }): Promise<boolean>
    truncate (length: number, opts?: Record<string, unknown> | number): Promise<void>
    treeHash (length?: number): Promise<Buffer>
    signable (length?: number, fork?: number): Promise<Buffer>
    proof (opts: HypercoreProofRequest): Promise<HypercoreProof>
    session (opts?: Record<string, unknown>): Hypercore
    snapshot (opts?: Record<string, unknown>): Hypercore
    download (range?: { start?: number, end?: number, blocks?: number[], linear?: boolean }): HypercoreDownload
    seek (bytes: number, opts?: { timeout?: number, wait?: boolean }): Promise<[number, number] | null>
    /** A replication stream (a streamx Duplex); callers say what they use of it. */
    replicate (isInitiator: boolean | unknown, opts?: Record<string, unknown>): unknown
    findingPeers (): () => void
    info (opts?: Record<string, unknown>): Promise<Record<string, unknown>>
    registerExtension (name: string, handlers: { encoding?: unknown, onmessage?: (message: Buffer, peer: HypercorePeer) => void }): HypercoreExtension
  }
  export default Hypercore
  export type { HypercoreExtension, HypercoreManifest, HypercorePeer, HypercoreProof, TreeNode }
}

declare module 'hyperbee' {
  import Hypercore from 'hypercore'
  /** An entry; vitra's bees use utf-8 keys and binary values (one test uses JSON values). */
  export interface BeeEntry<V = Buffer> { seq: number, key: string, value: V }
  interface BeeRange { gt?: string, gte?: string, lt?: string, lte?: string, limit?: number, reverse?: boolean }
  interface BeeOptions {
    keyEncoding?: 'utf-8'
    valueEncoding?: 'binary' | 'json'
    checkout?: number
    extension?: boolean
    readonly?: boolean
    [k: string]: unknown
  }
  interface GetOptions { wait?: boolean, timeout?: number, update?: boolean, [k: string]: unknown }
  export class HyperbeeBatch<V = Buffer> {
    get (key: string, opts?: GetOptions): Promise<BeeEntry<V> | null>
    put (key: string, value?: V, opts?: Record<string, unknown>): Promise<void>
    del (key: string, opts?: Record<string, unknown>): Promise<void>
    flush (): Promise<void>
    close (): Promise<void>
    createReadStream (range?: BeeRange, opts?: GetOptions): AsyncIterable<BeeEntry<V>>
  }
  class Hyperbee<V = Buffer> {
    constructor (core: Hypercore, opts?: BeeOptions)
    readonly core: Hypercore
    readonly version: number
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly writable: boolean
    readonly readable: boolean
    ready (): Promise<void>
    close (): Promise<void>
    get (key: string, opts?: GetOptions): Promise<BeeEntry<V> | null>
    put (key: string, value?: V, opts?: Record<string, unknown>): Promise<void>
    del (key: string, opts?: Record<string, unknown>): Promise<void>
    peek (range?: BeeRange, opts?: GetOptions): Promise<BeeEntry<V> | null>
    batch (opts?: Record<string, unknown>): HyperbeeBatch<V>
    checkout (version: number, opts?: Record<string, unknown>): Hyperbee<V>
    snapshot (opts?: Record<string, unknown>): Hyperbee<V>
    createReadStream (range?: BeeRange, opts?: GetOptions): AsyncIterable<BeeEntry<V>>
    createHistoryStream (opts?: { gt?: number, gte?: number, lt?: number, lte?: number, reverse?: boolean, live?: boolean, limit?: number }): AsyncIterable<{ type: 'put' | 'del', seq: number, key: string, value: V | null }>
    getHeader (opts?: GetOptions): Promise<{ protocol: string, metadata: unknown } | null>
    update (opts?: Record<string, unknown>): Promise<boolean>
  }
  export default Hyperbee
}

declare module 'corestore' {
  import Hypercore from 'hypercore'
  import { EventEmitter } from 'events'
  class Corestore extends EventEmitter {
    constructor (storage: unknown, opts?: Record<string, unknown>)
    ready (): Promise<void>
    close (): Promise<void>
    get (opts: { name?: string, key?: Buffer | string, keyPair?: { publicKey: Buffer, secretKey: Buffer | null }, manifest?: unknown, [k: string]: unknown } | Buffer): Hypercore
    namespace (name: string | Buffer): Corestore
    session (opts?: Record<string, unknown>): Corestore
    /** A replication stream (a streamx Duplex); callers say what they use of it. */
    replicate (isInitiator: boolean | unknown, opts?: unknown): unknown
    createKeyPair (name: string, ns?: Buffer): Promise<{ publicKey: Buffer, secretKey: Buffer }>
    suspend (): Promise<void>
    resume (): Promise<void>
    findingPeers (): () => void
    watch (fn: (core: Hypercore) => void): void
    unwatch (fn: (core: Hypercore) => void): void
    readonly closed: boolean
  }
  export default Corestore
}

declare module 'hyperswarm' {
  import { EventEmitter } from 'events'
  class Hyperswarm extends EventEmitter {
    constructor (opts?: Record<string, unknown>)
    readonly connections: Set<unknown>
    readonly dht: unknown
    readonly keyPair: { publicKey: Buffer, secretKey: Buffer }
    join (topic: Buffer, opts?: { server?: boolean, client?: boolean }): { flushed (): Promise<void>, refresh (): Promise<void>, destroy (): Promise<void> }
    leave (topic: Buffer): Promise<void>
    flush (): Promise<void>
    destroy (): Promise<void>
  }
  export default Hyperswarm
}

declare module 'hyperdht' {
  class HyperDHT {
    constructor (opts?: Record<string, unknown>)
    ready (): Promise<void>
    destroy (): Promise<void>
    static keyPair (seed?: Buffer): { publicKey: Buffer, secretKey: Buffer }
  }
  export default HyperDHT
}

declare module 'hyperdht/testnet.js' {
  function createTestnet (size?: number, opts?: { host?: string, port?: number, [k: string]: unknown }): Promise<{ bootstrap: Array<{ host: string, port: number }>, nodes: unknown[], destroy (): Promise<void> }>
  export default createTestnet
}

declare module 'brittle' {
  interface Assertion {
    is (a: unknown, b: unknown, msg?: string): void
    not (a: unknown, b: unknown, msg?: string): void
    alike (a: unknown, b: unknown, msg?: string): void
    unlike (a: unknown, b: unknown, msg?: string): void
    ok (a: unknown, msg?: string): void
    absent (a: unknown, msg?: string): void
    pass (msg?: string): void
    fail (msg?: string): void
    exception: ((fn: unknown, expected?: unknown, msg?: string) => Promise<void>) & { all: (fn: unknown, expected?: unknown, msg?: string) => Promise<void> }
    execution (fn: unknown, msg?: string): Promise<void>
    teardown (fn: () => unknown, opts?: { order?: number }): void
    comment (...args: unknown[]): void
    plan (n: number): void
    timeout (ms: number): void
    test (name: string, fn: (t: Assertion) => unknown): Promise<void>
    end (): void
    tmp (): Promise<string>
  }
  function test (name: string, fn: (t: Assertion) => unknown): Promise<void>
  function test (name: string, opts: { timeout?: number, skip?: boolean, solo?: boolean }, fn: (t: Assertion) => unknown): Promise<void>
  namespace test { function configure (opts: { timeout?: number, [k: string]: unknown }): void }
  export default test
  export type { Assertion }
}

// Hyperbee's block codecs (protocol-buffers), used by src/verify/bee-proofs.ts to check proven blocks.
declare module 'hyperbee/lib/messages.js' {
  interface BeeCodec<T> { encode (v: T): Buffer, decode (b: Uint8Array): T }
  const messages: {
    Node: BeeCodec<{ key: Buffer, value: Buffer | null, index: Buffer | null }>
    YoloIndex: BeeCodec<{ levels: Array<{ keys: number[], children: number[] }> }>
    Header: BeeCodec<{ protocol: string, metadata: Buffer | null }>
  }
  export default messages
}


declare module 'sodium-native' {
  /** blake2b of the concatenation of `inputs` into `out` (its length is the digest length). */
  export function crypto_generichash_batch (out: Uint8Array, inputs: Uint8Array[], key?: Uint8Array): void
  const sodium: { crypto_generichash_batch: typeof crypto_generichash_batch }
  export default sodium
}

declare module 'hypercore-storage' {
  class CoreStorage {
    constructor (dir: string, opts?: { writeBufferSize?: number, maxBackgroundJobs?: number, [k: string]: unknown })
  }
  export default CoreStorage
}

declare module 'rache' {
  class Rache {
    constructor (opts?: { maxSize?: number })
  }
  export default Rache
}
