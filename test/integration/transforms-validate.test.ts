import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { runCli } from './helpers/cli.js'
import { tempDir } from './helpers/pipeline.js'

const SECRET = 'validate-secret-canary-41e7'

/** A config whose `transforms:` body (indented by 6) starts on line 8. */
function config(transforms: string): string {
  return `pipelines:
  - name: shop
    source:
      type: postgres
      url: postgres://sluice@127.0.0.1:1/shop
      tables: [public.accounts, public.orders]
    transforms:
${transforms}
    sinks:
      - type: file
        path: ./out
        format: jsonl
`
}

const CONTRACT = `      - type: mask
        columns: [public.accounts.note]
        with: hash
        secret: \${MASK_SECRET}
      - type: filter
        drop: "after.qty == 13"`

async function validate(text: string, env: Record<string, string | undefined> = {}) {
  const t = tempDir()
  try {
    writeFileSync(join(t.dir, 'sluice.yaml'), text)
    return await runCli(['validate', '-c', 'sluice.yaml'], {
      cwd: t.dir,
      env: { MASK_SECRET: undefined, ...env },
    })
  } finally {
    t.cleanup()
  }
}

describe('sluice validate: transforms', () => {
  test('the documented mask + filter config is valid, and the secret is never printed', async () => {
    const r = await validate(config(CONTRACT), { MASK_SECRET: SECRET })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'ok: sluice.yaml: 1 pipeline (shop)\n')
    assert.ok(!(r.stdout + r.stderr).includes(SECRET))
  })

  test('a missing secret is an error at its line', async () => {
    const r = await validate(config(CONTRACT))
    assert.equal(r.code, 1)
    assert.equal(
      r.stderr,
      "sluice.yaml:11:17: pipelines[0].transforms[0].secret: environment variable MASK_SECRET is not set; set it, or give a default with '${MASK_SECRET:-value}'\n",
    )
    const noKey = await validate(config(CONTRACT.replace('        secret: ${MASK_SECRET}\n', '')))
    assert.equal(noKey.code, 1)
    assert.match(
      noKey.stderr,
      /^sluice\.yaml:8:9: pipelines\[0\]\.transforms\[0\]\.secret: with: hash needs a secret/,
    )
  })

  test('a bad expression, a bad glob and a table no source entry captures are errors with file:line, all at once', async () => {
    const r = await validate(
      config(`${CONTRACT.replace('after.qty == 13', 'after.qty = = 13')}
      - type: columns
        exclude: ["public.orders.{a,b"]
      - type: mask
        columns: [public.acounts.note]
        with: redact
      - type: filter
        keep: "after.status != 'draft' and sttus == 1"`),
      { MASK_SECRET: SECRET },
    )
    assert.equal(r.code, 1)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 4, r.stderr)
    assert.match(lines[0]!, /^sluice\.yaml:13:15: pipelines\[0\]\.transforms\[1\]\.drop: expression syntax: /)
    assert.match(
      lines[1]!,
      /^sluice\.yaml:15:19: pipelines\[0\]\.transforms\[2\]\.exclude\[0\]: column pattern/,
    )
    assert.match(
      lines[2]!,
      /^sluice\.yaml:17:19: pipelines\[0\]\.transforms\[3\]\.columns\[0\]: public\.acounts matches none of source\.tables \(public\.accounts, public\.orders\)/,
    )
    assert.match(lines[3]!, /^sluice\.yaml:20:15: pipelines\[0\]\.transforms\[4\]\.keep: unknown name sttus/)
    assert.ok(!r.stderr.includes(SECRET))
  })
})
