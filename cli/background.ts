/**
 * The REPL's `.bg` and `.fg` (Vitra's dot-commands): `.bg` hands hosting of the open
 * database to a `vitra serve` in the background (same directory; it survives the REPL)
 * and keeps the prompt, whose dot-commands then run in that host as any other `vitra`
 * command on the directory does (cli/owner.ts); `.fg` stops the background host and
 * opens the database in the REPL again.
 */
import { spawn } from 'child_process'
import { closeSync, existsSync, openSync, readFileSync } from 'fs'
import { join } from 'path'
import { fileURLToPath } from 'url'
import { CliError } from './errors.js'
import { findOwner, isTTY, ownerRequest, runInOwner, type OwnerRecord } from './owner.js'
import type { Session } from './session.js'

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url))
export const BACKGROUND_LOG = 'serve.log'

/** Start `vitra serve` on the session's directory in the background; resolves with its owner record once it listens. */
export async function toBackground (s: Session, args: string[]): Promise<OwnerRecord> {
  if (s.isMemory) throw new CliError('NOT_HOSTABLE', 'This is a throwaway database: it lives in this REPL only (.use <dir> to work on one on disk)')
  if (s.db === null) throw new CliError('NO_DATABASE', 'No database is open: .init, .load or .use one first')
  const dir = s.opts.dir
  await s.close() // let go of the directory: the background host opens it
  const log = join(dir, BACKGROUND_LOG)
  const out = openSync(log, 'a')
  const net = [
    ...(s.opts.offline ? ['--offline'] : []),
    ...(s.opts.bootstrap !== undefined ? ['--bootstrap', s.opts.bootstrap] : []),
    ...(s.opts.host !== undefined ? ['--dht-host', s.opts.host] : [])
  ]
  const child = spawn(process.execPath, ['--no-node-snapshot', MAIN, 'serve', '--dir', dir, ...(args.includes('--port') ? [] : ['--port', '0']), ...net, ...args], {
    detached: true, stdio: ['ignore', out, out], env: withoutLauncher(process.env)
  })
  closeSync(out)
  child.unref()
  let exited: number | null = null
  child.on('exit', code => { exited = code ?? 1 })
  const deadline = Date.now() + s.opts.timeout
  for (;;) {
    const owner = findOwner(dir)
    if (owner !== null && owner.pid === child.pid && owner.url !== null) return owner
    if (exited !== null || Date.now() > deadline) {
      if (exited === null) child.kill('SIGTERM')
      const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' / ') : ''
      await s.open() // hosting stays here
      throw new CliError('BACKGROUND_FAILED', `The background host did not start${tail === '' ? '' : `: ${tail}`} (the database stays open in the REPL)`)
    }
    await sleep(50)
  }
}

/** Stop the background host and wait until it let go of the directory. */
export async function toForeground (s: Session, owner: OwnerRecord): Promise<void> {
  try { process.kill(owner.pid, 'SIGTERM') } catch (err) { if ((err as { code?: string }).code !== 'ESRCH') throw err }
  const deadline = Date.now() + Math.max(30_000, s.opts.timeout)
  while (findOwner(s.opts.dir)?.pid === owner.pid) {
    if (Date.now() > deadline) throw new CliError('BACKGROUND_STUCK', `The background host (process ${owner.pid}) did not stop within ${Math.round((deadline - Date.now() + 30_000) / 1000)} s`)
    await sleep(50)
  }
}

/** Run the CLI command `argv` in the background host (a dot-command while hosting is in the background). */
export async function inBackground (s: Session, owner: OwnerRecord, argv: string[]): Promise<number> {
  const req = ownerRequest([...argv, '--dir', s.opts.dir, ...(s.opts.json ? ['--json'] : [])], {
    cwd: s.cwd, tty: { stdout: isTTY(s.out.stdout), stderr: isTTY(s.out.stderr) }, color: s.out.color
  })
  return await runInOwner(owner, req, { stdout: s.out.stdout, stderr: s.out.stderr })
}

function withoutLauncher (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env }
  delete out.VITRA_LAUNCHER
  return out
}

function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}
