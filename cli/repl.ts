/**
 * The interactive mode: `vitra` with no command (or `vitra test <contract.js>`).
 * Node's own REPL with dot-commands that run the same code as the scriptable
 * subcommands, plus plain JavaScript with `db` (the open Database) in scope and
 * top-level await. Tab completes dot-commands and, after `.call `, the
 * contract's methods.
 *
 * Input is processed strictly in order: a line waits until the command before
 * it is done, so piped scripts (`vitra < script.txt`) behave like typed ones.
 */
import repl, { type REPLServer } from 'repl'
import type { Readable, Writable } from 'stream'
import { CliError, describeError, oneLine, usageError, whenAborted } from './errors.js'
import { callParams, parseCount, splitWords } from './params.js'
import { queryCommand } from './commands/query.js'
import type { Session } from './session.js'
import { destroyCommand, inContractFile, infoCommand, initCommand, loadCommand, methodsCommand, readContractFile, sourceCommand } from './commands/database.js'
import { callCommand, getCommand, historyCommand, listCommand } from './commands/data.js'
import { oplogCreateCommand, oplogDeleteCommand } from './commands/oplog.js'
import { monitorCommand, verifyCommand } from './commands/verify.js'
import { fraudListCommand, fraudShowCommand, txListCommand, txShowCommand, txVerifyCommand } from './commands/tx.js'
import { basename, join } from 'path'
import { BACKGROUND_LOG, inBackground, toBackground, toForeground } from './background.js'
import type { OwnerRecord } from './owner.js'

/** A dot-command; `signal` aborts on Ctrl-C (the long ones stop early, the others run to their end). */
/** `raw`: the command takes the rest of the line as one argument, quotes and all (`.query`). */
/** `cli`: the `vitra` command line it stands for, run in the background host after `.bg`. */
interface DotCommand { name: string, args: string, help: string, raw?: boolean, cli?: (words: string[]) => string[], run: (words: string[], signal: AbortSignal) => Promise<unknown> }

export interface ReplOptions {
  input?: Readable
  output?: Writable
  /** Printed first (version, database). */
  banner?: string
  /** Called with the REPL server once it is set up (tests drive its completer). */
  onStart?: (server: REPLServer) => void
}

/**
 * What the REPL's parts share: the queue every line waits in, the method names for
 * completion, the background monitor, and the dot-command running now (Ctrl-C aborts it).
 */
interface ReplState { chain: Promise<void>, methods: string[], monitor: BackgroundMonitor | null, running: AbortController | null, failed: boolean, bg: OwnerRecord | null }

/** Run the REPL until its input ends or `.exit`; resolves with the exit code. */
export async function runRepl (s: Session, o: ReplOptions = {}): Promise<number> {
  const input = o.input ?? process.stdin
  const output = o.output ?? process.stdout
  const terminal = (output as { isTTY?: boolean }).isTTY === true && (input as { isTTY?: boolean }).isTTY === true
  const state: ReplState = { chain: Promise.resolve(), methods: [], monitor: null, running: null, failed: false, bg: null }
  await greet(s, o.banner)

  const server: REPLServer = repl.start({ prompt: 'vitra> ', input, output, terminal, useColors: terminal, ignoreUndefined: true, writer: v => s.out.inspect(v) })
  // listen at once: piped input may end while the code below still awaits
  const exited = new Promise<number>(resolve => {
    server.on('exit', () => {
      state.chain.then(async () => {
        await stopMonitor(s, state.monitor)
        if (state.bg !== null) s.out.note(`The background host (process ${state.bg.pid}, ${state.bg.url ?? ''}) keeps running; \`kill ${state.bg.pid}\` stops it.`)
        await s.close()
      // a script piped in fails when one of its lines failed, as `sh` scripts report; typed sessions end with 0
      }).then(() => resolve(state.failed && !terminal ? 1 : 0), err => {
        s.out.error(oneLine(describeError(err).message))
        resolve(1)
      })
    })
  })
  Object.defineProperty(server.context, 'db', { get: () => s.db, enumerable: true, configurable: true })
  const commands = dotCommands(s, state)
  for (const c of commands) {
    server.defineCommand(c.name, {
      help: c.help,
      action: (rest: string) => enqueue(s, server, state, async signal => {
        const words = c.raw === true ? [rest.trim()] : splitWords(rest)
        if (state.bg === null || c.name === 'bg' || c.name === 'fg' || c.name === 'help') return await c.run(words, signal)
        // hosting is in the background: the command runs there, as `vitra <command>` would
        if (c.cli === undefined) throw new CliError('IN_BACKGROUND', `.${c.name} needs the database in this REPL, and process ${state.bg.pid} hosts it in the background: .fg first`)
        if (await inBackground(s, state.bg, c.cli(words)) !== 0) state.failed = true
        return undefined
      })
    })
  }
  unknownCommands(s, server, state)
  // Ctrl-C while a dot-command runs: abort it, and only that (Node's own handler would
  // print its "(To exit, press Ctrl+C again…)" hint, and a second Ctrl-C would leave)
  const nodeSigint = server.listeners('SIGINT') as Array<() => void>
  server.removeAllListeners('SIGINT')
  server.on('SIGINT', () => {
    if (state.running === null) { for (const h of nodeSigint) h.call(server); return }
    if (state.running.signal.aborted) return
    state.running.abort()
    s.out.note('Ctrl-C: stopping the running command…')
  })
  orderEval(server, state)
  complete(server, commands, state)
  await refreshMethods(s, state)
  o.onStart?.(server)
  return await exited
}

/** The banner, and the directory's database opened (or what to do without one). */
async function greet (s: Session, banner: string | undefined): Promise<void> {
  if (banner !== undefined) s.out.note(banner)
  if (s.db === null && s.hasDatabase()) {
    try {
      await s.open()
    } catch (err) {
      s.out.error(oneLine(describeError(err, { dir: s.opts.dir }).message))
    }
  }
  s.out.note(s.db !== null ? describeOpen(s) : `No database in ${s.opts.dir}: .init <contract.js>, .load <pubkey>, .use <dir> or .test <contract.js>. Type .help for every command.`)
}

async function refreshMethods (s: Session, state: ReplState): Promise<void> {
  state.methods = s.db === null ? [] : await s.db.methods().catch(() => state.methods)
}

/** Run `fn` after everything queued before it (Ctrl-C aborts its signal); print its error as one line; then show the prompt. */
function enqueue (s: Session, server: REPLServer, state: ReplState, fn: (signal: AbortSignal) => Promise<unknown>): void {
  state.chain = state.chain.then(async () => {
    const running = new AbortController()
    state.running = running
    try {
      await fn(running.signal)
    } finally {
      state.running = null
    }
  }).catch(err => {
    if ((err as { code?: unknown }).code !== 'CANCELLED') state.failed = true // stopped by the user: not a failure
    s.out.error(oneLine(describeError(err, { dir: s.opts.dir }).message))
    if (s.opts.debug && err instanceof Error && err.stack !== undefined) s.out.stderr.write(err.stack + '\n')
  }).then(async () => await refreshMethods(s, state)).finally(() => server.displayPrompt())
}

/**
 * An unknown dot-command is an error in its turn, in the queue like the others (Node's
 * REPL would print its own "Invalid REPL keyword" at once, ahead of the lines before it).
 * Node looks commands up in `server.commands` by name: a lookup that misses gets one that says so.
 */
function unknownCommands (s: Session, server: REPLServer, state: ReplState): void {
  const known = server.commands as unknown as Record<string, unknown>
  ;(server as unknown as { commands: unknown }).commands = new Proxy(known, {
    get: (target, name) => {
      if (typeof name !== 'string' || name in target) return target[name as string]
      return {
        help: '',
        action: () => enqueue(s, server, state, async () => { throw usageError(`Unknown command .${name}: .help lists the commands`) })
      }
    }
  })
}

/**
 * JavaScript waits in the same queue as the dot-commands. A line that throws is
 * reported by Node's REPL through its domain, which never calls back: the queue
 * moves on when the domain reports it.
 */
function orderEval (server: REPLServer, state: ReplState): void {
  const defaultEval = server.eval
  let thrown: (() => void) | null = null
  ;(server as unknown as { _domain: NodeJS.EventEmitter })._domain.on('error', () => {
    state.failed = true
    const next = thrown
    thrown = null
    next?.()
  })
  const orderedEval: typeof server.eval = (code, context, file, cb) => {
    state.chain = state.chain.then(() => new Promise<void>(resolve => {
      thrown = resolve
      defaultEval.call(server, code, context, file, (err, result) => {
        thrown = null
        if (err !== null && err !== undefined && (err as { name?: string }).name !== 'Recoverable') state.failed = true
        cb(err, result)
        resolve()
      })
    }))
  }
  ;(server as { eval: typeof server.eval }).eval = orderedEval
}

type Completer = (line: string, cb: (err: Error | null, result?: [string[], string]) => void) => void

/** Tab: dot-commands, the contract's methods after `.call `, else Node's own completion. */
function complete (server: REPLServer, commands: DotCommand[], state: ReplState): void {
  const defaultCompleter = server.completer as Completer
  const names = commands.map(c => '.' + c.name).concat(['.exit', '.break', '.clear', '.editor', '.save'])
  const completer: Completer = (line, cb) => {
    const call = /^\.call\s+(\S*)$/.exec(line)
    if (call !== null) { const prefix = call[1] ?? ''; cb(null, [state.methods.filter(m => m.startsWith(prefix)), prefix]); return }
    if (/^\.\S*$/.test(line)) { cb(null, [names.filter(n => n.startsWith(line)), line]); return }
    defaultCompleter.call(server, line, cb)
  }
  ;(server as unknown as { completer: Completer }).completer = completer
}

/** The first word a dot-command needs, or its usage as the error. */
function need (words: string[], usage: string): string {
  const first = words[0]
  if (first === undefined) throw usageError(`usage: ${usage}`)
  return first
}

/** The dot-commands: each runs the code of the matching subcommand. */
function dotCommands (s: Session, state: ReplState): DotCommand[] {
  const leaveMemory = async (): Promise<void> => { if (s.isMemory) await s.useDir(s.opts.dir) }
  const commands: DotCommand[] = [
    { name: 'init', args: '<contract.js>', help: 'create a database in the current directory and use it', run: async w => { const arg = need(w, '.init <contract.js>'); await leaveMemory(); await initCommand(s, arg); await s.open() } },
    { name: 'load', args: '<pubkey>', help: 'follow a database over the swarm', run: async w => { const arg = need(w, '.load <pubkey>'); await leaveMemory(); await loadCommand(s, arg) } },
    { name: 'use', args: '<dir>', help: 'switch to the database in another directory', run: async w => { const arg = need(w, '.use <dir>'); await useDir(s, arg) } },
    { name: 'status', args: '', help: 'keys, role, lengths, participants, verification state', cli: () => ['info'], run: async () => await infoCommand(s) },
    { name: 'info', args: '', help: 'same as .status', cli: () => ['info'], run: async () => await infoCommand(s) },
    { name: 'call', args: '<method> [--name value ...]', help: 'call a method (also --params <json>, --wait, --no-wait)', cli: w => ['call', ...w], run: async w => { const method = need(w, '.call <method> [--name value ...]'); await replCall(s, method, w.slice(1)) } },
    { name: 'get', args: '<path>', help: 'read the entry at a path', cli: w => ['get', ...w], run: async w => { const arg = need(w, '.get <path>'); await getCommand(s, arg) } },
    { name: 'list', args: '[path] [--all]', help: 'list the entries and sub-folders at a path', cli: w => ['list', ...w], run: async w => await listCommand(s, w.find(x => !x.startsWith('--')) ?? '/', { all: w.includes('--all') }) },
    { name: 'history', args: '[index|<oplog>]', help: 'the index history, or an oplog\'s ops', cli: w => ['history', ...w], run: async w => await historyCommand(s, w[0]) },
    { name: 'query', args: '<sql>', raw: true, help: 'read-only SQL over the tables state, history, acks, ops, oplogs', cli: w => ['query', ...w], run: async w => { const sql = need(w.filter(x => x !== ''), '.query SELECT …'); await queryCommand(s, sql) } },
    { name: 'methods', args: '', help: 'the contract\'s methods', cli: () => ['methods'], run: async () => await methodsCommand(s) },
    { name: 'source', args: '', help: 'the contract source', cli: () => ['source'], run: async () => await sourceCommand(s) },
    { name: 'mkoplog', args: '', help: 'create a local oplog', cli: () => ['oplog', 'create'], run: async () => await oplogCreateCommand(s) },
    { name: 'deloplog', args: '<pubkey> [--yes]', help: 'delete a local oplog (not an active participant)', cli: w => ['oplog', 'delete', ...w], run: async w => { const arg = need(w, '.deloplog <pubkey>'); await oplogDeleteCommand(s, arg, { yes: w.includes('--yes') }) } },
    { name: 'verify', args: '[pubkey]', help: 'replay and verify the whole database (Ctrl-C stops it)', cli: w => ['verify', ...w], run: async (w, signal) => await verifyCommand(s, w[0], { signal }) },
    { name: 'monitor', args: '[--on-violation cmd]', help: 'verify continuously in the background', run: async w => { state.monitor = startMonitor(s, state.monitor, w) } },
    { name: 'monitorend', args: '', help: 'stop the background monitor', run: async () => { await stopMonitor(s, state.monitor); state.monitor = null } },
    { name: 'sync', args: '', help: 'fetch the latest index head from peers', run: async (_w, signal) => { const db = await s.open({ network: 'always', sync: 'none' }); await Promise.race([s.bounded(s.syncHead(db), 'peers'), whenAborted(signal, () => `sync, at index length ${db.index.core.length}`)]); s.out.note(`index length ${db.index.core.length}`) } },
    { name: 'syncall', args: '', help: 'download the full history of every log (Ctrl-C stops it)', run: async (_w, signal) => { const db = await s.open({ network: 'always', sync: 'none' }); await Promise.race([s.bounded(db.syncAll(), 'peers'), whenAborted(signal, () => 'download (what arrived is kept)')]); s.out.note(`index length ${db.index.core.length}, every log downloaded`) } },
    { name: 'tx', args: '<id>', help: 'show a tracked transaction', cli: w => ['tx', 'show', ...w], run: async w => { const arg = need(w, '.tx <id>'); await txShowCommand(s, arg) } },
    { name: 'txlist', args: '', help: 'list tracked transactions', cli: () => ['tx', 'list'], run: async () => await txListCommand(s) },
    { name: 'txverify', args: '<id>', help: 'check a tracked transaction\'s proofs', cli: w => ['tx', 'verify', ...w], run: async w => { const arg = need(w, '.txverify <id>'); await txVerifyCommand(s, arg) } },
    { name: 'fraud', args: '<id>', help: 'show a saved fraud proof', cli: w => ['fraud', 'show', ...w], run: async w => { const arg = need(w, '.fraud <id>'); await fraudShowCommand(s, arg) } },
    { name: 'fraudlist', args: '', help: 'list saved fraud proofs', cli: () => ['fraud', 'list'], run: async () => await fraudListCommand(s) },
    { name: 'test', args: '<contract.js>', help: 'switch to a throwaway in-memory database running a contract', run: async w => { const arg = need(w, '.test <contract.js>'); await useMemory(s, arg) } },
    { name: 'destroy', args: '[--yes]', help: 'delete the local database (confirm with --yes)', run: async w => { await destroyCommand(s, { yes: w.includes('--yes'), prompt: null }) } }
  ]
  commands.push(
    {
      name: 'bg',
      args: '[--port n]',
      help: 'hand hosting to a vitra serve in the background (it outlives the REPL); commands then run there',
      run: async w => {
        if (state.bg !== null) throw usageError(`Hosting is in the background already (process ${state.bg.pid})`)
        await stopMonitor(s, state.monitor)
        state.monitor = null
        const owner = await toBackground(s, w)
        state.bg = owner
        s.out.note(`Hosting moved to process ${owner.pid} (\`vitra serve\` at ${owner.url ?? ''}; its log: ${join(s.opts.dir, BACKGROUND_LOG)}). Commands run there now; \`db\` is null here until .fg.`)
      }
    },
    {
      name: 'fg',
      args: '',
      help: 'stop the background host and host in this REPL again',
      run: async () => {
        if (state.bg === null) throw usageError('Nothing is hosted in the background (.bg hands hosting to a background vitra serve)')
        await toForeground(s, state.bg)
        state.bg = null
        await s.open()
        s.out.note(describeOpen(s))
      }
    })
  commands.push({ name: 'help', args: '', help: 'this list', run: async () => { s.out.note(helpText(commands)) } })
  return commands
}

function describeOpen (s: Session): string {
  const db = s.db
  if (db === null) return ''
  const role = db.isExecutor ? 'executor' : db.isParticipant ? 'participant' : 'reader'
  return `Using ${s.label}: database ${db.pubkey.toString('hex')} (${role}). \`db\` is the open Database; .help lists the commands.`
}

async function useDir (s: Session, dir: string): Promise<void> {
  await s.useDir(dir)
  if (!s.hasDatabase()) { s.out.note(`No database in ${s.opts.dir} yet: .init <contract.js> or .load <pubkey>`); return }
  await s.open()
  s.out.note(describeOpen(s))
}

async function useMemory (s: Session, file: string): Promise<void> {
  const source = readContractFile(file)
  await inContractFile(file, s.useMemory(source, basename(file)))
  s.out.note(describeOpen(s))
}

/** `.call <method> [--params json] [--wait|--no-wait] [--timeout ms] [--name value ...]`. */
async function replCall (s: Session, method: string, rest: string[]): Promise<void> {
  const switches: string[] = []
  let paramsJson: string | undefined
  let wait: boolean | undefined
  let timeout: number | undefined
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i]!
    if (w === '--params') paramsJson = rest[++i]
    else if (w.startsWith('--params=')) paramsJson = w.slice('--params='.length)
    else if (w === '--wait') wait = true
    else if (w === '--no-wait') wait = false
    else if (w === '--timeout') timeout = parseCount(rest[++i] ?? '', '--timeout', 0)
    else switches.push(w)
  }
  await callCommand(s, method, callParams(paramsJson, switches), { wait, timeout })
}

type BackgroundMonitor = { stop: AbortController, done: Promise<unknown> }

function startMonitor (s: Session, current: BackgroundMonitor | null, words: string[]): BackgroundMonitor {
  if (current !== null) throw usageError('A monitor is already running: .monitorend stops it')
  const i = words.indexOf('--on-violation')
  const onViolation = i === -1 ? undefined : words[i + 1]
  const stop = new AbortController()
  const done = monitorCommand(s, undefined, { onViolation, signal: stop.signal }).catch(err => {
    s.out.error(oneLine(describeError(err).message))
  })
  s.out.note('Monitor started in the background (.monitorend stops it).')
  return { stop, done }
}

async function stopMonitor (s: Session, m: BackgroundMonitor | null): Promise<void> {
  if (m === null) return
  m.stop.abort()
  await m.done
  s.out.note('Monitor stopped.')
}

function helpText (commands: DotCommand[]): string {
  const rows = commands.map((c): [string, string] => [`.${c.name}${c.args === '' ? '' : ' ' + c.args}`, c.help])
  const width = Math.max(...rows.map(([usage]) => usage.length))
  return [
    'Commands (the same as the `vitra` subcommands):',
    ...rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`),
    `  ${'.exit'.padEnd(width)}  leave (Ctrl-D)`,
    'Anything else is JavaScript, with top-level await and `db` (the open Database) in scope:',
    '  await db.call(\'get\')    (await db.call(\'increment\', { amount: 2 })).response    (await db.index.get(\'/counter\')).value'
  ].join('\n')
}
