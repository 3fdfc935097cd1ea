/**
 * Index paths, as Vitra 0.1.3 names them: `/a/b`, where `a/b`, `/a/b/` and
 * `//a//b` name the same entry. A path is stored in the Hyperbee as its segments
 * joined by NUL (`a\x00b`), so the children of `/a` sort right after `/a` itself
 * and a folder listing is a walk over one key range (see shallow-list.ts).
 *
 * The guest runtime (sandbox/guest/runtime.js) normalises paths the same way in
 * its own copy of these few lines; test/contract-api.test.ts checks that both agree.
 * This module is a leaf.
 */

/** Separator of path segments in a stored key. */
export const SEP = '\x00'

/** A path that cannot name an entry: a segment holds NUL, or the path is not a string. */
export class InvalidPathError extends Error {
  readonly code = 'INVALID_PATH'
  constructor (message: string) { super(message); this.name = 'InvalidPathError' }
}

/** A lone surrogate: text that has no UTF-8 form (Hyperbee would store U+FFFD in its place). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Whether a string is well-formed Unicode (no lone surrogates), so that its UTF-8 bytes give it back. */
export function isWellFormed (s: string): boolean { return !LONE_SURROGATE.test(s) }

/** The segments of a path (empty for `/`). */
export function pathSegments (path: string): string[] {
  if (typeof path !== 'string') throw new InvalidPathError(`A path must be a string, not ${typeof path}`)
  if (path.includes(SEP)) throw new InvalidPathError('A path may not contain NUL characters')
  // stored keys are UTF-8: a lone surrogate would be stored as U+FFFD, another path
  if (!isWellFormed(path)) throw new InvalidPathError('A path must be well-formed Unicode (it holds a lone surrogate)')
  return path.split('/').filter(s => s !== '')
}

/** The stored key of a path: its segments joined by NUL ('' for `/`). */
export function pathToKey (path: string): string { return pathSegments(path).join(SEP) }

/** The normalised path of a stored key: `/` + segments joined by `/`. */
export function keyToPath (key: string): string { return '/' + key.split(SEP).join('/') }

/** The last segment of a stored key (its entry's `name`). */
export function keyName (key: string): string {
  const i = key.lastIndexOf(SEP)
  return i === -1 ? key : key.slice(i + 1)
}

/** The normalised form of a path (`'a//b/'` → `'/a/b'`). */
export function normalizePath (path: string): string { return '/' + pathSegments(path).join('/') }

/** Stored keys of `/.sys/…` paths start with this. */
export const SYS_KEY_PREFIX = '.sys' + SEP

/** Whether a stored key lies under `/.sys/`. */
export function isSysKey (key: string): boolean { return key === '.sys' || key.startsWith(SYS_KEY_PREFIX) }

/** Hyperbee orders keys by their UTF-8 bytes; so do we. */
export function compareKeys (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
