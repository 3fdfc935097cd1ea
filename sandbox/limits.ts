import type { SandboxLimits } from './types.js'

/** Limits with every default filled in. */
export interface ResolvedLimits {
  /** Isolate heap limit in MiB. */
  memoryMb: number
  /** CPU time per entry in ms. */
  timeoutMs: number
  /** Wall-clock time per entry in ms. */
  wallTimeoutMs: number
  /** Wall-clock ms after which a run starts no new op. */
  runSliceMs: number
}

/** Default isolate heap limit (MiB). */
export const DEFAULT_MEMORY_MB = 64
/** Default CPU time per entry (ms). */
export const DEFAULT_TIMEOUT_MS = 500
/** Default time slice of a run of ops (ms). */
export const DEFAULT_RUN_SLICE_MS = 4
/** Smallest heap isolated-vm accepts (MiB). */
export const MIN_MEMORY_MB = 8
/** Smallest default wall-clock bound (ms). */
export const MIN_DEFAULT_WALL_MS = 5000

/**
 * Fills in the defaults: 64 MiB, 500 ms CPU, a wall bound of 10 × the CPU limit
 * but at least 5 s (never below the CPU limit), and a run slice of 4 ms. Memory and
 * times are rounded up to whole units (isolated-vm takes integers); the slice is
 * kept as given. Throws RangeError on values that are not positive finite numbers.
 */
export function resolveLimits (limits: SandboxLimits = {}): ResolvedLimits {
  const memoryMb = Math.max(MIN_MEMORY_MB, Math.ceil(positive(limits.memoryMb, DEFAULT_MEMORY_MB, 'memoryMb')))
  const timeoutMs = Math.ceil(positive(limits.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs'))
  const wall = Math.ceil(positive(limits.wallTimeoutMs, Math.max(10 * timeoutMs, MIN_DEFAULT_WALL_MS), 'wallTimeoutMs'))
  const runSliceMs = positive(limits.runSliceMs, DEFAULT_RUN_SLICE_MS, 'runSliceMs')
  return { memoryMb, timeoutMs, wallTimeoutMs: Math.max(wall, timeoutMs), runSliceMs }
}

function positive (value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new RangeError(`limits.${name} must be a positive number`)
  return value
}

/** How often the watchdog looks at a running entry (ms). */
export function watchdogInterval (limits: ResolvedLimits): number {
  return Math.max(5, Math.min(50, Math.floor(limits.timeoutMs / 4)))
}
