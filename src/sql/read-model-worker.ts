/**
 * The worker thread that owns a read model's SQLite file (read-model-store.ts).
 * Messages from read-model.ts, answered in order:
 *   { kind: 'apply', entries, ops, end } → { kind: 'applied', end }
 *   { kind: 'bulk', on }                 → { kind: 'done' }
 *   { kind: 'close' }                    → { kind: 'closed' }
 * and at start { kind: 'ready', length }; any failure → { kind: 'error', message }.
 */
import { parentPort, workerData } from 'worker_threads'
import { ReadModelStore } from './read-model-store.js'

const port = parentPort
if (port === null) throw new Error('read-model-worker.js runs as a worker thread')
const { file, key } = workerData as { file: string, key: string }

let store: ReadModelStore | null = null
try {
  store = new ReadModelStore(file, key)
  port.postMessage({ kind: 'ready', length: store.length })
} catch (err) {
  port.postMessage({ kind: 'error', message: (err as Error).message })
}

port.on('message', (m: { kind: string, entries?: never, ops?: never, end?: number, on?: boolean }) => {
  try {
    if (store === null) throw new Error('the read model did not open')
    if (m.kind === 'apply') {
      store.applyChunk(m.entries as never, m.ops as never, m.end as number)
      port.postMessage({ kind: 'applied', end: m.end })
    } else if (m.kind === 'bulk') {
      if (m.on === true) store.beginBulk()
      else store.endBulk()
      port.postMessage({ kind: 'done' })
    } else if (m.kind === 'close') {
      store.close()
      store = null
      port.postMessage({ kind: 'closed' })
      port.close()
    }
  } catch (err) {
    port.postMessage({ kind: 'error', message: (err as Error).message })
  }
})
