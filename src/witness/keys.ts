/**
 * A witness's signing key: an ed25519 key pair kept in `<dir>/witness-key.json` (mode
 * 0600), made once by `vitra witness init`. The public half is printed and shared as
 * a C2SP verifier key (src/proofs/witness/cosignature.ts).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'crypto'
import { existsSync, mkdirSync, readFileSync } from 'fs'
import { join } from 'path'
import { errors } from '../errors/errors.js'
import { cosignatureLine, cosignedMessage, formatWitnessKey, parseWitnessKey, type WitnessKey } from '../proofs/witness/cosignature.js'
import { writeFileAtomic } from '../logs/atomic-file.js'

export const KEY_FILE = 'witness-key.json'
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/** A witness key pair, loaded: it cosigns checkpoint texts. */
export class WitnessSigner {
  readonly key: WitnessKey
  private readonly privateKey: KeyObject

  constructor (name: string, seed: Buffer) {
    this.privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
    const spki = createPublicKey(this.privateKey).export({ format: 'der', type: 'spki' })
    this.key = parseWitnessKey(formatWitnessKey(name, spki.subarray(spki.byteLength - 32)))
  }

  /** The cosignature line (C2SP cosignature/v1) of a checkpoint text at `timestamp` (seconds). */
  cosign (body: string, timestamp: number): string {
    return cosignatureLine(this.key, timestamp, sign(null, cosignedMessage(body, timestamp), this.privateKey))
  }
}

/** Makes a new key in `dir` (refusing to replace one) and returns it. */
export function createWitnessKey (dir: string, name: string): WitnessSigner {
  const file = join(dir, KEY_FILE)
  if (existsSync(file)) throw errors.WITNESS_KEY_EXISTS(`${file} exists: this directory already holds a witness key`)
  mkdirSync(dir, { recursive: true })
  const { privateKey } = generateKeyPairSync('ed25519')
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_ED25519_PREFIX.byteLength)
  const signer = new WitnessSigner(name, Buffer.from(seed))
  writeFileAtomic(file, JSON.stringify({ version: 1, name, seed: Buffer.from(seed).toString('hex'), vkey: signer.key.vkey }, null, 2) + '\n', { mode: 0o600, durable: true })
  return signer
}

/** Loads the key in `dir`. */
export function loadWitnessKey (dir: string): WitnessSigner {
  const file = join(dir, KEY_FILE)
  if (!existsSync(file)) throw errors.NO_WITNESS_KEY(`${file} does not exist`)
  let o: { version?: unknown, name?: unknown, seed?: unknown }
  try { o = JSON.parse(readFileSync(file, 'utf8')) as typeof o } catch (err) { throw errors.INVALID_WITNESS_FILE(`${file} is not JSON: ${(err as Error).message}`) }
  if (o.version !== 1 || typeof o.name !== 'string' || typeof o.seed !== 'string' || !/^[0-9a-f]{64}$/.test(o.seed)) throw errors.INVALID_WITNESS_FILE(`${file} is not a witness key file`)
  return new WitnessSigner(o.name, Buffer.from(o.seed, 'hex'))
}
