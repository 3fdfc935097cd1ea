/**
 * `vitra keys …`: signatory keys of a proof-of-authority database (issue 6).
 * `keys id` is pure: `1:` + hex SHA-256 of the 32-byte public key. The others
 * call the PoA system contract's methods through `db.call`; on a database
 * without PoA governance they fail with the contract's unknown-method error.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { type Database, type JsonValue } from '../../src/index.js'
import { GOVERNANCE_KEY } from '../../src/format/schemas.js'
import { CliError, EXIT, usageError } from '../errors.js'
import { parseKey } from '../params.js'
import type { Session } from '../session.js'
import { callCommand } from './data.js'

/** The key id of a public key: `1:` + hex SHA-256 of its 32 bytes. */
export function keyId (pubkeyHex: string): string {
  return '1:' + bytesToHex(sha256(Buffer.from(parseKey(pubkeyHex), 'hex')))
}

/** A key given as an id (`1:<64 hex>`) or a public key (64 hex). */
function parseKeyRef (s: string): string {
  const t = s.trim().toLowerCase()
  if (/^1:[0-9a-f]{64}$/.test(t)) return t
  if (/^[0-9a-f]{64}$/.test(t)) return t
  throw usageError(`Not a key: "${s}" (give a public key, 64 hex characters, or a key id, 1:<64 hex>)`)
}

export async function keysIdCommand (s: Session, pubkey: string): Promise<number> {
  const id = keyId(pubkey)
  s.out.result({ pubkey: pubkey.trim().toLowerCase(), id }, () => id)
  return EXIT.OK
}

/** The open database, when it has a key quorum (PoA governance); else a clear error. */
async function openPoa (s: Session): Promise<Database> {
  const db = await s.open()
  if (await db.index.getValue(GOVERNANCE_KEY) === null) {
    throw new CliError('NOT_POA', `Database ${db.pubkey.toString('hex')} has no key quorum (it was not created with \`vitra init --poa\`): its participants change through its contract, for example \`vitra call addParticipant --pubkey <oplog key>\``)
  }
  return db
}

/**
 * The signer key a `keys approve|revoke` means: a key given as one of the oplog keys this
 * directory knows (its own oplogs, the participants) stands for that oplog's signer key,
 * which is what the system contract admits (an oplog key there would admit another oplog).
 */
async function signerKeyOf (s: Session, db: Database, ref: string): Promise<string> {
  if (!/^[0-9a-f]{64}$/.test(ref)) return ref // a key id
  const oplog = db.oplogs.find(o => o.hex === ref) ?? ((await db.index.inputs()).some(r => r.pubkey === ref) ? await db.openOplog(ref) : undefined)
  if (oplog === undefined || oplog.core.manifest === null || oplog.core.manifest === undefined) return ref
  const signer = oplog.publicKey
  if (signer !== ref) s.out.note(`${ref} is an oplog key: using its signer key ${signer}, which is what signatories approve`)
  return signer
}

export async function keysListCommand (s: Session): Promise<number> {
  const db = await openPoa(s)
  const tx = await db.call('listSignatories')
  const list = tx.response ?? null
  s.out.result(list, () => Array.isArray(list)
    ? s.out.table(['id', 'public key'], list.map(k => {
      const r = (k ?? {}) as Record<string, JsonValue>
      return [String(r.id ?? ''), String(r.pubkey ?? r.publicKey ?? '')]
    }))
    : s.out.value(list))
  return EXIT.OK
}

export async function keysStatusCommand (s: Session, key: string): Promise<number> {
  const db = await openPoa(s)
  const tx = await db.call('getKeyStatus', { key: await signerKeyOf(s, db, parseKeyRef(key)) })
  const st = (tx.response ?? null) as Record<string, JsonValue> | null
  // the approvals count the change that is pending (an admission or a revocation), not the status
  const pending = st?.pending === null || st?.pending === undefined ? null : String(st.pending)
  s.out.result(st, () => st !== null && typeof st === 'object'
    ? s.out.kv([
      ['key', key],
      ['status', String(st.status)],
      ['pending', pending === null ? 'nothing' : `${pending}: ${s.out.value(st.approvals ?? null)} of quorum ${String(st.quorum)} approvals`],
      ['height', String(st.height)]
    ])
    : s.out.value(st))
  return EXIT.OK
}

/** `keys approve` / `keys revoke`: emit the op through the contract (tracked like any call). */
export async function keysVoteCommand (s: Session, action: 'approve' | 'revoke', key: string, o: { wait?: boolean, timeout?: number }): Promise<number> {
  const db = await openPoa(s)
  return await callCommand(s, action === 'approve' ? 'approveKey' : 'revokeKey', { key: await signerKeyOf(s, db, parseKeyRef(key)) }, o)
}
