import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { SinkError } from '../../../../pipeline/errors.js'
import {
  IncompatibleSchemaError,
  RegistryClient,
  writeWireHeader,
} from '../../../../sinks/kafka/registry-client.js'
import { startRegistry, type RegistryServer } from '../../../integration/servers/registry-fake.js'

const v1 = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'int' }] })
const v2 = JSON.stringify({
  type: 'record',
  name: 'R',
  fields: [
    { name: 'a', type: 'int' },
    { name: 'b', type: ['null', 'string'], default: null },
  ],
})
const v3 = JSON.stringify({
  type: 'record',
  name: 'R',
  fields: [
    { name: 'a', type: 'int' },
    { name: 'c', type: 'long' },
  ],
})

describe('schema registry client', () => {
  let reg: RegistryServer
  before(async () => {
    // Always the fake here: the test inspects its state.
    reg = await startRegistry({ auth: { user: 'u', password: 'p@ss' }, fake: true })
  })
  after(() => reg.stop())

  it('takes basic-auth credentials from the URL and never keeps them in its printable URL', async () => {
    const c = new RegistryClient({ url: reg.url.replace('http://', 'http://u:p%40ss@') })
    assert.equal(c.url, reg.url)
    const id = await c.register('t-value', v1)
    assert.equal(reg.authHeaders.at(-1), 'Basic ' + Buffer.from('u:p@ss').toString('base64'))
    assert.equal(await c.schemaById(id), v1)
  })

  it('caches ids: registering the same schema again makes no request', async () => {
    const c = new RegistryClient({ url: reg.url, username: 'u', password: 'p@ss' })
    const before = reg.registrations.get('cache-value') ?? 0
    const a = await c.register('cache-value', v1)
    const b = await c.register('cache-value', v1)
    assert.equal(a, b)
    assert.equal(reg.registrations.get('cache-value'), before + 1)
  })

  it('a nullable field added is a new version; a required field added is a 409', async () => {
    const c = new RegistryClient({ url: reg.url, username: 'u', password: 'p@ss' })
    await c.register('evo-value', v1)
    const id2 = await c.register('evo-value', v2)
    assert.equal((await c.latest('evo-value'))?.id, id2)
    assert.equal((await c.latest('evo-value'))?.version, 2)
    await assert.rejects(c.register('evo-value', v3), (e: unknown) => e instanceof IncompatibleSchemaError)
    assert.equal(await c.latest('missing-subject'), null)
  })

  it('a wrong password is KAFKA_REGISTRY_AUTH, not retriable, without the password', async () => {
    const c = new RegistryClient({ url: reg.url, username: 'u', password: 'wrong-secret' })
    await assert.rejects(
      c.register('x-value', v1),
      (e: unknown) =>
        e instanceof SinkError &&
        e.code === 'KAFKA_REGISTRY_AUTH' &&
        !e.retriable &&
        !e.message.includes('wrong-secret'),
    )
  })

  it('an unreachable registry is retriable KAFKA_REGISTRY_FAILED', async () => {
    const c = new RegistryClient({ url: 'http://127.0.0.1:1', timeoutMs: 2000 })
    await assert.rejects(
      c.register('x-value', v1),
      (e: unknown) => e instanceof SinkError && e.code === 'KAFKA_REGISTRY_FAILED' && e.retriable,
    )
  })

  it('writes the Confluent header: magic 0 and the id big-endian', () => {
    const b = Buffer.alloc(5)
    assert.equal(writeWireHeader(b, 0, 0x01020304), 5)
    assert.deepEqual([...b], [0, 1, 2, 3, 4])
  })
})
