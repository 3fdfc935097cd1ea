/**
 * Deadlines for waits on peers. Every place in this package that waits for a peer to
 * send something (a newer head, a block, a download) waits through this module, so
 * that no verifier, monitor, loader or sync ever waits forever. On expiry the wait
 * fails with CouldNotVerifyError (code COULD_NOT_VERIFY, exit 4 in the CLI): "no
 * peer served it in time" is never a verdict of fraud.
 *
 * Hypercore's own `get(…, { timeout })` and a session's `timeout` bound block reads
 * (they fail with REQUEST_TIMEOUT, which `isPeerTimeout` recognises); `update({ wait })`
 * and `download().done()` have no timeout of their own: `updateWithin` and
 * `downloadWithin` give them one. A download's deadline is on progress: it expires
 * when no block arrived for `ms`, so a long history that keeps coming is never cut off.
 *
 * Which deadline applies where: whitepaper/verification.md §5.
 */
import type Hypercore from 'hypercore'
import { CouldNotVerifyError } from '../errors/errors.js'

/** The default for a wait on peers (`timeout` of create/load, `--timeout` in the CLI). */
export const DEFAULT_PEER_WAIT_MS = 15_000

/** Whether `err` is a block read that gave up waiting for a peer (Hypercore's REQUEST_TIMEOUT, or ours). */
export function isPeerTimeout (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === 'REQUEST_TIMEOUT' || code === 'COULD_NOT_VERIFY'
}

/** What a wait is for, said in the error when it expires ("the index head", "block 7 of …"). */
export interface PeerWait {
  /** Milliseconds (a positive integer). */
  ms: number
  /** What was waited for, for the error message. */
  what: string
  /** Restart the deadline whenever this core downloads a block (a wait on progress). */
  progress?: Hypercore
}

/**
 * `p`, or CouldNotVerifyError once `wait.ms` pass first (with `wait.progress`: pass
 * without a block downloaded). A REQUEST_TIMEOUT rejection of `p` becomes the same
 * error; other rejections pass through. `p` is not cancelled: a caller that can
 * cancel it (a download) does so on expiry.
 */
export async function withinDeadline<T> (p: Promise<T>, wait: PeerWait): Promise<T> {
  p.catch(() => {}) // abandoned on expiry: its late failure has nobody to report to
  let timer: NodeJS.Timeout | null = null
  let rejectLate: (err: Error) => void = () => {}
  const expired = new Promise<never>((_resolve, reject) => { rejectLate = reject })
  const arm = (): void => {
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(() => rejectLate(expiry(wait)), wait.ms)
  }
  const onDownload = (): void => arm()
  arm()
  wait.progress?.on('download', onDownload)
  try {
    return await Promise.race([p, expired])
  } catch (err) {
    if ((err as { code?: unknown }).code === 'REQUEST_TIMEOUT') throw expiry(wait, err as Error)
    throw err
  } finally {
    if (timer !== null) clearTimeout(timer)
    wait.progress?.off('download', onDownload)
  }
}

/** `core.update({ wait: true })` (a newer head from the peers), within `wait.ms`. */
export async function updateWithin (core: Hypercore, wait: PeerWait): Promise<boolean> {
  return await withinDeadline(core.update({ wait: true }) as Promise<boolean>, wait)
}

/** Download blocks [start, end) of `core`; fails when no block arrived for `wait.ms` (the download is then stopped). */
export async function downloadWithin (core: Hypercore, start: number, end: number, wait: Omit<PeerWait, 'progress'>): Promise<void> {
  if (end <= start) return
  const range = core.download({ start, end })
  try {
    await withinDeadline(range.done() as Promise<void>, { ...wait, progress: core })
  } catch (err) {
    range.destroy()
    throw err
  }
}

function expiry (wait: PeerWait, cause?: Error): CouldNotVerifyError {
  const how = wait.progress === undefined ? `within ${wait.ms} ms` : `for ${wait.ms} ms in a row`
  return new CouldNotVerifyError(`No peer served ${wait.what} ${how}`, { waitedMs: wait.ms, ...(cause === undefined ? {} : { cause: cause.message }) })
}
