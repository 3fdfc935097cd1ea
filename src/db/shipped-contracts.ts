/** The contracts shipped in `contracts/` (sources are data, read at run time). */
import { readFileSync } from 'fs'
import { fileURLToPath } from 'url'

/** Absolute path of a shipped contract, e.g. `shippedContractPath('counter')`. */
export function shippedContractPath (name: string): string {
  // this file is dist/src/db/shipped-contracts.js; contracts/ is at the package root
  return fileURLToPath(new URL(`../../../contracts/${name}.js`, import.meta.url))
}

/** Source of a shipped contract: 'counter', 'kv-store', 'membership-voting', … */
export function readShippedContract (name: string): string {
  return readFileSync(shippedContractPath(name), 'utf8')
}
