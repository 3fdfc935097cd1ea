// The error catalogue (src/errors/catalogue.ts): every code documented, the docs rendered
// from it, no code thrown that it lacks, and the HTTP API and the CLI answering with
// what it says. `README_UPDATE=1` writes the tables into the docs.
import test from 'brittle'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'fs'
import { join } from 'path'
import { fileURLToPath } from 'url'
import { EXIT, ERRORS, errorTable, httpStatusTable, isErrorCode, type ErrorCode } from '../src/errors/catalogue.js'
import { VitraError, errors } from '../src/errors/errors.js'
import { FraudCode } from '../src/proofs/fraud/fraud-codes.js'
import { describeError } from '../cli/errors.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const codes = Object.keys(ERRORS) as ErrorCode[]

test('error catalogue - every code says what it means, its HTTP status and its exit code', t => {
  t.ok(codes.length >= 60, `${codes.length} codes`)
  const exits = new Set<number>(Object.values(EXIT))
  for (const code of codes) {
    const e = ERRORS[code]
    t.ok(/^[A-Z][A-Z0-9_]*$/.test(code), `${code}: upper snake case`)
    t.ok(e.meaning.length > 10 && e.meaning.endsWith('.'), `${code}: a sentence says what it means`)
    const http: number | null = e.http
    t.ok(http === null ? e.area === 'cli' || e.area === 'witness' : http >= 400 && http < 600, `${code}: an HTTP error status (${String(http)})`)
    const exit: number = e.exit
    t.ok(exits.has(exit) && exit !== EXIT.OK, `${code}: a failing exit code (${e.exit})`)
    if (code.endsWith('_NOT_FOUND')) t.is(http, 404, `${code}: 404`)
    t.absent(code in FraudCode, `${code} is not also a violation code`)
  }
})

function block (file: string, name: string, body: string, t: { is: (a: unknown, b: unknown, m: string) => void }): void {
  const path = join(root, file)
  const text = readFileSync(path, 'utf8')
  const open = `<!-- ${name} -->\n`
  const close = `<!-- /${name} -->`
  const i = text.indexOf(open)
  const j = text.indexOf(close)
  if (i < 0 || j < i) throw new Error(`${file} has no ${name} block`)
  const want = body + '\n'
  if (process.env.README_UPDATE === '1') writeFileSync(path, text.slice(0, i + open.length) + want + text.slice(j))
  else t.is(text.slice(i + open.length, j), want, `${file}: the ${name} block is the catalogue's (README_UPDATE=1 rewrites it)`)
}

test('error catalogue - the docs are rendered from it', t => {
  block('whitepaper/errors.md', 'error-table', errorTable(), t)
  block('whitepaper/http-api.md', 'http-status-table', httpStatusTable(), t)
})

function sources (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sources(p))
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

test('error catalogue - no code is thrown or answered that it lacks', t => {
  // every way the code base names an error code: error constructors and factories,
  // HTTP answers, codes in error-shaped objects, and a contract error's code argument
  const patterns = [
    /new [A-Za-z]*Error\(\s*'([A-Z][A-Z0-9_]+)'/g,
    /\berrors\.([A-Z][A-Z0-9_]+)\(/g,
    /\bfail\(reply, '([A-Z][A-Z0-9_]+)'/g,
    /error: \{ code: '([A-Z][A-Z0-9_]+)'/g,
    /Error\([^()]*(?:\([^()]*\)[^()]*)*, '([A-Z][A-Z0-9_]+)'\)/g
  ]
  const found = new Map<string, string>()
  for (const dir of ['src', 'sandbox', 'cli']) {
    for (const file of sources(join(root, dir))) {
      const text = readFileSync(file, 'utf8')
      for (const re of patterns) for (const m of text.matchAll(re)) found.set(m[1], file.slice(root.length))
    }
  }
  t.ok(found.size >= 40, `${found.size} codes named in the sources`)
  for (const [code, file] of found) t.ok(isErrorCode(code), `${code} (${file}) is in the catalogue`)
})

test('error catalogue - the factories and the CLI answer with what it says', t => {
  for (const code of codes) {
    const err = errors[code]('something went wrong')
    t.ok(err instanceof VitraError && err.code === code, `errors.${code} makes a VitraError of that code`)
    const described = describeError(err)
    t.is(described.exitCode, ERRORS[code].exit, `${code}: exit ${ERRORS[code].exit}`)
    const hint = (ERRORS[code] as { hint?: string }).hint
    if (hint !== undefined) t.ok(described.message.includes(hint), `${code}: the CLI gives its hint`)
  }
  t.ok(!(errors.TIMEOUT('x').stack ?? '').includes('at make '), 'the stack starts where the error was made')
})
