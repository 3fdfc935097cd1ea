/**
 * Files that are either wholly old or wholly new after a crash: written to a temporary
 * file, flushed to disk, renamed over the target, and the directory flushed, so that a
 * witness never answers with a cosignature its disk does not hold.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'fs'
import { dirname } from 'path'

export function writeFileAtomic (file: string, text: string, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`
  const fd = openSync(tmp, 'w', mode)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
  const dir = openSync(dirname(file), 'r')
  try { fsyncSync(dir) } finally { closeSync(dir) }
}
