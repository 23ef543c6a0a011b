import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createRedactor, redactValue } from '../../../admin/redact.js'

describe('admin redaction', () => {
  const secret = 'p@ss "word"/x'
  const redact = createRedactor([secret, 'ab'])

  it('masks a secret as written, JSON-escaped and URL-encoded', () => {
    for (const form of [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]) {
      const out = redact(`before ${form} after`)
      assert.equal(out, 'before *** after', form)
    }
  })

  it('masks the password of any URL with credentials, even one it was not told about', () => {
    assert.equal(
      redact('cannot reach postgres://sluice:hunter22@db:5432/shop now'),
      'cannot reach postgres://sluice:***@db:5432/shop now',
    )
    assert.equal(redact('see http://example.com:8080/x'), 'see http://example.com:8080/x')
  })

  it('leaves secrets shorter than 3 characters alone rather than garbling text', () => {
    assert.equal(redact('tables: abc'), 'tables: abc')
  })

  it('redacts string values inside objects and keeps keys and numbers', () => {
    const v = redactValue({ state: 'failed', n: 3, e: { message: `x ${secret} y`, list: [secret] } }, redact)
    assert.deepEqual(v, { state: 'failed', n: 3, e: { message: 'x *** y', list: ['***'] } })
  })
})
