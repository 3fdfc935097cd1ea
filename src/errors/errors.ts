/**
 * Every error vitra throws on purpose is a VitraError with a stable `code` from the
 * catalogue (catalogue.ts). Callers branch on `err.code`, never on message text.
 * It imports only the catalogue (a leaf), so every layer (sandbox, src, cli) may use it.
 */
import { ERRORS, type ErrorCode } from './catalogue.js'

export { EXIT, ERRORS, errorSpec, isErrorCode, type ErrorCode, type ErrorSpec, type ExitCode } from './catalogue.js'

export class VitraError extends Error {
  readonly code: ErrorCode
  readonly details?: Record<string, unknown>

  constructor (code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message)
    this.name = new.target.name
    this.code = code
    if (details !== undefined) this.details = details
  }
}

/** The contract source does not compile, or imports a module that does not exist. */
export class ContractParseError extends VitraError {
  readonly line?: number
  readonly column?: number
  constructor (message: string, pos: { line?: number, column?: number } = {}) {
    super('CONTRACT_PARSE_ERROR', message, pos)
    if (pos.line !== undefined) this.line = pos.line
    if (pos.column !== undefined) this.column = pos.column
  }
}

/** The contract threw, returned something unusable, or broke a sandbox rule while running. */
export class ContractRuntimeError extends VitraError {
  constructor (message: string, code: ErrorCode = 'CONTRACT_RUNTIME_ERROR', details?: Record<string, unknown>) {
    super(code, message, details)
  }
}

/** The contract ran longer than its CPU-time limit (or never settled). */
export class ContractTimeoutError extends ContractRuntimeError {
  constructor (message: string) { super(message, 'CONTRACT_TIMEOUT') }
}

/** The contract used more memory than its isolate may hold. */
export class ContractMemoryError extends ContractRuntimeError {
  constructor (message: string) { super(message, 'CONTRACT_MEMORY_LIMIT') }
}

/** `db.call(name)` named something the contract does not export as a method. */
export class UnknownMethodError extends VitraError {
  constructor (method: string, known: string[]) {
    super('UNKNOWN_METHOD', `The contract has no method "${method}". Known methods: ${known.join(', ') || '(none)'}`, { method, known })
  }
}

/** A value that cannot be stored: vitra stores JSON values only (null, booleans, finite numbers, strings, arrays, plain objects). */
export class InvalidValueError extends VitraError {
  constructor (message: string) { super('INVALID_VALUE', message) }
}

/** Arguments to an API call were malformed. */
export class InvalidArgumentError extends VitraError {
  constructor (message: string) { super('INVALID_ARGUMENT', message) }
}

/** Untrusted bytes (an oplog entry, an index entry, proof JSON) did not match their schema. */
export class InvalidEntryError extends VitraError {
  constructor (message: string, details?: Record<string, unknown>) { super('INVALID_ENTRY', message, details) }
}

/** No database exists at the given storage, or it has another key. */
export class DatabaseNotFoundError extends VitraError {
  constructor (message: string) { super('DATABASE_NOT_FOUND', message) }
}

/** A database already exists where one was to be created. */
export class DatabaseExistsError extends VitraError {
  constructor (message: string) { super('DATABASE_EXISTS', message) }
}

/** The operation needs the executor's key (or a local oplog) and this instance lacks it. */
export class PermissionError extends VitraError {
  constructor (code: 'NOT_EXECUTOR' | 'NOT_PARTICIPANT' | 'ACTIVE_PARTICIPANT' | 'READ_ONLY', message: string) { super(code, message) }
}

/** Waiting for something (an op to be processed, a peer) took longer than allowed. */
export class TimeoutError extends VitraError {
  constructor (message: string) { super('TIMEOUT', message) }
}

/**
 * A log's signed head has a fork counter above 0: its key holder truncated it and
 * wrote another history, which a contract database's logs may never do
 * (whitepaper/proofs.md §5). Seen when only that history is known here; with both
 * heads the evidence is a LogForkFraudProof. `details.head` is the signed head
 * (checkable with verifySignedHead and the log's manifest).
 */
export class LogTruncatedError extends VitraError {
  constructor (message: string, details: { key: string, role: 'index' | 'oplog', head: Record<string, unknown> | null }) { super('LOG_TRUNCATED', message, details) }
}

/** The resource was closed. */
export class ClosedError extends VitraError {
  constructor (what = 'database') { super('CLOSED', `The ${what} is closed`) }
}

/** A proof (inclusion, fork or fraud) did not check out. `reason` says which check failed. */
export class InvalidProofError extends VitraError {
  constructor (reason: string, message: string) { super('INVALID_PROOF', message, { reason }) }
}

/**
 * Verification could not be completed because data is missing (a log block is not
 * available locally, a peer is offline). This is never a verdict of fraud.
 */
export class CouldNotVerifyError extends VitraError {
  constructor (message: string, details?: Record<string, unknown>) { super('COULD_NOT_VERIFY', message, details) }
}

/** A swarm peer misbehaved or stalled (it never opened the database's replication channel, or left a request unanswered). */
export class NetworkError extends VitraError {
  constructor (code: 'PEER_TIMEOUT', message: string) { super(code, message) }
}

/**
 * An untrusted input is beyond one of the documented limits (whitepaper/protocol.md
 * "Limits"): `OP_TOO_LARGE` (an oplog entry over the database's maxOpBytes),
 * `OP_TOO_DEEP` (an oplog entry nested deeper than MAX_JSON_DEPTH), `VALUE_TOO_DEEP`
 * (any other JSON value: a write, metadata, proof or checkpoint JSON).
 */
export class LimitError extends VitraError {
  constructor (code: 'OP_TOO_LARGE' | 'OP_TOO_DEEP' | 'VALUE_TOO_DEEP', message: string, details?: Record<string, unknown>) { super(code, message, details) }
}

/** A VitraError of one code: `errors.TRANSACTION_NOT_FOUND(message)`. */
export type ErrorFactory = (message: string, details?: Record<string, unknown>) => VitraError

function factory (code: ErrorCode): ErrorFactory {
  const make: ErrorFactory = (message, details) => {
    const err = new VitraError(code, message, details)
    // the stack starts where the error was made, not in here (V8; elsewhere it keeps this frame)
    if (typeof Error.captureStackTrace === 'function') Error.captureStackTrace(err, make)
    return err
  }
  return make
}

/**
 * One factory per code of the catalogue, in the style of hypercore-errors. Codes with a
 * subclass of their own (ContractParseError, ClosedError, ...) are better made with it.
 */
export const errors: { readonly [K in ErrorCode]: ErrorFactory } = Object.freeze(
  Object.fromEntries((Object.keys(ERRORS) as ErrorCode[]).map(code => [code, factory(code)])) as { [K in ErrorCode]: ErrorFactory }
)
