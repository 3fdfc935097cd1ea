#!/usr/bin/env node
// The browser build of `vitra/proofs`: one ES module file, dist/browser/vitra-proofs.js,
// bundled by esbuild from the compiled dist/src/proofs/index.js. The Node primitives
// (sodium-native, OpenSSL) are replaced by the pure-JavaScript ones (@noble), and
// `Buffer` comes from the `buffer` package. Run by `npm run build`.
import { build } from 'esbuild'
import { dirname, join } from 'path'
import { fileURLToPath } from 'url'

const root = fileURLToPath(new URL('..', import.meta.url))
const result = await build({
  entryPoints: [join(root, 'dist/src/proofs/index.js')],
  outfile: join(root, 'dist/browser/vitra-proofs.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  metafile: true,
  logLevel: 'warning',
  inject: [join(root, 'scripts/browser-buffer.js')],
  // Node's EventEmitter (hyperbee, streamx) from bare-events, a dependency of theirs
  alias: { events: 'bare-events' },
  plugins: [{
    name: 'noble-primitives',
    setup (b) {
      b.onResolve({ filter: /[\\/]primitives-node\.js$/ }, args => ({ path: join(dirname(args.importer), 'primitives-noble.js') }))
    }
  }]
})
const out = Object.entries(result.metafile.outputs)[0]
console.log(`dist/browser/vitra-proofs.js: ${(out[1].bytes / 1024).toFixed(0)} KiB`)
