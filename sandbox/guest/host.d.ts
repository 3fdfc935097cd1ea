/**
 * What the guest modules see of the host, for the type check of sandbox/guest/ only.
 * `vitra:sys` is made by the host from src/format/sys-keys.ts (sandbox/guest-sources.ts).
 */
declare module 'vitra:sys' {
  /** `/.sys`, stored key. */
  export const SYS_KEY: string
  /** `/.sys/inputs`, stored key. */
  export const INPUTS_DIR: string
  /** `/.sys/contract/source`, stored key. */
  export const CONTRACT_SOURCE_KEY: string
  /** `/.sys/servers`, stored key. */
  export const SERVERS_KEY: string
  /** `/.sys/witnesses`, stored key. */
  export const WITNESSES_KEY: string
}

// What the isolate's V8 has beyond ES2022 and the runtime uses.
interface String {
  isWellFormed (): boolean
}
interface Atomics {
  waitAsync?: unknown
}
declare namespace WebAssembly {
  class Module { constructor (bytes: unknown) }
  class Instance { constructor (module: Module, imports?: unknown) }
}
