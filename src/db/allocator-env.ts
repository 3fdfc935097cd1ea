/**
 * The glibc malloc settings `bin/vitra.js` starts Node with (issue 27; measured with
 * `npm run bench:scale`). They must be in the environment before the process starts,
 * so the library cannot set them for itself; a program that embeds vitra can start
 * Node with them the same way. A value already in the environment wins.
 *
 * - MALLOC_ARENA_MAX=2: glibc gives each thread that mallocs (RocksDB's, libuv's,
 *   V8's, isolated-vm's) an arena of its own, up to 8 per core, and each keeps what was
 *   freed in it. Two arenas hold the same data in less memory.
 * - MALLOC_MMAP_THRESHOLD_=131072: blocks of 128 KiB and more (RocksDB's memtable
 *   blocks, compaction and flush buffers) are mapped on their own and given back to
 *   the system when freed. Without it glibc raises the threshold after the first such
 *   block is freed and serves the next ones from its heap, which then keeps them.
 */
export const ALLOCATOR_ENV: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072'
})
