import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { interpolateString, type Env } from '../../../config/interpolate.js'

const files: Record<string, string> = {
  '/run/secrets/pg': 'from-file\n',
  '/run/secrets/crlf': 'windows\r\n',
  '/run/secrets/two-newlines': 'kept\n\n',
  '/etc/sluice/relative.txt': 'relative',
}

function readFile(path: string): string {
  const text = files[path]
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' })
  return text
}

const run = (text: string, env: Env = {}) =>
  interpolateString(text, { env, baseDir: '/etc/sluice', readFile })

describe('interpolateString', () => {
  it('substitutes ${VAR} from the environment and records the value as a secret', () => {
    const r = run('postgres://sluice:${PG_PASSWORD}@db/shop', { PG_PASSWORD: 'hunter2' })
    assert.equal(r.value, 'postgres://sluice:hunter2@db/shop')
    assert.deepEqual(r.secrets, ['hunter2'])
    assert.deepEqual(r.problems, [])
    assert.equal(r.whole, false)
  })

  it('uses ${VAR:-default} when the variable is unset or empty, and does not treat the default as secret', () => {
    assert.equal(run('${HOST:-localhost}').value, 'localhost')
    assert.equal(run('${HOST:-localhost}', { HOST: '' }).value, 'localhost')
    assert.equal(run('${HOST:-}').value, '')
    assert.deepEqual(run('${HOST:-localhost}').secrets, [])
    const set = run('${HOST:-localhost}', { HOST: 'db.internal' })
    assert.equal(set.value, 'db.internal')
    assert.deepEqual(set.secrets, ['db.internal'])
  })

  it('keeps an empty variable set without a default as an empty string, not a secret', () => {
    const r = run('[${EMPTY}]', { EMPTY: '' })
    assert.equal(r.value, '[]')
    assert.deepEqual(r.secrets, [])
    assert.deepEqual(r.problems, [])
  })

  it('reports a missing variable by name, with the default form as the fix', () => {
    const r = run('postgres://sluice:${PG_PASSWORD}@db/shop')
    assert.deepEqual(r.problems, [
      "environment variable PG_PASSWORD is not set; set it, or give a default with '${PG_PASSWORD:-value}'",
    ])
  })

  it('reads ${file:/path} and trims exactly one trailing newline', () => {
    assert.equal(run('${file:/run/secrets/pg}').value, 'from-file')
    assert.equal(run('${file:/run/secrets/crlf}').value, 'windows')
    assert.equal(run('${file:/run/secrets/two-newlines}').value, 'kept\n')
    assert.deepEqual(run('${file:/run/secrets/pg}').secrets, ['from-file'])
  })

  it('resolves a relative ${file:...} against the config file directory', () => {
    assert.equal(run('${file:relative.txt}').value, 'relative')
  })

  it('names the path of an unreadable secret file', () => {
    assert.deepEqual(run('${file:/run/secrets/missing}').problems, [
      'cannot read secret file /run/secrets/missing (ENOENT); check the path and its permissions',
    ])
  })

  it('writes $${ as a literal ${ without interpolating what follows', () => {
    const r = run('cost: $${PRICE} and ${schema}', { PRICE: '3' })
    assert.equal(r.value, 'cost: ${PRICE} and ${schema}')
    assert.deepEqual(r.secrets, [])
  })

  it('leaves lower-case and mixed-case placeholders for per-event filling', () => {
    const text = 'shop.${schema}.${table}.${key}.${prefix}.${customer_id}.${OrderId}.${file}'
    const r = run(text)
    assert.equal(r.value, text)
    assert.deepEqual(r.problems, [])
  })

  it('rejects default syntax typos instead of passing them to a sink', () => {
    assert.deepEqual(run('${PORT:8080}').problems, [
      "unsupported '${PORT:8080}'; write '${NAME}' or '${NAME:-default}' (or '$${' for a literal '${')",
    ])
    assert.equal(run('${PORT-8080}').problems.length, 1)
  })

  it('reports an unterminated ${', () => {
    assert.deepEqual(run('topic.${table').problems, [
      "unterminated '${'; close it with '}', or write '$${' for a literal '${'",
    ])
  })

  it('marks a value that is exactly one substitution as whole', () => {
    assert.equal(run('${PORT}', { PORT: '8080' }).whole, true)
    assert.equal(run('${PORT:-8080}').whole, true)
    assert.equal(run('${file:/run/secrets/pg}').whole, true)
    assert.equal(run(' ${PORT}', { PORT: '8080' }).whole, false)
    assert.equal(run('${A}${B}', { A: '1', B: '2' }).whole, false)
    assert.equal(run('${table}').whole, false)
  })

  it('collects every secret of a string', () => {
    const r = run('${USER}:${PASS}@${HOST:-db}', { USER: 'sluice', PASS: 'pw' })
    assert.equal(r.value, 'sluice:pw@db')
    assert.deepEqual(r.secrets, ['sluice', 'pw'])
  })
})
