/**
 * Commands on a database as a whole: init, load, info (status), methods,
 * source, destroy. Each is a function of a Session so that the REPL's
 * dot-commands run the very same code.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync } from 'fs'
import { basename, dirname, join, resolve } from 'path'
import { randomBytes } from 'crypto'
import { createInterface } from 'readline'
import { adoptCopy, Database } from '../../src/index.js'
import { CliError, EXIT, usageError } from '../errors.js'
import { short, type Output } from '../output.js'
import { parseKey } from '../params.js'
import { readJson } from '../records.js'
import type { Session } from '../session.js'
import { readWitnessPolicy, witnessPolicyToJSON, type WitnessPolicyJSON } from '../../src/proofs/witness/policy.js'

/** Read a contract file, with a clear error when it is missing. */
export function readContractFile (file: string): string {
  const path = resolve(file)
  if (!existsSync(path)) throw new CliError('NO_CONTRACT', `Contract file not found: ${path}`)
  return readFileSync(path, 'utf8')
}

/**
 * `p`, with a contract error's position named after the user's file (the sandbox
 * compiles every contract as `contract.js`).
 */
export async function inContractFile<T> (file: string, p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (err) {
    const e = err as { code?: unknown, message?: unknown }
    if (typeof e?.code === 'string' && e.code.startsWith('CONTRACT_') && typeof e.message === 'string') {
      (err as Error).message = e.message.split('(contract.js:').join(`(${file}:`)
    }
    throw err
  }
}

/**
 * `vitra init <contract.js>`: create a database in --dir. It is built in a
 * temporary sibling directory and moved into place only once complete, so a
 * failure (a contract that does not compile) leaves nothing behind.
 */
export interface InitOptions {
  /** Proof-of-authority governance (contracts/poa.js) with these genesis signatories (hex public keys; the creator's key is added). */
  poa?: boolean
  signatories?: string[]
  /** A witness policy file (whitepaper/witness.md §4), recorded at genesis. */
  witnesses?: string
  /** The protocol version (`--protocol 1|2`, whitepaper/protocol.md §4.1). */
  protocol?: string
}

/** A witness policy file, checked (a bad one is a usage error naming the file). */
function readWitnessPolicyFile (file: string): WitnessPolicyJSON {
  if (!existsSync(file)) throw usageError(`--witnesses: ${file} does not exist`)
  const json = readJson(file)
  try {
    return witnessPolicyToJSON(readWitnessPolicy(json))
  } catch (err) {
    throw usageError(`--witnesses: ${file} is not a witness policy: ${(err as Error).message}`)
  }
}

export async function initCommand (s: Session, file: string, o: InitOptions = {}): Promise<number> {
  const source = readContractFile(file)
  const dir = s.opts.dir
  if (existsSync(join(dir, 'vitra.json'))) throw new CliError('DATABASE_EXISTS', `A database already exists in ${dir}: choose another --dir, or delete it first with \`vitra destroy\``)
  if (existsSync(join(dir, 'corestore'))) throw new CliError('DATABASE_EXISTS', `${dir} already holds a corestore/ directory: refusing to overwrite it`)
  mkdirSync(dirname(dir), { recursive: true })
  const tmp = join(dirname(dir), `.${basename(dir)}.init-${randomBytes(4).toString('hex')}`)
  let created: { pubkey: string, oplog: string, methods: string[] }
  try {
    const governance = o.poa === true ? { governance: 'poa' as const, signatories: (o.signatories ?? []).map(k => parseKey(k, 'signatory public key')) } : {}
    if (o.poa !== true && (o.signatories ?? []).length > 0) throw usageError('--signatory needs --poa')
    const witnesses = o.witnesses === undefined ? {} : { witnesses: readWitnessPolicyFile(o.witnesses) }
    if (o.protocol !== undefined && o.protocol !== '1' && o.protocol !== '2') throw usageError(`--protocol must be 1 or 2, not ${o.protocol}`)
    const protocol = o.protocol === undefined ? {} : { protocol: Number(o.protocol) as 1 | 2 }
    const db = await inContractFile(file, Database.create(tmp, { contract: { source }, ...governance, ...witnesses, ...protocol }))
    try {
      created = { pubkey: db.pubkey.toString('hex'), oplog: db.localOplog?.hex ?? '', methods: await db.methods() }
    } finally {
      await db.close()
    }
    moveInto(tmp, dir)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  s.out.result({ pubkey: created.pubkey, dir, role: ['executor', 'participant'], oplog: created.oplog, methods: created.methods }, () => [
    `Created database ${created.pubkey}`,
    ...s.out.kv([
      ['directory', dir],
      ['role', 'executor and participant'],
      ['oplog', created.oplog],
      ['contract', `${basename(file)}: ${created.methods.join(', ') || '(no methods)'}`]
    ], '  '),
    'Next: `vitra call <method> --name value`, `vitra host` to serve it to peers, `vitra verify` to audit it.'
  ])
  return EXIT.OK
}

/** Move a freshly built database from `tmp` to `dir`: vitra.json last, it marks the database as complete. */
function moveInto (tmp: string, dir: string): void {
  if (!existsSync(dir)) { renameSync(tmp, dir); return }
  renameSync(join(tmp, 'corestore'), join(dir, 'corestore'))
  renameSync(join(tmp, 'vitra.json'), join(dir, 'vitra.json'))
}

/** `vitra load <pubkey>`: start following a database found on the swarm. */
export async function loadCommand (s: Session, keyArg: string): Promise<number> {
  const pubkey = parseKey(keyArg, 'database public key')
  const dir = s.opts.dir
  if (s.opts.offline) throw usageError('`vitra load` needs the network: drop --offline')
  let db: Database
  if (s.hasDatabase()) {
    db = await s.open({ network: 'never' })
    if (db.pubkey.toString('hex') !== pubkey) throw new CliError('DATABASE_EXISTS', `${dir} already holds database ${db.pubkey.toString('hex')}: use another --dir to follow ${pubkey}`)
    await s.open({ network: 'always' })
  } else {
    db = await followInto(s, pubkey)
    await s.bounded(s.syncHead(db), 'peers to serve the latest index')
  }
  rememberNetwork(s)
  const info = await gatherInfo(s, db)
  s.out.result(info, () => [
    `Following database ${pubkey}`,
    ...humanInfo(s.out, info, '  '),
    'Next: `vitra host` keeps it replicated, `vitra verify` audits it, `vitra monitor` keeps auditing it.'
  ])
  return EXIT.OK
}

/**
 * Start following database `pubkey` in the session's (empty) directory, over the swarm;
 * a load that fails leaves nothing behind. `vitra load` and `vitra serve --follow`.
 */
export async function followInto (s: Session, pubkey: string): Promise<Database> {
  const dir = s.opts.dir
  const before = existsSync(dir) ? new Set(readdirSync(dir)) : null
  let db: Database
  try {
    db = await s.follow(pubkey)
  } catch (err) {
    removeCreated(dir, before) // nothing half-written: drop what the failed load created
    throw err
  }
  rememberNetwork(s)
  return db
}

function removeCreated (dir: string, before: Set<string> | null): void {
  if (before === null) { rmSync(dir, { recursive: true, force: true }); return }
  for (const name of readdirSync(dir)) if (!before.has(name)) rmSync(join(dir, name), { recursive: true, force: true })
}

/** Remember explicit network settings in the directory, so later commands reuse them. */
function rememberNetwork (s: Session): void {
  if (s.opts.bootstrap === undefined && s.opts.host === undefined && s.opts.from === undefined) return
  const cfg = s.records.readConfig()
  s.records.writeConfig({
    ...cfg,
    ...(s.opts.bootstrap !== undefined ? { bootstrap: s.opts.bootstrap } : {}),
    ...(s.opts.host !== undefined ? { host: s.opts.host } : {}),
    ...(s.opts.from !== undefined ? { from: s.opts.from } : {})
  })
}

export interface OplogInfo {
  key: string
  local: boolean
  writable: boolean
  participant: 'active' | 'removed' | 'no'
  length: number
  processed: number
  /** The ed25519 public key that signs the oplog (what PoA signatories approve), when known here. */
  signer?: string
}

export interface Info {
  database: string
  dir: string
  role: string[]
  index: { length: number }
  methods: string[]
  oplogs: OplogInfo[]
  participants: number
  network: { joined: boolean, peers: number }
  verification: { lastVerify: unknown, monitor: { verifiedLength: number } | null, fraudProofs: string[] }
  txs: { tracked: number, pending: number }
  /** The primary servers the database recorded (/.sys/servers). */
  servers: string[]
  /** The witness policy the index holds (/.sys/witnesses): how many of which witnesses must cosign; null: none. */
  witnesses: { quorum: number, witnesses: string[] } | null
  /** The process this command ran in for the caller (it owns the directory), when it did. */
  openIn: { pid: number, command: string, url: string | null } | null
}

/** Everything `vitra info` shows. */
export async function gatherInfo (s: Session, db: Database): Promise<Info> {
  const inputs = await db.index.inputs()
  const localKeys = new Set(localOplogKeys(s, db))
  const oplogs: OplogInfo[] = []
  const keys = [...new Set([...localKeys, ...inputs.map(r => r.pubkey)])]
  for (const key of keys) {
    const rec = inputs.find(r => r.pubkey === key)
    const oplog = await db.openOplog(key)
    oplogs.push({
      key,
      local: localKeys.has(key),
      writable: oplog.writable,
      participant: rec === undefined ? 'no' : rec.active ? 'active' : 'removed',
      length: oplog.length,
      processed: rec === undefined ? 0 : await db.index.lastAckedSeq(key) + 1,
      ...(oplog.core.manifest !== null && oplog.core.manifest !== undefined ? { signer: oplog.publicKey } : {})
    })
  }
  const role = [db.isExecutor ? 'executor' : null, db.isParticipant ? 'participant' : null].filter((r): r is string => r !== null)
  const records = s.records
  const txs = records.listTxs()
  const checkpoint = existsSync(records.checkpointFile) ? readJson(records.checkpointFile) as { state?: { length?: unknown } } : null
  const verifiedLength = checkpoint?.state?.length
  return {
    database: db.pubkey.toString('hex'),
    dir: s.label,
    role: role.length > 0 ? role : ['reader'],
    index: { length: db.index.core.length },
    methods: await db.methods(),
    oplogs,
    participants: inputs.filter(r => r.active).length,
    network: { joined: db.network !== null, peers: db.network?.connections.length ?? 0 },
    verification: {
      lastVerify: existsSync(records.lastVerifyFile) ? readJson(records.lastVerifyFile) : null,
      monitor: typeof verifiedLength === 'number' ? { verifiedLength } : null,
      fraudProofs: records.listFraud().map(f => f.id)
    },
    txs: { tracked: txs.length, pending: txs.filter(t => t.value.results === null || t.value.results.some(r => r === null)).length },
    servers: await db.servers(),
    witnesses: await witnessSummary(db),
    openIn: s.ranFor === null ? null : { pid: s.ranFor.pid, command: s.ranFor.command, url: s.ranFor.url }
  }
}

async function witnessSummary (db: Database): Promise<Info['witnesses']> {
  const policy = await db.witnessPolicy()
  return policy === null ? null : { quorum: policy.quorum, witnesses: policy.witnesses.map(w => w.name) }
}

function localOplogKeys (s: Session, db: Database): string[] {
  const file = join(s.dataDir, 'vitra.json')
  if (!existsSync(file)) return db.localOplog === null ? [] : [db.localOplog.hex]
  return ((readJson(file) as { oplogs?: Array<{ pubkey: string }> }).oplogs ?? []).map(o => o.pubkey)
}

export function humanInfo (out: Output, info: Info, indent = ''): string[] {
  const last = info.verification.lastVerify as { valid?: boolean, length?: number, at?: string, code?: string } | null
  const verifyLine = last === null
    ? 'never verified here (run `vitra verify`)'
    : last.valid === true ? `valid up to index length ${String(last.length)} (vitra verify, ${String(last.at)})` : `FRAUD ${String(last.code)} (vitra verify, ${String(last.at)})`
  const rows: Array<[string, string]> = [
    ['database', info.database],
    ['directory', info.dir],
    ...(info.openIn === null ? [] : [['open in', `process ${info.openIn.pid} (\`${info.openIn.command}\`${info.openIn.url === null ? '' : ` at ${info.openIn.url}`}); this command ran there`] as [string, string]]),
    ['role', info.role.join(' and ')],
    ['index', `length ${info.index.length}`],
    ['methods', info.methods.join(', ') || '(none)'],
    ['participants', `${info.participants} active`],
    ['network', info.network.joined ? `joined, ${info.network.peers} peer(s)` : 'not joined'],
    ...(info.servers.length === 0 ? [] : [['servers', info.servers.join(', ')] as [string, string]]),
    ['witnesses', info.witnesses === null ? 'no policy' : `${info.witnesses.quorum} of ${info.witnesses.witnesses.length} must cosign (${info.witnesses.witnesses.join(', ')}); vitra verify checks`],
    ['verification', verifyLine],
    ['monitor', info.verification.monitor === null ? 'no checkpoint' : `verified up to index length ${info.verification.monitor.verifiedLength}`],
    ['fraud proofs', info.verification.fraudProofs.length === 0 ? 'none' : out.red(`${info.verification.fraudProofs.length} saved (vitra fraud list)`)],
    ['tracked txs', `${info.txs.tracked} (${info.txs.pending} not executed yet)`],
    ...info.oplogs.filter(o => o.local && o.writable && o.signer !== undefined).map((o): [string, string] => ['signer key', `${String(o.signer)} (signs oplog ${o.key.slice(0, 8)}…; PoA signatories approve this key)`])
  ]
  const table = out.table(['oplog', 'local', 'participant', 'length', 'executed'], info.oplogs.map(o => [
    o.key, o.local ? (o.writable ? 'yes' : 'yes (read-only)') : 'no', o.participant, String(o.length), String(o.processed)
  ]))
  return [...out.kv(rows, indent), `${indent}oplogs`, ...table.map(l => `${indent}  ${l}`)]
}

/** `vitra info` / `vitra status`. */
export async function infoCommand (s: Session): Promise<number> {
  const info = await gatherInfo(s, await s.open())
  s.out.result(info, () => humanInfo(s.out, info))
  return EXIT.OK
}

export async function methodsCommand (s: Session): Promise<number> {
  const methods = await (await s.open()).methods()
  s.out.result(methods, () => methods.length === 0 ? '(the contract exports no methods)' : methods)
  return EXIT.OK
}

export async function sourceCommand (s: Session): Promise<number> {
  const source = await (await s.open()).index.contractSource()
  if (source === null) throw new CliError('NO_SOURCE', 'The index holds no contract source')
  s.out.result({ source }, () => source)
  return EXIT.OK
}

/** `vitra backup <dest>`: a consistent copy of the database, made while it runs (writes wait during the copy). */
export async function backupCommand (s: Session, dest: string): Promise<number> {
  if (s.isMemory) throw usageError('This is a throwaway database: there is nothing to back up')
  const db = await s.open({ network: 'never' })
  const target = s.path(dest)
  const r = await db.backup(target)
  s.out.result({ backup: target, database: db.pubkey.toString('hex'), indexLength: r.indexLength, files: r.files }, () => [
    `Backed up database ${db.pubkey.toString('hex')} to ${target}`,
    ...s.out.kv([['index length', String(r.indexLength)], ['files', String(r.files)], ['open it', `vitra info --dir ${target}`]], '  '),
    '  Only one of the two directories may ever run again: two copies that write sign two histories (a fork).'
  ])
  return EXIT.OK
}

/** `vitra restore`: adopt a copied database directory (--dir) whose storage refuses to open (STORAGE_COPIED). */
export async function restoreCommand (s: Session): Promise<number> {
  const r = await adoptCopy(s.opts.dir)
  const db = await s.open({ network: 'never' })
  const length = db.index.core.length
  s.out.result({ restored: s.opts.dir, database: r.pubkey, indexLength: length }, () => [
    `Restored database ${r.pubkey} in ${s.opts.dir} (index length ${length}): it opens here now.`,
    `  Check it with \`vitra verify --dir ${s.opts.dir}\`; never run the directory it was copied from again.`
  ])
  return EXIT.OK
}

/** The files `vitra destroy` removes from a directory (vitra.json first: the database is gone at once). */
const DB_FILES = ['vitra.json', 'corestore', 'txs', 'fraud', 'monitor-checkpoint.json', 'last-verify.json', 'cli.json']

/** `vitra destroy`: delete the local database after a confirmation (or --yes). */
export async function destroyCommand (s: Session, o: { yes?: boolean, prompt?: ((question: string) => Promise<string>) | null }): Promise<number> {
  if (s.isMemory) throw usageError('This is a throwaway database: it is deleted when the session ends')
  const db = await s.open({ network: 'never' }) // also proves that no other process holds it
  const pubkey = db.pubkey.toString('hex')
  const executor = db.isExecutor
  await s.close()
  const dir = s.opts.dir
  const warning = executor
    ? `This deletes database ${pubkey} from ${dir}, including the executor's key: nobody will ever be able to write to it again.`
    : `This deletes the local copy of database ${pubkey} (and its local oplogs) from ${dir}.`
  if (o.yes !== true) {
    const ask = o.prompt === undefined ? (process.stdin.isTTY ? ttyPrompt : null) : o.prompt
    if (ask === null) throw usageError(`${warning} Refusing without confirmation: pass --yes`)
    const answer = await ask(`${warning}\nType the first 8 characters of the key (${pubkey.slice(0, 8)}) to confirm: `)
    if (answer.trim() !== pubkey.slice(0, 8)) {
      s.out.note('Not deleted.')
      return EXIT.ERROR
    }
  }
  const gone = join(dir, `vitra.json.deleted-${randomBytes(4).toString('hex')}`)
  renameSync(join(dir, 'vitra.json'), gone)
  for (const name of DB_FILES.slice(1)) rmSync(join(dir, name), { recursive: true, force: true })
  rmSync(gone, { force: true })
  if (readdirSync(dir).length === 0) rmdirSync(dir)
  s.out.result({ deleted: pubkey, dir }, () => `Deleted database ${short(pubkey)} from ${dir}`)
  return EXIT.OK
}

async function ttyPrompt (question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return await new Promise(resolve => rl.question(question, resolve))
  } finally {
    rl.close()
  }
}
