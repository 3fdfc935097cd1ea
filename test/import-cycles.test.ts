// The module graph of the compiled engine (dist/src, dist/sandbox, dist/cli): no import
// cycles, and every static import points to its own layer or one below (LAYERS: the
// sandbox imports only src/errors, src/lifecycle, src/format and src/proofs, which import
// nothing back but sandbox/types.ts, a leaf; logs/ uses proofs/, never verify/; the verifier never
// imports the executor). Type-only imports are erased by tsc and do not count.
import test from 'brittle'
import { readFileSync, readdirSync, statSync } from 'fs'
import { dirname, join, relative, resolve } from 'path'
import { fileURLToPath } from 'url'

const DIST = fileURLToPath(new URL('..', import.meta.url))

function jsFiles (dir: string, out: string[] = []): string[] {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f)
    if (statSync(p).isDirectory()) jsFiles(p, out)
    else if (p.endsWith('.js')) out.push(p)
  }
  return out
}

/** Strongly connected components of more than one module (or a module importing itself). */
function cycles (graph: Map<string, string[]>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (v: string): void => {
    index.set(v, next); low.set(v, next); next++
    stack.push(v); onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v) as number, low.get(w) as number)) } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number))
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = []
      let w: string
      do { w = stack.pop() as string; onStack.delete(w); c.push(w) } while (w !== v)
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(c)
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return found
}

test('import cycles - none among the engine\'s modules', async t => {
  const files = [...jsFiles(join(DIST, 'src')), ...jsFiles(join(DIST, 'sandbox'))]
  const known = new Set(files)
  const graph = new Map<string, string[]>()
  for (const f of files) {
    const text = readFileSync(f, 'utf8')
    const deps = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"](\.[^'"]+)['"]/g)].map(m => resolve(dirname(f), m[1]))
    graph.set(f, deps.filter(d => known.has(d)))
  }
  t.ok(files.length > 50, `${files.length} modules read`)
  t.ok([...graph.values()].some(d => d.length > 3), 'imports were found')
  const found = cycles(graph).map(c => c.map(f => relative(DIST, f)).join(' → '))
  t.alike(found, [], 'no import cycle')
})

test('import cycles - src/proofs depends on nothing that reads a log: only itself and the leaf modules', async t => {
  const dir = join(DIST, 'src', 'proofs')
  // holepunch/block-core.js: the stand-in core Hyperbee replays index reads over (it imports events alone)
  const allowed = new Set(['errors/errors.js', 'errors/catalogue.js', 'format/encoding.js', 'format/ack-v2.js', 'format/schemas.js', 'format/paths.js', 'format/limits.js', 'format/shallow-list.js', 'format/sys-keys.js', 'holepunch/block-core.js'].map(f => join(DIST, 'src', f)))
  const bad: string[] = []
  for (const f of jsFiles(dir)) {
    const text = readFileSync(f, 'utf8')
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"](\.[^'"]+)['"]/g)) {
      const d = resolve(dirname(f), m[1])
      if (!d.startsWith(dir + '/') && !allowed.has(d)) bad.push(`${relative(DIST, f)} → ${relative(DIST, d)}`)
    }
    for (const m of text.matchAll(/(?:^|\n)\s*import\s[^;]*?from\s*['"](hypercore|corestore|hyperswarm|isolated-vm|hyperdht)['"]/g)) bad.push(`${relative(DIST, f)} → ${m[1]}`)
  }
  t.alike(bad, [], 'src/proofs imports no log, replay, sandbox or network module')
})

/**
 * The layers of the code base, lowest first. A module imports only from its own layer
 * or the layers below: leaves (errors, lifecycle) ← format, holepunch ← proofs ← sandbox ← logs ← net, sql, witness
 * ← exec, verify ← db ← http ← the entry points (src/*.ts) and cli.
 */
const LAYERS: Array<[string, number]> = [
  ['src/errors', 0], ['src/lifecycle', 0], ['sandbox/types.js', 0],
  ['src/format', 1], ['src/holepunch', 1],
  ['src/proofs', 2],
  ['sandbox', 3],
  ['src/logs', 4],
  ['src/net', 5], ['src/sql', 5], ['src/witness', 5],
  ['src/exec', 6], ['src/verify', 6],
  ['src/db', 7],
  ['src/http', 8],
  ['src', 9], ['cli', 9]
]

/** The layer of a compiled module: the longest prefix of LAYERS that names it. */
function layerOf (file: string): [string, number] {
  const rel = relative(DIST, file)
  let best: [string, number] | null = null
  for (const [prefix, rank] of LAYERS) {
    if ((rel === prefix || rel.startsWith(prefix + '/')) && (best === null || prefix.length > best[0].length)) best = [prefix, rank]
  }
  if (best === null) throw new Error(`${rel} is in no layer`)
  return best
}

test('import cycles - every import points to its own layer or one below', async t => {
  const files = [...jsFiles(join(DIST, 'src')), ...jsFiles(join(DIST, 'sandbox')), ...jsFiles(join(DIST, 'cli'))]
  const up: string[] = []
  let edges = 0
  for (const f of files) {
    const [from, rank] = layerOf(f)
    for (const m of readFileSync(f, 'utf8').matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"](\.[^'"]+)['"]/g)) {
      const d = resolve(dirname(f), m[1])
      const [to, target] = layerOf(d)
      edges++
      if (target > rank) up.push(`${relative(DIST, f)} (${from}) → ${relative(DIST, d)} (${to})`)
    }
  }
  t.ok(edges > 300, `${edges} imports read`)
  t.alike(up, [], 'no import points up a layer')
  const verifier = files.filter(f => relative(DIST, f).startsWith('src/verify/'))
  const executor = verifier.filter(f => /from\s*['"][^'"]*exec\/executor\.js['"]/.test(readFileSync(f, 'utf8')))
  t.alike(executor.map(f => relative(DIST, f)), [], 'the verifier does not depend on the executor')
})
