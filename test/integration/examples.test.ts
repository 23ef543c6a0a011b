/**
 * The example pipelines (examples/*.yaml) and the docker-compose stack's pipelines
 * (docker/sluice.yaml), checked by the `sluice validate` command as a user runs it; the
 * file example also runs end to end against a throwaway Postgres.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { exitWithin, REPO_ROOT, runCli, spawnCli } from './helpers/cli.js'
import { tempDir, waitFor } from './helpers/pipeline.js'
import { startPostgres, type PgServer } from './servers/postgres.js'
import { createShop, postgresShop } from '../../scripts/lib/shop.js'

const CANARY = 'canary-Example-7c1d'
const ENV = { PG_PASSWORD: CANARY, MYSQL_PASSWORD: CANARY }
const EXAMPLES = join(REPO_ROOT, 'examples')

const CONFIGS = [
  'examples/postgres-to-file.yaml',
  'examples/postgres-to-kafka.yaml',
  'examples/mysql-to-opensearch.yaml',
  'examples/postgres-to-redis.yaml',
  'docker/sluice.yaml',
]

describe('example configurations', () => {
  test('examples/ holds the four documented pipelines', () => {
    assert.deepEqual(readdirSync(EXAMPLES).sort(), [
      'mysql-to-opensearch.yaml',
      'postgres-to-file.yaml',
      'postgres-to-kafka.yaml',
      'postgres-to-redis.yaml',
    ])
  })

  for (const file of CONFIGS) {
    test(`sluice validate -c ${file} exits 0 with the password variables set, and prints no secret`, async () => {
      const r = await runCli(['validate', '-c', file], { env: ENV })
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, new RegExp(`^ok: ${file.replace('.', '\\.')}: \\d+ pipelines? \\(`))
      assert.ok(!r.stdout.includes(CANARY) && !r.stderr.includes(CANARY), 'the password is not printed')
    })
  }

  test('each example takes its database password from the environment, never from the file', async () => {
    for (const file of CONFIGS) {
      const text = readFileSync(join(REPO_ROOT, file), 'utf8')
      const vars = [...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)].map((m) => m[1]!)
      assert.ok(vars.length > 0, `${file} uses environment variables`)
      for (const url of text.matchAll(/url: ((?:postgres|mysql):\/\/\S+)/g))
        assert.match(url[1]!, /^\w+:\/\/\w+:\$\{(PG|MYSQL)_PASSWORD\}@/, `${file}: password of ${url[1]}`)
      // Without the variables, validation fails naming each one and how to fix it.
      const r = await runCli(['validate', '-c', file], {
        env: { PG_PASSWORD: undefined, MYSQL_PASSWORD: undefined },
      })
      assert.equal(r.code, 1, `${file} without its variables`)
      for (const v of new Set(vars))
        assert.match(r.stderr, new RegExp(`environment variable ${v} is not set; set it`), `${file}: ${v}`)
    }
  })
})

describe('examples/postgres-to-file.yaml end to end', () => {
  let pg: PgServer

  before(async () => {
    pg = await startPostgres()
    await pg.sql('CREATE DATABASE shop')
    const shop = postgresShop(pg.urlFor('shop'))
    try {
      await createShop(shop, 5)
    } finally {
      await shop.close()
    }
    // The README's Postgres setup: a REPLICATION user, SELECT, and a publication.
    await pg.sql(
      `CREATE ROLE sluice LOGIN REPLICATION PASSWORD '${CANARY}';
       GRANT SELECT ON customers, orders TO sluice;
       CREATE PUBLICATION sluice_shop FOR TABLE customers, orders;`,
      [],
      'shop',
    )
  })
  after(async () => {
    await pg?.stop()
  })

  test('snapshots and streams both tables into JSON lines under ./out, then stops on SIGTERM with exit 0', async () => {
    const t = tempDir()
    try {
      // The example as written, pointed at the throwaway server's port, and the admin API
      // at any free port (8080 may be taken on a shared machine).
      const text = readFileSync(join(EXAMPLES, 'postgres-to-file.yaml'), 'utf8')
      const local = text
        .replace('@127.0.0.1:5432/', `@127.0.0.1:${pg.port}/`)
        .replace('port: 8080', 'port: 0')
      assert.notEqual(local, text)
      assert.equal(local.split(`127.0.0.1:${pg.port}`).length, 2, 'exactly one URL changed')
      writeFileSync(join(t.dir, 'sluice.yaml'), local)
      const p = spawnCli(['run', '-c', 'sluice.yaml'], { cwd: t.dir, env: ENV })
      try {
        const lines = (table: string): { op: string; source: { connector: string } }[] => {
          try {
            const dir = join(t.dir, 'out', table)
            return readdirSync(dir)
              .filter((f) => f.endsWith('.jsonl'))
              .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
              .map((l) => JSON.parse(l) as { op: string; source: { connector: string } })
          } catch {
            return []
          }
        }
        await waitFor(
          () => lines('public.customers').length === 5 && lines('public.orders').length === 10,
          60_000,
        )
        await pg.sql("INSERT INTO customers (email, name) VALUES ('late@example.com', 'Late')", [], 'shop')
        await waitFor(() => lines('public.customers').some((e) => e.op === 'c'), 60_000)
        const customers = lines('public.customers')
        assert.deepEqual(
          customers.map((e) => e.op),
          ['r', 'r', 'r', 'r', 'r', 'c'],
        )
        assert.ok(
          customers.every((e) => e.source.connector === 'postgresql'),
          'postgres events',
        )
        p.kill('SIGTERM')
        const { code } = await exitWithin(p, 30_000)
        assert.equal(code, 0, p.stderr())
        assert.ok(
          !p.stderr().includes(CANARY) && !p.stdout().includes(CANARY),
          'the password is never logged',
        )
      } finally {
        p.kill('SIGKILL')
      }
    } finally {
      t.cleanup()
    }
  })
})
