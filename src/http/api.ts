/**
 * The HTTP API (whitepaper/http-api.md): JSON under `/v1` over the databases a host
 * serves, on fastify with a JSON schema on every route. Errors are
 * `{ error: { code, message } }` with a stable code and a 4xx status; nothing a client
 * sends can crash or block the host. `vitra serve` runs it; as a library:
 * `const app = await createApi({ databases }); await app.listen({ port, host })`.
 *
 *   GET /, /explorer/:file                 the explorer (explorer/): a page that checks the proofs it shows
 *   GET /v1/databases                      the databases served
 *   GET /v1/databases/:key                 one database: keys, role, lengths, participants, contract
 *   GET /v1/databases/:key/entry?path=&proof=   the entry at a path (proof: an index read proof)
 *   GET /v1/databases/:key/list?path=&offset=&limit=&reverse=&proof=   a folder listing (proof: of every peek of its walk)
 *   GET /v1/databases/:key/history?start=&limit=&proof=   index entries from a seq, paged (proof: each with its inclusion proof)
 *   GET /v1/databases/:key/oplogs/:oplog?start=&limit=&proof=   a participant's ops, paged, each with its ack (if any)
 *   POST /v1/databases/:key/call { method, params, wait, timeoutMs }   run a method (bearer token);
 *                                          the answer names the transaction by its id
 *   GET /v1/databases/:key/transactions/:id   a transaction's status: its ops, and each op's
 *                                          result (ack and writes) with inclusion proofs once processed
 *   GET /v1/databases/:key/fraud-proofs    the fraud proofs this host found (monitor, log forks)
 *   GET /v1/databases/:key/fraud-proofs/:n one of them, as a file to download
 *   GET /v1/databases/:key/events          Server-Sent Events: `entries` (the index grew), `verified`, `violation` (the fraud proof)
 *   GET|POST /v1/databases/:key/query       read-only SQL over the read model (sql, params, proofs, timeoutMs, maxRows)
 *   GET /v1/databases/:key/verification    the monitor's state: verified length, violation (if any)
 *   GET /metrics                           Prometheus text format (prom-client): ops executed, batch
 *                                          latency, index length, monitor lag, peers, violations
 *
 * Reads are open. `call` needs `Authorization: Bearer <token>` when `token` is set.
 */
import { timingSafeEqual } from 'crypto'
import { existsSync, readdirSync, readFileSync } from 'fs'
import { extname, join } from 'path'
import { fileURLToPath } from 'url'
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import type { ServerResponse } from 'http'
import type { Database } from '../db/database.js'
import type { ContractMonitor } from '../verify/monitor.js'
import type { ContractFraudProof } from '../verify/fraud-proofs.js'
import type { TransactionJSON, TxResult } from '../db/transaction.js'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { DatabaseNotFoundError, InvalidArgumentError, PermissionError, VitraError, errorSpec, type ErrorCode } from '../errors/errors.js'
import { pathToKey } from '../format/paths.js'
import { captureSignedHead, createFolderListProof, createInclusionProof, createIndexReadProof } from '../logs/proof-builders.js'
import type { InclusionProof } from '../proofs/log/inclusion-proofs.js'
import { toEntry, type HistoryEntry } from '../logs/index-log.js'
import { FraudProofLog } from './fraud-proof-log.js'
import { serveReplication } from '../net/http-replication.js'
import { oplogPage, transactionId, transactionStatus } from './transactions.js'
import { CheckpointCollector, type CollectedCheckpoint } from '../witness/collector.js'
import { witnessPolicyToJSON, type WitnessPolicyJSON } from '../proofs/witness/policy.js'
import { WITNESSES_KEY } from '../format/schemas.js'
import type { IndexReadProof } from '../proofs/bee/bee-proofs.js'
import { decodeIndexValue } from '../format/ack-v2.js'

export interface ApiOptions {
  databases: Database[]
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit?: number
  /** Milliseconds a request may take before the host answers 503 (default 30000). */
  requestTimeoutMs?: number
  /** The bearer token `call` needs; null or absent: calls are open (`vitra serve --open`). */
  token?: string | null
  /** Keep a monitor on every database (default true), or on those this returns true for: it feeds `violation` events and the verification route. */
  monitor?: boolean | ((db: Database) => boolean)
  /** Called once when a database's monitor finds a violation (`vitra serve` prints and saves the proof). */
  onViolation?: (db: Database, proof: ContractFraudProof) => void
  /** Called when a call appended ops (results null), and again with its results when it waited for them (`vitra serve` tracks it). */
  onCall?: (db: Database, tx: TransactionJSON, results: Array<TxResult | null> | null) => void
  /**
   * Collect witness cosignatures for every database with a witness policy (default true),
   * or for those this returns true for: GET …/checkpoint serves the latest witnessed one.
   */
  witnesses?: boolean | ((db: Database) => boolean)
  /** The least time between two rounds of checkpoint submissions (default 1000 ms). */
  checkpointIntervalMs?: number
  /** Called with a warning of a witness (down, refusing); `vitra serve` prints it. */
  onWitnessWarning?: (db: Database, err: Error) => void
}


const KEY = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const
const PARAMS = { type: 'object', required: ['key'], properties: { key: KEY }, additionalProperties: false } as const
const MAX_PAGE = 1000
/** Largest proven listing (offset + limit): its peeks fit in one index read proof. */
const MAX_PROVEN_PAGE = 400

/** The error answer of a code: its status from the catalogue (src/errors/catalogue.ts), unless given. */
function fail (reply: FastifyReply, code: ErrorCode, message: string, status = httpStatus(code)): FastifyReply {
  return reply.code(status).send({ error: { code, message } })
}

/** The catalogue's HTTP status of a code (500 for one that should never reach the API). */
function httpStatus (code: ErrorCode): number {
  return errorSpec(code).http ?? 500
}

/** The fastify app serving `opts.databases` (not listening yet). */
export async function createApi (opts: ApiOptions): Promise<FastifyInstance> {
  const requestTimeout = opts.requestTimeoutMs ?? 30_000
  // Closing: new requests get 503, idle keep-alive connections are dropped, requests in
  // flight finish (a call waiting for its result gets it), event streams are ended.
  // A client that sends its request slower than requestTimeout gets 408 and is dropped:
  // Node checks that every connectionsCheckingInterval ms.
  const app = Fastify({
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    requestTimeout,
    http: { connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeout / 4))) },
    logger: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true } }
  })
  app.server.headersTimeout = requestTimeout
  /** The database with this key, or DATABASE_NOT_FOUND (404, through the error handler). */
  const served = (key: string): Database => {
    const db = opts.databases.find(d => d.pubkey.toString('hex') === key)
    if (db === undefined) throw new DatabaseNotFoundError(`This host serves no database ${key}`)
    return db
  }
  // one monitor per database: what /events and /verification report
  const monitors = new Map<string, ContractMonitor>()
  if (opts.monitor !== false) {
    for (const db of opts.databases) {
      if (typeof opts.monitor === 'function' && !opts.monitor(db)) continue
      const m = await db.monitor()
      monitors.set(db.pubkey.toString('hex'), m)
      const alert = opts.onViolation
      if (alert !== undefined) {
        if (m.violation !== null) alert(db, m.violation)
        else m.once('violation', (proof: ContractFraudProof) => alert(db, proof))
      }
    }
  }
  /** The monitor's state for a database (null without a monitor). */
  const verification = (key: string): { verifiedLength: number, violation: unknown } | null => {
    const m = monitors.get(key)
    return m === undefined ? null : { verifiedLength: m.verifiedLength, violation: m.violation === null ? null : m.violation.toJSON() }
  }
  // one collector of witness cosignatures per database with a policy
  const collectors = new Map<string, CheckpointCollector>()
  if (opts.witnesses !== false) {
    for (const db of opts.databases) {
      if (typeof opts.witnesses === 'function' && !opts.witnesses(db)) continue
      // the policy is read at each round: a contract may set or change it (tx.setWitnesses)
      const c = new CheckpointCollector({ core: db.index.core, policy: async () => await db.witnessPolicy(), intervalMs: opts.checkpointIntervalMs })
      c.on('warning', (err: Error) => opts.onWitnessWarning?.(db, err))
      collectors.set(db.pubkey.toString('hex'), c)
      await c.ready()
    }
  }
  const frauds = new Map<string, FraudProofLog>()
  for (const db of opts.databases) {
    const key = db.pubkey.toString('hex')
    frauds.set(key, new FraudProofLog(db, monitors.get(key), collectors.get(key)))
  }
  const streams = new Set<ServerResponse>()
  // readers that follow a database over HTTP alone replicate on an upgraded connection (src/net/http-replication.ts)
  const stopReplication = serveReplication(app.server, key => opts.databases.find(d => d.pubkey.toString('hex') === key) ?? null)
  const metrics = createMetrics(opts.databases, monitors)
  // While closing, each answer closes its connection: a keep-alive client holding
  // its socket open would otherwise keep the server (and the host) from stopping.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
    for (const res of streams) res.end()
    stopReplication() // upgraded connections are not the HTTP server's to wait for
  })
  app.addHook('onSend', async (_req, reply, payload) => {
    if (closing) reply.header('connection', 'close')
    return payload
  })
  app.addHook('onClose', async () => {
    for (const f of frauds.values()) f.close()
    for (const c of collectors.values()) await c.close()
    for (const m of monitors.values()) await m.close()
    metrics.stop()
  })

  app.get('/metrics', async (_req, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })

  app.setErrorHandler((err: Error & { statusCode?: number, validation?: unknown, code?: string }, _req, reply) => {
    // a path that names no entry is a bad argument like any other (one code for clients)
    if (err.validation !== undefined || err.code === 'INVALID_PATH') return fail(reply, 'INVALID_ARGUMENT', err.message)
    if (err instanceof VitraError) return fail(reply, err.code, err.message)
    // fastify's own refusals keep their 4xx status (415, 408, ...)
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    return fail(reply, status === 413 ? 'BODY_TOO_LARGE' : status < 500 ? 'BAD_REQUEST' : 'INTERNAL', err.message, status)
  })
  app.setNotFoundHandler((req, reply) => fail(reply, 'NO_SUCH_ROUTE', `No route ${req.method} ${req.url} (see GET /)`))

  // the explorer (explorer/, issue 25): a page that checks every proof it shows in the
  // browser. Its files are read once; the page makes no request outside this host.
  const files = explorerFiles()
  const serveFile = (name: string, reply: FastifyReply): FastifyReply => {
    const f = files.get(name)
    if (f === undefined) return fail(reply, 'NO_SUCH_ROUTE', `No explorer file ${name}`)
    if (f.body === null) return fail(reply, 'NOT_BUILT', `${f.path} is missing: run \`npm run build\``)
    return reply.type(f.type).header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache').send(f.body)
  }
  app.get('/', async (_req, reply) => serveFile('index.html', reply))
  app.get<{ Params: { file: string } }>('/explorer/:file', {
    schema: { params: { type: 'object', required: ['file'], properties: { file: { type: 'string', pattern: '^[a-z-]+\\.(js|css|html)$' } }, additionalProperties: false } }
  }, async (req, reply) => serveFile(req.params.file, reply))

  app.get('/v1/databases', async () => ({
    databases: opts.databases.map(d => ({ key: d.pubkey.toString('hex'), isExecutor: d.isExecutor, isParticipant: d.isParticipant, length: d.index.length }))
  }))

  app.get<{ Params: { key: string } }>('/v1/databases/:key', { schema: { params: PARAMS } }, async (req) => {
    const db = served(req.params.key)
    const inputs = await db.index.inputs()
    return {
      key: req.params.key,
      isExecutor: db.isExecutor,
      isParticipant: db.isParticipant,
      length: db.index.length,
      version: db.index.version,
      maxOpBytes: await db.maxOpBytes(),
      methods: await db.methods(),
      participants: await Promise.all(inputs.map(async i => ({
        pubkey: i.pubkey,
        active: i.active,
        length: db.oplogs.find(o => o.hex === i.pubkey)?.core.length ?? null,
        processed: await db.index.lastAckedSeq(i.pubkey) + 1
      }))),
      peers: db.network?.connections.length ?? 0,
      verification: verification(req.params.key),
      contract: await db.index.contractSource(),
      witnessPolicy: await witnessPolicyOf(db)
    }
  })

  /**
   * The witness policy with the index read proof of /.sys/witnesses, so that a page
   * learns the policy from the signed index and not from the host's word (null: none).
   */
  const witnessPolicyOf = async (db: Database): Promise<{ policy: WitnessPolicyJSON, at: number, proof: IndexReadProof } | null> => {
    const policy = await db.witnessPolicy()
    if (policy === null) return null
    const at = db.index.version
    return { policy: witnessPolicyToJSON(policy), at, proof: await createIndexReadProof(db.index.bee, at, [{ kind: 'get', key: WITNESSES_KEY }]) }
  }

  /**
   * The latest witnessed checkpoint of a database for a `witnessed=true` read, or null
   * once the error is answered (no policy, none yet): such a read is answered as of the
   * checkpoint, with a proof under its head (whitepaper/witness.md §5).
   */
  const witnessedFor = async (db: Database, reply: FastifyReply): Promise<CollectedCheckpoint | null> => {
    const collector = collectors.get(db.pubkey.toString('hex'))
    const latest = collector?.latest ?? null
    if (latest !== null) return latest
    if (await db.witnessPolicy() === null) fail(reply, 'NO_WITNESS_POLICY', 'This database has no witness policy: nobody cosigns its checkpoints')
    else if (collector === undefined) fail(reply, 'NOT_WITNESSED', 'This host does not collect cosignatures for this database')
    else fail(reply, 'NOT_WITNESSED', 'No checkpoint has a quorum of cosignatures yet')
    return null
  }

  app.get<{ Params: { key: string }, Querystring: { path: string, proof?: boolean, witnessed?: boolean } }>('/v1/databases/:key/entry', {
    schema: { params: PARAMS, querystring: { type: 'object', required: ['path'], properties: { path: { type: 'string', minLength: 1, maxLength: 4096 }, proof: { type: 'boolean' }, witnessed: { type: 'boolean' } }, additionalProperties: false } }
  }, async (req, reply) => {
    const db = served(req.params.key)
    if (req.query.witnessed === true) {
      const w = await witnessedFor(db, reply)
      if (w === null) return reply
      const at = w.checked.head.length
      const key = pathToKey(req.query.path)
      const snapshot = db.index.bee.checkout(at, { keyEncoding: 'utf-8', valueEncoding: 'binary' })
      let found: { seq: number, value: Buffer } | null
      try { found = await snapshot.get(key) as { seq: number, value: Buffer } | null } finally { await snapshot.close() }
      const proof = await createIndexReadProof(db.index.bee, at, [{ kind: 'get', key }], { head: w.checked.head })
      if (found === null) return reply.code(httpStatus('ENTRY_NOT_FOUND')).send({ error: { code: 'ENTRY_NOT_FOUND', message: `No entry at ${req.query.path} in the witnessed checkpoint` }, at, proof, checkpoint: w.note })
      return { entry: toEntry(key, found.seq, decodeIndexValue(found.value), false), at, proof, checkpoint: w.note }
    }
    const at = db.index.version
    const entry = await db.index.get(req.query.path)
    const proof = req.query.proof === true ? await createIndexReadProof(db.index.bee, at, [{ kind: 'get', key: pathToKey(req.query.path) }]) : undefined
    if (entry === undefined) return reply.code(httpStatus('ENTRY_NOT_FOUND')).send({ error: { code: 'ENTRY_NOT_FOUND', message: `No entry at ${req.query.path}` }, at, proof })
    return { entry, at, proof }
  })

  app.get<{ Params: { key: string }, Querystring: { path?: string, offset?: number, limit?: number, reverse?: boolean, proof?: boolean, witnessed?: boolean } }>('/v1/databases/:key/list', {
    schema: { params: PARAMS, querystring: { type: 'object', properties: { path: { type: 'string', maxLength: 4096 }, offset: { type: 'integer', minimum: 0 }, limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE }, reverse: { type: 'boolean' }, proof: { type: 'boolean' }, witnessed: { type: 'boolean' } }, additionalProperties: false } }
  }, async (req, reply) => {
    const db = served(req.params.key)
    const path = req.query.path ?? '/'
    if (req.query.proof !== true && req.query.witnessed !== true) {
      const entries = await db.index.list(path, { offset: req.query.offset, limit: req.query.limit ?? MAX_PAGE, reverse: req.query.reverse })
      return { entries }
    }
    // a proven page: the walk's peeks must fit in one index read proof
    const offset = req.query.offset ?? 0
    const limit = req.query.limit ?? MAX_PROVEN_PAGE
    if (offset + limit > MAX_PROVEN_PAGE) return fail(reply, 'INVALID_ARGUMENT', `A proven listing covers at most ${MAX_PROVEN_PAGE} items (offset + limit)`)
    const w = req.query.witnessed === true ? await witnessedFor(db, reply) : null
    if (req.query.witnessed === true && w === null) return reply
    const at = w?.checked.head.length ?? db.index.version
    const { items, proof } = await createFolderListProof(db.index.bee, at, pathToKey(path), { offset, limit, reverse: req.query.reverse, head: w?.checked.head })
    const entries = items.map(it => toEntry(it.key, it.seq, it.value === undefined ? undefined : decodeIndexValue(it.value), it.container))
    return w === null ? { entries, at, proof } : { entries, at, proof, checkpoint: w.note }
  })

  app.get<{ Params: { key: string }, Querystring: { start?: number, limit?: number, proof?: boolean, witnessed?: boolean } }>('/v1/databases/:key/history', {
    schema: { params: PARAMS, querystring: { type: 'object', properties: { start: { type: 'integer', minimum: 1 }, limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE }, proof: { type: 'boolean' }, witnessed: { type: 'boolean' } }, additionalProperties: false } }
  }, async (req, reply) => {
    const db = served(req.params.key)
    const start = req.query.start ?? 1
    // witnessed=true: the history up to the latest witnessed checkpoint, proven under its head
    const w = req.query.witnessed === true ? await witnessedFor(db, reply) : null
    if (req.query.witnessed === true && w === null) return reply
    const proofs = req.query.proof === true || w !== null
    const limit = req.query.limit ?? (proofs ? MAX_PROVEN_PAGE : 100)
    if (proofs && limit > MAX_PROVEN_PAGE) return fail(reply, 'INVALID_ARGUMENT', `A page with proofs holds at most ${MAX_PROVEN_PAGE} entries`)
    const length = w?.checked.head.length ?? db.index.length
    const end = Math.min(length, start + limit)
    const entries: Array<HistoryEntry & { proof?: InclusionProof }> = start < end ? await db.index.entries(start, end) : []
    // each entry's block proven under one signed head (the checkpoint's, or the one current when the page was read)
    if (proofs && entries.length > 0) {
      const head = w?.checked.head ?? await captureSignedHead(db.index.core)
      for (const e of entries) e.proof = await createInclusionProof(db.index.core, e.seq, { head })
    }
    const next = end < length ? end : null
    return w === null ? { entries, next } : { entries, next, checkpoint: w.note }
  })

  app.get<{ Params: { key: string, oplog: string }, Querystring: { start?: number, limit?: number, proof?: boolean } }>('/v1/databases/:key/oplogs/:oplog', {
    schema: {
      params: { type: 'object', required: ['key', 'oplog'], properties: { key: KEY, oplog: KEY }, additionalProperties: false },
      querystring: { type: 'object', properties: { start: { type: 'integer', minimum: 0 }, limit: { type: 'integer', minimum: 1, maximum: MAX_PROVEN_PAGE }, proof: { type: 'boolean' } }, additionalProperties: false }
    }
  }, async (req) => await oplogPage(served(req.params.key), req.params.oplog, { start: req.query.start ?? 0, limit: req.query.limit ?? 100, proofs: req.query.proof === true }))

  app.post<{ Params: { key: string }, Body: { method: string, params?: unknown, wait?: boolean, timeoutMs?: number } }>('/v1/databases/:key/call', {
    schema: {
      params: PARAMS,
      body: {
        type: 'object',
        required: ['method'],
        properties: { method: { type: 'string', minLength: 1, maxLength: 256 }, params: {}, wait: { type: 'boolean' }, timeoutMs: { type: 'integer', minimum: 1, maximum: 120_000 } },
        additionalProperties: false
      }
    }
  }, async (req, reply) => {
    if (!authorized(req.headers.authorization, opts.token)) return fail(reply, 'UNAUTHORIZED', 'call needs Authorization: Bearer <token> (the token is in the served directory\'s http-token file)')
    const db = served(req.params.key)
    const tx = await db.call(req.body.method, req.body.params ?? {}).catch((err: { code?: string }) => {
      if (err.code !== 'NOT_PARTICIPANT' || db.localOplog !== null) throw err
      throw new PermissionError('NOT_PARTICIPANT', `This host serves database ${db.pubkey.toString('hex')} read-only (it holds no oplog of it): "${req.body.method}" emits ops, so call it through the host of a participant`)
    })
    const id = transactionId(tx.ops)
    const json = tx.toJSON()
    if (tx.ops.length > 0) opts.onCall?.(db, json, null)
    if (req.body.wait === false || tx.ops.length === 0) return { id, transaction: json, results: null }
    await tx.whenProcessed({ timeout: req.body.timeoutMs ?? 30_000 })
    const results = await tx.fetchResults({ proofs: true })
    opts.onCall?.(db, json, results)
    return { id, transaction: json, results }
  })

  app.get<{ Params: { key: string, id: string }, Querystring: { witnessed?: boolean } }>('/v1/databases/:key/transactions/:id', {
    schema: {
      params: { type: 'object', required: ['key', 'id'], properties: { key: KEY, id: { type: 'string', pattern: '^[0-9a-f]{64}-[0-9]{1,15}-[0-9]{1,4}$' } }, additionalProperties: false },
      querystring: { type: 'object', properties: { witnessed: { type: 'boolean' } }, additionalProperties: false }
    }
  }, async (req, reply) => {
    const db = served(req.params.key)
    if (req.query.witnessed !== true) return await transactionStatus(db, req.params.id)
    // as of the latest witnessed checkpoint: results beyond it count as not executed yet
    const w = await witnessedFor(db, reply)
    if (w === null) return reply
    return { ...await transactionStatus(db, req.params.id, { head: w.checked.head }), checkpoint: w.note }
  })

  app.get<{ Params: { key: string } }>('/v1/databases/:key/fraud-proofs', { schema: { params: PARAMS } }, async (req) => {
    served(req.params.key)
    return { fraudProofs: (frauds.get(req.params.key) as FraudProofLog).list() }
  })

  app.get<{ Params: { key: string, n: number } }>('/v1/databases/:key/fraud-proofs/:n', {
    schema: { params: { type: 'object', required: ['key', 'n'], properties: { key: KEY, n: { type: 'integer', minimum: 0 } }, additionalProperties: false } }
  }, async (req, reply) => {
    served(req.params.key)
    const proof = (frauds.get(req.params.key) as FraudProofLog).get(req.params.n)
    if (proof === null) return fail(reply, 'FRAUD_PROOF_NOT_FOUND', `No fraud proof ${req.params.n} (see GET …/fraud-proofs)`)
    return reply.header('content-disposition', `attachment; filename="fraud-proof-${req.params.key.slice(0, 8)}-${req.params.n}.json"`).send(proof)
  })

  // SQL over the read model (src/sql/): reads, so open like every read; bounded in time and rows
  interface QueryInput { sql: string, params?: unknown, proofs?: boolean, witnessed?: boolean, timeoutMs?: number, maxRows?: number }
  const QUERY_FIELDS = { sql: { type: 'string', minLength: 1, maxLength: 100_000 }, proofs: { type: 'boolean' }, witnessed: { type: 'boolean' }, timeoutMs: { type: 'integer', minimum: 1, maximum: 30_000 }, maxRows: { type: 'integer', minimum: 1, maximum: 100_000 } }
  const runQuery = async (key: string, q: QueryInput, reply: FastifyReply): Promise<unknown> => {
    const db = served(key)
    if (q.params !== undefined && q.params !== null && typeof q.params !== 'object') throw new InvalidArgumentError('params must be a JSON array or object')
    const opts = { proofs: q.proofs, timeoutMs: q.timeoutMs ?? 5000, maxRows: q.maxRows ?? 10_000 }
    if (q.witnessed !== true) return await db.query(q.sql, q.params ?? undefined, opts)
    // rows proven under the latest witnessed checkpoint; rows from entries after it carry no proof
    const w = await witnessedFor(db, reply)
    if (w === null) return reply
    return { ...await db.query(q.sql, q.params ?? undefined, { ...opts, proofs: true, head: w.checked.head }), checkpoint: w.note }
  }
  app.post<{ Params: { key: string }, Body: QueryInput }>('/v1/databases/:key/query', {
    schema: { params: PARAMS, body: { type: 'object', required: ['sql'], properties: { ...QUERY_FIELDS, params: {} }, additionalProperties: false } }
  }, async (req, reply) => await runQuery(req.params.key, req.body, reply))
  app.get<{ Params: { key: string }, Querystring: Omit<QueryInput, 'params'> & { params?: string } }>('/v1/databases/:key/query', {
    schema: { params: PARAMS, querystring: { type: 'object', required: ['sql'], properties: { ...QUERY_FIELDS, params: { type: 'string', maxLength: 100_000 } }, additionalProperties: false } }
  }, async (req, reply) => {
    let params: unknown
    if (req.query.params !== undefined) {
      try { params = JSON.parse(req.query.params) } catch { throw new InvalidArgumentError('params must be JSON (an array or an object)') }
    }
    return await runQuery(req.params.key, { ...req.query, params }, reply)
  })

  app.get<{ Params: { key: string } }>('/v1/databases/:key/verification', { schema: { params: PARAMS } }, async (req, reply) => {
    served(req.params.key)
    const state = verification(req.params.key)
    if (state === null) return fail(reply, 'NO_MONITOR', 'This host keeps no monitor')
    return state
  })

  app.get<{ Params: { key: string } }>('/v1/databases/:key/checkpoint', { schema: { params: PARAMS } }, async (req, reply) => {
    const latest = await witnessedFor(served(req.params.key), reply)
    if (latest === null) return reply
    const { head, cosigned, quorum, witnesses } = latest.checked
    return {
      type: 'vitra/witnessed-checkpoint',
      version: 1,
      database: req.params.key,
      checkpoint: latest.note,
      length: head.length,
      fork: head.fork,
      treeHash: head.treeHash,
      cosigned,
      quorum,
      witnesses,
      collectedAt: latest.at
    }
  })

  app.get<{ Params: { key: string } }>('/v1/databases/:key/events', { schema: { params: PARAMS } }, async (req, reply) => {
    const db = served(req.params.key)
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' })
    const send = (event: string, data: unknown): void => { res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) }
    send('hello', { key: req.params.key, length: db.index.length })
    const onAppend = (): void => send('entries', { length: db.index.length })
    const m = monitors.get(req.params.key)
    const onViolation = (proof: { toJSON: () => unknown }): void => send('violation', proof.toJSON())
    const onVerified = (length: number): void => send('verified', { length })
    db.index.core.on('append', onAppend)
    m?.on('violation', onViolation)
    m?.on('verified', onVerified)
    if (m?.violation != null) onViolation(m.violation) // a client arriving late still learns of it
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000)
    streams.add(res)
    res.on('close', () => {
      clearInterval(keepAlive)
      streams.delete(res)
      db.index.core.removeListener('append', onAppend)
      m?.removeListener('violation', onViolation)
      m?.removeListener('verified', onVerified)
    })
  })

  return app
}

/**
 * The host's Prometheus metrics, in a registry of its own (several hosts in one
 * process do not collide). Gauges are read when scraped; counters follow events.
 */
function createMetrics (databases: Database[], monitors: Map<string, ContractMonitor>): { registry: Registry, stop: () => void } {
  const registry = new Registry()
  const labelNames = ['database'] as const
  const ops = new Counter({ name: 'vitra_ops_executed_total', help: 'Ops executed (acked) by this host\'s executor', labelNames, registers: [registry] })
  const batches = new Histogram({ name: 'vitra_batch_seconds', help: 'Time the executor took per batch (read, execute, flush)', labelNames, buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] })
  const violations = new Counter({ name: 'vitra_violations_total', help: 'Violations (fraud proofs) the host\'s monitor found', labelNames, registers: [registry] })
  const each = (fn: (db: Database, key: string) => number): (this: Gauge) => void => function (this: Gauge) {
    for (const db of databases) this.set({ database: db.pubkey.toString('hex') }, fn(db, db.pubkey.toString('hex')))
  }
  /* eslint-disable no-new */
  new Gauge({ name: 'vitra_index_length', help: 'Blocks in the index log', labelNames, registers: [registry], collect: each(db => db.index.length) })
  new Gauge({ name: 'vitra_verified_length', help: 'Index length the host\'s monitor has verified', labelNames, registers: [registry], collect: each((_db, key) => monitors.get(key)?.verifiedLength ?? 0) })
  new Gauge({ name: 'vitra_monitor_lag_entries', help: 'Index entries not verified yet', labelNames, registers: [registry], collect: each((db, key) => Math.max(0, db.index.length - (monitors.get(key)?.verifiedLength ?? 0))) })
  new Gauge({ name: 'vitra_peers', help: 'Swarm connections', labelNames, registers: [registry], collect: each(db => db.network?.connections.length ?? 0) })
  const undo: Array<() => void> = []
  for (const db of databases) {
    const key = db.pubkey.toString('hex')
    ops.inc({ database: key }, 0) // every database shows in the counters from the start
    violations.inc({ database: key }, 0)
    const onBatch = (done: unknown[], ms?: number): void => {
      ops.inc({ database: key }, done.length)
      if (typeof ms === 'number') batches.observe({ database: key }, ms / 1000)
    }
    db.executor?.on('batch', onBatch)
    const m = monitors.get(key)
    const onViolation = (): void => { violations.inc({ database: key }) }
    m?.on('violation', onViolation)
    undo.push(() => { db.executor?.removeListener('batch', onBatch); m?.removeListener('violation', onViolation) })
  }
  return { registry, stop: () => { for (const u of undo) u() } }
}

/** The page's policy: everything from this host, nothing from anywhere else. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const EXPLORER_TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' }

/** The explorer's files (explorer/ in the package, and the vitra/proofs browser build), read once; body null when missing. */
function explorerFiles (): Map<string, { path: string, type: string, body: Buffer | null }> {
  const dir = fileURLToPath(new URL('../../../explorer/', import.meta.url))
  const out = new Map<string, { path: string, type: string, body: Buffer | null }>()
  const add = (name: string, path: string): void => {
    out.set(name, { path, type: EXPLORER_TYPES[extname(name)] ?? 'application/octet-stream', body: existsSync(path) ? readFileSync(path) : null })
  }
  if (existsSync(dir)) for (const name of readdirSync(dir)) if (EXPLORER_TYPES[extname(name)] !== undefined) add(name, join(dir, name))
  add('vitra-proofs.js', fileURLToPath(new URL('../../browser/vitra-proofs.js', import.meta.url)))
  return out
}

/** Whether an Authorization header carries the token (always, when there is no token). Constant-time compare. */
function authorized (header: string | undefined, token: string | null | undefined): boolean {
  if (token === null || token === undefined) return true
  const m = /^Bearer (\S+)$/.exec(header ?? '')
  if (m === null) return false
  const a = Buffer.from(m[1]!)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}
