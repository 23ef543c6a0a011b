/**
 * The heap growth setting the CLI applies at start (SLUICE_HEAP_GROWING_PERCENT, see
 * cli/main.ts): a bad value is one clear error before anything else runs; good values and
 * 0 (V8's own heuristics) start normally. The memory effect itself is measured by
 * bench/postgres-to-file.bench.ts (bench/RESULTS.md).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { runCli } from './helpers/cli.js'

describe('SLUICE_HEAP_GROWING_PERCENT', () => {
  for (const bad of ['fifty', '-5', '12.5', '99999']) {
    test(`'${bad}' exits 2 with CONFIG_INVALID naming the variable`, async () => {
      const r = await runCli(['--version'], { env: { SLUICE_HEAP_GROWING_PERCENT: bad } })
      assert.equal(r.code, 2, r.stderr)
      assert.equal(r.stdout, '')
      assert.match(r.stderr, /^error CONFIG_INVALID: SLUICE_HEAP_GROWING_PERCENT is '/)
      assert.ok(r.stderr.includes(`'${bad}'`), r.stderr)
    })
  }

  for (const good of ['0', '30', '']) {
    test(`'${good}' starts normally`, async () => {
      const r = await runCli(['--version'], { env: { SLUICE_HEAP_GROWING_PERCENT: good } })
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /^\d+\.\d+\.\d+/)
    })
  }

  test('--help documents the variable', async () => {
    const r = await runCli(['--help'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /SLUICE_HEAP_GROWING_PERCENT/)
  })
})
