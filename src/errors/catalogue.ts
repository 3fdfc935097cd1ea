/**
 * The error catalogue: every stable `code` vitra reports, defined once with what it
 * means, the HTTP status the API answers it with and the exit code of the `vitra`
 * command. `VitraError` (errors.ts) and the CLI's `CliError` take only these codes;
 * the HTTP API (src/http/api.ts), the CLI's messages (cli/errors.ts) and the docs
 * (whitepaper/errors.md, rendered by `errorTable`, checked by
 * test/error-catalogue.test.ts) read it. Violations a replay detects have their own
 * catalogue (src/proofs/fraud/fraud-codes.ts). A leaf: it imports nothing.
 */

/** Exit codes of every `vitra` command. */
export const EXIT = {
  /** Success (and, for verify/monitor: the execution is valid). */
  OK: 0,
  /** The command failed (database missing, contract error, I/O, ...). */
  ERROR: 1,
  /** The command line is wrong: unknown command or option, missing argument, malformed value. */
  USAGE: 2,
  /** verify/monitor found a violation: a fraud proof was printed and saved. */
  FRAUD: 3,
  /** verify/monitor could not finish: logs are missing (not a verdict of fraud). */
  UNVERIFIABLE: 4
} as const
export type ExitCode = typeof EXIT[keyof typeof EXIT]

/** Where a code comes from. */
export type ErrorArea = 'contract' | 'data' | 'database' | 'proof' | 'network' | 'http' | 'sql' | 'witness' | 'cli'

/** One code of the catalogue. */
export interface ErrorSpec {
  /** What it means, one sentence for people (the docs print it). */
  meaning: string
  area: ErrorArea
  /**
   * The HTTP status the API answers with; null for the codes of the `vitra` command
   * and of witnesses (a service of their own), which never reach the API.
   */
  http: number | null
  /** The exit code of a `vitra` command that ends with it. */
  exit: ExitCode
  /** What to do about it: the CLI appends it to the message. */
  hint?: string
}

const { ERROR, USAGE, FRAUD, UNVERIFIABLE } = EXIT

/** Every code, alphabetically within its area. */
export const ERRORS = {
  // ---------------------------------------------------------------- the contract
  CONTRACT_MEMORY_LIMIT: { area: 'contract', http: 422, exit: ERROR, meaning: 'The contract used more memory than its isolate may hold; its isolate was reset.' },
  CONTRACT_PARSE_ERROR: { area: 'contract', http: 500, exit: ERROR, meaning: 'The contract source does not compile, imports a module that does not exist, or its module code threw.', hint: 'fix the contract source and try again' },
  CONTRACT_RUNTIME_ERROR: { area: 'contract', http: 422, exit: ERROR, meaning: 'The contract threw, returned something unusable, or broke a sandbox rule while running.' },
  CONTRACT_TIMEOUT: { area: 'contract', http: 422, exit: ERROR, meaning: 'The contract ran longer than its CPU-time limit, or waited for a promise that never settled.' },
  GOVERNANCE_REFUSED: { area: 'contract', http: 500, exit: ERROR, meaning: 'The system contract of a PoA database refused a change that only the signatory quorum may make.' },
  INVALID_GOVERNANCE: { area: 'contract', http: 500, exit: ERROR, meaning: 'The /.sys/governance record of a PoA database is malformed.' },
  PROCESS_FAILED: { area: 'contract', http: 500, exit: ERROR, meaning: "The contract's process() failed on the executor; the op is published as failed, and verifiers accept it as given." },
  UNKNOWN_METHOD: { area: 'contract', http: 400, exit: ERROR, meaning: 'A call named something the contract does not export as a method.', hint: 'see `vitra methods`' },

  // ---------------------------------------------------------------- values and untrusted data
  INVALID_ARGUMENT: { area: 'data', http: 400, exit: ERROR, meaning: 'An argument was malformed: a key, path, option, parameter or transaction id.' },
  INVALID_ENTRY: { area: 'data', http: 500, exit: ERROR, meaning: 'Untrusted bytes (an oplog entry, an index entry, proof JSON) did not match their schema.' },
  INVALID_PATH: { area: 'data', http: 400, exit: ERROR, meaning: 'A path names no entry (empty, NUL characters, a lone surrogate, or under /.sys).' },
  INVALID_VALUE: { area: 'data', http: 400, exit: ERROR, meaning: 'A value that cannot be stored: vitra stores JSON values only (null, booleans, finite numbers, strings, arrays, plain objects).' },
  OP_TOO_DEEP: { area: 'data', http: 400, exit: ERROR, meaning: 'An oplog entry is nested deeper than the limit (MAX_JSON_DEPTH).' },
  OP_TOO_LARGE: { area: 'data', http: 413, exit: ERROR, meaning: "An op is larger than the database's maxOpBytes." },
  VALUE_TOO_DEEP: { area: 'data', http: 400, exit: ERROR, meaning: 'A JSON value (a write, metadata, a proof or a checkpoint) is nested deeper than the limit (MAX_JSON_DEPTH).' },

  // ---------------------------------------------------------------- databases and their storage
  ACTIVE_PARTICIPANT: { area: 'database', http: 500, exit: ERROR, meaning: 'The oplog is an active participant: it cannot be deleted while the contract counts it.' },
  BLOCK_UNAVAILABLE: { area: 'database', http: 500, exit: ERROR, meaning: 'A block the executor needs was not served by any peer in time; it tries again later.' },
  CLOSED: { area: 'database', http: 503, exit: ERROR, meaning: 'The database (or its sandbox, or its host) is closed or closing.' },
  DATABASE_EXISTS: { area: 'database', http: 500, exit: ERROR, meaning: 'A database already exists where one was to be created.', hint: 'choose another --dir, or delete it first with `vitra destroy`' },
  DATABASE_NOT_FOUND: { area: 'database', http: 404, exit: ERROR, meaning: 'No database exists at the given storage, or it has another key, or the host does not serve it.' },
  ENTRY_NOT_FOUND: { area: 'database', http: 404, exit: ERROR, meaning: 'No entry at the path (the API answers with the proof of its absence when asked).' },
  LOG_TRUNCATED: { area: 'database', http: 500, exit: FRAUD, meaning: 'A log was truncated by its key holder, which a contract database may never do (fraud: its signed head is the evidence).' },
  NOT_EXECUTOR: { area: 'database', http: 500, exit: ERROR, meaning: "The operation needs the executor's key, which this instance lacks.", hint: "only the executor's directory can do this" },
  NOT_PARTICIPANT: { area: 'database', http: 403, exit: ERROR, meaning: 'The operation appends ops, and this instance has no oplog that is an active participant.', hint: "this directory has no oplog that is an active participant: ask the database's admin to add one (`vitra oplog create` makes one)" },
  OPLOG_NOT_FOUND: { area: 'database', http: 404, exit: ERROR, meaning: 'The oplog is not one this database reads.' },
  OPLOG_RETRY: { area: 'database', http: 500, exit: ERROR, meaning: 'Reading an oplog failed on the executor; it tries again later (a warning, not a failure of the op).' },
  READ_ONLY: { area: 'database', http: 500, exit: ERROR, meaning: 'The database was opened read-only.' },
  STORAGE_COPIED: { area: 'database', http: 500, exit: ERROR, meaning: 'The directory is a copy of a database directory; `vitra restore` adopts it.' },
  TIMEOUT: { area: 'database', http: 504, exit: ERROR, meaning: 'Waiting took longer than allowed (a call whose ops were not executed in time, a peer that did not come).', hint: 'the executor may be offline: run `vitra host` where it lives, then check with `vitra tx list`' },
  TRANSACTION_NOT_FOUND: { area: 'database', http: 404, exit: ERROR, meaning: 'No transaction with this id: the host does not read its oplog, or the oplog is shorter.' },
  UNSUPPORTED_FORMAT: { area: 'database', http: 500, exit: ERROR, meaning: 'The storage or checkpoint was written by vitra 0.1, whose index layout this version does not read.' },

  // ---------------------------------------------------------------- proofs and verification
  CONTRACT_FRAUD: { area: 'proof', http: 500, exit: FRAUD, meaning: 'The executor violated the contract: the error carries the fraud proof.' },
  COULD_NOT_VERIFY: { area: 'proof', http: 500, exit: UNVERIFIABLE, meaning: 'Verification could not finish because data is missing (a block not available, a peer offline); never a verdict of fraud.' },
  FRAUD_PROOF_NOT_FOUND: { area: 'proof', http: 404, exit: ERROR, meaning: 'No fraud proof with this number.' },
  INVALID_CHECKPOINT: { area: 'proof', http: 500, exit: ERROR, meaning: 'A monitor checkpoint is malformed, or is for another database.', hint: 'delete the monitor checkpoint to start over from genesis' },
  INVALID_PROOF: { area: 'proof', http: 500, exit: ERROR, meaning: 'A proof (inclusion, fork or fraud) does not check out; details.reason says which check failed.' },
  LOG_FORK: { area: 'proof', http: 500, exit: FRAUD, meaning: 'A log signed two histories that do not extend one another: the two signed heads are the fraud proof.' },
  NO_MONITOR: { area: 'proof', http: 404, exit: ERROR, meaning: 'This host keeps no monitor.' },
  REPLAY_ORDER: { area: 'proof', http: 500, exit: ERROR, meaning: 'A replay was given index entries out of order.' },

  // ---------------------------------------------------------------- the network
  PEER_TIMEOUT: { area: 'network', http: 500, exit: ERROR, meaning: "A swarm peer stalled: it never opened the database's replication channel, or left a request unanswered." },
  REQUEST_TIMEOUT: { area: 'network', http: 500, exit: ERROR, meaning: 'A block read waited for a peer longer than the timeout (Hypercore reports it with this code too).' },

  // ---------------------------------------------------------------- the HTTP API
  BAD_REQUEST: { area: 'http', http: 400, exit: ERROR, meaning: 'A request refused before any route: a body that is not JSON, or a content type the API does not take.' },
  BODY_TOO_LARGE: { area: 'http', http: 413, exit: ERROR, meaning: 'A request body over the limit (1 MiB by default).' },
  INTERNAL: { area: 'http', http: 500, exit: ERROR, meaning: 'The host failed while answering (a bug: its log has the cause).' },
  NO_SUCH_ROUTE: { area: 'http', http: 404, exit: ERROR, meaning: 'No route (or explorer file) by this method and path.' },
  NOT_BUILT: { area: 'http', http: 503, exit: ERROR, meaning: 'A file the explorer needs is missing: `npm run build` makes it.' },
  UNAUTHORIZED: { area: 'http', http: 401, exit: ERROR, meaning: 'A call without the right bearer token.' },

  // ---------------------------------------------------------------- SQL
  QUERY_FAILED: { area: 'sql', http: 500, exit: ERROR, meaning: 'The query process failed (not the query itself).' },
  QUERY_TIMEOUT: { area: 'sql', http: 422, exit: ERROR, meaning: 'A query ran past its time limit.' },
  SQL_ERROR: { area: 'sql', http: 400, exit: ERROR, meaning: 'SQLite refused the query (syntax, unknown table or column).' },
  SQL_NOT_READ_ONLY: { area: 'sql', http: 403, exit: ERROR, meaning: 'The query would write: queries only read.' },

  // ---------------------------------------------------------------- witnesses
  NO_WITNESS_POLICY: { area: 'witness', http: 404, exit: ERROR, meaning: 'The database has no witness policy: nobody cosigns its checkpoints.' },
  NOT_WITNESSED: { area: 'witness', http: 503, exit: ERROR, meaning: 'No checkpoint of the database has the cosignatures its witness policy needs yet (a witness may be offline, or the host just started).' },
  STALE_CHECKPOINT: { area: 'witness', http: null, exit: ERROR, meaning: 'Index entries have waited longer than allowed for a checkpoint a quorum of the witnesses cosigned (an alert of a monitor, not a verdict).' },
  INVALID_WITNESS_FILE: { area: 'witness', http: null, exit: ERROR, meaning: "A witness's file (its key, or its state for a log) is malformed." },
  NO_WITNESS_KEY: { area: 'witness', http: null, exit: ERROR, meaning: 'The directory holds no witness key.', hint: '`vitra witness init --dir <dir>` makes one' },
  WITNESS_KEY_EXISTS: { area: 'witness', http: null, exit: ERROR, meaning: 'The directory already holds a witness key; a witness keeps its key for life.' },

  // ---------------------------------------------------------------- the vitra command
  BACKGROUND_FAILED: { area: 'cli', http: null, exit: ERROR, meaning: "The REPL's background host (.bg) did not start." },
  BACKGROUND_STUCK: { area: 'cli', http: null, exit: ERROR, meaning: "The REPL's background host did not stop in time (.fg)." },
  BAD_FILE: { area: 'cli', http: null, exit: ERROR, meaning: 'A file given to a command is not valid JSON.' },
  CANCELLED: { area: 'cli', http: null, exit: ERROR, meaning: 'A command stopped with Ctrl-C.' },
  DATABASE_OPEN: { area: 'cli', http: null, exit: ERROR, meaning: 'The REPL already has a database open.' },
  DATABASE_OWNED: { area: 'cli', http: null, exit: ERROR, meaning: 'The command cannot run in the process that owns the directory (host, serve, the REPL and destroy run alone).' },
  IN_BACKGROUND: { area: 'cli', http: null, exit: ERROR, meaning: 'The REPL hosts the database in the background: .fg first.' },
  NO_CONTRACT: { area: 'cli', http: null, exit: ERROR, meaning: 'The contract file does not exist.' },
  NO_DATABASE: { area: 'cli', http: null, exit: ERROR, meaning: 'No database in the directory (or none open in the REPL).' },
  NO_OPLOG: { area: 'cli', http: null, exit: ERROR, meaning: 'No oplog by this name, or the directory has no local oplog.' },
  NO_SOURCE: { area: 'cli', http: null, exit: ERROR, meaning: 'The index holds no contract source.' },
  NOT_FOUND: { area: 'cli', http: null, exit: ERROR, meaning: 'No record (transaction, fraud proof) by this id in the directory.' },
  NOT_HOSTABLE: { area: 'cli', http: null, exit: ERROR, meaning: 'A throwaway REPL database cannot be hosted in the background.' },
  NOT_LOCAL: { area: 'cli', http: null, exit: ERROR, meaning: "The oplog is not one of this directory's own." },
  NOT_POA: { area: 'cli', http: null, exit: ERROR, meaning: 'The database has no key quorum (it was not created with `vitra init --poa`).' },
  OTHER_DATABASE: { area: 'cli', http: null, exit: ERROR, meaning: 'The record belongs to another database than the one in the directory.' },
  OWNER_GONE: { area: 'cli', http: null, exit: ERROR, meaning: "The process that owns the directory stopped before it finished the command sent to it." },
  STALLED: { area: 'cli', http: null, exit: ERROR, meaning: 'No peer served the data the command needs within the timeout.' },
  USAGE: { area: 'cli', http: null, exit: USAGE, meaning: 'The command line is wrong: an unknown command or option, a missing argument, a malformed value.' }
} as const satisfies Record<string, ErrorSpec>

/** Every stable error code. */
export type ErrorCode = keyof typeof ERRORS

/** Whether `code` is in the catalogue. */
export function isErrorCode (code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code)
}

/** The catalogue entry of a code. */
export function errorSpec (code: ErrorCode): ErrorSpec {
  return ERRORS[code]
}

/** The catalogue as a Markdown table (whitepaper/errors.md holds it, checked by a test). */
export function errorTable (): string {
  const rows = (Object.keys(ERRORS) as ErrorCode[]).map(code => {
    const e: ErrorSpec = ERRORS[code]
    return `| \`${code}\` | ${e.area} | ${e.http ?? '—'} | ${e.exit} | ${e.meaning.replace(/\|/g, '\\|')}${e.hint === undefined ? '' : ` *${e.hint.replace(/\|/g, '\\|')}*`} |`
  })
  return ['| code | area | HTTP | exit | meaning *(hint)* |', '|---|---|---|---|---|', ...rows].join('\n')
}

/** The HTTP statuses of the catalogue as a Markdown table (whitepaper/http-api.md holds it, checked by a test). */
export function httpStatusTable (): string {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    const status: number | null = ERRORS[code].http
    if (status === null || status === 500) continue
    const list = byStatus.get(status) ?? []
    list.push(code)
    byStatus.set(status, list)
  }
  const rows = [...byStatus.entries()].sort((a, b) => a[0] - b[0]).map(([status, codes]) => `| ${status} | ${codes.map(c => `\`${c}\``).join(', ')} |`)
  rows.push('| 500 | `INTERNAL`, and any other code of the catalogue that reaches the API (a fault of the host) |')
  return ['| status | codes |', '|---|---|', ...rows].join('\n')
}
