/**
 * The sources of the modules that run inside a contract's isolate, read once from
 * sandbox/guest/ (checked JavaScript, see sandbox/guest/tsconfig.json):
 * - `vitra:runtime` (runtime.js): the internal module the host talks to; a contract
 *   cannot import it;
 * - `contract`, `assert`, `util`: the modules a contract may import;
 * - `vitra:sys`: the stored /.sys keys of src/format/sys-keys.ts, made here as a module so
 *   that the runtime uses the host's own constants.
 */
import { readFileSync } from 'fs'
import { CONTRACT_SOURCE_KEY, INPUTS_DIR, SERVERS_KEY, SYS_KEY, WITNESSES_KEY } from '../src/format/sys-keys.js'

/** Specifier of the internal runtime module. Contracts cannot import it. */
export const RUNTIME_SPECIFIER = 'vitra:runtime'
/** Specifier of the constants module only the runtime imports. */
export const SYS_SPECIFIER = 'vitra:sys'
/** The modules a contract may import. */
export const GUEST_MODULE_NAMES = ['contract', 'assert', 'util'] as const
export type GuestModuleName = typeof GUEST_MODULE_NAMES[number]

export interface GuestSources {
  runtime: string
  sys: string
  modules: Readonly<Record<GuestModuleName, string>>
}

// This file runs as dist/sandbox/guest-sources.js; the guest files ship as they are written.
const GUEST_DIR = new URL('../../sandbox/guest/', import.meta.url)

let cached: GuestSources | null = null

/** The guest sources, read on first use. */
export function guestSources (): GuestSources {
  if (cached !== null) return cached
  const read = (name: string): string => readFileSync(new URL(name, GUEST_DIR), 'utf8')
  const keys = { SYS_KEY, INPUTS_DIR, CONTRACT_SOURCE_KEY, SERVERS_KEY, WITNESSES_KEY }
  cached = {
    runtime: read('runtime.js'),
    sys: Object.entries(keys).map(([name, value]) => `export const ${name} = ${JSON.stringify(value)}\n`).join(''),
    modules: Object.freeze({ contract: read('contract.js'), assert: read('assert.js'), util: read('util.js') })
  }
  return cached
}
