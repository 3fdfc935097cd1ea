// Shape rules of the source tree (issue 35): no code hides in a long template literal,
// and every use of a Holepunch internal sits in src/holepunch/.
import test from 'brittle'
import { readdirSync, readFileSync, statSync } from 'fs'
import { join } from 'path'
import { fileURLToPath } from 'url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DIRS = ['src', 'sandbox', 'cli', 'bench', 'examples', 'scripts', 'explorer', 'test']

function files (dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) files(p, out)
    else if (/\.(ts|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

/**
 * The template literals of a JavaScript or TypeScript source, with the line each starts
 * on and how many lines it spans. A small lexer: it skips comments, quoted strings and
 * regular expression literals (a `/` where an operand is expected), and follows `${ }`
 * into nested templates.
 */
export function templateLiterals (src: string): Array<{ line: number, lines: number }> {
  const out: Array<{ line: number, lines: number }> = []
  const lineAt = (i: number): number => src.slice(0, i).split('\n').length
  let i = 0
  let prev = '' // the last significant character, to tell a regex from a division
  const skipQuoted = (q: string): void => {
    i++
    while (i < src.length && src[i] !== q && src[i] !== '\n') i += src[i] === '\\' ? 2 : 1
    i++
  }
  const skipRegex = (): void => {
    i++
    let inClass = false
    while (i < src.length && src[i] !== '\n') {
      const c = src[i]
      if (c === '\\') { i += 2; continue }
      if (c === '[') inClass = true
      else if (c === ']') inClass = false
      else if (c === '/' && !inClass) break
      i++
    }
    i++
    while (/[a-z]/.test(src[i] ?? '')) i++
  }
  // scans code until an unmatched `}` (inside `${ }`) or the end
  const code = (): void => {
    let depth = 0
    while (i < src.length) {
      const c = src[i]
      const next = src[i + 1]
      if (c === '/' && next === '/') { while (i < src.length && src[i] !== '\n') i++; continue }
      if (c === '/' && next === '*') { const end = src.indexOf('*/', i + 2); i = end < 0 ? src.length : end + 2; continue }
      if (c === '\'' || c === '"') { skipQuoted(c); prev = 'a'; continue }
      if (c === '`') { template(); prev = 'a'; continue }
      if (c === '/' && (prev === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev) || /\b(?:return|typeof|case|in|of|void|yield|await)$/.test(src.slice(Math.max(0, i - 8), i).trimEnd()))) { skipRegex(); prev = 'a'; continue }
      if (c === '{') depth++
      if (c === '}') { if (depth === 0) return; depth-- }
      if (!/\s/.test(c)) prev = c
      i++
    }
  }
  const template = (): void => {
    const start = i
    i++
    while (i < src.length && src[i] !== '`') {
      if (src[i] === '\\') { i += 2; continue }
      if (src[i] === '$' && src[i + 1] === '{') { i += 2; code(); i++; continue }
      i++
    }
    i++
    out.push({ line: lineAt(start), lines: src.slice(start, i).split('\n').length })
  }
  code()
  return out
}

test('source shape - the template lexer sees templates and nothing else', t => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text under test holds a template
  const src = 'const a = `x\ny`\n// `not one`\nconst r = /`/g\nconst b = \'`\'\nconst c = `a${`b\nc`}d`\nconst d = 4 / 2 / 1\nconst e = `z`\n'
  t.alike(templateLiterals(src).map(x => [x.line, x.lines]), [[1, 2], [6, 2], [6, 2], [9, 1]])
})

test('source shape - no source file holds code in a template literal of more than 80 lines', t => {
  const long: string[] = []
  let seen = 0
  for (const dir of DIRS) {
    for (const f of files(join(ROOT, dir))) {
      for (const tl of templateLiterals(readFileSync(f, 'utf8'))) {
        seen++
        if (tl.lines > 80) long.push(`${f.slice(ROOT.length)}:${tl.line} (${tl.lines} lines)`)
      }
    }
  }
  t.ok(seen > 500, `${seen} template literals read`)
  t.alike(long, [], 'none longer than 80 lines')
})

test('source shape - every use of a Holepunch internal sits in src/holepunch/', t => {
  const internals: Array<[RegExp, string]> = [
    [/from ['"](?:hyperbee|hypercore|corestore|hyperswarm|hyperdht)\/lib\//, 'a module under lib/'],
    [/\._inflight\b|\.replicator\b/, 'the replicator'],
    [/\.state\.(?:storage|tree)\b/, 'core.state'],
    [/\bremote(?:Length|Synced|Fork|Bitfield)\b/, "a peer's remote fields"],
    [/Hypercore\.treeHashFromStorage\b/, 'Hypercore.treeHashFromStorage'],
    [/as unknown as Hypercore\b/, 'a stand-in for a core']
  ]
  const offenders: string[] = []
  for (const dir of ['src', 'sandbox', 'cli', 'bench', 'examples']) {
    for (const f of files(join(ROOT, dir))) {
      if (f.includes(join('src', 'holepunch'))) continue
      const code = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, '') // comments may name them
      for (const [re, what] of internals) if (re.test(code)) offenders.push(`${f.slice(ROOT.length)}: ${what}`)
    }
  }
  t.alike(offenders, [], 'none outside src/holepunch/')
})
