/**
 * `vitra witness init` and `vitra witness serve` (whitepaper/witness.md): a witness's key
 * in its directory, and the witness itself over HTTP until interrupted. Unless --offline,
 * the witness also follows on the swarm each database it cosigned (and each one named by
 * --only or --follow), through a sparse replica of its index (src/witness/follower.ts).
 * Neither opens a database.
 */
import { hostname } from 'os'
import { basename, join, resolve } from 'path'
import { createWitnessKey } from '../../src/witness/keys.js'
import { Witness } from '../../src/witness/witness.js'
import { WitnessFollower } from '../../src/witness/follower.js'
import type { LogForkFraudProof } from '../../src/proofs/fraud/log-fork-proof.js'
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

/** `vitra witness serve [--port P] [--http-host A] [--only <key>]… [--follow <key>]…`: cosign checkpoints until interrupted. */
export async function witnessServeCommand (s: Session, o: { port?: string, httpHost?: string, only: string[], follow: string[] }): Promise<number> {
  const port = Number(o.port ?? 8687)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--port must be a port number (0-65535), not ${String(o.port)}`)
  const only = o.only.length === 0 ? undefined : o.only.map(k => parseKey(k, 'database key'))
  const follow = o.follow.map(k => parseKey(k, 'database key'))
  if (s.opts.offline && follow.length > 0) throw usageError('--follow follows a database on the swarm: drop --offline')
  const notCosigned = only === undefined ? [] : follow.filter(k => !only.includes(k))
  if (notCosigned.length > 0) throw usageError(`--follow ${notCosigned[0]}: not among the --only databases this witness cosigns`)
  const witness = new Witness({ dir: resolve(s.opts.dir), port, host: o.httpHost ?? '127.0.0.1', only })
  await witness.ready()
  let follower: WitnessFollower | null = null
  try {
    const what = only === undefined ? 'any vitra database' : `${only.length} database${only.length === 1 ? '' : 's'}`
    s.out.event({ event: 'witness-serving', url: witness.url, name: witness.key.name, vkey: witness.key.vkey, only: only ?? null, swarm: !s.opts.offline },
      `Witness "${witness.key.name}" cosigning checkpoints of ${what} at ${witness.url}/add-checkpoint${s.opts.offline ? ' (offline: not on the swarm)' : ''}. Ctrl-C to stop.\nVerifier key: ${witness.key.vkey}`)
    if (!s.opts.offline) {
      const f = new WitnessFollower(witness, { swarm: s.swarmOptions() })
      follower = f
      f.on('following', (key: string) => s.out.event({ event: 'witness-following', key }, `Following ${key} on the swarm: its new heads are cosigned as this witness sees them.`))
      f.on('fork', (proof: LogForkFraudProof, key: string) => s.out.event({ event: 'log-fork', key, proof: proof.toJSON() }, `FRAUD: the index log ${key} forked: it signed two histories (the proof is kept in ${join(witness.dir, 'forks')}). This witness cosigns no head of the other history.`))
      f.on('warning', (err: Error) => s.out.warn(`following: ${err.message}`))
      await f.ready()
      for (const key of new Set([...(only ?? []), ...follow])) await f.follow(key)
    }
    await untilStopped(s.signal)
  } finally {
    await follower?.close()
    await witness.close()
  }
  s.out.event({ event: 'stopped' }, 'Stopped.')
  return EXIT.OK
}
