/**
 * `vitra witness init` and `vitra witness serve` (whitepaper/witness.md): a witness's key
 * in its directory, and the witness itself over HTTP until interrupted. Neither opens a
 * database: a witness knows the logs it cosigns only by their checkpoints.
 */
import { hostname } from 'os'
import { basename, resolve } from 'path'
import { createWitnessKey } from '../../src/witness/keys.js'
import { Witness } from '../../src/witness/witness.js'
import { isKeyName } from '../../src/proofs/witness/note.js'
import { EXIT, usageError } from '../errors.js'
import { parseKey } from '../params.js'
import type { Session } from '../session.js'
import { untilStopped } from './host.js'

/** `vitra witness init [--name <name>]`: make the key; print its verifier key. */
export async function witnessInitCommand (s: Session, o: { name?: string }): Promise<number> {
  const dir = resolve(s.opts.dir)
  const name = o.name ?? `${hostname()}/${basename(dir)}`.replace(/[\s+]/g, '-')
  if (!isKeyName(name)) throw usageError(`--name must be a key name (no spaces, no "+"), not "${name}"`)
  const signer = createWitnessKey(dir, name)
  s.out.event({ event: 'witness-key', name, vkey: signer.key.vkey, dir },
    `Witness key "${name}" made in ${dir}. Its verifier key (give it to the databases this witness will cosign for):\n${signer.key.vkey}`)
  return EXIT.OK
}

/** `vitra witness serve [--port P] [--http-host A] [--only <key>]…`: cosign checkpoints until interrupted. */
export async function witnessServeCommand (s: Session, o: { port?: string, httpHost?: string, only: string[] }): Promise<number> {
  const port = Number(o.port ?? 8687)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--port must be a port number (0-65535), not ${String(o.port)}`)
  const only = o.only.length === 0 ? undefined : o.only.map(k => parseKey(k, 'database key'))
  const witness = new Witness({ dir: resolve(s.opts.dir), port, host: o.httpHost ?? '127.0.0.1', only })
  await witness.ready()
  try {
    const what = only === undefined ? 'any vitra database' : `${only.length} database${only.length === 1 ? '' : 's'}`
    s.out.event({ event: 'witness-serving', url: witness.url, name: witness.key.name, vkey: witness.key.vkey, only: only ?? null },
      `Witness "${witness.key.name}" cosigning checkpoints of ${what} at ${witness.url}/add-checkpoint. Ctrl-C to stop.\nVerifier key: ${witness.key.vkey}`)
    await untilStopped(s.signal)
  } finally {
    await witness.close()
  }
  s.out.event({ event: 'stopped' }, 'Stopped.')
  return EXIT.OK
}
