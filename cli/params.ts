/**
 * Parsing what users type: call switches (`--key value` → params), `--params`
 * JSON, database keys, bootstrap addresses, and REPL lines (shell-like words).
 * Everything here is untrusted input; bad input is a usage error (exit 2).
 */
import type { JsonValue } from '../src/index.js'
import { usageError } from './errors.js'

/**
 * Vitra-style switches to a params object:
 *   --key value        value parsed as JSON when it parses (3, true, null, {"a":1}, "quoted"), else a string
 *   --key=value        the same
 *   --flag             true (when followed by another switch or nothing)
 *   --no-flag          false
 *   --a.b 1            nested: { a: { b: 1 } }
 *   --tag x --tag y    repeated: ["x", "y"]
 */
export function parseSwitches (args: string[]): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (!arg.startsWith('--') || arg.length === 2) {
      throw usageError(`Unexpected argument "${arg}": give params as --name value (or --params '<json>')`)
    }
    let name = arg.slice(2)
    let raw: string | null = null
    const eq = name.indexOf('=')
    if (eq !== -1) { raw = name.slice(eq + 1); name = name.slice(0, eq) }
    let value: JsonValue
    if (raw !== null) value = jsonOrString(raw)
    else if (args[i + 1] !== undefined && !isSwitch(args[i + 1]!)) value = jsonOrString(args[++i]!)
    else if (name.startsWith('no-')) { name = name.slice(3); value = false } else value = true
    if (!/^[A-Za-z_$][\w$-]*(\.[A-Za-z_$][\w$-]*)*$/.test(name)) throw usageError(`"--${name}" is not a valid param name`)
    assign(out, name.split('.'), value)
  }
  return out
}

function isSwitch (s: string): boolean {
  return s.startsWith('--') && s.length > 2 && !/^--?\d/.test(s)
}

function jsonOrString (raw: string): JsonValue {
  try { return JSON.parse(raw) as JsonValue } catch { return raw }
}

function assign (obj: Record<string, JsonValue>, path: string[], value: JsonValue): void {
  const [head, ...rest] = path
  if (head === undefined) return
  if (head === '__proto__' || head === 'constructor' || head === 'prototype') throw usageError(`"${head}" is not allowed as a param name`)
  if (rest.length === 0) {
    const prev = obj[head]
    obj[head] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]
    return
  }
  const next = obj[head]
  if (next !== undefined && (next === null || typeof next !== 'object' || Array.isArray(next))) throw usageError(`--${path.join('.')} conflicts with --${head}`)
  const child = (next ?? {}) as Record<string, JsonValue>
  obj[head] = child
  assign(child, rest, value)
}

/** The params of a call: `--params` JSON, with switches merged over it. */
export function callParams (paramsJson: string | undefined, switches: string[]): JsonValue {
  const fromSwitches = parseSwitches(switches)
  if (paramsJson === undefined) return fromSwitches
  let base: JsonValue
  try {
    base = JSON.parse(paramsJson) as JsonValue
  } catch (err) {
    throw usageError(`--params is not valid JSON (${(err as Error).message}): quote it, e.g. --params '{"key":"a","value":1}'`)
  }
  if (Object.keys(fromSwitches).length === 0) return base
  if (base === null || typeof base !== 'object' || Array.isArray(base)) throw usageError('--params must be a JSON object when switches are given too')
  return { ...base, ...fromSwitches }
}

/** A 64-hex public key (any case, surrounding space ignored). */
export function parseKey (s: string, what = 'public key'): string {
  const hex = s.trim().toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(hex)) throw usageError(`Not a ${what} (64 hex characters): ${s}`)
  return hex
}

/** A positive integer option (milliseconds, counts). */
export function parseCount (s: string | undefined, what: string, fallback: number): number {
  if (s === undefined) return fallback
  const n = Number(s)
  if (!Number.isSafeInteger(n) || n < 0) throw usageError(`${what} must be a non-negative integer, got "${s}"`)
  return n
}

/** `host:port[,host:port]` → bootstrap nodes. */
export function parseBootstrap (s: string): Array<{ host: string, port: number }> {
  return s.split(',').map(x => x.trim()).filter(x => x !== '').map(x => {
    const m = /^(.+):(\d{1,5})$/.exec(x)
    const port = m === null ? NaN : Number(m[2])
    if (m === null || port < 1 || port > 65535) throw usageError(`Bad bootstrap address "${x}": expected host:port[,host:port]`)
    return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port }
  })
}

/** Split a REPL line into words: spaces separate, '…' and "…" quote, \ escapes. */
export function splitWords (line: string): string[] {
  const words: string[] = []
  let cur = ''
  let quote: string | null = null
  let has = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote !== null) {
      if (c === quote) quote = null
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i]
      else cur += c
    } else if (c === '"' || c === "'") { quote = c; has = true } else if (c === '\\' && i + 1 < line.length) { cur += line[++i]; has = true } else if (/\s/.test(c)) {
      if (has || cur !== '') words.push(cur)
      cur = ''
      has = false
    } else cur += c
  }
  if (quote !== null) throw usageError(`Unclosed ${quote} quote`)
  if (has || cur !== '') words.push(cur)
  return words
}
