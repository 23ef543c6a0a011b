import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { validateCommand } from '../../../cli/validate.js'

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../fixtures/config/${name}`, import.meta.url))

function capture() {
  let text = ''
  return {
    write: (s: string) => {
      text += s
      return true
    },
    get text() {
      return text
    },
  }
}

describe('sluice validate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-validate-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('prints ok with the pipeline names and returns 0 for a valid file', async () => {
    const out = capture()
    const err = capture()
    const file = fixture('valid-two-pipelines.yaml')
    assert.equal(await validateCommand(file, out, err, {}), 0)
    assert.equal(out.text, `ok: ${file}: 2 pipelines (shop, billing)\n`)
    assert.equal(err.text, '')
  })

  it('prints every problem, one per line as file:line:col: path: message, and returns 1', async () => {
    const out = capture()
    const err = capture()
    const file = fixture('many-problems.yaml')
    assert.equal(await validateCommand(file, out, err, {}), 1)
    assert.equal(out.text, '')
    const lines = err.text.trimEnd().split('\n')
    assert.equal(lines.length, 7)
    for (const line of lines) assert.match(line, /^\/.+many-problems\.yaml:\d+:\d+: [\w.[\]]+: [a-z].+$/)
    assert.equal(lines[0], `${file}:2:11: pipelines[0].name: must be 1 to 64 letters, digits, _ or -`)
  })

  it('never prints an interpolated value, in problems or in the ok line', async () => {
    const env = { PG_PASSWORD: 'hunter2-hunter2', SNAPSHOT_MODE: 'topsecret-mode', NAME: 'classified' }
    const bad = join(dir, 'bad.yaml')
    writeFileSync(
      bad,
      `pipelines:
  - name: \${NAME}
    source:
      type: postgres
      url: postgres://sluice:\${PG_PASSWORD}@db/shop
      tables: [public.orders]
      snapshot: \${SNAPSHOT_MODE}
    sinks: [{ type: stdout }]
  - name: \${NAME}
    source: { type: postgres, url: 'postgres://db/x', tables: [a.b] }
    sinks: [{ type: stdout }]
`,
    )
    const out = capture()
    const err = capture()
    assert.equal(await validateCommand(bad, out, err, env), 1)
    assert.equal(err.text.trimEnd().split('\n').length, 2)
    assert.doesNotMatch(out.text + err.text, /hunter2|topsecret|classified/)

    const good = join(dir, 'good.yaml')
    writeFileSync(
      good,
      `pipelines:
  - name: \${NAME}
    source: { type: postgres, url: 'postgres://sluice:\${PG_PASSWORD}@db/x', tables: [a.b] }
    sinks: [{ type: stdout }]
`,
    )
    const ok = capture()
    assert.equal(await validateCommand(good, ok, capture(), env), 0)
    assert.equal(ok.text, `ok: ${good}: 1 pipeline (***)\n`)
  })

  it('reports an unreadable file and returns 1', async () => {
    const err = capture()
    assert.equal(await validateCommand(join(dir, 'missing.yaml'), capture(), err, {}), 1)
    assert.equal(err.text, `cannot read config file ${join(dir, 'missing.yaml')} (ENOENT); check the path\n`)
  })
})
