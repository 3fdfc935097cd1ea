// The package as a user gets it (issue 36): `npm pack`, then install the tarball into
// a fresh project and use it from there: the CLI (`vitra --help`, init, call, get,
// verify) and the three entry points. The project starts with a copy (hard links) of
// this clone's node_modules, so that npm installs offline and nothing native is
// compiled again; npm itself decides what the tarball needs and removes the rest.
import test from 'brittle'
import { spawnSync, type SpawnSyncReturns } from 'child_process'
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'fs'
import { join } from 'path'
import { fileURLToPath } from 'url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** npm as the test runner was started with (npm test sets npm_execpath), else the one on the PATH. */
function npm (args: string[], cwd: string): SpawnSyncReturns<string> {
  const execpath = process.env.npm_execpath
  const [cmd, argv] = execpath !== undefined && execpath.endsWith('.js') ? [process.execPath, [execpath, ...args]] : ['npm', args]
  return spawnSync(cmd, argv, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, npm_config_update_notifier: 'false' } })
}

function run (cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000 })
}

test('package - npm pack gives a tarball that installs into a fresh project and runs', { timeout: 240_000 }, async t => {
  const tmp = await t.tmp()
  const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT)
  t.is(packed.status, 0, `npm pack ran: ${packed.stderr.slice(-300)}`)
  const info = (JSON.parse(packed.stdout) as Array<{ filename: string, files: Array<{ path: string }> }>)[0]
  const files = info.files.map(f => f.path)
  for (const want of ['bin/vitra.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/proofs/index.js', 'dist/src/compat.js', 'dist/cli/main.js', 'dist/sandbox/instance.js', 'dist/browser/vitra-proofs.js', 'sandbox/guest/runtime.js', 'contracts/counter.js', 'explorer/app.js']) {
    t.ok(files.includes(want), `the tarball holds ${want}`)
  }
  t.alike(files.filter(f => /^(?:dist\/)?(?:test|bench|examples)\/|fixtures/.test(f)), [], 'no tests, benches, examples or fixtures')

  const proj = join(tmp, 'project')
  t.is(run('mkdir', ['-p', proj], tmp).status, 0)
  writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'uses-vitra', version: '1.0.0', private: true, type: 'module' }))
  t.is(run('cp', ['-al', join(ROOT, 'node_modules'), join(proj, 'node_modules')], tmp).status, 0, 'node_modules copied as hard links')
  const installed = npm(['install', join(tmp, info.filename), '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], proj)
  t.is(installed.status, 0, `npm install <tarball> ran: ${installed.stderr.slice(-300)}`)
  t.ok(existsSync(join(proj, 'node_modules', 'vitra', 'dist', 'src', 'index.js')), 'vitra is installed')
  t.absent(existsSync(join(proj, 'node_modules', 'brittle')), 'npm removed what the package does not need (a dev dependency)')

  const bin = join(proj, 'node_modules', '.bin', 'vitra')
  const help = run(bin, ['--help'], proj)
  t.is(help.status, 0, 'vitra --help')
  t.ok(help.stdout.includes('Usage: vitra'), 'it prints the usage')
  copyFileSync(join(ROOT, 'contracts', 'counter.js'), join(proj, 'counter.js'))
  const steps: Array<[string[], RegExp]> = [
    [['init', 'counter.js', '--dir', 'db'], /counter\.js: get, increment/],
    [['call', 'increment', '--dir', 'db'], /ok/],
    [['get', '/counter', '--dir', 'db'], /^1$/m],
    [['verify', '--dir', 'db'], /^Valid/m]
  ]
  for (const [args, want] of steps) {
    const r = run(bin, args, proj)
    t.is(r.status, 0, `vitra ${args.join(' ')}: ${r.stderr.slice(-300)}`)
    t.ok(want.test(r.stdout), `vitra ${args[0]} prints what it did`)
  }

  writeFileSync(join(proj, 'use.mjs'), [
    "const vitra = await import('vitra')",
    "const proofs = await import('vitra/proofs')",
    "const compat = await import('vitra/compat')",
    "const db = await vitra.Database.create(new vitra.StorageInMemory(), { contract: { source: 'export function get () { return 41 + 1 }' } })",
    "const tx = await db.call('get')",
    'await db.close()',
    "console.log(JSON.stringify({ response: tx.response, proofs: typeof proofs.verifyInclusionProof, compat: Object.keys(compat).length > 0 }))"
  ].join('\n'))
  const used = run(process.execPath, ['--no-node-snapshot', 'use.mjs'], proj)
  t.is(used.status, 0, `import('vitra'), 'vitra/proofs', 'vitra/compat': ${used.stderr.slice(-300)}`)
  t.alike(JSON.parse(used.stdout.trim().split('\n').pop() ?? '{}'), { response: 42, proofs: 'function', compat: true }, 'the library works from the installed package')
  t.ok(readFileSync(join(proj, 'node_modules', 'vitra', 'package.json'), 'utf8').includes('"bin"'), 'the installed package.json names the bin')
})
