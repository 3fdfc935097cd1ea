/**
 * The one lifecycle of vitra's resources: ready-resource's (the base Hypercore, Hyperbee
 * and Corestore use: `_open` and `_close` run once however often ready() and close() are
 * called, and close() waits for an open in flight), plus what every resource here needs
 * on top of it, in one place:
 * - `stopping`: true from the moment close() is called. ready-resource's own `closing`
 *   is assigned only once close() returns, after the first synchronous stretch of `_close`
 *   has run, so a resource cannot tell from it that it is stopping.
 * - openOrRelease(): for an `_open` that must release what it opened when it fails
 *   (ready-resource skips `_close` after a failed open).
 * Handles that open and close synchronously (an isolate, a SQLite connection, a
 * download of bounded ranges, a set of event listeners) are not Resources: each has a
 * synchronous, idempotent `close()`, and the Resource that made it closes it.
 * What the process shares between databases has an owner in ./shared.ts.
 * A leaf: it imports ready-resource alone.
 */
import ReadyResource from 'ready-resource'

export class Resource extends ReadyResource {
  /** True once close() was called (or an open failed and released what it opened). */
  protected stopping = false

  override close (): Promise<void> {
    this.stopping = true
    return super.close()
  }

  /** Runs `open`; when it fails, releases what it opened (`_close`) and rethrows. */
  protected async openOrRelease (open: () => Promise<void>): Promise<void> {
    try {
      await open()
    } catch (err) {
      this.stopping = true
      await this._close()
      throw err
    }
  }
}
