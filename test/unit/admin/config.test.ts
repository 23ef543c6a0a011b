import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfigText } from '../../../config/index.js'

const PIPELINES = `pipelines:
  - name: shop
    source: { type: postgres, url: 'postgres://sluice@db/shop', tables: [public.a] }
    sinks: [{ type: stdout }]
`

describe('config admin block', () => {
  it('defaults to 127.0.0.1:8080 without a token, and is absent unless written', () => {
    assert.equal(parseConfigText(PIPELINES, '/x/sluice.yaml', {}).config.admin, undefined)
    const { config } = parseConfigText(`${PIPELINES}admin: {}\n`, '/x/sluice.yaml', {})
    assert.deepEqual(config.admin, { host: '127.0.0.1', port: 8080 })
  })

  it('takes the token from the environment and treats it as a secret', () => {
    const token = 'env-token-0123456789abcdef'
    const { config, secrets } = parseConfigText(
      `${PIPELINES}admin:\n  port: 0\n  token: \${ADMIN_TOKEN}\n`,
      '/x/sluice.yaml',
      {
        ADMIN_TOKEN: token,
      },
    )
    assert.equal(config.admin?.token, token)
    assert.equal(config.admin?.port, 0)
    assert.ok(secrets.includes(token))
  })

  it('rejects a short token naming the key and the fix, without echoing it', () => {
    assert.throws(
      () => parseConfigText(`${PIPELINES}admin:\n  token: \${T}\n`, '/x/sluice.yaml', { T: 'tooShort1' }),
      (err: Error) => {
        assert.match(
          err.message,
          /sluice\.yaml:\d+:\d+: admin\.token: must be at least 16 characters; generate one with `openssl rand -hex 32`/,
        )
        assert.ok(!err.message.includes('tooShort1'))
        return true
      },
    )
  })
})
