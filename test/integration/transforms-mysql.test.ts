import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import mysql from 'mysql2/promise'
import pino from 'pino'
import { buildPipeline } from '../../cli/run.js'
import { parseConfigText } from '../../config/index.js'
import { readStatePosition } from './helpers/crash.js'
import { keyParts } from './helpers/mysql.js'
import { tempDir, waitFor } from './helpers/pipeline.js'
import { grepFiles, readJsonl, readOcf } from './helpers/transforms.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'

let db: MariaServer

before(async () => {
  db = await startMariadb()
  await db.sql('CREATE DATABASE shop')
})
after(async () => {
  await db?.stop()
})

const SECRET = 'maria-mask-secret-5d2c0b'
const hmac = (text: string): string => createHmac('sha256', SECRET).update(text).digest('hex')

type Rec = Record<string, unknown>
const idOf = (e: Rec): unknown => ((e.after ?? e.before ?? e.key) as Rec).id
const valueFields = (schema: { fields: { name: string; type: unknown }[] }): Map<string, unknown> => {
  const value = (schema.fields.find((f) => f.name === 'before')!.type as [string, typeof schema])[1]
  return new Map(value.fields.map((f) => [f.name, f.type]))
}

describe('transforms on a mariadb source', () => {
  test('columns, mask (hash and redact), filter and per-sink unwrap: values, schemas, no leaks, positions advance', async () => {
    await db.sql(
      `CREATE TABLE shop.accounts (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, note VARCHAR(64),
        qty INT, price DECIMAL(10,2), secret_col VARCHAR(40))`,
    )
    const values = Array.from({ length: 10 }, (_, i) => i + 1)
      .map(
        (g) => `(${g}, 'person-${g}', 'note-private-${g}', ${g % 4 === 1 ? 13 : g}, ${g}.25, 'hidden-${g}')`,
      )
      .join(', ')
    await db.sql(`INSERT INTO shop.accounts VALUES ${values}`)
    const t = tempDir()
    const yaml = `pipelines:
  - name: maria
    source:
      type: mysql
      url: ${db.urlFor('shop')}
      tables: [shop.accounts]
      server_id: 5471
    transforms:
      - type: columns
        exclude: [shop.accounts.secret_col]
      - type: mask
        columns: [shop.accounts.note]
        with: hash
        secret: \${MASK_SECRET}
      - type: mask
        columns: ["shop.*.na?e"]
        with: redact
      - type: filter
        drop: "after.qty == 13"
    sinks:
      - type: file
        path: ${join(t.dir, 'jsonl')}
        format: jsonl
      - type: file
        path: ${join(t.dir, 'avro')}
      - type: file
        path: ${join(t.dir, 'flat')}
        transforms: [{ type: unwrap }]
state:
  path: ${join(t.dir, 'state')}
log:
  level: fatal
`
    const { config } = parseConfigText(yaml, join(t.dir, 'sluice.yaml'), { MASK_SECRET: SECRET })
    const runner = buildPipeline(config.pipelines[0]!, config, pino({ level: 'fatal' }))
    const ac = new AbortController()
    const done = runner.run(ac.signal)
    const conn = await mysql.createConnection({ uri: db.urlFor('shop') })
    try {
      await waitFor(() => readJsonl(join(t.dir, 'jsonl')).length >= 7, 30_000, 'snapshot')
      await conn.query('START TRANSACTION')
      await conn.query(
        `INSERT INTO accounts VALUES (11, 'person-11', 'note-private-11', 1, 1.50, 'hidden-11'),
           (12, 'person-12', 'note-private-12', 13, 2.50, 'hidden-12')`,
      )
      await conn.query(`UPDATE accounts SET qty = 13, note = 'note-private-upd' WHERE id = 2`)
      await conn.query(`DELETE FROM accounts WHERE id = 3`)
      await conn.query('COMMIT')
      await waitFor(() => readJsonl(join(t.dir, 'jsonl')).length >= 9, 30_000, 'stream')

      // Everything from here on is filtered: the position must still move past it.
      const [master] = await db.sql<{ File: string; Position: number }>('SHOW MASTER STATUS')
      const seq = Number(/\.(\d+)$/.exec(master!.File)![1])
      await conn.query(`INSERT INTO accounts VALUES (20, 'person-20', 'note-private-20', 13, 1, 'hidden-20')`)
      await conn.query(`UPDATE accounts SET qty = 13, note = 'note-private-last' WHERE id = 4`)
      await waitFor(
        () => {
          const pos = readStatePosition(join(t.dir, 'state'), 'maria')
          if (pos === null) return false
          const k = keyParts(pos)
          return k.phase === '1' && (k.seq > seq || (k.seq === seq && k.offset > Number(master!.Position)))
        },
        30_000,
        'the committed position to pass the filtered transactions',
      )
      ac.abort(new Error('test stop'))
      await done

      const lines = readJsonl(join(t.dir, 'jsonl'))
      assert.deepEqual(
        lines.map((e) => `${String(e.op)}${String(idOf(e))}`),
        ['r2', 'r3', 'r4', 'r6', 'r7', 'r8', 'r10', 'c11', 'd3'],
        'exactly the events with after.qty = 13 are dropped',
      )
      for (const e of lines) {
        const row = (e.after ?? e.before) as Rec
        assert.deepEqual(Object.keys(row), ['id', 'name', 'note', 'qty', 'price'])
        assert.equal(row.note, hmac(`note-private-${String(row.id)}`))
        assert.equal(row.name, null, 'redacted')
        assert.equal(row.price, row.id === 11 ? '1.50' : `${String(row.id)}.25`, 'decimals unchanged')
      }

      const envelopes = await readOcf(join(t.dir, 'avro'))
      assert.deepEqual(
        envelopes.flatMap((f) => f.records).map((e) => `${String(e.op)}${String(idOf(e))}`),
        lines.map((e) => `${String(e.op)}${String(idOf(e))}`),
      )
      for (const f of envelopes) {
        const fields = valueFields(f.schema)
        assert.deepEqual([...fields.keys()], ['id', 'name', 'note', 'qty', 'price'])
        assert.deepEqual(fields.get('note'), ['null', 'string'])
        assert.deepEqual(fields.get('name'), ['null', 'string'], 'redacted to null: nullable string')
      }

      const flat = await readOcf(join(t.dir, 'flat'))
      assert.deepEqual(
        flat[0]!.schema.fields.map((f) => f.name),
        ['id', 'name', 'note', 'qty', 'price', '__op', '__table', '__position', '__deleted'],
      )
      const rows = flat.flatMap((f) => f.records)
      assert.deepEqual(
        rows.map((r) => [r.__op, r.id, r.__table, r.__deleted]),
        lines.map((e) => [e.op, idOf(e), 'accounts', e.op === 'd' ? 'true' : 'false']),
      )
      const deleted = rows.at(-1)!
      assert.equal(
        deleted.note,
        hmac('note-private-3'),
        'the delete carries the masked old row (FULL row image)',
      )
      assert.equal(deleted.qty, 3)

      const originals = [
        ...[...Array.from({ length: 12 }, (_, i) => i + 1), 20].flatMap((g) => [
          `note-private-${g}`,
          `person-${g}`,
          `hidden-${g}`,
        ]),
        'note-private-upd',
        'note-private-last',
        SECRET,
      ]
      const json = JSON.stringify(lines) + JSON.stringify(rows)
      for (const o of originals) assert.ok(!json.includes(`"${o}"`), `${o} appears in the output`)
      assert.deepEqual(grepFiles(t.dir, ['note-private-', 'person-', 'hidden-', SECRET]), [])
    } finally {
      await conn.end()
      ac.abort(new Error('test stop'))
      await done.catch(() => {})
      t.cleanup()
    }
  })
})
