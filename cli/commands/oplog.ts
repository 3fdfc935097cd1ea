/**
 * Local oplogs: `vitra oplog list|create|delete`.
 *
 * `delete` forgets a local oplog (drops it from vitra.json) and clears its
 * blocks from disk. It is refused while the index lists the oplog as an active
 * participant, and needs --yes when the oplog ever was one (its ops are part of
 * the database's history: monitors need them). The signing key stays derivable
 * in the Corestore, so the log can never be re-created with a different history.
 */
import { type Database } from '../../src/index.js'
import { GOVERNANCE_KEY } from '../../src/format/schemas.js'
import { readMeta, writeMeta } from '../../src/logs/storage.js'
import { CliError, EXIT, usageError } from '../errors.js'
import { short } from '../output.js'
import type { Session } from '../session.js'
import { gatherInfo } from './database.js'
import { resolveOplog } from './data.js'

export async function oplogListCommand (s: Session): Promise<number> {
  const db = await s.open()
  const { oplogs } = await gatherInfo(s, db)
  s.out.result(oplogs, () => s.out.table(['oplog', 'local', 'participant', 'length', 'executed'], oplogs.map(o => [
    o.key, o.local ? 'yes' : 'no', o.participant, String(o.length), String(o.processed)
  ])))
  return EXIT.OK
}

/** `vitra oplog create`: a new local oplog (a participant once the contract adds it). */
export async function oplogCreateCommand (s: Session): Promise<number> {
  const db = await s.open({ network: 'never' })
  const oplog = await db.createOplog()
  const poa = await db.index.getValue(GOVERNANCE_KEY) !== null
  s.out.result({ oplog: oplog.hex, signer: oplog.publicKey, governance: poa ? 'poa' : null }, () => [
    `Created oplog ${oplog.hex}`,
    `  signer key  ${oplog.publicKey}`,
    poa
      ? `It is not a participant yet: a quorum of signatories must admit its signer key (\`vitra keys approve ${oplog.publicKey}\` in a signatory's directory).`
      : `It is not a participant yet: the contract must add it (for example: \`vitra call addParticipant --pubkey ${oplog.hex}\` in the admin's directory).`
  ])
  return EXIT.OK
}

/** `vitra oplog delete <key>`. */
export async function oplogDeleteCommand (s: Session, name: string, o: { yes?: boolean }): Promise<number> {
  if (s.isMemory) throw usageError('Oplogs of a throwaway database go away with it')
  const db = await s.open({ network: 'never' })
  const hex = await resolveOplog(db, name)
  const meta = readMeta(s.opts.dir)
  if (meta === null) throw new CliError('NO_DATABASE', `No database in ${s.opts.dir}`)
  if (!meta.oplogs.some(l => l.pubkey === hex)) throw new CliError('NOT_LOCAL', `Oplog ${hex} is not a local oplog of ${s.opts.dir}: only this directory's own oplogs can be deleted`)
  const rec = (await db.index.inputs()).find(r => r.pubkey === hex)
  if (rec?.active === true) {
    throw new CliError('ACTIVE_PARTICIPANT', `Oplog ${hex} is an active participant: it cannot be deleted while the contract counts it; have it removed through the contract first`)
  }
  if (rec !== undefined && o.yes !== true) {
    throw usageError(`Oplog ${short(hex)} was a participant: its ops are part of the database's history and monitors need them to verify it. Delete anyway with --yes`)
  }
  writeMeta(s.opts.dir, { ...meta, oplogs: meta.oplogs.filter(l => l.pubkey !== hex) })
  await clearBlocks(db, hex)
  await s.close()
  s.out.result({ deleted: hex }, () => `Deleted oplog ${hex}`)
  return EXIT.OK
}

async function clearBlocks (db: Database, hex: string): Promise<void> {
  const oplog = await db.openOplog(hex)
  // Hypercore's clear(start, end) drops the blocks and keeps the signed tree (not in our typings)
  const core = oplog.core as unknown as { clear: (start: number, end: number) => Promise<unknown> }
  if (oplog.length > 0) await core.clear(0, oplog.length)
}
