/**
 * How the `vitra` command reports failure: every error becomes ONE line on
 * stderr saying what is wrong and what to do, and a documented exit code. The
 * stack trace is printed only with `--debug` (or VITRA_DEBUG=1).
 *
 * The engine's errors carry a stable `code` (src/errors/errors.ts); this module maps
 * codes to exit codes and hints, and never looks at message text, with one
 * exception marked below (RocksDB's lock error has no code).
 */
import { EXIT, VitraError, errorSpec, type ErrorCode } from '../src/index.js'

export { EXIT }

/** The exit-code table, as printed by `vitra --help` and in the docs. */
export const EXIT_CODES_HELP = `Exit codes:
  0  success (verify/monitor: the execution is valid)
  1  error (missing database, contract error, I/O, timeout, ...)
  2  usage error (unknown command or option, bad argument, bad JSON)
  3  fraud: verify/monitor found a violation (fraud proof printed and saved)
  4  could not verify: logs are missing (not a verdict of fraud)`

/** An error raised by the CLI itself, with its exit code (the catalogue's, unless told). */
export class CliError extends Error {
  readonly code: ErrorCode
  readonly exitCode: number

  constructor (code: ErrorCode, message: string, exitCode: number = errorSpec(code).exit) {
    super(message)
    this.name = 'CliError'
    this.code = code
    this.exitCode = exitCode
  }
}

/** A REPL dot-command stopped with Ctrl-C: `what` says how far it got. */
export function cancelledError (what: string): CliError {
  return new CliError('CANCELLED', `Cancelled: ${what}`)
}

/**
 * Rejects with cancelledError(what()) when `signal` aborts; never settles otherwise. Meant
 * for Promise.race: an abort after the race was decided is nobody's error.
 */
export function whenAborted (signal: AbortSignal | undefined, what: () => string): Promise<never> {
  const p = new Promise<never>((_resolve, reject) => {
    if (signal === undefined) return
    if (signal.aborted) { reject(cancelledError(what())); return }
    signal.addEventListener('abort', () => reject(cancelledError(what())), { once: true })
  })
  p.catch(() => {})
  return p
}

/** A mistake on the command line (exit code 2). */
export function usageError (message: string): CliError {
  return new CliError('USAGE', message, EXIT.USAGE)
}

/** What to print and which exit code to use for an error. */
export interface Described { message: string, exitCode: number }


const CONTRACT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['CONTRACT_RUNTIME_ERROR', 'CONTRACT_TIMEOUT', 'CONTRACT_MEMORY_LIMIT', 'INVALID_VALUE'])

/** Turn any thrown value into one line and an exit code. */
export function describeError (err: unknown, ctx: { dir?: string } = {}): Described {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode }
  if (err instanceof VitraError) return describeVitraError(err)
  const e = err as { code?: unknown, message?: unknown, path?: unknown, name?: unknown }
  const message = typeof e?.message === 'string' ? e.message : String(err)
  if (e?.code === 'ENOENT' && typeof e.path === 'string') return { message: `File not found: ${e.path}`, exitCode: EXIT.ERROR }
  if (e?.code === 'EADDRINUSE') {
    const where = (e as { port?: unknown, address?: unknown })
    return { message: `Port ${String(where.port ?? '?')} on ${String(where.address ?? 'this host')} is taken by another process: choose another with --port <n> (--port 0 picks a free one)`, exitCode: EXIT.ERROR }
  }
  if (e?.code === 'EACCES' && typeof e.path === 'string') return { message: `Permission denied: ${e.path}`, exitCode: EXIT.ERROR }
  // RocksDB (under Corestore) reports a held lock without a code: message text is all there is.
  // Every vitra command that holds a directory publishes owner.json and runs the others' commands
  // (cli/owner.ts), so the holder here is something else: a program using the library, or an older vitra.
  if (/could not be locked/i.test(message)) {
    return { message: `The database in ${ctx.dir ?? 'this directory'} is held by another process that takes no commands (a program using the vitra library, or an older vitra): stop it first`, exitCode: EXIT.ERROR }
  }
  const name = typeof e?.name === 'string' && e.name !== 'Error' ? `${e.name}: ` : ''
  return { message: `Unexpected error: ${name}${message} (run with --debug for the stack trace)`, exitCode: EXIT.ERROR }
}

/** The message of an engine error; its exit code and hint come from the catalogue. */
function describeVitraError (err: VitraError): Described {
  const code = err.code
  const exitCode = errorSpec(code).exit
  if (code === 'CONTRACT_FRAUD') return { message: err.message, exitCode }
  if (code === 'LOG_FORK' || code === 'LOG_TRUNCATED') return { message: `FRAUD: ${err.message}`, exitCode }
  if (code === 'COULD_NOT_VERIFY') {
    return { message: `Could not verify: ${err.message}. This is not a verdict of fraud: try again when peers holding the logs are online`, exitCode }
  }
  if (code === 'CONTRACT_PARSE_ERROR') return { message: withHint(`The contract does not compile: ${err.message}`, code), exitCode }
  if (code === 'INVALID_PROOF') return { message: `The proof does not check out: ${err.message}`, exitCode }
  if (CONTRACT_CODES.has(code)) return { message: `The contract refused: ${err.message} (${code})`, exitCode }
  return { message: withHint(err.message, code), exitCode }
}

function withHint (message: string, code: ErrorCode): string {
  const hint = errorSpec(code).hint
  return hint === undefined ? message : `${stripDot(message)} (${hint})`
}

function stripDot (s: string): string { return s.endsWith('.') ? s.slice(0, -1) : s }

/** Collapse a message to one line (contract errors may hold newlines). */
export function oneLine (s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim()
}
