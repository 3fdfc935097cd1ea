/**
 * A witness (whitepaper/witness.md §3): an HTTP service that cosigns a database's index
 * checkpoints, each only once it has checked that it extends the last one it cosigned
 * for that database. Events: 'cosigned' (keyHex, length), once the state holds it; 'fork'
 * (proof, keyHex), a checkpoint refused as a fork (its evidence kept). Routes:
 *
 *   POST /add-checkpoint     the request of src/proofs/witness/add-checkpoint.ts; answers
 *                            200 with the cosignature line (text/plain), 409 with the size
 *                            it holds (text/x.tlog.size) when `old` is not that size, 409
 *                            with a log-fork proof (application/json) when the checkpoint
 *                            does not extend what it cosigned, 403 when the log's signature
 *                            does not check, 422 when the consistency proof does not, 400
 *                            when the request is malformed
 *   GET  /                   the witness's verifier key (text/plain)
 *   GET  /logs/<key>         the last checkpoint it cosigned for that log (404: none)
 *
 * A witness may also see a log's heads itself (src/witness/follower.ts): `observe` makes
 * the same request from a replica of the log and decides it the same way.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'http'
import type { AddressInfo } from 'net'
import { Resource } from '../lifecycle/resource.js'
import { InvalidProofError, VitraError } from '../errors/errors.js'
import { decideCheckpoint, parseAddCheckpoint, type AddCheckpointRequest } from '../proofs/witness/add-checkpoint.js'
import { checkpointNote, parseCheckpoint } from '../proofs/witness/checkpoint.js'
import type Hypercore from 'hypercore'
import { captureSignedHead } from '../logs/proof-builders.js'
import { checkpointRequest } from './client.js'
import type { WitnessKey } from '../proofs/witness/cosignature.js'
import type { LogForkFraudProof, LogForkProofJSON } from '../proofs/fraud/log-fork-proof.js'
import { loadWitnessKey, type WitnessSigner } from './keys.js'
import { WitnessState } from './state.js'

/** A request body over this many bytes is refused (a note and 128 consistency lines fit well). */
const MAX_BODY_BYTES = 128 * 1024
/** Reasons of InvalidProofError that mean the log's signature did not check (HTTP 403). */
const SIGNATURE_REASONS = new Set(['bad-signature', 'manifest-key-mismatch', 'unexpected-key'])

export interface WitnessOptions {
  dir: string
  port?: number
  host?: string
  /** Cosign only these logs (index keys, hex); any vitra database when absent. */
  only?: string[]
  /** The clock of cosignatures, in seconds (tests pin it). */
  now?: () => number
}

/** What the witness answered, as HTTP would carry it. */
export interface WitnessAnswer {
  status: number
  type: string
  body: string
}

export class Witness extends Resource {
  readonly dir: string
  private readonly signer: WitnessSigner
  private readonly state: WitnessState
  private readonly only: Set<string> | null
  private readonly now: () => number
  private readonly port: number
  private readonly host: string
  private server: Server | null = null
  private address: AddressInfo | null = null

  constructor (opts: WitnessOptions) {
    super()
    this.dir = opts.dir
    this.signer = loadWitnessKey(opts.dir)
    this.state = new WitnessState(opts.dir)
    this.only = opts.only === undefined ? null : new Set(opts.only)
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000))
    this.port = opts.port ?? 0
    this.host = opts.host ?? '127.0.0.1'
  }

  /** This witness's key (its verifier key is `key.vkey`). */
  get key (): WitnessKey { return this.signer.key }

  /** Where it listens, once ready. */
  get url (): string {
    if (this.address === null) throw new VitraError('CLOSED', 'The witness is not listening')
    const h = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address
    return `http://${h}:${this.address.port}`
  }

  protected override async _open (): Promise<void> {
    const server = createServer((req, res) => { void this.route(req, res) })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, this.host, () => { server.off('error', reject); resolve() })
    })
    this.address = server.address() as AddressInfo
  }

  protected override async _close (): Promise<void> {
    const server = this.server
    this.server = null
    if (server === null) return
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }

  /** The last checkpoint cosigned for a log (its note), or null. */
  lastCosigned (keyHex: string): string | null {
    return this.state.last(keyHex)?.note ?? null
  }

  /** Keeps fork evidence about a log found otherwise than by a request (a follower's fork watchers). */
  keepFork (keyHex: string, proof: LogForkFraudProof): void {
    this.state.saveFork(keyHex, proof.toJSON(), Date.now())
  }

  /** Decides one request (the body of POST /add-checkpoint) and answers as HTTP would. */
  async addCheckpoint (text: string): Promise<WitnessAnswer> {
    let req: AddCheckpointRequest
    let keyHex: string
    try {
      req = parseAddCheckpoint(text)
      keyHex = parseCheckpoint(req.checkpoint).head.key
    } catch (err) {
      return refusal(err)
    }
    if (!this.cosigns(keyHex)) return notCosigned(keyHex)
    return await this.state.serial(keyHex, () => this.decide(keyHex, req))
  }

  /** Whether this witness cosigns the log with this key (hex): `only` names it, or there is no `only`. */
  cosigns (keyHex: string): boolean {
    return this.only === null || this.only.has(keyHex)
  }

  /** The logs this witness holds a cosigned checkpoint of (hex keys). */
  logs (): string[] {
    return this.state.logs()
  }

  /**
   * Decides the head a replica of a log holds (src/witness/follower.ts), as if its host had
   * sent it: the request is made from the replica's tree, from the size this witness holds.
   * Null when there is nothing to decide: the replica is empty, behind what was cosigned,
   * or at the cosigned head. The request is made outside the log's queue (reading the
   * replica may wait for its peers: a request sent meanwhile is not held up), and
   * decided in it: when the held size moved meanwhile, the answer is 409 (stale) and the
   * next head is decided from the new size.
   */
  async observe (core: Hypercore): Promise<WitnessAnswer | null> {
    const keyHex = core.key.toString('hex')
    if (!this.cosigns(keyHex)) return notCosigned(keyHex)
    if (core.length === 0) return null
    const held = this.state.last(keyHex)?.checkpoint.head ?? null
    const head = await captureSignedHead(core)
    if (held !== null && (head.length < held.length || (head.length === held.length && head.treeHash === held.treeHash))) return null
    const req = parseAddCheckpoint(await checkpointRequest(core, head, held?.length ?? 0))
    return await this.state.serial(keyHex, () => this.decide(keyHex, req))
  }

  private decide (keyHex: string, req: AddCheckpointRequest): WitnessAnswer {
    try {
      const last = this.state.last(keyHex)
      const d = decideCheckpoint(last?.checkpoint ?? null, req)
      if (d.kind === 'stale') return { status: 409, type: 'text/x.tlog.size', body: `${d.size}\n` }
      if (d.kind === 'fork') {
        const proof: LogForkProofJSON = d.proof.toJSON()
        this.state.saveFork(keyHex, proof, Date.now())
        this.emit('fork', d.proof, keyHex)
        return { status: 409, type: 'application/json', body: JSON.stringify({ error: { code: 'LOG_FORK', message: `The checkpoint does not extend the last one this witness cosigned for ${keyHex} (length ${last?.checkpoint.head.length})` }, proof }) }
      }
      const line = this.signer.cosign(d.checkpoint.body, this.now())
      // The state holds the log's note and this cosignature, on disk before the answer
      // (a checkpoint's text is canonical: checkpointNote gives back the one cosigned).
      this.state.save(keyHex, checkpointNote(d.checkpoint.head, d.checkpoint.manifest) + line)
      this.emit('cosigned', keyHex, d.checkpoint.head.length)
      return { status: 200, type: 'text/plain; charset=utf-8', body: line }
    } catch (err) {
      return refusal(err)
    }
  }

  private async route (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (a: WitnessAnswer): void => {
      res.writeHead(a.status, { 'content-type': a.type, 'content-length': Buffer.byteLength(a.body) })
      res.end(a.body)
    }
    try {
      const url = req.url ?? '/'
      if (req.method === 'POST' && url === '/add-checkpoint') {
        const body = await readBody(req)
        if (body === null) return send({ status: 413, type: 'text/plain', body: `A request is at most ${MAX_BODY_BYTES} bytes\n` })
        return send(await this.addCheckpoint(body))
      }
      if (req.method === 'GET' && url === '/') return send({ status: 200, type: 'text/plain; charset=utf-8', body: this.key.vkey + '\n' })
      const log = /^\/logs\/([0-9a-f]{64})$/.exec(url)
      if (req.method === 'GET' && log !== null) {
        const note = this.lastCosigned(log[1]!)
        return send(note === null ? { status: 404, type: 'text/plain', body: 'No checkpoint cosigned for this log\n' } : { status: 200, type: 'text/plain; charset=utf-8', body: note })
      }
      send({ status: 404, type: 'text/plain', body: 'No such route\n' })
    } catch (err) {
      send({ status: 500, type: 'text/plain', body: `${(err as Error).message}\n` })
    }
  }
}

function notCosigned (keyHex: string): WitnessAnswer {
  return { status: 404, type: 'text/plain', body: `This witness does not cosign log ${keyHex}\n` }
}

/** An answer for a request the witness cannot check. */
function refusal (err: unknown): WitnessAnswer {
  if (!(err instanceof InvalidProofError)) throw err
  const reason = String(err.details?.reason ?? '')
  const status = SIGNATURE_REASONS.has(reason) ? 403 : reason.startsWith('malformed') ? 400 : 422
  return { status, type: 'text/plain; charset=utf-8', body: `${reason}: ${err.message}\n` }
}

async function readBody (req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = []
  let bytes = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.byteLength
    if (bytes > MAX_BODY_BYTES) return null
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
