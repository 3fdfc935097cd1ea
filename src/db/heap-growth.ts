/**
 * How far V8 lets the JS heap grow before a full GC, for processes that hold a
 * database open (issue 27, measured with `npm run bench:scale`).
 *
 * V8 sets the next full-GC limit at the live heap times a factor that it raises
 * to 4 when collection is cheap, which it is here (a live heap of 15-20 MB). The
 * executor and the replay allocate fast and keep little, so the heap swings up to
 * four times what it holds: at 300,000 ops an executor then verify in one process
 * peaked at 349 MB RSS with V8's default and at 239 MB with a factor of 1.5, for
 * more full GCs (150,000 calls took about 5 % longer; README, "Scale").
 * `--heap-growing-percent` is read each time V8 sets the limit, so setting it
 * while the process runs takes effect.
 *
 * It is a process-wide V8 setting. It is set once, when the first database opens,
 * unless the process was started with its own `--heap-growing-percent` (in its
 * flags or NODE_OPTIONS) or VITRA_HEAP_GROWING_PERCENT says otherwise (a number;
 * 0 leaves V8's own factor).
 */
import v8 from 'v8'
import { InvalidArgumentError } from '../errors/errors.js'

/** Next full GC at 1.5 × the live heap. */
const DEFAULT_PERCENT = 50

let applied = false

/**
 * The percent to set for a process with these flags and environment, or null to
 * leave V8 alone (its own flag given, or VITRA_HEAP_GROWING_PERCENT=0). Throws
 * INVALID_ARGUMENT for a VITRA_HEAP_GROWING_PERCENT that is not an integer 0..1000.
 */
export function heapGrowthPercent (execArgv: readonly string[], env: NodeJS.ProcessEnv): number | null {
  const flag = /--heap[-_]growing[-_]percent/
  if (execArgv.some(a => flag.test(a)) || flag.test(env.NODE_OPTIONS ?? '')) return null
  const given = env.VITRA_HEAP_GROWING_PERCENT
  if (given === undefined || given === '') return DEFAULT_PERCENT
  const percent = Number(given)
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000) {
    throw new InvalidArgumentError(`VITRA_HEAP_GROWING_PERCENT must be an integer from 0 to 1000 (0: V8's own factor), not ${JSON.stringify(given)}`)
  }
  return percent === 0 ? null : percent
}

/** Sets V8's heap growing factor for this process, once (see the module comment). Returns the percent set, or null. */
export function limitHeapGrowth (): number | null {
  if (applied) return null
  const percent = heapGrowthPercent(process.execArgv, process.env) // throws on a bad setting, every time
  applied = true
  if (percent !== null) v8.setFlagsFromString(`--heap-growing-percent=${percent}`)
  return percent
}
