/**
 * Corrupt state files, counted (issue #6): seeded mutations of a real state file (bit flips,
 * truncations, random bytes, wrong JSON types). Loading must fail-stop with STATE_CORRUPT or
 * return well-formed state; it must never return null ("no state, start from scratch") for a
 * file that exists, and never throw anything but a SluiceError. Prints
 * `# bad-input corrupt state files: ...`.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { SluiceError } from '../../../pipeline/errors.js'
import { FileStateStore } from '../../../pipeline/state.js'
import { prng } from '../../prng.js'

const SEED = Number(process.env.SLUICE_FUZZ_SEED || 20261121)

test('corrupt state files fail-stop with STATE_CORRUPT, never start over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-state-fuzz-'))
  try {
    const store = new FileStateStore(dir)
    await store.save('p', {
      position: '00000000016B3A08.1.000000000042',
      snapshot: { tables: { 'public.accounts': { rows: 200, estimate: 200, done: true } } },
    })
    const file = join(dir, 'p.json')
    // What save() wrote, with a fixed updatedAt so that a seed replays the same mutations.
    const original = Buffer.from(
      readFileSync(file, 'utf8').replace(/"updatedAt": "[^"]*"/, '"updatedAt": "2026-11-21T00:00:00.000Z"'),
    )
    assert.ok((await store.load('p'))?.position, 'the original state loads')

    // Hand-written: wrong JSON types and shapes.
    const shapes = [
      '',
      ' ',
      'null',
      'true',
      '42',
      '"position"',
      '[]',
      '{}',
      '{"position": 42}',
      '{"position": ""}',
      '{"position": []}',
      '{"position": {"lsn": 1}}',
      '{"position": true}',
      '{"position": "x", "snapshot": null}',
      '{"position": "x", "snapshot": 5}',
      '{"position": "x", "snapshot": {"tables": "all"}}',
      '{"position": "x", "snapshot": {}}',
      '{"position": "x"',
      '{"position": "x"}}',
      '{"position": "x",}',
      "{'position': 'x'}",
      '{"position": "x"}\u0000',
      '\ufeff{"position": "x"}x',
      `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      `{"position": "x", "a": ${'{"a": '.repeat(20_000)}1${'}'.repeat(20_000)}}`,
    ].map((s) => Buffer.from(s, 'utf8'))
    const rand = prng(SEED)
    const mutations: Buffer[] = [...shapes]
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(original)
      const r = rand()
      if (r < 0.3) mutations.push(b.subarray(0, Math.floor(rand() * b.length)))
      else if (r < 0.6) {
        const p = Math.floor(rand() * b.length)
        b[p] = b[p]! ^ (1 << Math.floor(rand() * 8))
        mutations.push(b)
      } else if (r < 0.9) {
        for (let k = 0, n = 1 + Math.floor(rand() * 4); k < n; k++)
          b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256)
        mutations.push(b)
      } else {
        mutations.push(
          Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256))),
        )
      }
    }

    let corrupt = 0
    let wellFormed = 0
    const wrong: string[] = []
    for (const m of mutations) {
      writeFileSync(file, m)
      try {
        const s = await store.load('p')
        if (s === null)
          wrong.push(`null (start over) for ${JSON.stringify(m.toString('latin1').slice(0, 80))}`)
        else if (s.position !== null && (typeof s.position !== 'string' || s.position === ''))
          wrong.push(`malformed position ${JSON.stringify(s.position)} accepted`)
        else wellFormed++
      } catch (err) {
        if (err instanceof SluiceError && err.code === 'STATE_CORRUPT' && err.message.includes(file))
          corrupt++
        else wrong.push(`${(err as Error).name}: ${(err as Error).message.slice(0, 200)}`)
      }
    }
    assert.deepEqual(wrong.slice(0, 20), [], `${wrong.length} corrupt state files mishandled (seed ${SEED})`)
    // Every hand-written shape but none is corrupt; most random mutations are.
    assert.ok(
      corrupt >= shapes.length - 1 && corrupt > mutations.length / 2,
      `${corrupt} of ${mutations.length} rejected`,
    )
    console.log(
      `# bad-input corrupt state files: ${mutations.length} cases (${shapes.length} hand-written shapes, ${mutations.length - shapes.length} seeded mutations), ${corrupt} fail-stop with STATE_CORRUPT, ${wellFormed} still well-formed state, 0 started over, 0 other errors; seed ${SEED}`,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
