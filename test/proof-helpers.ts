// Helpers shared by the proof tests: tampering with proof JSON, checking rejection
// reasons, and verifying in a fresh process.
import type { Assertion } from 'brittle'
import { spawn } from 'child_process'
import { fileURLToPath } from 'url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A deep copy of JSON data (to tamper with). */
export function clone<T> (v: T): T { return JSON.parse(JSON.stringify(v)) as T }

/** `hex` with the digit at `at` changed. */
export function flip (hex: string, at = 0): string {
  const c = hex[at] === '0' ? '1' : '0'
  return hex.slice(0, at) + c + hex.slice(at + 1)
}

function checkRejection (t: Assertion, err: unknown, reason: string, msg: string): void {
  const e = err as { code?: string, details?: { reason?: string }, message: string }
  t.is(e.code, 'INVALID_PROOF', `${msg}: INVALID_PROOF`)
  t.is(e.details?.reason, reason, `${msg}: reason ${reason} (${e.message})`)
}

/** `fn` must throw InvalidProofError with `details.reason === reason`. */
export function rejects (t: Assertion, fn: () => unknown, reason: string, msg: string): void {
  try {
    fn()
    t.fail(`${msg}: accepted`)
  } catch (err) {
    checkRejection(t, err, reason, msg)
  }
}

/** As `rejects`, for an async `fn`. */
export async function rejectsAsync (t: Assertion, fn: () => Promise<unknown>, reason: string, msg: string): Promise<void> {
  try {
    await fn()
    t.fail(`${msg}: accepted`)
  } catch (err) {
    checkRejection(t, err, reason, msg)
  }
}

/** Run an ES module script in a fresh Node process with `stdin`; resolves its stdout. */
export function runChild (script: string, stdin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', d => { out += d })
    child.stderr.on('data', d => { err += d })
    child.on('error', reject)
    child.on('close', code => code === 0 ? resolve(out) : reject(new Error(`child exited ${code}: ${err}`)))
    child.stdin.end(stdin)
  })
}
