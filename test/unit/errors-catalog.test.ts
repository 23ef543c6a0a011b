import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

const ROOTS = [
  'pipeline',
  'config',
  'avro',
  'connectors',
  'snapshot',
  'sinks',
  'cli',
  'admin',
  'transforms',
  'decoder',
]

function sources(dir: string, out: string[] = []): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return out
  }
  for (const n of names) {
    const p = join(dir, n)
    if (statSync(p).isDirectory()) sources(p, out)
    else if (n.endsWith('.ts')) out.push(p)
  }
  return out
}

/** Every stable error code constructed in the source tree: `new XError('CODE', ...)`. */
function errorCodes(): Map<string, string> {
  const codes = new Map<string, string>()
  const re = /(?:new\s+\w*Error|super)\(\s*['`]([A-Z][A-Z0-9_]+)['`]/g
  for (const file of ROOTS.flatMap((r) => sources(r))) {
    for (const m of readFileSync(file, 'utf8').matchAll(re)) codes.set(m[1]!, file)
  }
  return codes
}

test('every error code is documented in docs/errors.md', () => {
  const doc = readFileSync('docs/errors.md', 'utf8')
  const codes = errorCodes()
  assert.ok(codes.size >= 20, `expected the scan to find the error codes, found ${codes.size}`)
  const missing = [...codes].filter(([code]) => !doc.includes(`\`${code}\``)).map(([c, f]) => `${c} (${f})`)
  assert.deepEqual(missing, [], 'undocumented error codes')
})
