/**
 * Offline proof checking: `vitra proof verify <file.json>` accepts an inclusion
 * proof, a range proof, a contract fraud proof, a log fork proof, a query result with row
 * proofs (`vitra query --proofs --json`), or a tracked transaction
 * (<dir>/txs/<id>.json), and checks it with nothing but the public key(s) it
 * names (pin one with --key). Exit 0 when it checks out, 1 when it does not.
 */
import { beeNode } from '../../src/proofs/bee/bee-schema.js'
import {
  InvalidProofError, parseJson, verifyFraudProof, verifyInclusionProof,
  verifyLogForkProof, verifyRangeProof, type TxResult
} from '../../src/index.js'
import { verifyTransactionProofs } from '../../src/proofs/records/result-proofs.js'
import { verifyWitnessedCheckpoint } from '../../src/proofs/witness/policy.js'
import { verifyQueryRowProofs, type QueryRowsToCheck } from '../../src/proofs/records/query-proofs.js'
import { EXIT, usageError } from '../errors.js'
import { parseKey } from '../params.js'
import { readJson, TX_RECORD_TYPE, type TxRecord } from '../records.js'
import type { Session } from '../session.js'
import { decodeIndexValue } from '../../src/format/ack-v2.js'

/** `vitra proof verify <file>`. */
export async function proofVerifyCommand (s: Session, file: string, o: { key?: string, policy?: string } = {}): Promise<number> {
  const json = readJson(file) as { type?: unknown }
  const key = o.key === undefined ? undefined : parseKey(o.key, 'log key')
  switch (json?.type) {
    case 'vitra/inclusion-proof': return inclusion(s, json, key)
    case 'vitra/range-proof': return range(s, json, key)
    case 'vitra/contract-fraud-proof': return fraud(s, json, key)
    case 'vitra/log-fork-proof': return logFork(s, json, key)
    case TX_RECORD_TYPE: return trackedTx(s, json as TxRecord, key)
    case 'vitra/query-result': return queryResult(s, json as QueryRowsToCheck & { database: string, sql: string, at: number }, key)
    case 'vitra/witnessed-checkpoint': return witnessedCheckpoint(s, json as { checkpoint?: unknown, database?: unknown }, key, o.policy)
    default: throw usageError(`${file} is not a vitra proof: expected "type" to be vitra/inclusion-proof, vitra/range-proof, vitra/contract-fraud-proof, vitra/log-fork-proof, vitra/query-result, vitra/witnessed-checkpoint or ${TX_RECORD_TYPE}`)
  }
}

/**
 * A witnessed checkpoint (the answer of GET …/checkpoint): its head signed by the
 * database key and its cosignatures checked under the policy given with --policy. Only
 * the note is read; the answer's other fields repeat it or are the host's claims.
 */
function witnessedCheckpoint (s: Session, json: { checkpoint?: unknown, database?: unknown }, key: string | undefined, policyFile: string | undefined): number {
  if (policyFile === undefined) throw usageError('A witnessed checkpoint is checked under a witness policy: give --policy <policy.json>')
  const v = verifyWitnessedCheckpoint(json.checkpoint, readJson(policyFile), { key })
  const names = v.cosigned.map(c => `${c.name} at ${new Date(c.timestamp * 1000).toISOString()}`)
  s.out.result({ valid: true, type: 'vitra/witnessed-checkpoint', key: v.head.key, length: v.head.length, fork: v.head.fork, treeHash: v.head.treeHash, cosigned: v.cosigned, quorum: v.quorum, witnesses: v.witnesses }, () => [
    s.out.green(`Valid witnessed checkpoint: index length ${v.head.length} of database ${v.head.key}, cosigned by ${v.cosigned.length} of the policy's ${v.witnesses} witnesses (quorum ${v.quorum})`),
    ...s.out.kv([['signed head', `length ${v.head.length}, fork ${v.head.fork}, signed by the database key`], ['cosigned by', names.join('; ')]], '  '),
    '  Each cosignature says its witness had checked that this head extends every earlier one it cosigned for the database.'
  ])
  return EXIT.OK
}

/** A query result with row proofs (`vitra query --proofs --json`): every proven row checked against the database key. */
function queryResult (s: Session, json: QueryRowsToCheck & { database: string, sql: string, at: number }, key: string | undefined): number {
  if (!Array.isArray(json.rows) || typeof json.database !== 'string') throw new InvalidProofError('malformed', 'A query result needs rows and a database key')
  if (key !== undefined && json.database !== key) throw new InvalidProofError('unexpected-key', `The result is about database ${json.database}, not ${key}`)
  const v = verifyQueryRowProofs(json, { key: json.database })
  s.out.result({ valid: true, type: 'vitra/query-result', key: json.database, rows: json.rows.length, proven: v.proven, unproven: v.unproven, length: v.length }, () => [
    s.out.green(`Valid: ${v.proven} of ${json.rows.length} row(s) proven in the index of database ${json.database}`),
    ...s.out.kv([['signed head', `length ${v.length}`], ['unproven rows', v.unproven.length === 0 ? 'none' : `${v.unproven.join(', ')} (they name no index block)`], ['query', `${String(json.sql)} (claimed, not checked)`], ['answer at', `index length ${String(json.at)} (claimed, not checked)`]], '  '),
    '  This proves each proven row is an entry of the signed index, not that the query returned every matching row.'
  ])
  return EXIT.OK
}

function inclusion (s: Session, json: unknown, key: string | undefined): number {
  const v = verifyInclusionProof(json, { key })
  const content = describeBlock(v.value)
  s.out.result({ valid: true, type: 'vitra/inclusion-proof', key: v.key.toString('hex'), index: v.index, length: v.length, fork: v.fork, content }, () => [
    s.out.green(`Valid inclusion proof: block ${v.index} of log ${v.key.toString('hex')}`),
    ...s.out.kv([['signed head', `length ${v.length}, fork ${v.fork}`], ['block', s.out.value(content)]], '  ')
  ])
  return EXIT.OK
}

function range (s: Session, json: unknown, key: string | undefined): number {
  const v = verifyRangeProof(json, { key })
  const last = v.start + v.values.length - 1
  s.out.result({ valid: true, type: 'vitra/range-proof', key: v.key.toString('hex'), start: v.start, count: v.values.length, length: v.length, fork: v.fork }, () => [
    s.out.green(`Valid range proof: blocks ${v.start}–${last} (${v.values.length}) of log ${v.key.toString('hex')}`),
    ...s.out.kv([['signed head', `length ${v.length}, fork ${v.fork}`]], '  ')
  ])
  return EXIT.OK
}

async function fraud (s: Session, json: unknown, key: string | undefined): Promise<number> {
  const v = await verifyFraudProof(json)
  if (key !== undefined && v.key !== key) throw new InvalidProofError('unexpected-key', `The proof is about database ${v.key}, not ${key}`)
  // only what the checks proved is shown: the file's own details.description and details.data are claims anyone can edit
  const at = v.seq === null ? 'at an index seq the evidence does not pin' : `at index seq ${v.seq}`
  s.out.result({ valid: true, type: 'vitra/contract-fraud-proof', key: v.key, code: v.code, seq: v.seq, selfEvident: v.selfEvident, headLength: v.head.length, statement: v.statement, proven: v.proven }, () => [
    v.selfEvident
      ? s.out.red(`Valid fraud proof: ${v.code} ${at} of database ${v.key}`)
      : s.out.red(`Genuine signed evidence of database ${v.key}; the violation (${v.code}) is claimed, not proven by this file`),
    ...s.out.kv([
      ['violation', v.statement],
      ['signed head', `index length ${v.head.length}, signed by the executor`],
      ['verdict', v.selfEvident ? 'proven by the signed evidence alone' : `a replay confirms or refutes it: vitra verify ${v.key}`]
    ], '  ')
  ])
  return EXIT.OK
}

function logFork (s: Session, json: unknown, key: string | undefined): number {
  const v = verifyLogForkProof(json, { key })
  s.out.result({ valid: true, type: 'vitra/log-fork-proof', key: v.key.toString('hex'), kind: v.kind, historyDiffers: v.historyDiffers }, () =>
    s.out.red(`Valid log fork proof: log ${v.key.toString('hex')} signed two incompatible histories (${v.kind})`))
  return EXIT.OK
}

function trackedTx (s: Session, rec: TxRecord, key: string | undefined): number {
  if (key !== undefined && rec.database !== key) throw new InvalidProofError('unexpected-key', `The transaction is for database ${rec.database}, not ${key}`)
  const checks = checkTxRecord(rec, rec.results)
  s.out.result({ valid: true, type: TX_RECORD_TYPE, id: rec.id, database: rec.database, checks }, () => [
    s.out.green(`Valid tracked transaction ${rec.id} of database ${rec.database}`),
    `  method ${String(rec.tx.method)} (claimed, not checked: the oplog holds the ops, not the call)`,
    ...checks.map(c => `  ${c}`)
  ])
  return EXIT.OK
}

/**
 * Check a tracked transaction offline: every op's inclusion proof against its
 * oplog key (and that it proves exactly that op at that seq), and for each known
 * result the ack's and every write's inclusion proof against the database key,
 * that the ack is the one of this op, and that the writes follow it as announced.
 * Throws InvalidProofError on the first failure; returns what was checked.
 */
export function checkTxRecord (rec: TxRecord, results: Array<TxResult | null> | null): string[] {
  return verifyTransactionProofs({ database: rec.database, ops: rec.tx.ops, results })
}

/** What a proven block holds: an op (JSON), a Hyperbee entry ({ key, value }), or hex. */
function describeBlock (value: Buffer): unknown {
  const json = attempt(() => decodeIndexValue(value))
  if (json !== FAILED) return json
  const entry = attempt(() => {
    const node = beeNode.decode(value)
    const text = node.value === null ? null : node.value.toString('utf8')
    const parsed = text === null ? null : attempt(() => parseJson(text))
    return { key: node.key.toString('utf8'), value: parsed === FAILED ? text : parsed }
  })
  if (entry !== FAILED) return entry
  return { hex: value.toString('hex') }
}

const FAILED = Symbol('failed')

/** `fn()`, or FAILED when it throws: each reading of a block is a guess, and a wrong guess is expected. */
function attempt<T> (fn: () => T): T | typeof FAILED {
  try {
    return fn()
  } catch (err) {
    if (err instanceof Error) return FAILED
    throw err
  }
}
