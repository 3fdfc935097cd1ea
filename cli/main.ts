/**
 * The `vitra` command: commander subcommands over the library, the REPL when
 * run without a command. `main(argv)` resolves with the exit code (see EXIT in
 * errors.ts); run as a script (bin/vitra.js or `node --no-node-snapshot
 * dist/cli/main.js`) it exits with it.
 */
import { Command, CommanderError, Option } from 'commander'
import { readFileSync, realpathSync } from 'fs'
import { fileURLToPath } from 'url'
import { CliError, describeError, EXIT, EXIT_CODES_HELP, oneLine, usageError } from './errors.js'
import { Output } from './output.js'
import { callParams, parseCount } from './params.js'
import { resolveGlobals, Session, type RawGlobals } from './session.js'
import { findOwner, isTTY, OwnedError, OwnerGoneError, ownerRequest, runInOwner, type OwnerRecord, type OwnerRunner } from './owner.js'
import { runRepl } from './repl.js'
import { backupCommand, destroyCommand, inContractFile, infoCommand, restoreCommand, initCommand, loadCommand, methodsCommand, readContractFile, sourceCommand } from './commands/database.js'
import { callCommand, getCommand, historyCommand, listCommand } from './commands/data.js'
import { queryCommand } from './commands/query.js'
import { oplogCreateCommand, oplogDeleteCommand, oplogListCommand } from './commands/oplog.js'
import { hostCommand } from './commands/host.js'
import { serveCommand } from './commands/serve.js'
import { monitorCommand, verifyCommand } from './commands/verify.js'
import { proofVerifyCommand } from './commands/proof.js'
import { witnessInitCommand, witnessServeCommand } from './commands/witness.js'
import { fraudListCommand, fraudShowCommand, txListCommand, txShowCommand, txVerifyCommand } from './commands/tx.js'
import { keysIdCommand, keysListCommand, keysStatusCommand, keysVoteCommand } from './commands/keys.js'
import { basename } from 'path'

export const VERSION = readVersion()

function readVersion (): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    return '0.0.0'
  }
}

const HELP_FOOTER = `
Environment:
  VITRA_DIR        database directory (instead of --dir; default ./.vitra)
  VITRA_BOOTSTRAP  DHT bootstrap nodes, host:port[,host:port] (instead of --bootstrap)
  VITRA_FROM       http://host:port[,…] to replicate with over HTTP (instead of --from)
  VITRA_DHT_HOST   address the DHT node binds to (instead of --dht-host; VITRA_HOST also works)
  VITRA_TIMEOUT    default --timeout in ms
  VITRA_DEBUG=1    same as --debug

${EXIT_CODES_HELP}

Without a command, vitra opens an interactive REPL (.help lists its commands).
Examples:
  vitra init contracts/counter.js
  vitra call increment --amount 2
  vitra get counter
  vitra verify --json > proof.json || vitra proof verify proof.json
  vitra monitor <pubkey> --on-violation 'mail -s "vitra fraud" ops@example.com'`

// commander calls an action with its arguments and options, each typed by the action itself
type Handler = (s: Session, ...args: never[]) => Promise<number>

/**
 * Where a command runs when another process owns its directory (cli/owner.ts):
 * 'owner' in that process, 'here' regardless (it does not open the database, or
 * fails on its own when one is there), 'refuse' never (host, serve, the REPL, destroy, restore).
 */
type Route = 'owner' | 'here' | 'refuse'

/** What `main` runs with: the process's own streams, or those of a caller it runs a command for. */
export interface MainContext {
  stdout?: NodeJS.WritableStream
  stderr?: NodeJS.WritableStream
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Colour human output (default: stdout is a TTY and NO_COLOR is unset). */
  color?: boolean
  /** Run the command for another process, on the database this session owns. */
  owner?: Session
  /** The caller's Ctrl-C. */
  signal?: AbortSignal
}

interface ProgramState { code: number, out: Output, argv: string[], ctx: MainContext }

/** How long a command retries while the directory's owner is stopping (the lock is not free yet). */
const OWNER_RETRY_MS = 5000

/** The owners that stay until stopped; the others end by themselves. */
const LONG_RUNNING = new Set(['vitra host', 'vitra serve', 'vitra monitor', 'vitra'])

/** What a command that cannot run in the owner says: wait for a short owner, stop a long one. */
function refusal (name: string, owner: OwnerRecord): string {
  return LONG_RUNNING.has(owner.command) ? REFUSALS[name] ?? `it runs until stopped; stop it first` : `it did not end within --timeout; try again once it has`
}

/** What `vitra host`, `serve` and the REPL say when a long-running process owns their directory. */
const REFUSALS: Record<string, string> = {
  'vitra host': 'it keeps the database online already (stop it first to host it here)',
  'vitra serve': 'stop it first to serve the directory from here',
  vitra: 'the other vitra commands on this directory run in it (`vitra get`, `vitra call`, …); stop it first to open a REPL on it',
  'vitra destroy': 'stop it first',
  'vitra restore': 'it opens, so it needs no restore'
}

/** Build the program. `state.code` receives the exit code of the command that ran. */
export function buildProgram (state: ProgramState): Command {
  const { ctx } = state
  const program = new Command('vitra')
  program
    .description('An auditable contract database on Hypercore: JavaScript contracts decide every change; anyone can replay and verify.')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('-d, --dir <path>', 'database directory (default: $VITRA_DIR or ./.vitra)')
    .option('--json', 'machine-readable output: one JSON document on stdout')
    .option('--debug', 'print stack traces of errors')
    .option('--offline', 'never join the swarm')
    .option('--bootstrap <host:port,...>', 'DHT bootstrap nodes of a private network (default: $VITRA_BOOTSTRAP)')
    .option('--from <url>', 'replicate over HTTP with the vitra serve at this http://host:port instead of the swarm (repeatable; $VITRA_FROM; vitra load remembers it)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--dht-host <address>', 'address the DHT node binds to, e.g. 127.0.0.1')
    .addOption(new Option('--host <address>', 'old name of --dht-host').hideHelp())
    .option('--timeout <ms>', 'how long to wait for peers or the executor (default 30000)')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText('after', HELP_FOOTER)
    .action(async (_opts: unknown, cmd: Command) => {
      if (cmd.args.length > 0) (cmd as unknown as { unknownCommand: () => never }).unknownCommand()
      await run(async s => await runRepl(s, { banner: `vitra ${VERSION}` }), [], cmd, true, 'refuse')
    })

  /**
   * Run a handler with a Session built from the global options; always release the session.
   * When another process owns the directory, the command runs there (route 'owner') or is
   * refused naming it ('refuse'); a process that opens the directory becomes its owner.
   */
  async function run (fn: Handler, args: unknown[], cmd: Command, keepOpen = false, route: Route = 'owner'): Promise<void> {
    const globals = resolveGlobals(cmd.optsWithGlobals<RawGlobals>(), ctx.env)
    const name = commandName(cmd)
    const output = (): Output => new Output({ json: globals.json, stdout: ctx.stdout, stderr: ctx.stderr, color: ctx.color })
    if (ctx.owner !== undefined) { // a caller's command, on the database this process owns
      const owner = ctx.owner
      if (route !== 'owner' || owner.db === null) throw new CliError('DATABASE_OWNED', `\`${name}\` does not run in the process that owns ${owner.opts.dir}`)
      await runIn(fn, args, new Session({ ...globals, dir: owner.opts.dir }, { out: output(), borrow: { db: owner.db, owner: owner.owner?.record ?? null }, cwd: ctx.cwd, signal: ctx.signal }))
      return
    }
    for (const warning of globals.renamed) output().warn(warning)
    const until = Date.now() + Math.min(globals.timeout, OWNER_RETRY_MS)
    const waitUntil = Date.now() + globals.timeout
    /** A command that cannot run in the owner waits for one that ends by itself (until --timeout), and names a long-running one. */
    const waitOrRefuse = async (dir: string, owner: OwnerRecord): Promise<void> => {
      if (LONG_RUNNING.has(owner.command) || Date.now() >= waitUntil) throw new OwnedError(dir, owner, refusal(name, owner))
      await sleep(100)
    }
    let askOwner = true
    for (;;) {
      const owner = route === 'here' || !askOwner ? null : findOwner(globals.dir)
      askOwner = true
      if (owner !== null && route === 'refuse') { await waitOrRefuse(globals.dir, owner); continue }
      if (owner !== null) {
        try {
          const tty = { stdout: isTTY(process.stdout), stderr: isTTY(process.stderr) }
          const req = ownerRequest(state.argv, { cwd: process.cwd(), tty, color: !globals.json && tty.stdout && process.env.NO_COLOR === undefined })
          state.code = await runInOwner(owner, req, { stdout: ctx.stdout ?? process.stdout, stderr: ctx.stderr ?? process.stderr })
          return
        } catch (err) {
          if (!(err instanceof OwnerGoneError) || Date.now() > until) throw err
          askOwner = false // it is stopping: open the directory here once it lets go
          continue
        }
      }
      const s = new Session(globals, { keepOpen, out: output(), command: name, runner, cwd: ctx.cwd })
      try {
        await runIn(fn, args, s)
        return
      } catch (err) {
        // the directory got an owner between the look and the open: run the command there
        if (err instanceof OwnedError && route === 'owner' && Date.now() <= until) continue
        if (err instanceof OwnedError && route === 'refuse') { await waitOrRefuse(err.dir, err.owner); continue }
        throw err
      }
    }
  }
  async function runIn (fn: Handler, args: unknown[], s: Session): Promise<void> {
    state.out = s.out
    try {
      // what commander parsed for this command is what its handler declares (the one unchecked step)
      state.code = await Promise.race([fn(s, ...(args as never[])), s.stalled])
    } finally {
      await s.close()
    }
  }
  /** The commands other processes send to a directory this process owns run here, on its database. */
  const runner = (owner: Session): OwnerRunner => async (req, io) => await main(req.argv, {
    owner, stdout: io.stdout, stderr: io.stderr, env: req.env, cwd: req.cwd, color: req.color, signal: io.signal
  })
  /** An action: positional args, then the command's own options, then the command. */
  const act = (fn: Handler, route: Route = 'owner') => async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command
    await run(fn, args.slice(0, -1), cmd, false, route)
  }

  program.command('init').argument('<contract.js>', 'the contract source file')
    .description('create a database governed by a contract; prints its public key')
    .option('--poa', 'proof-of-authority governance: signatories admit and revoke keys by quorum (see `vitra keys`)')
    .option('--signatory <pubkey...>', 'with --poa: genesis signatories (hex public keys; this directory\'s own key is added)')
    .option('--witnesses <policy.json>', 'a witness policy ({ version: 1, quorum, witnesses: [{ key, url }] }): readers accept heads only with the quorum\'s cosignatures')
    .option('--protocol <1|2>', 'the protocol version of the index (default 2: binary acks, whitepaper/protocol.md §4.1; 1: JSON acks, as before)')
    .action(act(async (s, file: string, o: { poa?: boolean, signatory?: string[], witnesses?: string, protocol?: string }) => await initCommand(s, file, { poa: o.poa, signatories: o.signatory, witnesses: o.witnesses, protocol: o.protocol }), 'here'))

  program.command('load').argument('<pubkey>', 'the database public key (64 hex)')
    .description('start following an existing database over the swarm')
    .action(act(async (s, key: string) => await loadCommand(s, key), 'here'))

  program.command('info').alias('status')
    .description('keys, role (executor/participant/reader), index and oplog lengths, participants, verification state')
    .action(act(async s => await infoCommand(s)))

  program.command('methods').description('list the contract\'s methods').action(act(async s => await methodsCommand(s)))
  program.command('source').description('print the contract source stored in the index').action(act(async s => await sourceCommand(s)))

  program.command('call').argument('<method>', 'contract method').argument('[params...]', '--name value switches, each one param (bare words are refused)')
    .usage('[options] <method> [--name value ...]')
    .description('call a contract method; prints the response, the ops and (when executed) the results')
    .option('-p, --params <json>', 'params as JSON (switches are merged over it)')
    .option('-w, --wait', 'wait until the ops are executed (default when this directory is the executor)')
    .option('--no-wait', 'do not wait for execution')
    .allowUnknownOption(true)
    .addHelpText('after', `
Switches become the params object: --key a --value 3 → {"key":"a","value":3}.
Values are JSON when they parse (3, true, null, '"007"', '{"a":1}'), strings otherwise;
--flag alone is true, --no-flag false, --a.b 1 nests, a repeated switch makes an array.
Params named like a vitra option (dir, json, wait, params, timeout, ...) go in --params.
Calls that append ops are tracked under <dir>/txs/<id>.json (vitra tx list), id = <oplog key>-<first seq>-<op count>.`)
    .action(act(async (s, method: string, switches: string[], o: { params?: string, wait?: boolean }) => {
      return await callCommand(s, method, callParams(o.params, switches), { wait: o.wait })
    }))

  program.command('query').argument('<sql>', 'one read-only statement, e.g. "SELECT path, value FROM state"')
    .description('SQL (SQLite) over the state and the history: tables state, history, acks, ops, oplogs (README "SQL")')
    .option('-p, --params <json>', 'bind parameters: a JSON array (?) or object ($name)')
    .option('--proofs', 'rows naming an index block (seq, or index_seq of acks) carry its inclusion proof, checked before printing')
    .option('--limit <rows>', 'most rows (default 10000)')
    .option('--time-limit <ms>', 'stop the query after this long (default 5000)')
    .action(act(async (s, sql: string, o: { params?: string, proofs?: boolean, limit?: string, timeLimit?: string }) => await queryCommand(s, sql, {
      params: o.params === undefined ? undefined : callParams(o.params, []),
      proofs: o.proofs,
      limit: o.limit === undefined ? undefined : parseCount(o.limit, '--limit', 1),
      timeLimit: o.timeLimit === undefined ? undefined : parseCount(o.timeLimit, '--time-limit', 1)
    })))

  program.command('get').argument('<path>', 'index path, e.g. /counter').description('print the value at a path (null when absent; --json gives the whole entry)')
    .action(act(async (s, path: string) => await getCommand(s, path)))

  program.command('list').argument('[path]', 'folder path', '/')
    .description('list the entries and sub-folders (shown with a trailing /) of a folder, in key order (/.sys only with --all or a /.sys path)')
    .option('-n, --limit <n>', 'at most n entries').option('-r, --reverse', 'reverse key order').option('-a, --all', 'include the /.sys folder')
    .action(act(async (s, prefix: string, o: { limit?: string, reverse?: boolean, all?: boolean }) =>
      await listCommand(s, prefix, { limit: o.limit === undefined ? undefined : parseCount(o.limit, '--limit', 0), reverse: o.reverse, all: o.all })))

  program.command('history').argument('[log]', '"index" (default), an oplog key (or 4+ hex prefix), or "local"')
    .description('the index history (acks and writes), or the ops of an oplog with their execution status')
    .option('--start <seq>', 'first seq').option('-n, --limit <n>', 'at most n entries')
    .action(act(async (s, log: string | undefined, o: { start?: string, limit?: string }) =>
      await historyCommand(s, log, { start: o.start === undefined ? undefined : parseCount(o.start, '--start', 0), limit: o.limit === undefined ? undefined : parseCount(o.limit, '--limit', 0) })))

  const oplog = program.command('oplog').description('local oplogs: list | create | delete <pubkey>')
  oplog.command('list').description('oplogs of this directory and the participants').action(act(async s => await oplogListCommand(s)))
  oplog.command('create').description('create a local oplog (a participant once the contract adds it)').action(act(async s => await oplogCreateCommand(s)))
  oplog.command('delete').argument('<pubkey>', 'oplog key (or 4+ hex prefix)')
    .description('delete a local oplog; refused while it is an active participant')
    .option('-y, --yes', 'also delete an oplog that was a participant (its ops are history monitors need)')
    .action(act(async (s, key: string, o: { yes?: boolean }) => await oplogDeleteCommand(s, key, o)))

  program.command('host').description('run the executor (in its directory) and serve the database on the swarm until interrupted')
    .option('--repl', 'while hosting, open the REPL on the same database')
    .addHelpText('after', '\nWhile it hosts, the other vitra commands on the directory run in it (owner.json names it).')
    .action(async (o: { repl?: boolean }, cmd: Command) => {
      await run(async s => await hostCommand(s, { whileHosting: o.repl === true ? async () => await runRepl(s) : undefined }), [], cmd, o.repl === true, 'refuse')
    })

  program.command('serve').argument('[dirs...]', 'database directories to serve (default: --dir)')
    .description('serve databases over HTTP (a JSON API under /v1) and keep them online, until interrupted')
    .option('--root <dir>', 'also serve every database directory under this one')
    .option('--mirror-last <n>', 'for databases served as copies: keep only the newest n index entries on disk, fetch older ones on demand (no monitor)')
    .option('--follow <key>', 'also serve the database with this key, fetched from the swarm into <root or ./.vitra-follow>/<key> (a read-only gateway; repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--port <port>', 'HTTP port (0: any free one)', '8686')
    .option('--http-host <address>', 'address the HTTP server binds to (default 127.0.0.1: this machine only)')
    .option('--no-auth', 'let anyone who reaches the port call methods (default: calls need the bearer token in <dir>/http-token)')
    .addOption(new Option('--open', 'old name of --no-auth').hideHelp())
    .option('--on-violation <command>', 'as vitra monitor: shell command run with a fraud proof JSON on stdin (env: VITRA_FRAUD_FILE, VITRA_FRAUD_CODE, VITRA_DATABASE); the host keeps serving')
    .option('--checkpoint-interval <ms>', 'for databases with a witness policy: the least time between two submissions of a new head to the witnesses (default 1000)')
    .addHelpText('after', '\nRoutes: GET /v1/databases, /v1/databases/<key>, …/entry?path=&proof=true, …/list?path=, …/history?start=&limit=,\n…/transactions/<id>, …/verification, …/fraud-proofs, …/events; POST …/call (README "HTTP API").\nWhile served, the other vitra commands on a served directory run in the host (owner.json names it).\nThe bearer token is <root>/http-token with --root, else http-token in the first directory served.')
    .action(async (dirs: string[], o: { root?: string, follow: string[], mirrorLast?: string, port?: string, httpHost?: string, auth?: boolean, open?: boolean, onViolation?: string, checkpointInterval?: string }, cmd: Command) => {
      // --host names the DHT address on every command; on serve it reads like the HTTP one
      if (cmd.optsWithGlobals<RawGlobals>().host !== undefined && o.httpHost === undefined) {
        throw usageError('--host is ambiguous here: give --http-host <address> for the HTTP server, --dht-host <address> for the DHT node')
      }
      if (o.open === true) (ctx.stderr ?? process.stderr).write('vitra: warning: --open is now --no-auth\n')
      await run(async s => await serveCommand(s, { root: o.root, follow: o.follow, mirrorLast: o.mirrorLast, port: o.port, httpHost: o.httpHost, onViolation: o.onViolation, dirs, noAuth: o.auth === false || o.open === true, checkpointIntervalMs: o.checkpointInterval === undefined ? undefined : parseCount(o.checkpointInterval, '--checkpoint-interval', 0) }), [], cmd, false, 'refuse')
    })

  program.command('verify').argument('[pubkey]', 'database to audit (default: the one in --dir; fetched into --dir when absent)')
    .description('replay the whole database and check every write; exit 0 valid, 3 fraud (proof printed and saved), 4 could not verify')
    .option('--block-timeout <ms>', 'wait this long for a missing block before giving up (default 10000)')
    .option('--no-witnesses', 'for a database with a witness policy: do not ask its witnesses whether they saw this history (the result then says nothing about what other readers see)')
    .action(act(async (s, key: string | undefined, o: { blockTimeout?: string, witnesses?: boolean }) =>
      await verifyCommand(s, key, { blockTimeout: o.blockTimeout === undefined ? undefined : parseCount(o.blockTimeout, '--block-timeout', 0), witnesses: o.witnesses !== false })))

  program.command('monitor').argument('[pubkey]', 'database to watch (default: the one in --dir)')
    .description('keep verifying as the logs grow; on a violation print and save the proof, run --on-violation, exit 3')
    .option('--on-violation <command>', 'shell command to run with the fraud proof JSON on stdin (env: VITRA_FRAUD_FILE, VITRA_FRAUD_CODE, VITRA_DATABASE)')
    .option('--once', 'verify what is there now and exit (0 valid, 3 fraud, 4 could not verify)')
    .option('--block-timeout <ms>', 'wait this long for a missing block before retrying (default 10000)')
    .option('--retry <ms>', 'retry interval after "could not verify" (default 1000)')
    .option('--no-witnesses', 'for a database with a witness policy: do not check the index against its witnesses')
    .option('--witness-interval <ms>', 'how often to ask the witnesses (default 10000)')
    .option('--max-unwitnessed <ms>', 'alert (STALE_CHECKPOINT) when index entries wait longer than this for a witnessed checkpoint (default 600000)')
    .addHelpText('after', '\nResumes from <dir>/monitor-checkpoint.json; fraud proofs are saved under <dir>/fraud/.')
    .action(act(async (s, key: string | undefined, o: { onViolation?: string, once?: boolean, blockTimeout?: string, retry?: string, witnesses?: boolean, witnessInterval?: string, maxUnwitnessed?: string }) => await monitorCommand(s, key, {
      onViolation: o.onViolation,
      once: o.once,
      blockTimeout: o.blockTimeout === undefined ? undefined : parseCount(o.blockTimeout, '--block-timeout', 0),
      retry: o.retry === undefined ? undefined : parseCount(o.retry, '--retry', 0),
      witnesses: o.witnesses !== false,
      witnessIntervalMs: o.witnessInterval === undefined ? undefined : parseCount(o.witnessInterval, '--witness-interval', 0),
      maxUnwitnessedMs: o.maxUnwitnessed === undefined ? undefined : parseCount(o.maxUnwitnessed, '--max-unwitnessed', 0)
    })))

  const tx = program.command('tx').description('tracked transactions: list | show <id> | verify <id> (saved by `vitra call` under <dir>/txs/)')
  tx.command('list').description('list tracked transactions').action(act(async s => await txListCommand(s)))
  tx.command('show').argument('<id>', 'transaction id (or a unique prefix)').description('show a transaction and its results (looked up again)')
    .action(act(async (s, id: string) => await txShowCommand(s, id)))
  tx.command('verify').argument('<id>', 'transaction id (or a unique prefix)')
    .description('check the op inclusion proofs, and once executed the ack and write proofs')
    .action(act(async (s, id: string) => await txVerifyCommand(s, id)))

  const fraud = program.command('fraud').description('fraud proofs found by verify and monitor: list | show <id> (saved under <dir>/fraud/)')
  fraud.command('list').description('list saved fraud proofs').action(act(async s => await fraudListCommand(s)))
  fraud.command('show').argument('<id>', 'proof id, e.g. UNPROMPTED_CHANGE-17 (or a unique prefix)').description('show a fraud proof (--json: the proof itself)')
    .action(act(async (s, id: string) => await fraudShowCommand(s, id)))

  const proof = program.command('proof').description('offline proof checking: verify <file.json> (inclusion, range, fraud, log fork proofs, tracked txs)')
  proof.command('verify').argument('<file.json>', 'an inclusion proof, range proof, fraud proof, log fork proof, tracked transaction or witnessed checkpoint')
    .description('check a proof file with only the public key(s) it names')
    .option('-k, --key <hex>', 'require the proof to be about this log / database key')
    .option('--policy <policy.json>', 'for a witnessed checkpoint (GET …/checkpoint): the witness policy to check it under')
    .action(act(async (s, file: string, o: { key?: string, policy?: string }) => await proofVerifyCommand(s, file, o), 'here'))

  program.command('test').argument('<contract.js>', 'the contract source file')
    .description('try a contract: a REPL on a throwaway in-memory database')
    .action(async (file: string, _o: unknown, cmd: Command) => {
      await run(async s => {
        const source = readContractFile(file)
        await inContractFile(file, s.useMemory(source, basename(file)))
        return await runRepl(s, { banner: `vitra ${VERSION}: throwaway database for ${basename(file)}, deleted on exit` })
      }, [], cmd, true, 'here')
    })

  program.command('backup').argument('<dest>', 'a new (or empty) directory for the copy')
    .description('copy the database consistently, also while it runs; the copy opens as the same database')
    .action(act(async (s, dest: string) => await backupCommand(s, dest)))
  program.command('restore').description('adopt a copied database directory (--dir) that refuses to open (STORAGE_COPIED)')
    .action(act(async s => await restoreCommand(s), 'refuse'))

  program.command('destroy').description('delete the local database (asks to confirm; --yes to skip)')
    .option('-y, --yes', 'do not ask')
    .action(act(async (s, o: { yes?: boolean }) => await destroyCommand(s, o), 'refuse'))

  const keys = program.command('keys').description('signatory keys of a proof-of-authority database: list | id <pubkey> | approve <key> | revoke <key> | status <key>')
  keys.command('list').description('list the accepted signatories').action(act(async s => await keysListCommand(s)))
  keys.command('id').argument('<pubkey>', 'a 32-byte public key (64 hex)').description('print the key id: 1: + hex SHA-256 of the public key')
    .action(act(async (s, key: string) => await keysIdCommand(s, key), 'here'))
  for (const action of ['approve', 'revoke'] as const) {
    keys.command(action).argument('<key>', 'key id (1:…) or public key')
      .description(`${action} a key (one signatory's vote; takes effect at quorum)`)
      .addOption(new Option('-w, --wait', 'wait until executed')).option('--no-wait', 'do not wait')
      .action(act(async (s, key: string, o: { wait?: boolean }) => await keysVoteCommand(s, action, key, { wait: o.wait })))
  }
  keys.command('status').argument('<key>', 'key id (1:…) or public key').description('accepted, pending, revoked or unknown; approvals and quorum')
    .action(act(async (s, key: string) => await keysStatusCommand(s, key)))

  const witness = program.command('witness').description('a witness that cosigns database checkpoints: init | serve (whitepaper/witness.md)')
  witness.command('init').description('make this witness\'s key in --dir and print its verifier key')
    .option('--name <name>', 'the witness\'s name in its key and cosignatures (default: <hostname>/<dir name>)')
    .action(act(async (s, o: { name?: string }) => await witnessInitCommand(s, o), 'here'))
  witness.command('serve').description('cosign checkpoints over HTTP (POST /add-checkpoint) and, unless --offline, the heads it sees on the swarm of each database it cosigned, until interrupted; state in --dir')
    .option('--port <port>', 'HTTP port (0: any free one)', '8687')
    .option('--http-host <address>', 'address to bind (default 127.0.0.1: this machine only)')
    .option('--only <key>', 'cosign only this database (repeatable; default: any); followed on the swarm', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--follow <key>', 'follow this database on the swarm from the start (repeatable; those it cosigned are followed anyway)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action(act(async (s, o: { port?: string, httpHost?: string, only: string[], follow: string[] }) => await witnessServeCommand(s, o), 'here'))

  program.allowExcessArguments(true) // after the subcommands, which stay strict: `vitra <unknown>` is reported by the action
  configureErrors(program, 'vitra', ctx)
  return program
}

function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** `vitra host`, `vitra oplog create`, `vitra` (the REPL). */
function commandName (cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

/** Usage errors as one line naming the command: `vitra get: missing required argument 'path'; see \`vitra get --help\``. */
function configureErrors (cmd: Command, path: string, ctx: MainContext): void {
  cmd.configureOutput({
    writeOut: str => { (ctx.stdout ?? process.stdout).write(str) },
    writeErr: str => { (ctx.stderr ?? process.stderr).write(str) },
    outputError: (str, write) => write(`${path}: ${oneLine(str.replace(/^error: /, '')).replace(/\.$/, '')}; see \`${path} --help\`\n`)
  })
  for (const sub of cmd.commands) configureErrors(sub, `${path} ${sub.name()}`, ctx)
}

/** Run the command line; resolves with the exit code. */
export async function main (argv: string[], ctx: MainContext = {}): Promise<number> {
  const state: ProgramState = { code: EXIT.OK as number, out: new Output({ json: argv.includes('--json'), stdout: ctx.stdout, stderr: ctx.stderr, color: ctx.color }), argv, ctx }
  const program = buildProgram(state)
  try {
    await program.parseAsync(argv, { from: 'user' })
    return state.code
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.OK
      return EXIT.USAGE // the message was printed by outputError
    }
    const d = describeError(err, { dir: safeDir(argv) })
    state.out.error(oneLine(d.message))
    if (argv.includes('--debug') || process.env.VITRA_DEBUG === '1') {
      if (err instanceof Error && err.stack !== undefined) state.out.stderr.write(err.stack + '\n')
    }
    return d.exitCode
  }
}

function safeDir (argv: string[]): string | undefined {
  try {
    const i = argv.findIndex(a => a === '--dir' || a === '-d')
    return resolveGlobals({ dir: i === -1 ? undefined : argv[i + 1] }).dir
  } catch {
    return undefined
  }
}

/** Run as the process: exit with the command's code, even if something left a handle open. */
export async function runAsProcess (argv: string[]): Promise<void> {
  oneSignalPerKeypress()
  stopWithLauncher()
  quietOnClosedPipe()
  // Hypercore's request timers do not keep Node alive: without this, a read waiting
  // on a block with no peer would end the process instead of timing out.
  const alive = setInterval(() => {}, 1 << 30)
  const code = await main(argv).finally(() => clearInterval(alive))
  process.exitCode = code
  setTimeout(() => process.exit(code), 1500).unref()
}

/**
 * Output to a pipe whose reader is gone (`vitra --help | head -1`) ends the command
 * quietly with status 0, as git does, instead of an unhandled EPIPE.
 */
function quietOnClosedPipe (): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0)
      throw err
    })
  }
}

/**
 * Ctrl-C at a terminal reaches both bin/vitra.js and this process, and the launcher passes
 * its copy on: one keypress, two SIGINTs. A command that stops cleanly on the first (monitor,
 * host, a command run in the directory's owner) must not be killed by the copy. So a signal
 * within 500 ms of the one before is taken for that copy and ignored; any other signal that
 * no command handles ends the process as Node's default would (exit 130 / 143).
 */
function oneSignalPerKeypress (): void {
  const last = new Map<string, number>()
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      const now = Date.now()
      const copy = now - (last.get(sig) ?? -Infinity) < 500
      last.set(sig, now)
      if (copy || process.listenerCount(sig) > 1) return // a copy, or a command stops on it
      process.exit(sig === 'SIGINT' ? 130 : 143)
    })
  }
}

/** Started by bin/vitra.js: its IPC channel closes when the launcher dies; then stop as on SIGTERM. */
function stopWithLauncher (): void {
  if (process.env.VITRA_LAUNCHER !== '1' || process.send === undefined) return
  delete process.env.VITRA_LAUNCHER // not inherited by --on-violation commands
  process.channel?.unref() // the channel alone must not keep the process running
  process.once('disconnect', () => {
    if (process.listenerCount('SIGTERM') > 0) process.emit('SIGTERM', 'SIGTERM')
    else process.exit(143)
  })
}

function isEntry (): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}

if (isEntry()) await runAsProcess(process.argv.slice(2))
