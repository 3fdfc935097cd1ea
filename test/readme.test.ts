// The README's terminal sessions are run, not written: every fenced block after a
// `<!-- readme-session: NAME -->` marker is a list of `$ command` lines, each followed
// by what it prints (stdout and stderr, merged). This test runs the commands with `sh`
// in a fresh directory (with `vitra` on the PATH, counter.js beside it, `<clone>`
// standing for this checkout) and compares what they print with the README, keys
// and the temporary directory aside. `README_UPDATE=1` writes what they print back
// into the README instead (then review the diff).
import test from 'brittle'
import { spawn } from 'child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'fs'
import { tmpdir } from 'os'
import { join } from 'path'
import { fileURLToPath } from 'url'
import { contract } from './helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const README = join(ROOT, 'README.md')
/** How the README names the directory the session ran in. */
const SHOWN_DIR = '/tmp/demo'
const MARKER = /<!-- readme-session: ([a-z-]+)(?: setup="([^"]*)")? -->\n```\n([\s\S]*?)```\n/g

interface Step { command: string, output: string }
interface Session { name: string, setup: string | null, steps: Step[], start: number, end: number }

test('readme - every marked terminal session prints what the README shows', { timeout: 180_000 }, async t => {
  const text = readFileSync(README, 'utf8')
  const sessions = parseSessions(text)
  t.ok(sessions.length >= 3, `the README marks ${sessions.length} sessions`)
  const update = process.env.README_UPDATE === '1'
  let out = text
  for (const session of [...sessions].reverse()) { // from the end: offsets stay valid while rewriting
    const ran = await runSession(session)
    if (update) {
      out = out.slice(0, session.start) + render(ran) + out.slice(session.end)
      continue
    }
    session.steps.forEach((step, i) => {
      t.is(normalize(ran[i].output), normalize(step.output), `${session.name}: $ ${step.command}`)
    })
  }
  if (update) {
    writeFileSync(README, out)
    t.comment('README.md rewritten from what the commands print')
  }
})

function parseSessions (text: string): Session[] {
  const out: Session[] = []
  for (const m of text.matchAll(MARKER)) {
    const bodyStart = (m.index as number) + m[0].indexOf('```\n') + 4
    const steps: Step[] = []
    for (const line of m[3].split('\n')) {
      if (line.startsWith('$ ')) steps.push({ command: line.slice(2), output: '' })
      else if (steps.length > 0) steps[steps.length - 1].output += line + '\n'
    }
    for (const s of steps) s.output = s.output.replace(/\n+$/, '\n').replace(/^\n$/, '')
    out.push({ name: m[1], setup: m[2] ?? null, steps, start: bodyStart, end: bodyStart + m[3].length })
  }
  return out
}

/** Run a session's commands in order in a fresh directory; what each printed. */
async function runSession (session: Session): Promise<Step[]> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'vitra-readme-')))
  try {
    const bin = join(dir, '.bin')
    mkdirSync(bin)
    writeFileSync(join(bin, 'vitra'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin', 'vitra.js')}" "$@"\n`)
    chmodSync(join(bin, 'vitra'), 0o755)
    writeFileSync(join(dir, 'counter.js'), contract('counter'))
    const work = join(dir, 'demo')
    mkdirSync(work)
    const env: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITRA_') && k !== 'NO_COLOR') env[k] = v
    Object.assign(env, { PATH: `${bin}:${process.env.PATH ?? ''}`, NO_COLOR: '1', VITRA_PROGRESS_MS: '0' })
    writeFileSync(join(work, 'counter.js'), contract('counter'))
    if (session.setup !== null) await sh(session.setup.replaceAll('<clone>', ROOT.replace(/\/$/, '')), work, env)
    const ran: Step[] = []
    for (const step of session.steps) {
      const output = await sh(step.command.replaceAll('<clone>', ROOT.replace(/\/$/, '')), work, env)
      ran.push({ command: step.command, output: output.replaceAll(work, SHOWN_DIR) })
    }
    return ran
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function sh (command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn('sh', ['-c', `${command} 2>&1`], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', d => { out += String(d) })
  child.stderr.on('data', d => { out += String(d) })
  await new Promise(resolve => child.on('close', resolve))
  return out === '' ? '' : out.replace(/\n*$/, '\n') // a last line without its newline (the REPL's prompt) gets one
}

function render (steps: Step[]): string {
  return steps.map(s => `$ ${s.command}\n${s.output}`).join('\n')
}

/**
 * What differs from run to run: keys (64 hex, and their 8-hex abbreviations) are numbered
 * by first appearance, an abbreviation of a key not shown whole is `<hex…>`, and the
 * number of storage files a backup copied (RocksDB's flushes decide it) is `N`.
 */
function normalize (text: string): string {
  const keys: string[] = []
  for (const m of text.matchAll(/[0-9a-f]{64}/g)) if (!keys.includes(m[0])) keys.push(m[0])
  let out = text
  keys.forEach((k, i) => {
    out = out.replaceAll(k, `<key${i}>`).replaceAll(k.slice(0, 8), `<key${i}:8>`)
  })
  return out.replace(/\b[0-9a-f]{8,63}…/g, '<hex…>').replace(/^( {2}files {9})\d+$/m, '$1N')
}
