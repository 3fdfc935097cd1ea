/**
 * The auditor's commands: `vitra verify` (replay everything once) and
 * `vitra monitor` (keep replaying as the logs grow, alert on a violation).
 *
 * Exit codes: 0 valid, 3 a violation (the fraud proof is printed, saved under
 * <dir>/fraud/ and, for monitor, piped into --on-violation), 4 could not verify
 * (logs missing: not a verdict). With --json, a violation prints the fraud proof
 * itself: the exact JSON `vitra proof verify` accepts.
 */
import { spawn } from 'child_process'
import { existsSync } from 'fs'
import { ContractMonitor, CouldNotVerifyError, type ContractFraudProof, type Database } from '../../src/index.js'
import { Verifier } from '../../src/verify/verifier.js'
import { EXIT, usageError, whenAborted } from '../errors.js'
import { parseKey } from '../params.js'
import { readJson, writeJsonAtomic } from '../records.js'
import type { Session } from '../session.js'
import { untilStopped } from './host.js'
import { checkWithWitnesses, type FoundCheckpoint } from '../../src/witness/reader.js'
import { WitnessWatch } from '../../src/witness/watch.js'
import type { LogForkFraudProof } from '../../src/proofs/fraud/log-fork-proof.js'
import type { VitraError } from '../../src/errors/errors.js'
import type { WitnessPolicy } from '../../src/proofs/witness/policy.js'

export interface AuditOptions {
  /** How long to wait for one missing block before "could not verify" (ms). */
  blockTimeout?: number
  /** Stops a verification under way (REPL Ctrl-C): it ends with a CANCELLED error, nothing is saved. */
  signal?: AbortSignal
  /** For a database with a witness policy: check the verified index against its witnessed checkpoint (default true). */
  witnesses?: boolean
}

/** Open the database to audit: the directory's, or follow `pubkey` into it. Downloads the full history when swarmed. */
async function openForAudit (s: Session, pubkey: string | undefined, announce = false): Promise<Database> {
  if (pubkey !== undefined) {
    const want = parseKey(pubkey, 'database public key')
    if (!s.hasDatabase()) {
      if (s.opts.offline) throw usageError(`No copy of ${want} in ${s.opts.dir}, and --offline forbids fetching it`)
      await s.follow(want)
    }
    const db = await s.open({ network: 'never' })
    if (db.pubkey.toString('hex') !== want) throw usageError(`${s.opts.dir} holds database ${db.pubkey.toString('hex')}, not ${want}: use another --dir`)
  }
  return await s.open({ sync: 'all', announce })
}

/**
 * Run an audit command; a log fork seen while replicating makes its verdict fraud (3).
 * Hypercore closes a core on a conflict, so the audit itself may then fail: the fork
 * is the verdict. The fork proofs go to --on-violation like any other.
 */
async function withForks (s: Session, pubkey: string | undefined, onViolation: string | undefined, audit: (forked: () => boolean) => Promise<number>): Promise<number> {
  // only the forks seen during this audit (a REPL session may have seen others, on another database)
  const before = s.forks.length
  const forked = (): boolean => s.forks.length > before
  let code: number
  try {
    code = await audit(forked)
  } catch (err) {
    if (!forked()) throw err
    code = EXIT.OK
  }
  if (!forked() || code === EXIT.FRAUD) return code
  for (const { proof, file } of s.forks.slice(before)) {
    const json = proof.toJSON()
    if (s.opts.json) s.out.stdout.write(JSON.stringify(json, null, 2) + '\n')
    if (onViolation !== undefined) await runHook(s, onViolation, json, { file, code: 'LOG_FORK', database: s.db?.pubkey.toString('hex') ?? pubkey ?? '' })
  }
  return EXIT.FRAUD
}

/** `vitra verify [pubkey]`. */
export async function verifyCommand (s: Session, pubkey: string | undefined, o: AuditOptions = {}): Promise<number> {
  return await withForks(s, pubkey, undefined, async () => await verifyOnce(s, pubkey, { ...o, signal: o.signal ?? s.signal }))
}

async function verifyOnce (s: Session, pubkey: string | undefined, o: AuditOptions): Promise<number> {
  s.longRunning() // missing blocks are bounded by --block-timeout instead
  const db = await openForAudit(s, pubkey)
  const verifier = new Verifier({ index: db.index.core, openOplog: oplogSession(db), blockTimeoutMs: o.blockTimeout })
  const stopProgress = progress(s, verifier)
  const guard = stallGuard(() => verifier.verifiedLength, s.opts.timeout)
  try {
    const cancelled = whenAborted(o.signal, () => `verification stopped at index length ${verifier.verifiedLength} of ${db.index.core.length}`)
    await Promise.race([verifier.ready(), cancelled])
    const violation = await Promise.race([verifier.advance(), guard.stalled, cancelled])
    stopProgress()
    if (violation !== null) return reportFraud(s, await verifier.fraudProof(violation), 'verify').code
    const length = verifier.verifiedLength
    const witnessed = o.witnesses === false ? null : await witnessStatus(s, db)
    if (witnessed?.fork === true) return EXIT.FRAUD
    writeJsonAtomic(s.records.lastVerifyFile, { valid: true, key: db.pubkey.toString('hex'), length, at: new Date().toISOString() })
    s.out.result({ valid: true, database: db.pubkey.toString('hex'), length, witnessed: witnessed?.json ?? null }, () => [
      s.out.green(`Valid: replayed ${length - 1} index entries against the contract and the oplogs; every write is explained (index length ${length}).`),
      ...(witnessed === null ? [] : [witnessed.line])
    ])
    return witnessed === null || witnessed.ok ? EXIT.OK : EXIT.UNVERIFIABLE
  } finally {
    guard.stop()
    stopProgress()
    await verifier.close()
  }
}

/** The witness policy in force at an index length this copy holds (null beyond it). */
function policyAtOf (db: Database): (length: number) => Promise<WitnessPolicy | null> {
  return async length => length <= db.index.core.length ? await db.witnessPolicy({ at: length }) : null
}

/**
 * For a database with a witness policy: the longest checkpoint a quorum of its witnesses
 * cosigned, and whether the local index agrees with it (whitepaper/witness.md §6). A
 * disagreement is a fork (recorded and reported like one seen while replicating); no
 * quorum means nobody can tell that other readers see this history (exit 4).
 */
async function witnessStatus (s: Session, db: Database): Promise<{ ok: boolean, fork: boolean, line: string, json: Record<string, unknown> } | null> {
  const policy = await db.witnessPolicy()
  if (policy === null) return null
  const key = db.pubkey.toString('hex')
  // Witnesses answer over HTTP: --offline (no swarm) does not keep the check from running.
  const { best, failures, check } = await checkWithWitnesses(db.index.core, policy, { hosts: s.opts.from, timeoutMs: Math.min(s.opts.timeout, 10_000), policyAt: policyAtOf(db) })
  const failed = failures.length === 0 ? '' : ` (${failures.map(f => `${f.source}: ${f.error}`).join('; ')})`
  if (best === null || check === null) {
    return { ok: false, fork: false, line: `Not witnessed: no checkpoint has ${policy.quorum} of its ${policy.witnesses.length} witnesses' cosignatures${failed}; whether other readers see this history is unknown.`, json: { checked: true, length: null, quorum: policy.quorum, witnesses: policy.witnesses.length, failures } }
  }
  const { head, cosigned } = best.checked
  if (check.status === 'fork') {
    s.recordFork(check.proof, { key, role: 'index (it differs from the history its witnesses cosigned)' })
    if (s.opts.json) s.out.stdout.write(JSON.stringify(check.proof.toJSON(), null, 2) + '\n')
    return { ok: false, fork: true, line: '', json: {} }
  }
  const names = cosigned.map(c => c.name).join(', ')
  const json = { checked: true, length: head.length, treeHash: head.treeHash, cosigned, quorum: policy.quorum, witnesses: policy.witnesses.length, checkpoint: best.note }
  if (check.status === 'behind') {
    return { ok: false, fork: false, line: `Witnessed at index length ${head.length} (cosigned by ${cosigned.length} of ${policy.witnesses.length}: ${names}), beyond this copy's ${db.index.core.length}: sync it and verify again.`, json }
  }
  const after = db.index.core.length - head.length
  return { ok: true, fork: false, line: `Witnessed: the history up to index length ${head.length} is the one ${cosigned.length} of its ${policy.witnesses.length} witnesses cosigned (${names})${after > 0 ? `; the ${after} entries after it are not witnessed yet` : ''}.`, json }
}

/**
 * Rejects with CouldNotVerifyError when `progress()` has not moved for `ms`: some
 * reads (an oplog's tree at a length) wait for peers without a timeout of their own.
 */
function stallGuard (progress: () => number, ms: number): { stalled: Promise<never>, stop: () => void } {
  let last = progress()
  let since = Date.now()
  let timer: NodeJS.Timeout | null = null
  const stalled = new Promise<never>((_resolve, reject) => {
    timer = setInterval(() => {
      const now = progress()
      if (now !== last) { last = now; since = Date.now(); return }
      if (Date.now() - since < ms) return
      reject(new CouldNotVerifyError(`no progress for ${ms} ms at index seq ${now}: the logs it needs are not available locally and no peer served them`))
    }, Math.min(1000, Math.max(50, ms / 10)))
  })
  stalled.catch(() => {})
  return { stalled, stop: () => { if (timer !== null) clearInterval(timer) } }
}

/** A read session of an oplog, for a verifier (which closes it). */
function oplogSession (db: Database): (hex: string) => Promise<import('hypercore').default> {
  return async hex => (await db.openOplog(hex)).core.session()
}

/** On a TTY (and not --json): `verifying 1200/5000 entries (800/s)` on stderr, after half a second. */
function progress (s: Session, verifier: Verifier): () => void {
  const tty = (s.out.stderr as { isTTY?: boolean }).isTTY === true
  if (!tty) return progressLines(s, verifier)
  if (s.opts.json) return () => {}
  const start = Date.now()
  let shown = false
  const timer = setInterval(() => {
    const elapsed = (Date.now() - start) / 1000
    if (elapsed < 0.5) return
    shown = true
    const done = verifier.verifiedLength
    const total = Math.max(done, verifier.length)
    const width = 30
    const filled = Math.round(width * done / Math.max(1, total))
    s.out.stderr.write(`\rverifying [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} entries (${Math.round(done / elapsed)}/s) `)
  }, 200)
  return () => {
    clearInterval(timer)
    if (shown) { s.out.stderr.write('\r\x1b[K'); shown = false }
  }
}

/**
 * Not on a terminal (a pipe, a log file, CI): a plain line on stderr every
 * VITRA_PROGRESS_MS (default 5000) while the verification runs, so a long job is seen to move.
 */
function progressLines (s: Session, verifier: Verifier): () => void {
  const every = s.opts.progressMs
  if (!Number.isFinite(every) || every <= 0) return () => {}
  const start = Date.now()
  const timer = setInterval(() => {
    const done = verifier.verifiedLength
    const total = Math.max(done, verifier.length)
    const elapsed = (Date.now() - start) / 1000
    s.out.stderr.write(`vitra: verifying: ${done} of ${total} index entries (${Math.round(done / Math.max(0.001, elapsed))}/s)\n`)
  }, every)
  timer.unref()
  return () => clearInterval(timer)
}

/** Print and save a fraud proof; returns the fraud exit code and where it was saved. */
function reportFraud (s: Session, proof: ContractFraudProof, by: 'verify' | 'monitor'): { code: number, file: string } {
  const json = proof.toJSON()
  const file = s.records.saveFraud(json)
  if (by === 'verify') {
    writeJsonAtomic(s.records.lastVerifyFile, { valid: false, key: json.index.key, code: json.details.code, seq: json.details.seq, file, at: new Date().toISOString() })
  }
  if (s.opts.json) {
    s.out.stdout.write(JSON.stringify(json, null, 2) + '\n')
    s.out.note(`fraud proof saved to ${file}`)
  } else {
    s.out.result(json, () => s.out.fraud(json, file))
  }
  return { code: EXIT.FRAUD, file }
}

export interface MonitorOptions extends AuditOptions {
  /** Shell command run on a violation, with the fraud proof JSON on stdin. */
  onViolation?: string
  /** Verify what is there now, then exit (0 valid, 3 fraud, 4 unverifiable). */
  once?: boolean
  /** Retry interval after "could not verify" (ms). */
  retry?: number
  signal?: AbortSignal
  /** How often to ask the witnesses (ms). */
  witnessIntervalMs?: number
  /** Alert when index entries wait longer than this for a witnessed checkpoint (ms). */
  maxUnwitnessedMs?: number
}

/** `vitra monitor [pubkey] [--on-violation <cmd>] [--once]`. Resumes from <dir>/monitor-checkpoint.json. */
export async function monitorCommand (s: Session, pubkey: string | undefined, o: MonitorOptions = {}): Promise<number> {
  return await withForks(s, pubkey, o.onViolation, async forked => await monitorUntilStopped(s, pubkey, { ...o, signal: o.signal ?? s.signal }, forked))
}

async function monitorUntilStopped (s: Session, pubkey: string | undefined, o: MonitorOptions, forked: () => boolean): Promise<number> {
  s.longRunning()
  const db = await openForAudit(s, pubkey, o.once !== true)
  const checkpointFile = s.records.checkpointFile
  const resumeAt = checkpointLength(checkpointFile)
  const monitor = new ContractMonitor({ index: db.index.core, openOplog: oplogSession(db), blockTimeoutMs: o.blockTimeout, retryMs: o.retry, checkpointFile })
  const seen = watch(s, monitor, o.once === true)
  // a log of the database signing two histories (seen while replicating) is fraud too
  const onFork = (): void => seen.wake()
  db.on('log-fork', onFork)
  const witnesses = o.witnesses === false ? null : await witnessWatch(s, db, o, () => seen.wake())
  try {
    s.out.event({ event: 'start', database: db.pubkey.toString('hex'), resumeAt, indexLength: db.index.core.length },
      `Monitoring ${db.pubkey.toString('hex')}${resumeAt > 1 ? `, resuming after index length ${resumeAt}` : ' from genesis'}; index length ${db.index.core.length}.`)
    if (o.once === true) {
      await firstPass(monitor, s.opts.timeout)
      await witnesses?.check()
    } else {
      await monitor.ready() // a long-running monitor waits for peers as long as it takes
      await witnesses?.ready()
    }
    if (monitor.violation === null && seen.failure === null && !forked() && o.once !== true) {
      const stop = new AbortController()
      void seen.woken.then(() => stop.abort())
      o.signal?.addEventListener('abort', () => stop.abort())
      await untilStopped(stop.signal)
    }
    return await verdict(s, db, monitor, seen, o)
  } finally {
    db.off('log-fork', onFork)
    await witnesses?.close()
    await monitor.close()
  }
}

/**
 * For a database with a witness policy: the monitor's witness check (src/witness/watch.ts).
 * A fork against the witnessed history is recorded like any log fork (exit 3); entries
 * waiting too long for a checkpoint are an alert (STALE_CHECKPOINT), printed and kept going.
 */
async function witnessWatch (s: Session, db: Database, o: MonitorOptions, wake: () => void): Promise<WitnessWatch | null> {
  const policy = await db.witnessPolicy()
  if (policy === null) return null
  const key = db.pubkey.toString('hex')
  const w = new WitnessWatch({ core: db.index.core, policy, hosts: s.opts.from, intervalMs: o.witnessIntervalMs, maxAgeMs: o.maxUnwitnessedMs, policyAt: policyAtOf(db) })
  w.on('witnessed', (found: FoundCheckpoint) => {
    const { head, cosigned } = found.checked
    s.out.event({ event: 'witnessed', length: head.length, cosigned: cosigned.map(c => c.name) }, `witnessed up to index length ${head.length} (cosigned by ${cosigned.length} of ${policy.witnesses.length})`)
  })
  w.on('fork', (proof: LogForkFraudProof) => {
    s.recordFork(proof, { key, role: 'index (it differs from the history its witnesses cosigned)' })
    wake()
  })
  w.on('stale', (err: VitraError) => {
    s.out.event({ event: 'alert', code: err.code, message: err.message, ...err.details }, `ALERT ${err.code}: ${err.message}`)
  })
  w.on('warning', (err: Error) => { if (!s.opts.json) s.out.warn(`witness: ${err.message}`) })
  return w
}

/** The monitor's first pass, for --once: stopped (could not verify) when it makes no progress for `ms`. */
async function firstPass (monitor: ContractMonitor, ms: number): Promise<void> {
  const guard = stallGuard(() => monitor.verifiedLength, ms)
  try {
    await Promise.race([monitor.ready(), guard.stalled])
  } finally {
    guard.stop()
  }
}

interface Seen { unverifiable: Error | null, failure: Error | null, woken: Promise<void>, wake: () => void }

/** Print the monitor's progress; `woken` resolves on a violation or a failure. */
function watch (s: Session, monitor: ContractMonitor, once: boolean): Seen {
  let wake: () => void = () => {}
  const woken = new Promise<void>(resolve => { wake = resolve })
  const seen: Seen = { unverifiable: null, failure: null, woken, wake: () => wake() }
  monitor.on('verified', (length: number) => {
    seen.unverifiable = null
    s.out.event({ event: 'verified', length }, `verified up to index length ${length}`)
  })
  monitor.on('unverifiable', (err: Error) => {
    if (seen.unverifiable?.message !== err.message && !once) s.out.warn(`could not verify yet (${err.message}); retrying`)
    seen.unverifiable = err
  })
  monitor.on('violation', () => wake())
  monitor.on('error', (err: Error) => { seen.failure = err; wake() })
  return seen
}

/** Where the monitor stopped: fraud (3, after the hook; a forked log or a contract violation), unverifiable (4) or valid (0). */
async function verdict (s: Session, db: Database, monitor: ContractMonitor, seen: Seen, o: MonitorOptions): Promise<number> {
  if (seen.failure !== null) throw seen.failure
  const proof = monitor.violation
  if (proof !== null) {
    const { code, file } = reportFraud(s, proof, 'monitor')
    const json = proof.toJSON()
    if (o.onViolation !== undefined) await runHook(s, o.onViolation, json, { file, code: json.details.code, database: json.index.key })
    return code
  }
  if (monitor.verifiedLength < db.index.core.length) {
    const why = seen.unverifiable === null ? '' : `: ${seen.unverifiable.message}`
    s.out.error(`Could not verify past index length ${monitor.verifiedLength} of ${db.index.core.length}${why}. This is not a verdict of fraud: try again when peers holding the logs are online`)
    return EXIT.UNVERIFIABLE
  }
  s.out.event({ event: 'valid', length: monitor.verifiedLength }, s.out.green(`Valid up to index length ${monitor.verifiedLength}.`))
  return EXIT.OK
}

function checkpointLength (file: string): number {
  if (!existsSync(file)) return 0
  const cp = readJson(file) as { state?: { length?: unknown } }
  return typeof cp.state?.length === 'number' ? cp.state.length : 0
}

/**
 * Run the alert command with the proof on stdin, in the user's working directory; its output
 * goes where ours does (its stdout to our stderr with --json). Bounded to 60 s.
 */
export async function runHook (s: Session, command: string, json: unknown, about: { file: string, code: string, database: string }): Promise<void> {
  const child = spawn(command, {
    shell: true,
    cwd: s.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, VITRA_FRAUD_FILE: about.file, VITRA_FRAUD_CODE: about.code, VITRA_DATABASE: about.database }
  })
  child.stdout?.on('data', (d: Buffer) => (s.opts.json ? s.out.stderr : s.out.stdout).write(d))
  child.stderr?.on('data', (d: Buffer) => s.out.stderr.write(d))
  child.stdin?.on('error', () => {}) // a hook that does not read its input is fine
  child.stdin?.end(JSON.stringify(json, null, 2) + '\n')
  const code = await new Promise<number | string>(resolve => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve('timed out after 60 s') }, 60_000)
    child.on('error', err => { clearTimeout(timer); resolve(err.message) })
    child.on('close', (c, sig) => { clearTimeout(timer); resolve(c ?? `killed by ${String(sig)}`) })
  })
  if (code === 0) s.out.note(`--on-violation command ran: ${command}`)
  else s.out.warn(`the --on-violation command failed (${typeof code === 'number' ? `exit ${code}` : code}): ${command}`)
}
