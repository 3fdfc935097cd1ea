// @ts-check
/**
 * `vitra:runtime`, the internal module that runs inside every contract's isolate
 * (compiled with `isolate.compileModule` for each isolate; a contract cannot import
 * it). It captures the intrinsics it needs before any contract code runs, installs
 * the determinism shims (Date, Math.random, WeakRef, FinalizationRegistry, Intl,
 * locale defaults), holds the mode (`init` | `idle` | `call` | `process` | `apply`),
 * the PRNG, the host bridge, and the entry functions the host calls (single entries,
 * batched calls, batched apply). The modules a contract may import (contract.js,
 * assert.js, util.js) reach the host only through it.
 *
 * Loaded as text by sandbox/guest-sources.ts; type-checked by sandbox/guest/tsconfig.json
 * (ECMAScript only: no Node or DOM types). Its one import, `vitra:sys`, is made by the
 * host from src/format/sys-keys.ts, so the /.sys keys are written down once.
 */
import { CONTRACT_SOURCE_KEY, INPUTS_DIR, SERVERS_KEY, SYS_KEY, WITNESSES_KEY } from 'vitra:sys'

/**
 * The open entry. `stop` says why a batch entry ended early; `closers` run when it closes.
 * @typedef {{ gen: number, fast: boolean, deferred: boolean, stop: BatchStop | null, closers: Array<() => void> }} Entry
 */
/**
 * A reference to a host function (isolated-vm's Reference, as the guest sees it).
 * @typedef {{ applySync (thisArg: undefined, args: string[], options?: object): string | string[], applySyncPromise (thisArg: undefined, args: string[]): string | string[] }} HostRef
 */
/** @typedef {[key: string, kind: string, text: string]} Queued */
/** @typedef {import('../protocol.js').GuestExports} GuestExports */
/** @typedef {import('../protocol.js').HostOp} HostOp */
/** @typedef {import('../protocol.js').PureOp} PureOp */
/** @typedef {import('../protocol.js').EntryKind} EntryKind */
/** @typedef {import('../protocol.js').BatchStop} BatchStop */
/** @typedef {{ e: Entry, items: any[], i: number, height: number, running: boolean }} Batch */
const G = globalThis
// Host-only globals go first. V8 flags are process-wide: --expose-gc (npm run bench runs
// Node with it) and its like put functions such as gc() on every context, this one too.
// A contract sees the ECMAScript globals (and V8's inert console) only.
{
  const STANDARD = new Set(['Object', 'Function', 'Array', 'Number', 'parseFloat', 'parseInt', 'Infinity', 'NaN', 'undefined', 'Boolean', 'String', 'Symbol', 'Date', 'Promise', 'RegExp', 'Error', 'AggregateError', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', 'URIError', 'globalThis', 'JSON', 'Math', 'Intl', 'ArrayBuffer', 'Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array', 'Float16Array', 'Uint8ClampedArray', 'BigUint64Array', 'BigInt64Array', 'DataView', 'Map', 'BigInt', 'Set', 'WeakMap', 'WeakSet', 'Proxy', 'Reflect', 'FinalizationRegistry', 'WeakRef', 'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'unescape', 'eval', 'isFinite', 'isNaN', 'console', 'SharedArrayBuffer', 'Atomics', 'WebAssembly', 'Iterator', 'SuppressedError', 'DisposableStack', 'AsyncDisposableStack'])
  for (const name of Object.getOwnPropertyNames(G)) {
    if (STANDARD.has(name) || Reflect.deleteProperty(G, name)) continue
    // V8 makes some of them non-configurable, but writable: pin them to undefined
    Object.defineProperty(G, name, { value: undefined, writable: false })
  }
}
const RealDate = Date
const DP = RealDate.prototype
const realNow = RealDate.now
const realParse = RealDate.parse
const realUTC = RealDate.UTC
const realRandom = Math.random
const JSONstringify = JSON.stringify
const JSONparse = JSON.parse
const ObjectKeys = Object.keys
const ObjectGetPrototypeOf = Object.getPrototypeOf
const ObjectSetPrototypeOf = Object.setPrototypeOf
const ObjectDefineProperty = Object.defineProperty
const ObjectFreeze = Object.freeze
const ObjectHasOwn = Object.hasOwn
const ObjectGetOwnPropertyNames = Object.getOwnPropertyNames
const ObjectPrototype = Object.prototype
const ArrayPrototype = Array.prototype
const isArray = Array.isArray
const ErrorCtor = Error
const TypeErrorCtor = TypeError
const StringCtor = String
const MapCtor = Map
const MathImul = Math.imul
const ReflectApply = Reflect.apply
const ReflectGet = Reflect.get
const ProxyCtor = Proxy
const WeakSetCtor = WeakSet
const SymbolToPrimitive = Symbol.toPrimitive
const NumberIsInteger = Number.isInteger
const fnCall = Function.prototype.call
const uncurry = (fn) => fnCall.bind(fn)
const weakAdd = uncurry(WeakSet.prototype.add)
const weakHas = uncurry(WeakSet.prototype.has)
const split = uncurry(String.prototype.split)
const indexOf = uncurry(String.prototype.indexOf)
const lastIndexOf = uncurry(String.prototype.lastIndexOf)
const codePointAt = uncurry(String.prototype.codePointAt)
const isWellFormed = uncurry(String.prototype.isWellFormed)
const arraySort = uncurry(Array.prototype.sort)
const arrayMap = uncurry(Array.prototype.map)
const arrayFilter = uncurry(Array.prototype.filter)
const arrayIncludes = uncurry(Array.prototype.includes)
const push = uncurry(ArrayPrototype.push)
const join = uncurry(ArrayPrototype.join)
const startsWith = uncurry(String.prototype.startsWith)
const strSlice = uncurry(String.prototype.slice)
const toLowerCase = uncurry(String.prototype.toLowerCase)
const regexTest = uncurry(RegExp.prototype.test)
const mapGet = uncurry(MapCtor.prototype.get)
const mapSet = uncurry(MapCtor.prototype.set)
const mapHas = uncurry(MapCtor.prototype.has)
const mapForEach = uncurry(MapCtor.prototype.forEach)
const promiseThen = uncurry(Promise.prototype.then)
const PromiseCtor = Promise
const promiseResolve = (v) => PromiseCtor.resolve(v)
const dateGetTime = uncurry(DP.getTime)
const dateRealTzOffset = uncurry(DP.getTimezoneOffset)
const dateUTCFullYear = uncurry(DP.getUTCFullYear)
const dateUTCMonth = uncurry(DP.getUTCMonth)
const dateUTCDate = uncurry(DP.getUTCDate)
const dateUTCDay = uncurry(DP.getUTCDay)
const dateUTCHours = uncurry(DP.getUTCHours)
const dateUTCMinutes = uncurry(DP.getUTCMinutes)
const dateUTCSeconds = uncurry(DP.getUTCSeconds)

const MAX_MESSAGE = 4096
const MAX_DEPTH = 512
const HEX64 = /^[0-9a-fA-F]{64}$/

// ---------------------------------------------------------------- mode

// 'init' (module evaluation), 'idle' (between entries), 'call', 'process', 'apply'.
// Everything except 'call' and 'process' is deterministic.
let mode = 'init'
// The open entry: { gen, fast, deferred, closers }, or null.
/** @type {Entry | null} */
let current = null
let generation = 0
const callerListeners = []
/** @type {HostRef | null} */
let host = null
/** @type {HostRef | null} */
let hostSync = null
/** The contract module's namespace, once bound. @type {Record<string, any> | null} */
let ns = null

/** The contract module's namespace (bound before any entry runs). */
function bound () {
  if (ns === null) throw new ErrorCtor('the contract module is not bound yet')
  return ns
}
function deterministic () { return mode !== 'call' && mode !== 'process' }
function modeName () { return mode === 'init' ? 'module initialisation' : mode }

// ---------------------------------------------------------------- PRNG (xoshiro128**)

let s0 = 0
let s1 = 0
let s2 = 0
let s3 = 0
let detNow = 0

function seedPrng (a, b, c, d) {
  s0 = a | 0; s1 = b | 0; s2 = c | 0; s3 = d | 0
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1
}
// In apply the seed is sha256(origin + ':' + seq), computed by the host the first
// time the op draws a number (most ops never do): the text waits here until then.
/** @type {string | null} */
let seedText = null
function seedFromText () {
  const text = seedText
  seedText = null
  const w = pureCall('seed', [text])
  seedPrng(w[0], w[1], w[2], w[3])
}
function rotl (x, k) { return (x << k) | (x >>> (32 - k)) }
function nextU32 () {
  if (seedText !== null) seedFromText()
  const result = MathImul(rotl(MathImul(s1, 5), 7), 9) >>> 0
  const t = s1 << 9
  s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11)
  return result
}
function nextDouble () {
  const hi = nextU32() >>> 5
  const lo = nextU32() >>> 6
  return (hi * 67108864 + lo) / 9007199254740992
}

// ---------------------------------------------------------------- Math.random

ObjectDefineProperty(Math, 'random', {
  value: { random () { return deterministic() ? nextDouble() : realRandom() } }.random,
  writable: true,
  enumerable: false,
  configurable: true
})

// ---------------------------------------------------------------- Date

function now () { return deterministic() ? detNow : realNow() }

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
function pad (n, width) { let s = '' + n; while (s.length < width) s = '0' + s; return s }
function utcDateString (d) {
  const y = dateUTCFullYear(d)
  return DAYS[dateUTCDay(d)] + ' ' + MONTHS[dateUTCMonth(d)] + ' ' + pad(dateUTCDate(d), 2) + ' ' + (y < 0 ? '-' : '') + pad(y < 0 ? -y : y, 4)
}
function utcTimeString (d) {
  return pad(dateUTCHours(d), 2) + ':' + pad(dateUTCMinutes(d), 2) + ':' + pad(dateUTCSeconds(d), 2) + ' GMT+0000 (Coordinated Universal Time)'
}
// biome-ignore lint/suspicious/noSelfCompare: x !== x is NaN, with no global a contract could replace
function isInvalid (d) { const t = dateGetTime(d); return t !== t }

// A date string carries its own offset when it ends in Z / +hh:mm after a time,
// or names GMT/UTC/UT or a US zone; ISO date-only forms are UTC by definition.
const ZONED = /\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:z|[+-]\d\d(?::?\d\d)?)\s*(?:\([^)]*\))?\s*$/i
const NAMED_ZONE = /\b(?:gmt|utc|ut|z|[ecmp][sd]t)\b/i
const DATE_ONLY = /^\s*[+-]?\d{4,6}(?:-\d\d(?:-\d\d)?)?\s*$/
function parseDeterministic (s) {
  const t = realParse(s)
  // biome-ignore lint/suspicious/noSelfCompare: x !== x is NaN, with no global a contract could replace
  if (t !== t) return t
  if (regexTest(ZONED, s) || regexTest(NAMED_ZONE, s) || regexTest(DATE_ONLY, s)) return t
  return t - dateRealTzOffset(new RealDate(t)) * 60000
}

// biome-ignore lint/suspicious/noShadowRestrictedNames: the shim is named Date so that Date.name stays 'Date'
const DateShim = function Date (...args) {
  if (new.target === undefined) return DP.toString.call(new RealDate(now()))
  let d
  const n = args.length
  if (n === 0) d = new RealDate(now())
  else if (!deterministic()) d = new RealDate(.../** @type {[]} */ (args))
  else if (n === 1) d = new RealDate(typeof args[0] === 'string' ? parseDeterministic(args[0]) : args[0])
  else d = new RealDate(realUTC(.../** @type {[number]} */ (args)))
  if (new.target !== DateShim) ObjectSetPrototypeOf(d, new.target.prototype)
  return d
}
ObjectDefineProperty(DateShim, 'length', { value: 7 })
ObjectDefineProperty(DateShim, 'prototype', { value: DP, writable: false, enumerable: false, configurable: false })
ObjectDefineProperty(DP, 'constructor', { value: DateShim, writable: true, enumerable: false, configurable: true })
DateShim.now = { now () { return now() } }.now
DateShim.parse = { parse (s) { return deterministic() ? parseDeterministic(StringCtor(s)) : realParse(s) } }.parse
DateShim.UTC = realUTC
ObjectDefineProperty(G, 'Date', { value: DateShim, writable: true, enumerable: false, configurable: true })

function patchMethod (proto, name, make) {
  const real = proto[name]
  if (typeof real !== 'function') return
  const shim = make(real)
  ObjectDefineProperty(shim, 'name', { value: name })
  ObjectDefineProperty(proto, name, { value: shim, writable: true, enumerable: false, configurable: true })
}

// Local-time Date methods behave as UTC in deterministic modes (the host's time zone must not matter).
const LOCAL_TO_UTC = [
  ['getFullYear', 'getUTCFullYear'], ['getMonth', 'getUTCMonth'], ['getDate', 'getUTCDate'], ['getDay', 'getUTCDay'],
  ['getHours', 'getUTCHours'], ['getMinutes', 'getUTCMinutes'], ['getSeconds', 'getUTCSeconds'], ['getMilliseconds', 'getUTCMilliseconds'],
  ['setFullYear', 'setUTCFullYear'], ['setMonth', 'setUTCMonth'], ['setDate', 'setUTCDate'], ['setHours', 'setUTCHours'],
  ['setMinutes', 'setUTCMinutes'], ['setSeconds', 'setUTCSeconds'], ['setMilliseconds', 'setUTCMilliseconds']
]
for (let i = 0; i < LOCAL_TO_UTC.length; i++) {
  const utc = DP[LOCAL_TO_UTC[i][1]]
  patchMethod(DP, LOCAL_TO_UTC[i][0], (real) => function (...args) { return ReflectApply(deterministic() ? utc : real, this, args) })
}
patchMethod(DP, 'getTimezoneOffset', (real) => function () { return deterministic() ? (isInvalid(this) ? NaN : 0) : ReflectApply(real, this, []) })
patchMethod(DP, 'toString', (real) => function () {
  if (!deterministic()) return ReflectApply(real, this, [])
  return isInvalid(this) ? 'Invalid Date' : utcDateString(this) + ' ' + utcTimeString(this)
})
patchMethod(DP, 'toDateString', (real) => function () {
  if (!deterministic()) return ReflectApply(real, this, [])
  return isInvalid(this) ? 'Invalid Date' : utcDateString(this)
})
patchMethod(DP, 'toTimeString', (real) => function () {
  if (!deterministic()) return ReflectApply(real, this, [])
  return isInvalid(this) ? 'Invalid Date' : utcTimeString(this)
})
for (const name of ['toLocaleString', 'toLocaleDateString', 'toLocaleTimeString']) {
  patchMethod(DP, name, (real) => function (locales, options) {
    if (!deterministic()) return ReflectApply(real, this, [locales, options])
    const opts = { timeZone: 'UTC' }
    if (options !== undefined && options !== null) {
      const keys = ObjectKeys(options)
      for (let i = 0; i < keys.length; i++) opts[keys[i]] = options[keys[i]]
      if (opts.timeZone === undefined) opts.timeZone = 'UTC'
    }
    return ReflectApply(real, this, [locales === undefined ? 'en-US' : locales, opts])
  })
}

// Locale-sensitive methods use 'en-US' instead of the host's default locale in deterministic modes.
function defaultLocale (proto, name, index) {
  patchMethod(proto, name, (real) => function (...args) {
    if (deterministic() && args[index] === undefined) {
      while (args.length <= index) push(args, undefined)
      args[index] = 'en-US'
    }
    return ReflectApply(real, this, args)
  })
}
defaultLocale(String.prototype, 'localeCompare', 1)
defaultLocale(String.prototype, 'toLocaleUpperCase', 0)
defaultLocale(String.prototype, 'toLocaleLowerCase', 0)
defaultLocale(Number.prototype, 'toLocaleString', 0)
defaultLocale(BigInt.prototype, 'toLocaleString', 0)
defaultLocale(ArrayPrototype, 'toLocaleString', 0)

// ---------------------------------------------------------------- GC- and host-dependent globals

function gate (name) {
  const real = G[name]
  if (real === undefined) return
  ObjectDefineProperty(G, name, { get () { return deterministic() ? undefined : real }, enumerable: false, configurable: false })
}
// Patch the prototypes first: the gated globals read as undefined during module initialisation.
if (typeof G.WeakRef === 'function') {
  patchMethod(G.WeakRef.prototype, 'deref', (real) => function () {
    if (deterministic()) throw new ErrorCtor('WeakRef is not available in ' + modeName())
    return ReflectApply(real, this, [])
  })
}
if (typeof G.FinalizationRegistry === 'function') {
  patchMethod(G.FinalizationRegistry.prototype, 'register', (real) => function (...args) {
    if (deterministic()) throw new ErrorCtor('FinalizationRegistry is not available in ' + modeName())
    return ReflectApply(real, this, args)
  })
}
gate('WeakRef')
gate('FinalizationRegistry')
gate('Intl')
// WebAssembly's async compile settles from a background task, and under isolated-vm
// sometimes never: compile synchronously instead, so that an entry's promises all
// settle within the entry.
if (typeof WebAssembly === 'object') {
  const WA = WebAssembly
  const WAModule = WA.Module
  const WAInstance = WA.Instance
  const PromiseCtor = Promise
  const settle = (fn) => new PromiseCtor((resolve) => resolve(fn()))
  ObjectDefineProperty(WA, 'compile', { value: { compile (bytes) { return settle(() => new WAModule(bytes)) } }.compile, writable: true, configurable: true })
  ObjectDefineProperty(WA, 'instantiate', {
    value: { instantiate (source, imports) {
      return settle(() => {
        if (source instanceof WAModule) return new WAInstance(source, imports)
        const module = new WAModule(source)
        return { module, instance: new WAInstance(module, imports) }
      })
    } }.instantiate,
    writable: true,
    configurable: true
  })
  delete /** @type {{ compileStreaming?: unknown }} */ (WA).compileStreaming
  delete /** @type {{ instantiateStreaming?: unknown }} */ (WA).instantiateStreaming
}
// No other thread can wake a waiter, and waitAsync is a timer.
if (typeof Atomics === 'object') {
  delete /** @type {{ wait?: unknown }} */ (Atomics).wait
  delete /** @type {{ waitAsync?: unknown }} */ (Atomics).waitAsync
}

// ---------------------------------------------------------------- JSON values

function describeType (v) {
  if (v === undefined) return 'undefined'
  if (typeof v === 'number') return 'a non-finite number (' + StringCtor(v) + ')'
  if (typeof v === 'function') return 'a function'
  if (typeof v === 'symbol') return 'a symbol'
  if (typeof v === 'bigint') return 'a BigInt'
  try {
    const proto = ObjectGetPrototypeOf(v)
    const ctor = proto && ObjectHasOwn(proto, 'constructor') ? proto.constructor : undefined
    const name = typeof ctor === 'function' && typeof ctor.name === 'string' && ctor.name ? ctor.name : 'a class'
    return 'an instance of ' + name
  } catch {
    return 'not a plain object'
  }
}

function notJson (what, path, v, detail) {
  return new TypeErrorCtor(what + ' is not a JSON value: ' + path + ' is ' + (detail || describeType(v)))
}

// Serialises a JSON value, reading every property exactly once (proxies and getters
// cannot show one value to the check and another to the encoder). Object properties
// whose value is undefined are left out, as JSON.stringify does.
function encode (v, what, path, stack) {
  switch (typeof v) {
    case 'string': return JSONstringify(v)
    case 'boolean': return v ? 'true' : 'false'
    case 'number':
      // biome-ignore lint/suspicious/noSelfCompare: x !== x is NaN, with no global a contract could replace
      if (v !== v || v === Infinity || v === -Infinity) throw notJson(what, path, v)
      return v === 0 ? '0' : '' + v
    case 'object': {
      if (v === null) return 'null'
      for (let i = 0; i < stack.length; i++) if (stack[i] === v) throw notJson(what, path, v, 'a circular reference')
      if (stack.length >= MAX_DEPTH) throw notJson(what, path, v, 'nested too deeply')
      push(stack, v)
      let out
      if (isArray(v)) {
        const parts = []
        const len = v.length
        for (let i = 0; i < len; i++) {
          const el = v[i]
          if (el === undefined) throw notJson(what, path + '[' + i + ']', el, 'undefined (arrays may not hold undefined)')
          push(parts, encode(el, what, path + '[' + i + ']', stack))
        }
        out = '[' + join(parts, ',') + ']'
      } else {
        const proto = ObjectGetPrototypeOf(v)
        if (proto !== ObjectPrototype && proto !== null) throw notJson(what, path, v)
        const keys = ObjectKeys(v)
        const parts = []
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i]
          const el = v[k]
          if (el === undefined) continue
          push(parts, JSONstringify(k) + ':' + encode(el, what, path + '.' + k, stack))
        }
        out = '{' + join(parts, ',') + '}'
      }
      stack.length--
      return out
    }
    default:
      throw notJson(what, path, v)
  }
}

function encodeJson (v, what) { return encode(v, what, '$', []) }

function encodePlainObject (v, what) {
  if (v === null || typeof v !== 'object' || isArray(v)) throw new TypeErrorCtor(what + ' must be a plain JSON object')
  return encode(v, what, '$', [])
}

// ---------------------------------------------------------------- host bridge

// The host answers with 'v' + JSON on success or 'e' + message on refusal. On the
// fast path (entry entered synchronously) the host answers from what it has already
// read for this entry, or '?' when it has not read it yet: the attempt is then
// abandoned (every later host call throws, its result is discarded) and the host
// re-runs the entry once it has the value.
// Long strings cross from the host in pieces of under 1 KiB (see pieces() in
// sandbox/instance.ts): a long one would be an external string the isolate's GC
// does not count. Pieces are copied as values: the fast path's hostSync results are
// asked for with copy, the async path's come copied (applySyncPromise takes no options).
const COPY_RESULT = ObjectFreeze({ result: ObjectFreeze({ copy: true }) })
function text (x) {
  return typeof x === 'string' ? x : join(x, '')
}
/**
 * One request to the host, synchronously on the fast path, blocking on the async one.
 * @param {Entry} e
 * @param {HostOp} op
 * @param {string} arg
 */
function ask (e, op, arg) {
  if (host === null || hostSync === null) throw new ErrorCtor('the runtime is not initialised')
  return text(e.fast ? hostSync.applySync(undefined, [op, arg], COPY_RESULT) : host.applySyncPromise(undefined, [op, arg]))
}
// One shared, frozen error: a deferred attempt is thrown away, so it needs no stack.
const DEFERRED = ObjectFreeze(new ErrorCtor('index read deferred'))
/**
 * @param {Exclude<HostOp, PureOp>} op
 * @param {string} arg
 */
function hostCall (op, arg) {
  const e = current
  if (e === null) throw new ErrorCtor('the index is only readable while a call, process or apply is running')
  if (e.deferred) throw DEFERRED
  const out = ask(e, op, arg)
  if (out === '?') {
    e.deferred = true
    throw DEFERRED
  }
  if (out[0] === 'e') throw new ErrorCtor(strSlice(out, 1))
  return JSONparse(strSlice(out, 1))
}

// Pure host helpers (sha256, signatures, oplog keys, PRNG seeds): deterministic, allowed
// in every mode, never deferred (the host answers them at once on either path).
/**
 * @param {PureOp} op
 * @param {unknown[]} args
 */
function pureCall (op, args) {
  const e = current
  if (e === null) throw new ErrorCtor('util.' + op + ' is only available while a call, process or apply is running')
  const out = ask(e, op, JSONstringify(args))
  if (out[0] === 'e') throw new ErrorCtor(strSlice(out, 1))
  return JSONparse(strSlice(out, 1))
}

// ---------------------------------------------------------------- paths and entries

// Paths as Vitra names them: '/a/b', 'a/b' and '/a/b/' are one entry. The stored key
// is the segments joined by NUL (the same rule as src/format/paths.ts, checked by a test).
const SEP = '\u0000'
const ACKS_KEY = '.sys' + SEP + 'acks' + SEP
const MAX_SERVERS = 16
const MAX_SERVER_URL = 256
const SERVER_URL = /^https?:\/\/[^\s/?#]+\/?$/
function toKey (path, fn) {
  if (typeof path !== 'string') throw new TypeErrorCtor(fn + ': the path must be a string')
  if (indexOf(path, SEP) !== -1) throw new TypeErrorCtor(fn + ': a path may not contain NUL characters')
  if (!isWellFormed(path)) throw new TypeErrorCtor(fn + ': a path must be well-formed Unicode (it holds a lone surrogate)')
  return join(arrayFilter(split(path, '/'), (s) => s !== ''), SEP)
}
function keyToPath (key) { return '/' + join(split(key, SEP), '/') }
function keyName (key) { return strSlice(key, lastIndexOf(key, SEP) + 1) }

// Code point order, which is the UTF-8 byte order Hyperbee sorts keys by.
function compareKeys (a, b) {
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    const x = codePointAt(a, i)
    const y = codePointAt(b, j)
    if (x !== y) return x < y ? -1 : 1
    i += x > 0xffff ? 2 : 1
    j += y > 0xffff ? 2 : 1
  }
  return (a.length - i) - (b.length - j)
}

// Entries (and tx.get's queued actions) are strict records: reading a property they do
// not have, or using one as a number or string, throws. A contract written for the
// value-returning index.get of vitra 0.1 ('(await index.get(k)) + 1', 'entry.pubkey')
// fails with this message instead of computing something else.
const OBJECT_PROTO_NAMES = ObjectFreeze(ObjectGetOwnPropertyNames(ObjectPrototype))
const records = new WeakSetCtor()
function strictRecord (target, what) {
  const names = join(ObjectKeys(target), ', ')
  const misuse = () => new TypeErrorCtor(what + ' is a record { ' + names + ' }, not a value: read its .value (index.get and index.list return entries, as in Vitra)')
  const handler = ObjectFreeze({
    get (t, p, r) {
      if (typeof p === 'symbol') {
        if (p === SymbolToPrimitive) return () => { throw misuse() }
        return ReflectGet(t, p, r)
      }
      if (ObjectHasOwn(t, p) || p === 'then' || p === 'toJSON' || arrayIncludes(OBJECT_PROTO_NAMES, p)) return ReflectGet(t, p, r)
      throw new TypeErrorCtor(what + ' has no property "' + p + '" (it has ' + names + '): read .value for the stored value')
    }
  })
  const proxy = new ProxyCtor(target, handler)
  weakAdd(records, proxy)
  return proxy
}
function isRecord (v) { return v !== null && typeof v === 'object' && weakHas(records, v) }

function makeEntry (key, seq, value, container) {
  const e = { seq, container, name: keyName(key), path: keyToPath(key), value }
  return strictRecord(e, 'an index entry')
}

// ---------------------------------------------------------------- index reads

// While a batch entry runs (batchOpen), the writes of its earlier ops: key → [JSON
// text, seq], or DELETED. Reads look here before asking the host, whose view of the
// index is the one from the start of the batch entry.
/** @type {Map<string, [string, number] | typeof DELETED> | null} */
let overlay = null
const DELETED = ObjectFreeze({})

function readIndex (path) {
  const key = toKey(path, 'index.get')
  if (key === '') return undefined
  const e = readState(key)
  return e === null ? undefined : makeEntry(key, e.seq, e.value, false)
}

// The entry at k ({ seq, value } or null) as the running op sees it, its own pending writes aside.
function readState (k) {
  if (overlay !== null) {
    if (mapHas(overlay, k)) {
      const w = mapGet(overlay, k)
      return w === DELETED ? null : { seq: w[1], value: JSONparse(w[0]) }
    }
    syncForAcks(k)
  }
  return hostCall('get', k)
}

// The acks of the batch's earlier ops are index entries too, but only the host writes
// them: reading one (or listing) after the first op ends the batch entry ('sync').
function syncForAcks (k) {
  if (batchResults !== null && batchResults.length > 0 && startsWith(k, ACKS_KEY)) stopBatch('sync')
}

const LIST_OPTIONS = ['reverse', 'offset', 'limit']
function listItems (dir, opts) {
  // The host cannot merge a batch's own writes (and acks) into a listing: end the batch
  // entry here; the host publishes the ops before this one and runs this one afresh.
  if (batchResults !== null && batchResults.length > 0) stopBatch('sync')
  return hostCall('list', JSONstringify({ dir, opts }))
}
function listIndex (path, opts) {
  const dir = toKey(path === undefined ? '/' : path, 'index.list')
  const clean = {}
  if (opts !== undefined && opts !== null) {
    if (typeof opts !== 'object') throw new TypeErrorCtor('index.list: options must be an object')
    const keys = ObjectKeys(opts)
    for (let i = 0; i < keys.length; i++) {
      if (!arrayIncludes(LIST_OPTIONS, keys[i])) throw new TypeErrorCtor('index.list: unknown option "' + keys[i] + '" (the options are reverse, offset and limit)')
    }
    const reverse = opts.reverse
    if (reverse !== undefined) {
      if (typeof reverse !== 'boolean') throw new TypeErrorCtor('index.list: reverse must be a boolean')
      clean.reverse = reverse
    }
    for (let i = 1; i < LIST_OPTIONS.length; i++) {
      const name = LIST_OPTIONS[i]
      const n = opts[name]
      if (n === undefined) continue
      if (!NumberIsInteger(n) || n < 0) throw new TypeErrorCtor('index.list: ' + name + ' must be a non-negative integer')
      clean[name] = n
    }
  }
  return arrayMap(listItems(dir, clean), (it) => makeEntry(it.key, it.seq, it.value, it.container))
}

// ---------------------------------------------------------------- oplogs

// An oplog as the contract sees it (Vitra's ContractOplog). Its length and entries
// differ between peers, so they can be read in calls only.
function makeOplog (hex) {
  return ObjectFreeze({
    pubkey: hex,
    getLength () {
      if (mode !== 'call') throw new ErrorCtor('oplog.getLength() is not available in ' + modeName() + ' (oplog lengths differ between peers)')
      return PromiseCtor.resolve(hostCall('oplen', hex))
    },
    get (seq) {
      if (mode !== 'call') throw new ErrorCtor('oplog.get() is not available in ' + modeName() + ' (oplog contents differ between peers)')
      if (!NumberIsInteger(seq) || seq < 0) throw new TypeErrorCtor('oplog.get: seq must be a non-negative integer')
      return PromiseCtor.resolve(hostCall('opget', JSONstringify([hex, seq])))
    }
  })
}

// The active participants. In calls, the caller's view; in apply and process, the
// '/.sys/inputs' records of the state the op sees, so that verifiers get the same list.
function listOplogs () {
  if (mode === 'call') return arrayMap(hostCall('oplogs', ''), makeOplog)
  const items = listItems(INPUTS_DIR, {})
  const out = []
  for (let i = 0; i < items.length; i++) {
    const v = items[i].value
    if (v !== null && typeof v === 'object' && v.active === true) push(out, makeOplog(keyName(items[i].key)))
  }
  return out
}

function hex (n) { return pad((n >>> 0).toString(16), 8) }
function uuidFromWords (a, b, c, d) {
  const h = hex(a) + hex(b) + hex(c) + hex(d)
  const variant = '89ab'[parseInt(h[16], 16) & 3]
  return strSlice(h, 0, 8) + '-' + strSlice(h, 8, 12) + '-4' + strSlice(h, 13, 16) + '-' + variant + strSlice(h, 17, 20) + '-' + strSlice(h, 20, 32)
}
function genUUID () {
  if (deterministic()) return uuidFromWords(nextU32(), nextU32(), nextU32(), nextU32())
  return hostCall('uuid', '')
}

/** The functions the guest modules (contract, assert, util) build on. */
export const rt = ObjectFreeze({
  async indexGet (path) { return readIndex(path) },
  async indexList (path, opts) { return listIndex(path, opts) },
  listOplogs () { return listOplogs() },
  oplogOf (hex) { return hex === null ? undefined : makeOplog(hex) },
  genUUID,
  pure (op, args) { return pureCall(op, args) },
  onCaller (fn) { push(callerListeners, fn) }
})

function setCaller (writer, oplog) {
  for (let i = 0; i < callerListeners.length; i++) callerListeners[i](writer, oplog)
}

// ---------------------------------------------------------------- errors

function safeString (v) {
  try { return StringCtor(v) } catch { return 'a value that cannot be printed' }
}
function clip (s) { return s.length > MAX_MESSAGE ? strSlice(s, 0, MAX_MESSAGE) + '...' : s }
function describeError (err) {
  let name = 'Error'
  let message
  let stack = ''
  try {
    if (err !== null && (typeof err === 'object' || typeof err === 'function')) {
      const m = err.message
      message = typeof m === 'string' ? m : safeString(err)
      const n = err.name
      if (typeof n === 'string') name = n
      const s = err.stack
      if (typeof s === 'string') stack = s
    } else {
      message = 'the contract threw ' + (typeof err === 'string' ? err : safeString(err))
      name = 'Thrown'
    }
  } catch {
    message = 'the contract threw a value that cannot be described'
  }
  return '!' + JSONstringify({ name: clip(name), message: clip(message), stack: clip(stack) })
}

// ---------------------------------------------------------------- entries

async function runCall (e, name, paramsJson) {
  const fn = bound()[name]
  if (typeof fn !== 'function' || name === 'apply' || name === 'process') throw new ErrorCtor('the contract has no method ' + name)
  const params = paramsJson === '' ? undefined : JSONparse(paramsJson)
  const ops = []
  let open = true
  push(e.closers, () => { open = false })
  const emit = { emit (op) {
    if (!open) throw new ErrorCtor('emit() was called after ' + name + '() returned')
    push(ops, encodePlainObject(op, 'emit(op): op'))
  } }.emit
  const response = await fn(params, emit)
  open = false
  const head = '{"o":[' + join(ops, ',') + ']'
  if (response === undefined) return head + '}'
  return head + ',"r":' + encodeJson(response, 'the return value of ' + name + '()') + '}'
}

// ---------------------------------------------------------------- batched calls

// runCalls runs several method calls of one caller in one entry, one after the other.
// Each has its own answer: its result, its error ({"x": ...}), or 0 when it needed a
// read the host has not made (the host makes it and runs that call again). Calls only
// read the index, so they cannot see each other. A call waiting for a promise that
// does not settle at once stalls the entry: the host takes the answers so far.
async function runCalls (e, payload) {
  const calls = JSONparse(payload)
  const results = []
  partial = () => callsAnswer(results, 'pending')
  for (let i = 0; i < calls.length; i++) {
    let out
    try {
      out = await runCall(e, calls[i][0], calls[i][1])
    } catch (err) {
      out = e.deferred ? '0' : '{"x":' + strSlice(describeError(err), 1) + '}'
    }
    push(results, e.deferred ? '0' : out)
    e.deferred = false
  }
  return callsAnswer(results, 'done')
}

function callsAnswer (results, stop) {
  return '{"r":[' + join(results, ',') + '],"s":"' + stop + '"}'
}

async function runProcess (_e, opJson) {
  const fn = bound().process
  if (typeof fn !== 'function') return 'null'
  const result = await fn(JSONparse(opJson))
  if (result === undefined) return 'null'
  return encodeJson(result, 'the return value of process()')
}

function writableKey (path, fn) {
  const key = toKey(path, fn)
  if (key === '') throw new TypeErrorCtor(fn + ': cannot write to / (give a path such as /counter)')
  if (key === SYS_KEY || startsWith(key, SYS_KEY + SEP)) throw new ErrorCtor(fn + ': paths under /.sys/ are reserved for the system (use tx.addOplog, tx.removeOplog, tx.setContractSource, tx.setServers or tx.setWitnesses)')
  return key
}
function checkPubkey (arg, fn) {
  const pubkey = arg !== null && typeof arg === 'object' ? arg.pubkey : undefined
  if (typeof pubkey !== 'string' || !regexTest(HEX64, pubkey)) throw new TypeErrorCtor(fn + ': pubkey must be a 64-character hex string')
  return toLowerCase(pubkey)
}

// One Tx per apply, with Vitra's semantics: the actions are queued by path, a later
// put or delete of a path replaces the earlier one, and they become index writes in
// key order. tx.get gives the action queued at a path ({ type: 'put', value } or
// { type: 'del' }), not the index (index.get reads that). Its state lives in private
// fields: the contract gets the object but cannot reach (or forge) the queued actions.
// A queued action: [kind, text], kind 'put' (text: value JSON), 'del', or 'sys' (text: the action JSON).
class Tx {
  #queued = new MapCtor()
  #system = false
  #open = true

  get (path) {
    this.#live('get')
    const key = toKey(path, 'tx.get')
    if (!mapHas(this.#queued, key)) return undefined
    const q = mapGet(this.#queued, key)
    if (q[0] === 'put') return strictRecord({ type: 'put', value: JSONparse(q[1]) }, 'a queued action')
    if (q[0] === 'del') return strictRecord({ type: 'del' }, 'a queued action')
    return strictRecord(JSONparse(q[1]), 'a queued action')
  }

  put (path, value) {
    this.#live('put')
    const key = writableKey(path, 'tx.put')
    if (value === undefined) throw new TypeErrorCtor('tx.put: value is undefined (use tx.delete to remove a path)')
    if (isRecord(value)) throw new TypeErrorCtor('tx.put: the value is an index entry or queued action as index.get, index.list or tx.get return it; store its .value')
    mapSet(this.#queued, key, ['put', encodeJson(value, 'tx.put: value')])
  }

  delete (path) {
    this.#live('delete')
    mapSet(this.#queued, writableKey(path, 'tx.delete'), ['del', ''])
  }

  del (path) { this.delete(path) }

  addOplog (arg) {
    this.#live('addOplog')
    const hex = checkPubkey(arg, 'tx.addOplog')
    this.#system = true
    mapSet(this.#queued, INPUTS_DIR + SEP + hex, ['sys', '{"type":"addOplog","pubkey":"' + hex + '"}'])
  }

  removeOplog (arg) {
    this.#live('removeOplog')
    const hex = checkPubkey(arg, 'tx.removeOplog')
    this.#system = true
    mapSet(this.#queued, INPUTS_DIR + SEP + hex, ['sys', '{"type":"removeOplog","pubkey":"' + hex + '"}'])
  }

  setContractSource (arg) {
    this.#live('setContractSource')
    const code = arg !== null && typeof arg === 'object' ? arg.code : undefined
    if (typeof code !== 'string' || code === '') throw new TypeErrorCtor('tx.setContractSource: code must be a non-empty string')
    this.#system = true
    mapSet(this.#queued, CONTRACT_SOURCE_KEY, ['sys', '{"type":"setContractSource","code":' + JSONstringify(code) + '}'])
  }

  // The database's primary servers: the http(s) URLs where every copy may sync (/.sys/servers).
  setServers (arg) {
    this.#live('setServers')
    const urls = arg !== null && typeof arg === 'object' ? arg.urls : undefined
    if (!isArray(urls) || urls.length > MAX_SERVERS) throw new TypeErrorCtor('tx.setServers: urls must be an array of at most ' + MAX_SERVERS + ' http(s) URLs')
    for (let i = 0; i < urls.length; i++) {
      const u = urls[i]
      if (typeof u !== 'string' || u.length > MAX_SERVER_URL || !regexTest(SERVER_URL, u)) throw new TypeErrorCtor('tx.setServers: ' + safeString(u) + ' is not an http(s)://host[:port] URL of at most ' + MAX_SERVER_URL + ' characters')
    }
    this.#system = true
    mapSet(this.#queued, SERVERS_KEY, ['sys', '{"type":"setServers","urls":' + JSONstringify(urls) + '}'])
  }

  // The witness policy (/.sys/witnesses, whitepaper/witness.md §4): which witnesses cosign
  // the index's checkpoints and how many must. The host checks the policy itself.
  setWitnesses (policy) {
    this.#live('setWitnesses')
    if (policy === null || typeof policy !== 'object' || isArray(policy)) throw new TypeErrorCtor('tx.setWitnesses: the policy is an object { version: 1, quorum, witnesses: [{ key, url? }] }')
    this.#system = true
    mapSet(this.#queued, WITNESSES_KEY, ['sys', '{"type":"setWitnesses","policy":' + JSONstringify(policy) + '}'])
  }

  #live (fn) { if (!this.#open) throw new ErrorCtor('tx.' + fn + '() was called after apply returned') }

  static close (tx) { tx.#open = false }
  // The queued actions in key order: [[key, kind, text], ...].
  static sorted (tx) {
    const keys = []
    mapForEach(tx.#queued, (_v, k) => { push(keys, k) })
    arraySort(keys, compareKeys)
    return arrayMap(keys, (k) => { const q = mapGet(tx.#queued, k); return [k, q[0], q[1]] })
  }
  static system (tx) { return tx.#system }
}
const closeTx = Tx.close
const txSorted = Tx.sorted
const txSystem = Tx.system
delete /** @type {{ close?: unknown }} */ (Tx).close
delete /** @type {{ sorted?: unknown }} */ (Tx).sorted
delete /** @type {{ system?: unknown }} */ (Tx).system
ObjectFreeze(Tx.prototype)
ObjectFreeze(Tx)

// The actions of a closed Tx as the host reads them (JSON array, in key order).
function txResult (tx) {
  const q = txSorted(tx)
  const parts = []
  for (let i = 0; i < q.length; i++) {
    const k = q[i][0]
    const kind = q[i][1]
    const text = q[i][2]
    if (kind === 'put') push(parts, '{"type":"put","key":' + JSONstringify(k) + ',"value":' + text + '}')
    else if (kind === 'del') push(parts, '{"type":"del","key":' + JSONstringify(k) + '}')
    else push(parts, text)
  }
  return '[' + join(parts, ',') + ']'
}

function callApply (tx, op, ack) {
  const a = bound().apply
  if (typeof a === 'function') return a(tx, op, ack)
  if (a === undefined) throw new ErrorCtor('the contract exports no apply, so it cannot apply op ' + safeString(op !== null && typeof op === 'object' ? op.op : op))
  const name = op !== null && typeof op === 'object' && !isArray(op) ? op.op : undefined
  const handler = typeof name === 'string' && ObjectHasOwn(a, name) ? a[name] : undefined
  if (typeof handler !== 'function') throw new ErrorCtor('no apply handler for op ' + safeString(name))
  return ReflectApply(handler, a, [tx, op, ack])
}

async function runApply (e, payload) {
  const args = JSONparse(payload)
  const op = args[0]
  const ack = args[1]
  seedText = ack.origin + ':' + ack.seq
  const tx = ObjectFreeze(new Tx())
  push(e.closers, () => closeTx(tx))
  await callApply(tx, op, ack)
  return txResult(tx)
}

// ---------------------------------------------------------------- batched apply

// A batch entry applies a run of ops as if each had its own entry: every op gets its
// own ack, clock, PRNG seed and Tx, sees the writes of the ops before it (the
// overlay), and fails alone. The host starts the ops one by one (batchStep), each in
// its own synchronous call, so that whatever an op leaves running (a promise it did
// not await) has finished before the next op starts, as between separate entries.
// The ack's height (the index seq its ack gets) follows from the ops before it:
// height + 1 + its number of index changes, where a delete of a key that does not
// exist is no change. The entry ends early (and says why) when an op needs a read
// the host has not made ('read'), lists the index or reads an ack after the first op
// ('sync'), waits for a promise that does not settle at once ('pending'), changes
// the contract or the participants ('system'), or when the host's time slice is up
// ('slice'). The op it stopped at is not part of the answer.
/** @type {Batch | null} */
let batch = null
/** @type {string[] | null} */
let batchResults = null
// While a calls entry runs: its answer so far, for take() when the entry stalls.
/** @type {((e: Entry) => string) | null} */
let partial = null

function stopBatch (why) {
  const e = current
  if (e !== null && e.stop === null) e.stop = why
  if (e !== null) e.deferred = true
  throw DEFERRED
}

// The index changes of an op's queued actions (in key order, see txSorted), given what
// exists before it: [[key, kind, text, seq], ...], where a delete of a path that does
// not exist is no change. 'height' is the seq of the op's ack; its changes follow it.
function changesOf (queued, height) {
  const out = []
  for (let i = 0; i < queued.length; i++) {
    const q = queued[i]
    if (q[1] === 'del') {
      const k = q[0]
      const exists = mapHas(overlay, k) ? mapGet(overlay, k) !== DELETED : hostCall('has', k)
      if (!exists) continue
    }
    push(out, [q[0], q[1], q[2], height + 1 + out.length])
  }
  return out
}

/**
 * Opens a batch entry over the run in payload (JSON: [[op, origin, seq, ts, height|null, metadata], ...]).
 * @type {GuestExports['batchOpen']}
 */
export function batchOpen (payload) {
  const e = openEntry('batch', false, null, 0, true)
  const items = JSONparse(text(payload))
  batch = { e, items, i: 0, height: items[0][4], running: false }
  batchResults = []
  overlay = new MapCtor()
}

/**
 * Reports on the op started last and starts the next one when more is true:
 * 'go' (started), 'done' (no ops left), or why the entry ends ('pending', 'read',
 * 'sync', 'system', 'slice').
 * @type {GuestExports['batchStep']}
 */
export function batchStep (more) {
  const b = batch
  if (b === null || current !== b.e) return 'done'
  const e = b.e
  if (b.running) { if (e.stop === null) e.stop = 'pending'; return e.stop }
  if (e.stop !== null) return e.stop
  if (b.i >= b.items.length) return 'done'
  if (!more) { e.stop = 'slice'; return 'slice' }
  const it = b.items[b.i]
  if (it[4] !== null) b.height = it[4]
  const ack = { origin: it[1], seq: it[2], ts: it[3], metadata: it[5], height: b.height }
  detNow = it[3]
  seedText = it[1] + ':' + it[2]
  const tx = ObjectFreeze(new Tx())
  push(e.closers, () => closeTx(tx))
  b.running = true
  let p
  try { p = promiseResolve(callApply(tx, it[0], ack)) } catch (err) { p = PromiseCtor.reject(err) }
  promiseThen(p, () => finishOp(b, tx, SUCCEEDED), (err) => finishOp(b, tx, err))
  return 'go'
}

// What finishOp gets instead of an error when the op succeeded (a contract may throw anything, null included).
const SUCCEEDED = ObjectFreeze({})

function finishOp (b, tx, err) {
  if (batch !== b) return
  const e = b.e
  b.running = false
  closeTx(tx)
  let out
  let n = 0
  /** @type {Array<[string, string, string, number]> | null} */
  let changes = null
  if (err === SUCCEEDED && !e.deferred) {
    try {
      changes = changesOf(txSorted(tx), b.height)
      n = changes.length
      out = '{"a":' + txResult(tx) + ',"n":' + n + '}'
    } catch (countErr) {
      err = countErr
    }
  }
  if (e.deferred) { if (e.stop === null) e.stop = 'read'; return }
  if (err !== SUCCEEDED) { out = '{"x":' + strSlice(describeError(err), 1) + '}'; n = 0 }
  push(batchResults, out)
  if (err === SUCCEEDED && changes !== null) {
    for (let j = 0; j < changes.length; j++) {
      const c = changes[j]
      mapSet(overlay, c[0], c[1] === 'del' ? DELETED : [c[1] === 'put' ? c[2] : 'null', c[3]])
    }
    if (txSystem(tx)) e.stop = 'system'
  }
  b.height += 1 + n
  b.i++
}

/**
 * The batch entry's answer ({"r": results, "s": why it ended}); closes the entry.
 * @type {GuestExports['batchTake']}
 */
export function batchTake () {
  const b = batch
  if (b === null) return batchAnswer([], 'done')
  const out = batchAnswer(batchResults, b.e.stop === null ? 'done' : b.e.stop)
  b.e.deferred = true
  closeEntry(b.e)
  return out
}

function batchAnswer (results, stop) {
  return '{"r":[' + join(results, ',') + '],"s":"' + stop + '"}'
}

function openEntry (kind, writer, oplog, ts, fast) {
  if (current !== null) closeEntry(current)
  const e = { gen: ++generation, fast, deferred: false, stop: null, closers: [] }
  current = e
  const call = kind === 'call' || kind === 'calls'
  mode = kind === 'batch' ? 'apply' : kind === 'calls' ? 'call' : kind
  if (kind === 'apply') detNow = ts
  setCaller(call ? writer : false, call ? oplog : null)
  return e
}

function closeEntry (e) {
  for (let i = 0; i < e.closers.length; i++) e.closers[i]()
  e.closers.length = 0
  if (current === e) {
    current = null
    mode = 'idle'
    seedText = null
    overlay = null
    batch = null
    batchResults = null
    partial = null
    setCaller(false, null)
  }
}

async function runEntry (e, kind, name, json) {
  try {
    if (kind === 'call') return await runCall(e, name, json)
    if (kind === 'process') return await runProcess(e, json)
    if (kind === 'apply') return await runApply(e, json)
    if (kind === 'calls') return await runCalls(e, json)
    throw new ErrorCtor('unknown entry kind')
  } catch (err) {
    return e.deferred ? '?' : describeError(err)
  } finally {
    closeEntry(e)
  }
}

/**
 * Called once by the host, right after this module is evaluated.
 * @type {GuestExports['init']}
 */
export function init (hostRef, hostSyncRef, a, b, c, d) {
  if (host !== null) throw new ErrorCtor('already initialised')
  // the host's isolated-vm references, as the guest sees them
  host = /** @type {HostRef} */ (hostRef)
  hostSync = /** @type {HostRef} */ (hostSyncRef)
  seedPrng(a, b, c, d)
  detNow = 0
}

/**
 * Called once by the host after the contract module evaluated: records its namespace
 * and describes its exports as JSON.
 * @type {GuestExports['bind']}
 */
export function bind (namespace) {
  if (ns !== null) throw new ErrorCtor('already bound')
  mode = 'idle'
  // a module namespace: its exports by name
  const exports = /** @type {Record<string, any>} */ (namespace)
  ns = exports
  const keys = ObjectKeys(exports)
  const methods = []
  /** @type {string | null} */
  let problem = null
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]
    if (k !== 'apply' && k !== 'process' && typeof exports[k] === 'function') push(methods, k)
  }
  const a = exports.apply
  if (typeof a === 'function') {
    // ok
  } else if (a !== null && typeof a === 'object') {
    const names = ObjectKeys(a)
    for (let i = 0; i < names.length; i++) if (typeof a[names[i]] !== 'function') problem = 'apply.' + names[i] + ' must be a function'
  } else if (a === undefined) {
    // no apply: the contract has methods only; every op it emits fails (no apply handler)
  } else problem = 'the export apply must be a function or an object of functions keyed by op name'
  const p = exports.process
  if (p !== undefined && typeof p !== 'function') problem = 'the export process must be a function'
  return JSONstringify({ methods, hasProcess: typeof p === 'function', problem })
}

/**
 * Async path: one entry, entered with an async apply; host reads block on
 * applySyncPromise. Resolves the result JSON, or '!' + error JSON when the contract
 * failed. Arguments are primitives only.
 * @type {GuestExports['entry']}
 */
export function entry (kind, name, json, writer, oplog, ts) {
  return runEntry(openEntry(kind, writer, oplog, ts, false), kind, name, text(json))
}

// Fast path: begin() starts the entry synchronously; isolated-vm runs the microtasks
// before applySync returns, so take() then finds the result: the result string, '?'
// (a read was deferred: the host reads it and starts again) or '~' (still pending:
// the host calls abort() and uses the async path). A calls entry always answers with
// its results so far (a stalled one says 'pending'). Batch entries have their own
// functions (batchOpen, batchStep, batchTake).
let lastGen = 0
let lastResult = '~'
/** @type {GuestExports['begin']} */
export function begin (kind, name, json, writer, oplog, ts) {
  const e = openEntry(kind, writer, oplog, ts, true)
  lastGen = e.gen
  lastResult = '~'
  promiseThen(runEntry(e, kind, name, text(json)), (out) => {
    if (lastGen === e.gen) lastResult = e.deferred && kind !== 'calls' ? '?' : out
  })
}
/** @type {GuestExports['take']} */
export function take () {
  if (lastResult !== '~' || current === null || current.gen !== lastGen) return lastResult
  if (partial !== null) return partial(current)
  return current.deferred ? '?' : lastResult
}
/** @type {GuestExports['abort']} */
export function abort () {
  if (current !== null) {
    current.deferred = true
    closeEntry(current)
  }
  lastGen = 0
  lastResult = '~'
}
