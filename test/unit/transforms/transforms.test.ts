import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import { codecFor } from '../../../avro/codec.js'
import { envelopeToJson } from '../../../avro/json.js'
import { ConfigError, EncodeError } from '../../../pipeline/errors.js'
import type { ChangeEvent } from '../../../pipeline/event.js'
import type { AvroOptions } from '../../../pipeline/source.js'
import { accounts, event, row, transform } from './fixtures.js'

const AVRO: AvroOptions = { types: 'debezium', prefix: 'shop', unsupported: 'fail' }
const hmac = (secret: string, text: string): string => createHmac('sha256', secret).update(text).digest('hex')
const fields = (ev: ChangeEvent): string[] =>
  (codecFor(ev.table, AVRO).valueSchema as { fields: { name: string }[] }).fields.map((f) => f.name)

describe('columns transform', () => {
  it('exclude removes the columns from before, after and the Value schema', () => {
    const t = transform({ type: 'columns', exclude: ['public.accounts.note', 'public.*.qty'] })
    const before = row(1, 'old', 2, 'secret')
    const out = t.apply(event(accounts(), 'u', row(1, 'new', 3, 'secret'), before))!
    assert.deepEqual(Object.keys(out.after!), ['id', 'status', 'price'])
    assert.deepEqual(Object.keys(out.before!), ['id', 'status', 'price'])
    assert.deepEqual(fields(out), ['id', 'status', 'price'])
    assert.equal(out.after!.status, 'new')
  })

  it('include keeps the listed columns plus the key; other tables are untouched', () => {
    const t = transform({ type: 'columns', include: ['public.accounts.status'] })
    const out = t.apply(event(accounts(), 'c', row(1, 'a', 3, 'n')))!
    assert.deepEqual(out.after, { id: 1, status: 'a' })
    const other = event(accounts('orders'), 'c', row(2, 'b', 1))
    assert.equal(t.apply(other), other, 'a table no pattern matches passes unchanged')
  })

  it('derives one schema object per source schema object, and a new one for a new version', () => {
    const t = transform({ type: 'columns', exclude: ['public.accounts.note'] })
    const v1 = accounts()
    const a = t.apply(event(v1, 'c', row(1, 'a', 1)))!
    const b = t.apply(event(v1, 'c', row(2, 'b', 1)))!
    assert.equal(a.table, b.table, 'same derived object: codec caches keep working')
    assert.notEqual(a.table, v1)
    const v2 = accounts('accounts', 2)
    const c = t.apply(event(v2, 'c', row(3, 'c', 1)))!
    assert.notEqual(c.table, a.table)
    assert.equal(c.table.version, 2)
  })

  it('excluding a key column is a clear error naming the transform and the column', () => {
    const t = transform(
      { type: 'columns', exclude: ['public.accounts.i*'] },
      'sluice.yaml:9:9: pipelines[0].transforms[0]',
    )
    assert.throws(
      () => t.apply(event(accounts(), 'c', row(1, 'a', 1))),
      (e: ConfigError) =>
        e.code === 'TRANSFORM_KEY_COLUMN' &&
        /sluice\.yaml:9:9: .*key column id of public\.accounts/.test(e.message),
    )
  })

  it('a literal column the table does not have is TRANSFORM_UNKNOWN_COLUMN with the location', () => {
    const t = transform(
      { type: 'columns', exclude: ['public.accounts.nte'] },
      'sluice.yaml:12:7: pipelines[0].transforms[2]',
    )
    assert.throws(
      () => t.apply(event(accounts(), 'c', row(1, 'a', 1))),
      (e: ConfigError) =>
        e.code === 'TRANSFORM_UNKNOWN_COLUMN' &&
        e.message.startsWith('sluice.yaml:12:7: pipelines[0].transforms[2]') &&
        e.message.includes('nte is not a column of public.accounts'),
    )
  })
})

describe('filter transform', () => {
  it('drop removes exactly the matching events', () => {
    const t = transform({ type: 'filter', drop: 'after.qty == 13' })
    assert.equal(t.apply(event(accounts(), 'c', row(1, 'a', 13))), null)
    assert.ok(t.apply(event(accounts(), 'c', row(2, 'a', 12))))
    assert.ok(t.apply(event(accounts(), 'd', row(3, 'a', 13))), 'a delete has no after: after.qty is null')
  })

  it('keep with single-quoted text, scoped by tables and ops', () => {
    const t = transform({
      type: 'filter',
      tables: ['public.accounts'],
      ops: ['c', 'u'],
      keep: "after.status != 'draft'",
    })
    assert.equal(t.apply(event(accounts(), 'c', row(1, 'draft', 1))), null)
    assert.ok(t.apply(event(accounts(), 'c', row(2, 'final', 1))))
    assert.ok(t.apply(event(accounts(), 'r', row(3, 'draft', 1))), 'op r is outside the scope')
    assert.ok(t.apply(event(accounts('orders'), 'c', row(4, 'draft', 1))), 'other table is outside the scope')
  })

  it('sees op, table, schema and before, with decimals as numbers', () => {
    const t = transform({
      type: 'filter',
      drop: "op == 'u' and table == 'accounts' and schema == 'public' and before.status == 'x' and after.price > 2",
    })
    // price of row 1 is 1.05, of row 5 is 5.05
    assert.equal(t.apply(event(accounts(), 'u', row(5, 'y', 1), row(5, 'x', 1))), null)
    assert.ok(t.apply(event(accounts(), 'u', row(1, 'y', 1), row(1, 'x', 1))))
    assert.ok(t.apply(event(accounts(), 'u', row(5, 'y', 1), null)), 'a missing before reads as null')
  })

  it('null: ordering with null is false, equality with null works', () => {
    const gt = transform({ type: 'filter', drop: 'after.qty > 10' })
    assert.ok(gt.apply(event(accounts(), 'c', row(1, 'a', null))))
    const isNull = transform({ type: 'filter', drop: 'after.note == null' })
    assert.equal(isNull.apply(event(accounts(), 'c', row(1, 'a', 1, null))), null)
    assert.ok(isNull.apply(event(accounts(), 'c', row(1, 'a', 1, 'n'))))
  })

  it('ordering text against a number fails naming the transform and the event', () => {
    const t = transform({ type: 'filter', drop: 'after.status > 3' }, 'f.yaml:3:3: transforms[0]')
    const ev = event(accounts(), 'c', row(1, 'a', 1))
    assert.throws(
      () => t.apply(ev),
      (e: EncodeError) =>
        e.code === 'TRANSFORM_EXPRESSION_FAILED' &&
        e.message.includes(ev.position) &&
        e.message.startsWith('f.yaml:3:3'),
    )
  })

  it('an expression column the table lacks is TRANSFORM_UNKNOWN_COLUMN', () => {
    const t = transform({ type: 'filter', drop: 'after.qtty == 1' })
    assert.throws(
      () => t.apply(event(accounts(), 'c', row(1, 'a', 1))),
      (e: ConfigError) => e.code === 'TRANSFORM_UNKNOWN_COLUMN' && e.message.includes('qtty'),
    )
  })
})

describe('route transform', () => {
  it('sets route on events of the matching tables; later routes override field by field', () => {
    const a = transform({ type: 'route', tables: ['public.acc*'], topic: 'accts.${table}', key: '${id}' })
    const b = transform({ type: 'route', index: 'idx-${schema}', key: 'k:${id}' })
    const out = b.apply(a.apply(event(accounts(), 'c', row(1, 'a', 1)))!)!
    assert.deepEqual(out.route, { topic: 'accts.${table}', key: 'k:${id}', index: 'idx-${schema}' })
    const other = a.apply(event(accounts('orders'), 'c', row(1, 'a', 1)))!
    assert.equal(other.route, undefined)
  })
})

describe('mask transform', () => {
  it('hash: HMAC-SHA-256 hex of the value, column becomes a string, key masked consistently', () => {
    const t = transform({
      type: 'mask',
      columns: ['public.accounts.note', 'public.accounts.id', 'public.accounts.price'],
      with: 'hash',
      secret: 's3cret-key',
    })
    const out = t.apply(event(accounts(), 'u', row(7, 'a', 1, 'private'), row(7, 'a', 1, null)))!
    assert.equal(out.after!.note, hmac('s3cret-key', 'private'))
    assert.equal(out.before!.note, null, 'null stays null')
    assert.equal(out.after!.id, hmac('s3cret-key', '7'))
    assert.equal(out.key!.id, out.after!.id, 'key and row agree')
    assert.equal(out.after!.price, hmac('s3cret-key', '7.05'), 'decimals hash their exact decimal text')
    const codec = codecFor(out.table, AVRO)
    const valueFields = (codec.valueSchema as { fields: { name: string; type: unknown }[] }).fields
    assert.deepEqual(valueFields.find((f) => f.name === 'note')!.type, ['null', 'string'])
    assert.deepEqual(valueFields.find((f) => f.name === 'id')!.type, 'string')
    assert.deepEqual((codec.keySchema as { fields: unknown[] }).fields, [{ name: 'id', type: 'string' }])
    const json = JSON.stringify(envelopeToJson(codec, out))
    assert.ok(!json.includes('private'))
    codec.envelopeType.toBuffer(out) // encodes with the derived schema
  })

  it('redact: null (column turns nullable) or a replacement', () => {
    const nul = transform({ type: 'mask', columns: ['public.accounts.status'], with: 'redact' })
    const a = nul.apply(event(accounts(), 'c', row(1, 'private', 1)))!
    assert.equal(a.after!.status, null)
    assert.equal(a.table.columns.find((c) => c.name === 'status')!.nullable, true)
    codecFor(a.table, AVRO).envelopeType.toBuffer(a)
    const rep = transform({
      type: 'mask',
      columns: ['public.accounts.status'],
      with: 'redact',
      replacement: '***',
    })
    const b = rep.apply(event(accounts(), 'c', row(1, 'private', 1)))!
    assert.equal(b.after!.status, '***')
    assert.equal(b.table.columns.find((c) => c.name === 'status')!.nullable, false)
  })
})

describe('unwrap transform', () => {
  it('emits the flat row with __op, __table, __position, __deleted; deletes use before or the key', () => {
    const t = transform({ type: 'unwrap' })
    const c = t.apply(event(accounts(), 'c', row(1, 'a', 1)))!
    assert.deepEqual(
      { ...c.unwrapped!.row, price: null },
      {
        id: 1,
        status: 'a',
        qty: 1,
        price: null,
        note: null,
        __op: 'c',
        __table: 'accounts',
        __position: c.position,
        __deleted: 'false',
      },
    )
    const d = t.apply(event(accounts(), 'd', row(2, 'b', 1)))!
    assert.equal(d.unwrapped!.row.status, 'b')
    assert.equal(d.unwrapped!.row.__deleted, 'true')
    const noImage: ChangeEvent = { ...event(accounts(), 'd', row(3, 'c', 1)), before: null }
    const d2 = t.apply(noImage)!
    assert.equal(d2.unwrapped!.row.id, 3)
    assert.equal(d2.unwrapped!.row.status, null)
    assert.equal(t.apply(event(accounts(), 't', {})), null, 'truncates are dropped')
    const codec = codecFor(c.unwrapped!.schema, AVRO)
    const valueFields = (codec.valueSchema as { fields: { name: string; type: unknown }[] }).fields
    assert.deepEqual(
      valueFields.map((f) => f.name),
      ['id', 'status', 'qty', 'price', 'note', '__op', '__table', '__position', '__deleted'],
    )
    assert.deepEqual(
      valueFields.find((f) => f.name === 'status')!.type,
      ['null', 'string'],
      'non-key columns nullable',
    )
    assert.equal(valueFields.find((f) => f.name === 'id')!.type, 'int')
  })
})
