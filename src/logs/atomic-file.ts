/**
 * Files replaced whole: written to a temporary file beside the target (named for this
 * process, so that two processes never write the same one) and renamed over it, so a
 * reader sees the old file or the new one, never a part. A failed write leaves no
 * temporary file behind. `durable` also flushes the file and its directory to disk
 * before returning, for state that must survive a crash once an answer depends on it
 * (a witness's cosigned heads).
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'fs'
import { dirname } from 'path'

export function writeFileAtomic (file: string, text: string, opts: { mode?: number, durable?: boolean } = {}): void {
  const tmp = `${file}.${process.pid}.tmp`
  try {
    const fd = openSync(tmp, 'w', opts.mode ?? 0o644)
    try {
      writeSync(fd, text)
      if (opts.durable === true) fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, file)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw err
  }
  if (opts.durable !== true) return
  const dir = openSync(dirname(file), 'r')
  try { fsyncSync(dir) } finally { closeSync(dir) }
}
