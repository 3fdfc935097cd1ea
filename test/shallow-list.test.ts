// Folder listings (src/format/shallow-list.ts) against a brute-force definition, on
// random trees of paths, with every combination of reverse, offset and limit; and
// the same listings through a real Hyperbee (db.index.list).
import test from 'brittle'
import { listFolder, type ListedEntry } from '../src/format/shallow-list.js'
import { compareKeys, keyToPath, pathToKey, normalizePath, SEP } from '../src/format/paths.js'
import { Database, StorageInMemory } from '../src/index.js'

/** The listing by its definition: the children of dir in key order, each once, container when it has entries below. */
function reference (keys: string[], dir: string, opts: { reverse?: boolean, offset?: number, limit?: number }): Array<ListedEntry<number>> {
  const depth = dir === '' ? 0 : dir.split(SEP).length
  const children = new Map<string, ListedEntry<number>>()
  for (const k of keys) {
    const segs = k.split(SEP)
    if (segs.length <= depth || (depth > 0 && segs.slice(0, depth).join(SEP) !== dir)) continue
    const child = segs.slice(0, depth + 1).join(SEP)
    const item = children.get(child) ?? { key: child, container: false }
    if (segs.length === depth + 1) { item.seq = keys.indexOf(k); item.value = keys.indexOf(k) } else item.container = true
    children.set(child, item)
  }
  let out = [...children.values()].sort((a, b) => compareKeys(a.key, b.key))
  if (opts.reverse === true) out.reverse()
  const offset = opts.offset ?? 0
  out = out.slice(offset, opts.limit === undefined ? undefined : offset + opts.limit)
  return out.map(e => e.seq === undefined ? { key: e.key, container: e.container } : e)
}

/** An item as a tuple, so that field order does not matter: [key, container, seq or null, value or null]. */
function canonical (e: ListedEntry<number>): [string, boolean, number | null, number | null] {
  return [e.key, e.container, e.seq ?? null, e.value ?? null]
}

function peekOver (keys: string[]): Parameters<typeof listFolder<number>>[0] {
  const sorted = [...keys].sort(compareKeys)
  return async range => {
    const inside = sorted.filter(k => (range.gt === undefined || compareKeys(k, range.gt) > 0) &&
      (range.gte === undefined || compareKeys(k, range.gte) >= 0) && (range.lt === undefined || compareKeys(k, range.lt) < 0))
    const key = range.reverse ? inside[inside.length - 1] : inside[0]
    return key === undefined ? null : { key, seq: keys.indexOf(key), value: keys.indexOf(key) }
  }
}

// a small PRNG, so that a failure names its seed
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

const SEGMENTS = ['a', 'b', 'ab', 'a-b', 'a.b', 'a\u0001', 'Z', 'é', '😀', '1']

test('shallow list - matches its definition on random trees, every option combination', async t => {
  let checked = 0
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed)
    const keys = new Set<string>()
    const n = 1 + Math.floor(r() * 30)
    for (let i = 0; i < n; i++) {
      const depth = 1 + Math.floor(r() * 4)
      keys.add(Array.from({ length: depth }, () => SEGMENTS[Math.floor(r() * SEGMENTS.length)]).join(SEP))
    }
    const list = [...keys]
    const dirs = ['', ...new Set(list.flatMap(k => k.split(SEP).slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join(SEP))))]
    for (const dir of dirs) {
      for (const reverse of [false, true]) {
        for (const offset of [undefined, 0, 1, 3]) {
          for (const limit of [undefined, 0, 1, 2, 5]) {
            const opts = { reverse, offset, limit }
            const got = (await listFolder(peekOver(list), dir, opts)).map(canonical)
            const want = reference(list, dir, opts).map(canonical)
            if (JSON.stringify(got) !== JSON.stringify(want)) {
              t.fail(`seed ${seed}, dir ${JSON.stringify(keyToPath(dir))}, ${JSON.stringify(opts)}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
              return
            }
            checked++
          }
        }
      }
    }
  }
  t.ok(checked > 1000, `${checked} listings agree with the definition`)
})

test('shallow list - one lookup per listed item, however large the sub-folders', async t => {
  const keys = ['a', 'b', 'c'].flatMap(top => [top, ...Array.from({ length: 500 }, (_, i) => top + SEP + 'x' + String(i))])
  let peeks = 0
  const peek = peekOver(keys)
  const items = await listFolder(async r => { peeks++; return await peek(r) }, '', {})
  t.alike(items.map(i => [i.key, i.container]), [['a', true], ['b', true], ['c', true]])
  t.ok(peeks <= 7, `${peeks} lookups for 3 folders of 501 entries each`)
})

test('shallow list - paths: normalisation and stored keys', async t => {
  t.is(pathToKey('/a/b'), 'a\x00b')
  t.is(pathToKey('a//b/'), 'a\x00b')
  t.is(pathToKey('/'), '')
  t.is(normalizePath('//a///b//'), '/a/b')
  t.is(keyToPath('a\x00b'), '/a/b')
  t.exception(() => pathToKey('/a\x00b'), /NUL/)
})

test('shallow list - db.index.list over a Hyperbee equals the definition', async t => {
  const db = await Database.create(new StorageInMemory(), { contract: { source: 'export function noop () {}' } })
  t.teardown(() => db.close())
  const r = rng(7)
  const paths = new Set<string>()
  for (let i = 0; i < 60; i++) paths.add('/' + Array.from({ length: 1 + Math.floor(r() * 3) }, () => SEGMENTS[Math.floor(r() * SEGMENTS.length)]).join('/'))
  await db.index.dangerousBatch([...paths].map(path => ({ type: 'put' as const, path, value: path })))
  const keys = [...paths].map(p => pathToKey(p))
  for (const dir of ['', 'a', 'b', 'a\x00a', '😀']) {
    for (const opts of dir === '' ? [{}, { reverse: true }] : [{}, { reverse: true }, { offset: 2, limit: 3 }, { reverse: true, offset: 1, limit: 2 }]) {
      const got = (await db.index.list(keyToPath(dir), opts)).filter(e => e.path !== '/.sys').map(e => [e.path, e.container, e.value ?? null])
      const want = reference(keys, dir, opts).map(e => [keyToPath(e.key), e.container, e.seq === undefined ? null : keyToPath(e.key)])
      t.alike(got, want, `list(${JSON.stringify(keyToPath(dir))}, ${JSON.stringify(opts)})`)
    }
  }
  const root = await db.index.list('/')
  t.ok(root.some(e => e.path === '/.sys' && e.container), 'the system folder is listed, as a container')
})
