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
  class Hypercore extends EventEmitter {
    constructor (storage: any, key?: any, opts?: any)
    static createProtocolStream (isInitiator: any, opts?: any): any
    static key (manifest: any, opts?: any): Buffer
    /** The tree hash at `length` from the stored tree nodes alone (no block is read or fetched). */
    static treeHashFromStorage (core: Hypercore, length?: number): Promise<Buffer>
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly keyPair: { publicKey: Buffer, secretKey: Buffer | null } | null
    readonly manifest: any
    readonly length: number
    readonly contiguousLength: number
    readonly fork: number
    readonly writable: boolean
    readonly readable: boolean
    readonly closed: boolean
    readonly opened: boolean
    readonly byteLength: number
    readonly peers: any[]
    ready (): Promise<void>
    close (): Promise<void>
    append (blocks: Buffer | Buffer[], opts?: { postappend?: (values: Buffer[]) => Promise<void> }): Promise<{ length: number, byteLength: number }>
    get (index: number, opts?: any): Promise<any>
    has (start: number, end?: number): Promise<boolean>
    /** Delete the stored blocks [start, end) (the Merkle tree stays). */
    clear (start: number, end?: number, opts?: { diff?: boolean }): Promise<{ blocks: number } | null>
    update (opts?: any): Promise<boolean>
    truncate (length: number, opts?: any): Promise<void>
    treeHash (length?: number): Promise<Buffer>
    signable (length?: number, fork?: number): Promise<Buffer>
    proof (opts: HypercoreProofRequest): Promise<any>
    verifyFullyRemote (proof: any): Promise<any>
    session (opts?: any): Hypercore
    snapshot (opts?: any): Hypercore
    download (range?: any): any
    seek (bytes: number, opts?: { timeout?: number, wait?: boolean }): Promise<[number, number] | null>
    replicate (isInitiator: any, opts?: any): any
    findingPeers (): () => void
    info (opts?: any): Promise<any>
    createReadStream (opts?: any): AsyncIterable<any>
    /** A named message channel to every peer of the core (the returned object sends, broadcasts, destroys). */
    registerExtension (name: string, handlers: { encoding?: any, onmessage?: (message: any, peer: any) => void }): any
    readonly core: any
    readonly state: any
  }
  export default Hypercore
}

declare module 'hyperbee' {
  import Hypercore from 'hypercore'
  export interface BeeEntry<V = any> { seq: number, key: any, value: V }
  interface BeeRange { gt?: any, gte?: any, lt?: any, lte?: any, limit?: number, reverse?: boolean }
  export class HyperbeeBatch {
    get (key: any, opts?: any): Promise<BeeEntry | null>
    put (key: any, value?: any, opts?: any): Promise<void>
    del (key: any, opts?: any): Promise<void>
    flush (): Promise<void>
    close (): Promise<void>
    createReadStream (range?: BeeRange, opts?: any): AsyncIterable<BeeEntry>
  }
  class Hyperbee {
    constructor (core: Hypercore, opts?: any)
    readonly core: Hypercore
    readonly version: number
    readonly key: Buffer
    readonly discoveryKey: Buffer
    readonly writable: boolean
    readonly readable: boolean
    ready (): Promise<void>
    close (): Promise<void>
    get (key: any, opts?: any): Promise<BeeEntry | null>
    put (key: any, value?: any, opts?: any): Promise<void>
    del (key: any, opts?: any): Promise<void>
    peek (range?: BeeRange, opts?: any): Promise<BeeEntry | null>
    batch (opts?: any): HyperbeeBatch
    checkout (version: number, opts?: any): Hyperbee
    snapshot (opts?: any): Hyperbee
    createReadStream (range?: BeeRange, opts?: any): AsyncIterable<BeeEntry>
    createHistoryStream (opts?: any): AsyncIterable<{ type: 'put' | 'del', seq: number, key: any, value: any }>
    getHeader (opts?: any): Promise<any>
    update (opts?: any): Promise<boolean>
  }
  export default Hyperbee
}

declare module 'corestore' {
  import Hypercore from 'hypercore'
  import { EventEmitter } from 'events'
  class Corestore extends EventEmitter {
    constructor (storage: any, opts?: any)
    ready (): Promise<void>
    close (): Promise<void>
    get (opts: any): Hypercore
    namespace (name: string | Buffer): Corestore
    session (opts?: any): Corestore
    replicate (isInitiator: any, opts?: any): any
    createKeyPair (name: string, ns?: Buffer): Promise<{ publicKey: Buffer, secretKey: Buffer }>
    suspend (): Promise<void>
    resume (): Promise<void>
    findingPeers (): () => void
    watch (fn: (core: any) => void): void
    unwatch (fn: (core: any) => void): void
    readonly closed: boolean
  }
  export default Corestore
}

declare module 'hyperswarm' {
  import { EventEmitter } from 'events'
  class Hyperswarm extends EventEmitter {
    constructor (opts?: any)
    readonly connections: Set<any>
    readonly dht: any
    readonly keyPair: { publicKey: Buffer, secretKey: Buffer }
    join (topic: Buffer, opts?: any): { flushed (): Promise<void>, destroy (): Promise<void> }
    leave (topic: Buffer): Promise<void>
    flush (): Promise<void>
    destroy (): Promise<void>
  }
  export default Hyperswarm
}

declare module 'hyperdht' {
  class HyperDHT {
    constructor (opts?: any)
    ready (): Promise<void>
    destroy (): Promise<void>
    static keyPair (seed?: Buffer): { publicKey: Buffer, secretKey: Buffer }
  }
  export default HyperDHT
}

declare module 'hyperdht/testnet.js' {
  function createTestnet (size?: number, opts?: any): Promise<{ bootstrap: Array<{ host: string, port: number }>, nodes: any[], destroy (): Promise<void> }>
  export default createTestnet
}

declare module 'brittle' {
  interface Assertion {
    is (a: any, b: any, msg?: string): void
    not (a: any, b: any, msg?: string): void
    alike (a: any, b: any, msg?: string): void
    unlike (a: any, b: any, msg?: string): void
    ok (a: any, msg?: string): void
    absent (a: any, msg?: string): void
    pass (msg?: string): void
    fail (msg?: string): void
    exception: ((fn: any, expected?: any, msg?: string) => Promise<void>) & { all: (fn: any, expected?: any, msg?: string) => Promise<void> }
    execution (fn: any, msg?: string): Promise<void>
    teardown (fn: () => any, opts?: any): void
    comment (...args: any[]): void
    plan (n: number): void
    timeout (ms: number): void
    test (name: string, fn: (t: Assertion) => any): Promise<void>
    end (): void
    tmp (): Promise<string>
  }
  function test (name: string, fn: (t: Assertion) => any): Promise<void>
  function test (name: string, opts: any, fn: (t: Assertion) => any): Promise<void>
  namespace test { function configure (opts: any): void }
  export default test
  export type { Assertion }
}

declare module 'b4a' {
  const b4a: any
  export default b4a
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
