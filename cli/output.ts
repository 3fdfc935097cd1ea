/**
 * The one printing helper of the `vitra` command. Every command prints through
 * an Output: in human mode lines of text (colour only on a TTY), with `--json`
 * exactly one JSON document per command on stdout (streaming commands, `host`
 * and `monitor`, print one JSON object per line). Notes meant for people go to
 * stdout in human mode and to stderr in JSON mode, so stdout stays parseable.
 */
import { inspect as nodeInspect } from 'util'
import type { FraudProofJSON } from '../src/index.js'

export interface OutputOptions {
  json: boolean
  stdout?: NodeJS.WritableStream
  stderr?: NodeJS.WritableStream
  /** Colour human output (default: stdout is a TTY and NO_COLOR is unset). */
  color?: boolean
}

// biome-ignore lint/suspicious/noConfusingVoidType: a human printer may be a block that returns nothing
export type Human = string | string[] | undefined | void

export class Output {
  readonly json: boolean
  readonly color: boolean
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream

  constructor (opts: OutputOptions) {
    this.json = opts.json
    this.stdout = opts.stdout ?? process.stdout
    this.stderr = opts.stderr ?? process.stderr
    const tty = (this.stdout as { isTTY?: boolean }).isTTY === true
    this.color = opts.color ?? (tty && process.env.NO_COLOR === undefined)
  }

  /** The result of a command: `data` as JSON with --json, else the lines `human` returns. */
  result (data: unknown, human: () => Human): void {
    if (this.json) this.stdout.write(toJson(data, 2) + '\n')
    else this.lines(human())
  }

  /** One event of a streaming command: a JSON line with --json, else the human line. */
  event (data: Record<string, unknown>, human: string): void {
    if (this.json) this.stdout.write(toJson(data) + '\n')
    else this.stdout.write(human + '\n')
  }

  /** A note for people (stdout in human mode, stderr with --json). */
  note (text: string): void {
    (this.json ? this.stderr : this.stdout).write(text + '\n')
  }

  /** A warning, always on stderr. */
  warn (text: string): void {
    this.stderr.write(`vitra: warning: ${text}\n`)
  }

  /** The one-line error of a failed command, on stderr. */
  error (text: string): void {
    this.stderr.write(`vitra: ${text}\n`)
  }

  private lines (h: Human): void {
    if (h === undefined) return
    const text = Array.isArray(h) ? h.join('\n') : h
    this.stdout.write(text + (text.endsWith('\n') ? '' : '\n'))
  }

  // ---------------------------------------------------------------- formatting

  /** Any JS value, as the REPL shows it (the REPL's writer). */
  inspect (v: unknown): string {
    return nodeInspect(v, { depth: 6, colors: this.color, breakLength: 100 })
  }

  /** A stored (JSON) value: compact JSON when short, indented otherwise. */
  value (v: unknown): string {
    if (v === undefined) return 'undefined'
    const compact = toJson(v)
    if (compact.length <= 80) return compact
    return toJson(v, 2)
  }

  /** A stored value on one line (table cells). */
  compact (v: unknown): string { return v === undefined ? 'undefined' : toJson(v) }

  /** `label  value` rows, labels aligned. */
  kv (rows: Array<[string, string]>, indent = ''): string[] {
    const width = Math.max(0, ...rows.map(([k]) => k.length))
    return rows.map(([k, v]) => `${indent}${k.padEnd(width)}  ${indentRest(v, indent + ' '.repeat(width + 2))}`)
  }

  /** A table with a header row; columns padded to their widest cell. */
  table (header: string[], rows: string[][]): string[] {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
    const fmt = (r: string[]): string => r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
    return [this.bold(fmt(header)), ...rows.map(fmt)]
  }

  /** A fraud proof for people. */
  fraud (p: FraudProofJSON, savedTo?: string): string[] {
    const d = p.details
    const ev = p.evidence
    const evidence = [
      ev.entry !== undefined ? `entry (index seq ${ev.entry.index})` : null,
      ev.ack !== undefined ? `ack (index seq ${ev.ack.index})` : null,
      ev.previous !== undefined ? `earlier ack (index seq ${ev.previous.index})` : null,
      ev.op !== undefined ? `op (oplog ${short(ev.op.key)} seq ${ev.op.index})` : null
    ].filter(x => x !== null).join(', ')
    const rows: Array<[string, string]> = [
      ['database', p.index.key],
      ['violation', d.description],
      ['signed head', `index length ${p.index.head.length}, fork ${p.index.head.fork}`],
      ['data', this.value(d.data)],
      ['evidence', evidence === '' ? '(none)' : evidence]
    ]
    if (savedTo !== undefined) rows.push(['saved to', savedTo], ['check it', `vitra proof verify ${savedTo}`])
    return [this.red(`FRAUD ${d.code} at index seq ${d.seq}`), ...this.kv(rows, '  ')]
  }

  bold (s: string): string { return this.color ? `\x1b[1m${s}\x1b[22m` : s }
  red (s: string): string { return this.color ? `\x1b[31;1m${s}\x1b[0m` : s }
  green (s: string): string { return this.color ? `\x1b[32m${s}\x1b[39m` : s }
}

/** JSON with Buffers as hex and undefined dropped. */
export function toJson (v: unknown, space?: number): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x !== null && typeof x === 'object' && (x as { type?: unknown }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)) {
      return Buffer.from((x as { data: number[] }).data).toString('hex')
    }
    return x
  }, space) ?? 'null'
}

/** The first 8 hex characters of a key, for tables. */
export function short (hex: string): string {
  return hex.length > 12 ? hex.slice(0, 8) + '…' : hex
}

function indentRest (v: string, pad: string): string {
  return v.split('\n').join('\n' + pad)
}
