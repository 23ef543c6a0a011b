/**
 * The `sluice` command as a user runs it: a child process (`node --import tsx cli/main.ts`),
 * its exit codes, what it prints, and what it leaves on disk and on the server.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import avro from 'avsc'
import { exitWithin, REPO_ROOT, runCli, spawnCli, type CliProcess } from './helpers/cli.js'
import { readEnvelopes, tempDir, waitFor, type Envelope } from './helpers/pipeline.js'
import { freePort, startPostgres, type PgServer } from './servers/postgres.js'

const CANARY = 'canary-Secret-9f3b'
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version

let pg: PgServer

before(async () => {
  pg = await startPostgres()
  await pg.sql('CREATE DATABASE shop')
  await pg.sql(
    `CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL);
     INSERT INTO accounts SELECT g, 'n' || g FROM generate_series(1, 200) g;
     CREATE ROLE sluice LOGIN REPLICATION PASSWORD '${CANARY}';
     CREATE TABLE ledger (id int PRIMARY KEY, amount int NOT NULL);
     INSERT INTO ledger SELECT g, g FROM generate_series(1, 50) g;
     ALTER TABLE ledger OWNER TO sluice;
     GRANT CREATE ON DATABASE shop TO sluice;`,
    [],
    'shop',
  )
})
after(async () => {
  await pg?.stop()
})

/** The secret in every form it could leak in: raw, URL-encoded, JSON-escaped. */
function assertNoCanary(text: string, where: string): void {
  for (const form of new Set([CANARY, encodeURIComponent(CANARY), JSON.stringify(CANARY).slice(1, -1)])) {
    assert.ok(!text.includes(form), `${where} contains the password:\n${text.slice(0, 3000)}`)
  }
}

/** Stops a `run` the way a service manager does; asserts a clean exit within 10 s. */
async function stopCleanly(p: CliProcess): Promise<void> {
  p.kill('SIGTERM')
  const exit = await exitWithin(p, 10_000)
  assert.equal(exit.code, 0, `SIGTERM exits 0 (signal ${exit.signal}):\n${p.stderr().slice(-3000)}`)
}

const slotExists = async (slot: string): Promise<boolean> =>
  (await pg.sql('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])).length > 0
const publicationExists = async (pub: string): Promise<boolean> =>
  (await pg.sql('SELECT 1 FROM pg_publication WHERE pubname = $1', [pub], 'shop')).length > 0

/** The example configuration, with this server's port. */
const contractYaml = (port: number): string => `pipelines:
  - name: shop
    source:
      type: postgres
      url: postgres://postgres@127.0.0.1:${port}/shop
      tables: [public.accounts]
      slot: sluice_shop
      publication: sluice_shop
      snapshot: initial
    sinks:
      - type: file
        path: ./out
        format: avro
state:
  type: file
  path: ./state
`

describe('sluice command line', () => {
  test('--version prints the package.json version', async () => {
    const r = await runCli(['--version'])
    assert.equal(r.code, 0)
    assert.equal(r.stdout.trim(), VERSION)
  })

  test('--help exits 0 and lists the commands', async () => {
    const r = await runCli(['--help'])
    assert.equal(r.code, 0, r.stderr)
    for (const cmd of ['run', 'validate', 'cleanup', '--version'])
      assert.match(r.stdout, new RegExp(`sluice ${cmd}`))
    assert.match(r.stdout, /-c, --config FILE/)
  })

  test('validate: a good file exits 0 and prints ok', async () => {
    const t = tempDir()
    try {
      const file = join(t.dir, 'sluice.yaml')
      writeFileSync(file, contractYaml(pg.port))
      const r = await runCli(['validate', '-c', file], { cwd: t.dir })
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /^ok\b/)
      assert.match(r.stdout, /shop/)
      assert.equal(r.stderr, '')
    } finally {
      t.cleanup()
    }
  })

  test('validate: a bad file exits 1 listing every problem as file:line:col', async () => {
    const t = tempDir()
    try {
      const file = join(t.dir, 'bad.yaml')
      writeFileSync(
        file,
        [
          'pipelines:', //                          1
          '  - name: shop', //                      2
          '    source:', //                         3
          '      type: postgres', //                4
          '      url: postgres://db/shop', //       5
          '      tables: [public.accounts]', //     6
          '      snapshot: sometimes', //           7  bad enum value
          '      colour: blue', //                  8  unknown key
          '    sinks:', //                          9
          '      - type: file', //                  10
          '        format: avro', //                11 path missing
          'state:', //                              12
          '  type: file', //                        13
          '  path: ./state', //                     14
          '',
        ].join('\n'),
      )
      const r = await runCli(['validate', '-c', file], { cwd: t.dir })
      assert.equal(r.code, 1, r.stdout)
      assert.equal(r.stdout, '', 'problems go to stderr')
      const lines = r.stderr.trim().split('\n')
      assert.ok(lines.length >= 3, `every problem is listed:\n${r.stderr}`)
      for (const l of lines)
        assert.match(l, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `))
      const at = (line: number, what: RegExp): void =>
        assert.ok(
          lines.some((l) => l.startsWith(`${file}:${line}:`) && what.test(l)),
          `a problem at line ${line} matching ${what}:\n${r.stderr}`,
        )
      at(7, /snapshot/)
      at(8, /colour/)
      assert.ok(
        lines.some((l) => /sinks\[0\]/.test(l) && /path/.test(l)),
        `the missing sink path is reported:\n${r.stderr}`,
      )
    } finally {
      t.cleanup()
    }
  })

  test('run: the password from ${PG_PASSWORD} appears nowhere in the output, at debug level and on errors', async () => {
    const t = tempDir()
    const file = join(t.dir, 'sluice.yaml')
    const yaml = (db: string, table: string, port = pg.port): string => `pipelines:
  - name: secrets
    source:
      type: postgres
      url: postgres://sluice:\${PG_PASSWORD}@127.0.0.1:${port}/${db}
      tables: [${table}]
    sinks:
      - type: file
        path: ./out
        format: avro
state:
  type: file
  path: ./state
log:
  level: debug
`
    const env = { PG_PASSWORD: CANARY }
    let p: CliProcess | null = null
    const failing: CliProcess[] = []
    try {
      writeFileSync(file, yaml('shop', 'public.ledger'))
      const v = await runCli(['validate', '-c', file], { cwd: t.dir, env })
      assert.equal(v.code, 0, v.stderr)
      assertNoCanary(v.stdout + v.stderr, 'validate output')

      p = spawnCli(['run', '-c', file], { cwd: t.dir, env })
      await p.waitForOutput('streaming started', 30_000)
      await pg.sql('INSERT INTO ledger VALUES (1000, 7)', [], 'shop')
      const out = join(t.dir, 'out')
      await waitFor(
        async () => (await readEnvelopes(out)).some((e) => e.op === 'c' && e.after?.id === 1000),
        20_000,
        'the streamed insert',
      )
      await stopCleanly(p)
      assertNoCanary(p.stdout() + p.stderr(), 'run output')
      for (const f of readdirSync(join(t.dir, 'state'))) {
        assertNoCanary(readFileSync(join(t.dir, 'state', f), 'utf8'), `state file ${f}`)
      }

      // Error paths that name the connection: an unknown table, an unknown database, a
      // server that is not there.
      const cases: { yaml: string; code: string }[] = [
        { yaml: yaml('shop', 'public.no_such_table'), code: 'PG_TABLE_NOT_FOUND' },
        { yaml: yaml('no_such_db', 'public.ledger'), code: 'PG_DATABASE_NOT_FOUND' },
        { yaml: yaml('shop', 'public.ledger', await freePort()), code: 'PG_CONNECTION_FAILED' },
      ]
      for (const c of cases) {
        writeFileSync(file, c.yaml)
        const e = spawnCli(['run', '-c', file], { cwd: t.dir, env })
        failing.push(e)
        const exit = await exitWithin(e, 20_000)
        assert.equal(exit.code, 1, `the ${c.code} run exits 1`)
        assert.match(e.stderr(), new RegExp(`"level":"error".*"code":"${c.code}"`))
        assertNoCanary(e.stdout() + e.stderr(), `output of the ${c.code} run`)
      }
    } finally {
      p?.kill('SIGKILL')
      for (const e of failing) e.kill('SIGKILL')
      await pg.sql(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'sluice_secrets' AND NOT active`,
      )
      t.cleanup()
    }
  })

  test('run: a server that cannot be reached exits 1 promptly with PG_CONNECTION_FAILED', async () => {
    const t = tempDir()
    try {
      const file = join(t.dir, 'sluice.yaml')
      writeFileSync(file, contractYaml(await freePort()))
      const p = spawnCli(['run', '-c', file], { cwd: t.dir })
      const exit = await exitWithin(p, 10_000)
      assert.equal(exit.code, 1)
      assert.match(p.stderr(), /"code":"PG_CONNECTION_FAILED"/)
    } finally {
      t.cleanup()
    }
  })

  // A preflight failure used to leave the catalog connection open, so `sluice run` logged
  // the error and then never exited.
  test('run: a preflight failure (unknown table) exits 1 within 10 s', async () => {
    const t = tempDir()
    const file = join(t.dir, 'sluice.yaml')
    writeFileSync(file, contractYaml(pg.port).replace('[public.accounts]', '[public.no_such_table]'))
    const p = spawnCli(['run', '-c', file], { cwd: t.dir })
    try {
      await p.waitForOutput('"code":"PG_TABLE_NOT_FOUND"', 20_000)
      const exit = await exitWithin(p, 10_000)
      assert.equal(exit.code, 1)
    } finally {
      p.kill('SIGKILL')
      await p.exited
      t.cleanup()
    }
  })

  test('cleanup refuses while the pipeline runs, then drops the slot, publication and state file', async () => {
    const t = tempDir()
    const file = join(t.dir, 'sluice.yaml')
    writeFileSync(file, contractYaml(pg.port))
    const p = spawnCli(['run', '-c', file], { cwd: t.dir })
    try {
      await p.waitForOutput('streaming started', 30_000)
      const stateFile = join(t.dir, 'state', 'shop.json')
      await waitFor(() => existsSync(stateFile), 10_000, 'the state file')

      const busy = await runCli(['cleanup', '-c', file, 'shop'], { cwd: t.dir })
      assert.equal(busy.code, 1, 'cleanup of a running pipeline fails')
      assert.match(busy.stderr, /sluice_shop/)
      assert.ok(await slotExists('sluice_shop'), 'the running pipeline keeps its slot')

      await stopCleanly(p)
      assert.ok(await slotExists('sluice_shop'))
      assert.ok(await publicationExists('sluice_shop'))
      assert.ok(existsSync(stateFile))

      const r = await runCli(['cleanup', '-c', file, 'shop'], { cwd: t.dir })
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /dropped replication slot sluice_shop/)
      assert.match(r.stdout, /dropped publication sluice_shop/)
      assert.match(r.stdout, /removed state/)
      assert.equal(await slotExists('sluice_shop'), false, 'slot dropped')
      assert.equal(await publicationExists('sluice_shop'), false, 'publication dropped')
      assert.equal(existsSync(stateFile), false, 'state file removed')

      const unknown = await runCli(['cleanup', '-c', file, 'nope'], { cwd: t.dir })
      assert.equal(unknown.code, 1)
      assert.match(unknown.stderr, /no pipeline 'nope'.*pipelines: shop/)
    } finally {
      p.kill('SIGKILL')
      t.cleanup()
    }
  })

  test('the issue-contract config works as written: decodable .avro files whose positions sort in delivery order', async () => {
    const t = tempDir()
    const file = join(t.dir, 'sluice.yaml')
    writeFileSync(file, contractYaml(pg.port))
    const p = spawnCli(['run', '-c', file], { cwd: t.dir })
    try {
      await p.waitForOutput('streaming started', 30_000)
      await pg.sql(
        `INSERT INTO accounts VALUES (201, 'new');
         UPDATE accounts SET name = 'changed' WHERE id = 1;
         DELETE FROM accounts WHERE id = 2;`,
        [],
        'shop',
      )
      const seriesDir = join(t.dir, 'out', 'public.accounts')
      await waitFor(
        async () => (await readEnvelopes(join(t.dir, 'out'))).length >= 203,
        20_000,
        '200 rows + 3 changes',
      )
      await stopCleanly(p)

      const files = readdirSync(seriesDir).sort()
      assert.ok(files.length >= 1)
      for (const f of files) assert.match(f, /^\d{6}\.avro$/)
      // Decode with avsc's own container-file reader, as a consumer would.
      const envelopes: Envelope[] = []
      for (const f of files) {
        await new Promise<void>((resolve, reject) => {
          avro
            .createFileDecoder(join(seriesDir, f))
            .on('data', (e: Envelope) => envelopes.push(e))
            .on('end', () => resolve())
            .on('error', reject)
        })
      }
      assert.equal(envelopes.length, 203, 'exactly the snapshot and the three changes')
      assert.deepEqual(
        envelopes.map((e) => e.op),
        [...Array<string>(200).fill('r'), 'c', 'u', 'd'],
      )
      assert.deepEqual(
        new Set(envelopes.slice(0, 200).map((e) => e.after!.id)),
        new Set(Array.from({ length: 200 }, (_, i) => i + 1)),
      )
      for (const e of envelopes) {
        assert.equal(e.source.connector, 'postgresql')
        assert.equal(e.source.name, 'shop')
        assert.equal(e.source.db, 'shop')
        assert.equal(`${e.source.schema}.${e.source.table}`, 'public.accounts')
      }
      const positions = envelopes.map((e) => e.source.position)
      assert.equal(typeof positions[0], 'string')
      assert.deepEqual([...positions].sort(), positions, 'positions sort in delivery order')
      assert.equal(new Set(positions).size, positions.length, 'positions are unique')
      const state = JSON.parse(readFileSync(join(t.dir, 'state', 'shop.json'), 'utf8')) as {
        position: string
      }
      assert.ok(state.position >= positions.at(-1)!, 'the committed position covers everything delivered')
    } finally {
      p.kill('SIGKILL')
      await p.exited
      await runCli(['cleanup', '-c', file, 'shop'], { cwd: t.dir })
      t.cleanup()
    }
  })
})
