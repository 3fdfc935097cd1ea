#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) in its own Node process
// (isolated-vm wants --no-node-snapshot, and a crash in one file must not hide the
// others), reads brittle's TAP, and ends with the line `N passed, N failed`.
// Usage: node --no-node-snapshot test/run.js [--unit] [substring ...]
//   substrings: only files whose path contains one; --unit: only the unit tier (below).
import { spawn } from 'child_process'
import { readdirSync, statSync } from 'fs'
import { join, relative } from 'path'
import { fileURLToPath } from 'url'
import os from 'os'

const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, 'dist', 'test')
// The unit tier (`npm run test:unit`, well under a minute): files that test modules in
// this process, with real Hypercores and isolates but no network, no browser, no CLI
// process and no packing. `npm test` runs these and every other file.
const UNIT = new Set(['schemas', 'protocol', 'import-cycles', 'source-shape', 'replay-step', 'bee-schema', 'error-catalogue',
  'apply-run', 'vectors', 'protocol-v2', 'append-proofs', 'shallow-list', 'log-fork-proof', 'inclusion-proofs', 'range-proofs', 'bee-proofs',
  'holepunch', 'contracts', 'contract-api', 'sandbox', 'sandbox-calls', 'vitra-flows', 'vitra-examples', 'database', 'lifecycle'])
const args = process.argv.slice(2)
const unit = args.includes('--unit')
const filters = args.filter(a => a !== '--unit')
const files = walk(dir).filter(f => f.endsWith('.test.js'))
  .filter(f => !unit || UNIT.has(relative(dir, f).replace(/\.test\.js$/, '')))
  .filter(f => filters.length === 0 || filters.some(s => f.includes(s))).sort()
if (unit && files.length !== UNIT.size) { console.log(`the unit tier names ${UNIT.size} files, ${files.length} found`); process.exit(1) }
const concurrency = Number(process.env.VITRA_TEST_CONCURRENCY || Math.max(1, Math.min(2, os.cpus().length)))
const FILE_TIMEOUT_MS = Number(process.env.VITRA_TEST_FILE_TIMEOUT || 300_000)

let passed = 0
let failed = 0
const queue = files.slice()
const running = []
for (let i = 0; i < concurrency; i++) running.push(worker())
await Promise.all(running)
if (files.length === 0) { console.log('no test files found (did `npm run build` run?)'); failed++ }
console.log(`${passed} passed, ${failed} failed`)
process.exitCode = failed === 0 ? 0 : 1

async function worker () {
  while (queue.length) {
    const file = queue.shift()
    const r = await runFile(file)
    passed += r.passed
    failed += r.failed
    const name = relative(root, file)
    process.stdout.write(`# ${name}: ${r.passed} passed, ${r.failed} failed (${r.ms} ms)\n`)
    if (r.failed > 0 || r.code !== 0) process.stdout.write(indent(r.output) + '\n')
  }
}

function runFile (file) {
  return new Promise(resolve => {
    const start = Date.now()
    const child = spawn(process.execPath, ['--no-node-snapshot', file], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', d => { output += d })
    child.stderr.on('data', d => { output += d })
    const timer = setTimeout(() => { output += `\n[runner] killed after ${FILE_TIMEOUT_MS} ms\n`; child.kill('SIGKILL') }, FILE_TIMEOUT_MS)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let p = 0
      let f = 0
      for (const line of output.split('\n')) {
        if (/^ok \d+/.test(line)) p++
        else if (/^not ok \d+/.test(line)) f++
      }
      if ((code !== 0 || signal) && f === 0) f = 1 // crashed or exited non-zero without a failing assertion line
      if (p === 0 && f === 0) f = 1 // a test file that ran no test is a defect
      resolve({ passed: p, failed: f, code: code ?? 1, output, ms: Date.now() - start })
    })
  })
}

function walk (d) {
  let out = []
  let names = []
  try { names = readdirSync(d) } catch { return out }
  for (const n of names) {
    const p = join(d, n)
    if (statSync(p).isDirectory()) out = out.concat(walk(p))
    else out.push(p)
  }
  return out
}

function indent (s) { return s.split('\n').map(l => '    ' + l).join('\n') }
