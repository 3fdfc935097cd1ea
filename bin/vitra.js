#!/usr/bin/env node
// Launcher of the `vitra` command. isolated-vm needs Node's --no-node-snapshot,
// so unless this process already has it, run dist/cli/main.js in a child Node
// with the flag, stdio inherited, and exit with the child's code (or signal).
// Signals sent to the launcher are passed on; if the launcher dies, the child stops.
import { spawn } from 'child_process'
import { existsSync } from 'fs'
import { fileURLToPath } from 'url'

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const args = process.argv.slice(2)

if (!existsSync(main)) {
  const root = fileURLToPath(new URL('..', import.meta.url))
  process.stderr.write(`vitra: not built yet (${main} is missing): run \`npm run build\` in ${root}\n`)
  process.exit(1)
}

if (process.execArgv.includes('--no-node-snapshot')) {
  const { runAsProcess } = await import(main)
  await runAsProcess(args)
} else {
  const { ALLOCATOR_ENV } = await import(new URL('../dist/src/db/allocator-env.js', import.meta.url).href)
  // the IPC channel only tells the child when this launcher is gone (even by SIGKILL): it then stops too
  const child = spawn(process.execPath, ['--no-node-snapshot', ...process.execArgv, main, ...args], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    // glibc's malloc settings (src/db/allocator-env.ts says why); the environment's own values win
    env: { ...ALLOCATOR_ENV, ...process.env, VITRA_LAUNCHER: '1' }
  })
  // Ctrl-C reaches the child through the terminal; a signal sent to this process alone is passed on
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => { if (child.exitCode === null) child.kill(sig) })
  }
  child.on('error', err => {
    process.stderr.write(`vitra: could not start node: ${err.message}\n`)
    process.exit(1)
  })
  child.on('exit', (code, signal) => {
    if (signal !== null) {
      process.removeAllListeners(signal)
      process.kill(process.pid, signal)
    } else {
      process.exit(code ?? 1)
    }
  })
}
