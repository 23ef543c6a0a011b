// Runs the node:test suites through tsx. `node scripts/test.mjs [unit|integration]`.
// Node 20's --test does not expand globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

const which = process.argv[2]
const roots = which ? [join('test', which)] : ['test/unit', 'test/integration']
const files = []
const walk = (dir) => {
  let names
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const name of names.sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p)
    else if (name.endsWith('.test.ts')) files.push(p)
  }
}
roots.forEach(walk)
if (files.length === 0) {
  console.error('no test files found under', roots.join(', '))
  process.exit(1)
}
const args = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files]
const r = spawnSync(process.execPath, args, { stdio: 'inherit' })
process.exit(r.status ?? 1)
