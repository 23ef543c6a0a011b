/**
 * Bad input, tried and counted (issue #6): malformed configurations through the real
 * `sluice validate` and `sluice run` commands, and hostile identifiers captured end to end
 * from real Postgres and MariaDB servers. Corrupt bytes (decoders, state files) are in
 * test/unit/connectors/fuzz-decoders.test.ts and test/unit/pipeline/fuzz-state.test.ts.
 *
 * Each group asserts its invariants and prints its count as `# bad-input <group>: ...`.
 */
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { exitWithin, runCli, spawnCli, type CliProcess } from './helpers/cli.js'
import { readEnvelopes, tempDir, waitFor, type Envelope } from './helpers/pipeline.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'
import { startPostgres, type PgServer } from './servers/postgres.js'

/** The password every configuration interpolates from the environment; it must never be printed. */
const CANARY = 'canary-Pw-7d1e0c'
/** The same secret read from a file with `${file:...}`. */
const FILE_CANARY = 'canary-File-52ab9e'

function assertNoCanary(text: string, where: string): void {
  for (const secret of [CANARY, FILE_CANARY]) {
    for (const form of new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])) {
      assert.ok(!text.includes(form), `${where} contains a secret:\n${text.slice(0, 3000)}`)
    }
  }
}

// ---- malformed configurations ------------------------------------------------------------

/** A valid pipeline; variants break one thing each. The URL's host is never contacted. */
const SOURCE = `    source:
      type: postgres
      url: postgres://sluice:\${PG_PASSWORD}@127.0.0.1:1/shop
      tables: [public.accounts]`
const SINKS = `    sinks:
      - type: file
        path: ./out
        format: avro`
const TAIL = `state:
  type: file
  path: ./state
`
const valid = (extraPipeline = '', extraRoot = ''): string =>
  `pipelines:\n  - name: shop\n${SOURCE}\n${SINKS}\n${extraPipeline}${TAIL}${extraRoot}`

interface ConfigCase {
  name: string
  /** The file's content (or a Buffer), or null for no file at all. */
  text: string | Buffer | null
  /** What the message must name: the key, the problem or the file. */
  expect: RegExp
  /** Use the config path as a directory instead of a file. */
  directory?: boolean
}

/** `depth` nested flow sequences: a stack-depth attack on the parser. */
const nested = (depth: number): string => `pipelines: ${'['.repeat(depth)}${']'.repeat(depth)}\n`

const CONFIG_CASES: ConfigCase[] = [
  // YAML itself
  {
    name: 'unclosed flow sequence',
    text: valid().replace('[public.accounts]', '[public.accounts'),
    expect: /yaml|flow/i,
  },
  {
    name: 'tab indentation',
    text: valid().replace('      type: postgres', '\t\ttype: postgres'),
    expect: /tab/i,
  },
  {
    name: 'duplicate key',
    text: valid().replace('      type: postgres', '      type: postgres\n      type: mysql'),
    expect: /duplicate key 'type'/,
  },
  { name: 'two documents', text: `${valid()}---\n${valid()}`, expect: /more than one yaml document/ },
  { name: 'empty file', text: '', expect: /pipelines/ },
  { name: 'a scalar document', text: 'hello\n', expect: /mapping|object|pipelines/i },
  { name: 'a list document', text: '- a\n- b\n', expect: /mapping|object|pipelines/i },
  {
    name: 'unknown yaml tag',
    text: valid().replace('format: avro', 'format: !!js/function "f(){}"'),
    expect: /tag/i,
  },
  {
    name: 'unresolvable alias',
    text: valid().replace('format: avro', 'format: *nothing'),
    expect: /alias|nothing/i,
  },
  {
    name: 'alias bomb',
    text: `a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
${valid()}`,
    expect: /aliases expand/,
  },
  { name: 'deeply nested flow sequences', text: nested(20_000), expect: /nest|deep|pipelines|yaml/i },
  {
    name: 'binary garbage',
    text: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256)),
    expect: /yaml|pipelines|mapping/i,
  },
  {
    name: 'oversized file (2 MiB)',
    text: `${valid()}#${'x'.repeat(2 * 1024 * 1024)}\n`,
    expect: /CONFIG_TOO_LARGE|more than the/,
  },
  { name: 'missing file', text: null, expect: /cannot read config file .*ENOENT/ },
  {
    name: 'a directory as the config file',
    text: '',
    directory: true,
    expect: /cannot read config file|EISDIR|directory/,
  },
  // shape and keys
  { name: 'missing pipelines', text: TAIL, expect: /pipelines/ },
  { name: 'pipelines is a string', text: `pipelines: shop\n${TAIL}`, expect: /pipelines.*list/ },
  { name: 'pipelines is empty', text: `pipelines: []\n${TAIL}`, expect: /pipelines/ },
  { name: 'missing source', text: `pipelines:\n  - name: shop\n${SINKS}\n${TAIL}`, expect: /source/ },
  { name: 'missing sinks', text: `pipelines:\n  - name: shop\n${SOURCE}\n${TAIL}`, expect: /sinks/ },
  {
    name: 'empty sinks',
    text: `pipelines:\n  - name: shop\n${SOURCE}\n    sinks: []\n${TAIL}`,
    expect: /sinks/,
  },
  { name: 'unknown root key', text: valid('', 'colour: blue\n'), expect: /unknown key 'colour'/ },
  {
    name: 'unknown source key',
    text: valid().replace('      tables:', '      colour: blue\n      tables:'),
    expect: /unknown key 'colour'/,
  },
  {
    name: 'unknown sink key',
    text: valid().replace('format: avro', 'format: avro\n        colour: blue'),
    expect: /unknown key 'colour'/,
  },
  {
    name: 'unknown source type',
    text: valid().replace('type: postgres', 'type: oracle'),
    expect: /unknown source type/,
  },
  {
    name: 'missing source type',
    text: valid().replace('      type: postgres\n', ''),
    expect: /missing source type/,
  },
  {
    name: 'unknown sink type',
    text: valid().replace('type: file', 'type: ftp'),
    expect: /unknown sink type/,
  },
  { name: 'missing url', text: valid().replace(/ {6}url: .*\n/, ''), expect: /url/ },
  { name: 'url is a number', text: valid().replace(/url: .*/, 'url: 5432'), expect: /url/ },
  {
    name: 'NUL byte in the sink path',
    text: valid().replace('path: ./out', 'path: "./o\\0ut"'),
    expect: /path.*NUL/,
  },
  {
    name: 'url that is not a URL',
    text: valid().replace(/url: .*/, 'url: not a url at all'),
    expect: /url.*postgres:\/\//,
  },
  {
    name: 'url of another scheme',
    text: valid().replace(/url: .*/, 'url: http://sluice:${PG_PASSWORD}@db/shop'),
    expect: /url.*postgres:\/\//,
  },
  { name: 'tables is a number', text: valid().replace('[public.accounts]', '5'), expect: /tables/ },
  { name: 'tables is empty', text: valid().replace('[public.accounts]', '[]'), expect: /tables/ },
  {
    name: 'pipeline name with a slash',
    text: valid().replace('name: shop', 'name: shop/orders'),
    expect: /name/,
  },
  {
    name: 'pipeline name too long',
    text: valid().replace('name: shop', `name: ${'p'.repeat(300)}`),
    expect: /name/,
  },
  {
    name: 'duplicate pipeline names',
    text: `pipelines:\n  - name: shop\n${SOURCE}\n${SINKS}\n  - name: shop\n${SOURCE}\n${SINKS}\n${TAIL}`,
    expect: /duplicate pipeline name 'shop'/,
  },
  { name: 'number as text', text: valid('    max_in_flight_events: lots\n'), expect: /max_in_flight_events/ },
  { name: 'negative number', text: valid('    max_in_flight_bytes: -5\n'), expect: /max_in_flight_bytes/ },
  {
    name: 'fractional count',
    text: valid('    max_in_flight_events: 1.5\n'),
    expect: /max_in_flight_events/,
  },
  {
    name: 'enum value',
    text: valid().replace(
      'tables: [public.accounts]',
      'tables: [public.accounts]\n      snapshot: sometimes',
    ),
    expect: /snapshot/,
  },
  { name: 'sink format', text: valid().replace('format: avro', 'format: parquet'), expect: /format/ },
  { name: 'log level', text: valid('', 'log:\n  level: verbose\n'), expect: /level/ },
  { name: 'admin port out of range', text: valid('', 'admin:\n  port: 70000\n'), expect: /port/ },
  { name: 'admin token too short', text: valid('', 'admin:\n  token: short\n'), expect: /token/ },
  {
    name: 'state type',
    text: valid().replace('  type: file\n  path: ./state', '  type: redis\n  path: ./state'),
    expect: /state\.type|type/,
  },
  // interpolation
  {
    name: 'unset ${VAR}',
    text: valid().replace('${PG_PASSWORD}', '${PG_PASSWORD}${NOT_SET_ANYWHERE_42}'),
    expect: /NOT_SET_ANYWHERE_42/,
  },
  {
    name: 'unterminated ${',
    text: valid().replace('path: ./out', 'path: ./out-${OOPS'),
    expect: /unterminated/,
  },
  {
    name: '${file:...} of a missing file',
    text: valid().replace('${PG_PASSWORD}', '${file:./no-such-secret.txt}'),
    expect: /no-such-secret\.txt/,
  },
  // the secret in a place that reports its value
  { name: 'secret as a port', text: valid('', 'admin:\n  port: ${PG_PASSWORD}\n'), expect: /port/ },
  {
    name: 'secret as an enum',
    text: valid().replace('format: avro', 'format: ${PG_PASSWORD}'),
    expect: /format/,
  },
  {
    name: 'secret as a source type',
    text: valid().replace('type: postgres', 'type: ${PG_PASSWORD}'),
    expect: /source type/,
  },
  {
    name: 'secret as a key',
    text: valid().replace('format: avro', 'format: avro\n        ${PG_PASSWORD}: 1'),
    expect: /unknown key/,
  },
  {
    name: 'secret file as a number',
    text: valid('    max_in_flight_events: ${file:./secret.txt}\n'),
    expect: /max_in_flight_events/,
  },
  {
    name: 'secret as a pipeline name',
    text: valid().replace('name: shop', 'name: "${PG_PASSWORD}/x"'),
    expect: /name/,
  },
  // transforms
  {
    name: 'unknown transform type',
    text: valid('    transforms:\n      - type: rot13\n'),
    expect: /unknown transform type/,
  },
  {
    name: 'filter without keep or drop',
    text: valid('    transforms:\n      - type: filter\n'),
    expect: /keep|drop/,
  },
  {
    name: 'filter with a broken expression',
    text: valid('    transforms:\n      - type: filter\n        keep: "after.id >"\n'),
    expect: /keep|expression/,
  },
  {
    name: 'filter with an unknown op',
    text: valid("    transforms:\n      - type: filter\n        ops: [x]\n        drop: 'true'\n"),
    expect: /ops/,
  },
  {
    name: 'columns with include and exclude',
    text: valid('    transforms:\n      - type: columns\n        include: [a]\n        exclude: [b]\n'),
    expect: /include|exclude/,
  },
  {
    name: 'mask hash without secret',
    text: valid(
      '    transforms:\n      - type: mask\n        columns: [public.accounts.name]\n        with: hash\n',
    ),
    expect: /secret/,
  },
  {
    name: 'route without templates',
    text: valid('    transforms:\n      - type: route\n'),
    expect: /topic|index|key/,
  },
]

/** Runs `fn` over `items` with at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!)
    }),
  )
}

describe('malformed configurations', () => {
  test(
    `${CONFIG_CASES.length} malformed configurations: validate and run exit 1 naming the problem, no stack trace, no secret`,
    { timeout: 600_000 },
    async () => {
      const tmp = tempDir()
      let tried = 0
      const failures: string[] = []
      try {
        writeFileSync(join(tmp.dir, 'secret.txt'), `${FILE_CANARY}\n`)
        let i = 0
        const jobs = CONFIG_CASES.map((c) => ({ c, dir: join(tmp.dir, `case-${i++}`) }))
        await pool(jobs, 3, async ({ c, dir }) => {
          mkdirSync(dir)
          writeFileSync(join(dir, 'secret.txt'), `${FILE_CANARY}\n`)
          const file = join(dir, 'sluice.yaml')
          if (c.directory) mkdirSync(file)
          else if (c.text !== null) writeFileSync(file, c.text)
          for (const command of ['validate', 'run']) {
            const r = await runCli([command, '-c', file], {
              cwd: dir,
              env: { PG_PASSWORD: CANARY },
              timeoutMs: 30_000,
            })
            tried++
            const out = r.stdout + r.stderr
            const problems: string[] = []
            if (r.code === 0 || r.code === null) problems.push(`exit code ${r.code}`)
            if (!c.expect.test(r.stderr)) problems.push(`stderr does not match ${c.expect}`)
            if (!/sluice\.yaml(:\d+:\d+)?/.test(r.stderr)) problems.push('the file is not named')
            if (/^\s+at /m.test(out)) problems.push('a stack trace')
            if (/\b(TypeError|RangeError|ReferenceError|SyntaxError|InternalError)\b/.test(out))
              problems.push('a JS error name')
            try {
              assertNoCanary(out, 'output')
            } catch {
              problems.push('the secret')
            }
            if (problems.length > 0)
              failures.push(
                `${c.name} (${command}): ${problems.join(', ')}\n    ${out.slice(0, 600).replace(/\n/g, '\n    ')}`,
              )
          }
        })
        assert.deepEqual(failures, [], `${failures.length} malformed configurations misbehaved`)
        assert.equal(tried, CONFIG_CASES.length * 2)
        console.log(
          `# bad-input configs: ${CONFIG_CASES.length} malformed configurations x (validate, run) = ${tried} runs, all exit 1 naming the problem; 0 stack traces, 0 secrets printed`,
        )
      } finally {
        tmp.cleanup()
      }
    },
  )
})

// ---- hostile identifiers -------------------------------------------------------------------

/** Values that would do harm if anything pasted them into SQL, a path or a log line. */
const HOSTILE_VALUES = [
  `'); DROP TABLE victim; --`,
  `" OR "1"="1`,
  '`; DELETE FROM victim; #',
  '\\.\n\\N\t\\\\',
  '/* unclosed comment',
  'ünïcödé 表 \u00a0 \u2028 end',
  '${PG_PASSWORD} %s %n {{x}}',
  '../../../etc/passwd',
]

/**
 * Column names: SQL keywords, case-sensitive, and names that are not Avro names (spaces,
 * non-ASCII, SQL metacharacters, a leading digit), with the Avro field names the change
 * events must carry for them (Debezium's adjustment: other characters become `_`).
 */
const COLUMNS = ['select', 'from', 'Order', 'user', 'unit price', 'prénom', 'x"; drop table t; --', '1st']
const FIELDS = ['select', 'from', 'Order', 'user', 'unit_price', 'pr_nom', 'x___drop_table_t____', '_1st']

interface HostileServer {
  label: string
  /** Table names on this server. */
  names: string[]
  /** The schema (Postgres) or database (MariaDB) as the change events name it. */
  schema: string
  quote(name: string): string
  /** A string literal holding `s` exactly. */
  literal(s: string): string
  sql(text: string): Promise<Record<string, unknown>[]>
  /** The pipeline's `source:` block, one setting per line, unindented, tables listed. */
  source(tables: string[]): string
  /** Statements that create a table with the hostile columns (id int primary key first). */
  createTable(name: string): string
}

/**
 * Captures every hostile table end to end with the real CLI: snapshot (one row per hostile
 * value), then streamed insert, update and delete; checks values intact, files under the
 * sink's directory only, and the victim table untouched. Returns the number of identifiers
 * and values checked.
 */
async function captureHostile(s: HostileServer): Promise<{ tables: number; values: number; events: number }> {
  const literal = s.literal
  await s.sql(`CREATE TABLE victim (id int PRIMARY KEY)`)
  await s.sql(`INSERT INTO victim VALUES (1), (2), (3)`)
  for (const name of s.names) {
    await s.sql(s.createTable(name))
    const rows = HOSTILE_VALUES.map(
      (v, i) => `(${i + 1}, ${COLUMNS.map((_, k) => literal(k === 0 ? v : `${v}#${k}`)).join(', ')})`,
    )
    await s.sql(`INSERT INTO ${s.quote(name)} VALUES ${rows.join(', ')}`)
  }
  const tmp = tempDir()
  const out = join(tmp.dir, 'out')
  const file = join(tmp.dir, 'sluice.yaml')
  writeFileSync(
    file,
    `pipelines:
  - name: hostile
    source:
${s.source(s.names.map((n) => `${s.schema}.${n}`)).replace(/^/gm, '      ')}
    sinks:
      - type: file
        path: ${out}
        format: avro
state:
  type: file
  path: ${join(tmp.dir, 'state')}
log:
  level: debug
`,
  )
  let p: CliProcess | null = null
  try {
    p = spawnCli(['run', '-c', file], { cwd: tmp.dir, env: { PG_PASSWORD: CANARY } })
    const n = s.names.length
    const snapshotted = HOSTILE_VALUES.length * n
    await waitFor(async () => (await readEnvelopes(out)).length >= snapshotted, 60_000, `${s.label} snapshot`)
    await p.waitForOutput('streaming started', 60_000)
    for (const name of s.names) {
      const q = s.quote(name)
      const v = HOSTILE_VALUES[0]!
      await s.sql(`INSERT INTO ${q} VALUES (100, ${COLUMNS.map((_, k) => literal(`${v}+${k}`)).join(', ')})`)
      await s.sql(`UPDATE ${q} SET ${s.quote(COLUMNS[0]!)} = ${literal(HOSTILE_VALUES[1]!)} WHERE id = 100`)
      await s.sql(`DELETE FROM ${q} WHERE id = 100`)
    }
    const all = await waitFor(
      async () => {
        const e = await readEnvelopes(out)
        return e.length >= snapshotted + 3 * n ? e : null
      },
      60_000,
      `${s.label} streamed changes`,
    )
    p.kill('SIGTERM')
    const exit = await exitWithin(p, 15_000)
    assert.equal(exit.code, 0, `${s.label}: SIGTERM exits 0:\n${p.stderr().slice(-2000)}`)
    assertNoCanary(p.stdout() + p.stderr(), `${s.label} run output`)

    let values = 0
    for (const name of s.names) {
      const evs = all.filter((e) => e.source.table === name)
      const row = (e: Envelope, which: 'before' | 'after'): string[] =>
        FIELDS.map((c) => String((e[which] as Record<string, unknown>)[c]))
      const snap = evs.filter((e) => e.op === 'r').sort((a, b) => Number(a.after!.id) - Number(b.after!.id))
      assert.deepEqual(
        snap.map((e) => row(e, 'after')),
        HOSTILE_VALUES.map((v) => COLUMNS.map((_, k) => (k === 0 ? v : `${v}#${k}`))),
        `${s.label} ${JSON.stringify(name)}: snapshot values intact`,
      )
      const stream = evs.filter((e) => e.op !== 'r')
      const v = HOSTILE_VALUES[0]!
      const inserted = COLUMNS.map((_, k) => `${v}+${k}`)
      const updated = [HOSTILE_VALUES[1]!, ...inserted.slice(1)]
      assert.deepEqual(
        stream.map((e) => [
          e.op,
          e.source.schema ?? e.source.db,
          e.before && row(e, 'before'),
          e.after && row(e, 'after'),
        ]),
        [
          ['c', s.schema, null, inserted],
          ['u', s.schema, inserted, updated],
          ['d', s.schema, updated, null],
        ],
        `${s.label} ${JSON.stringify(name)}: streamed changes intact`,
      )
      values += (snap.length + 3) * COLUMNS.length
    }
    // Nothing was executed: the victim is intact; nothing was written outside the sink's directory.
    assert.deepEqual(
      (await s.sql('SELECT id FROM victim ORDER BY id')).map((r) => Number(r.id)),
      [1, 2, 3],
      `${s.label}: the victim table is untouched`,
    )
    assert.deepEqual(readdirSync(tmp.dir).sort(), ['out', 'sluice.yaml', 'state'])
    const series = readdirSync(out).map((d) => decodeURIComponent(d))
    assert.deepEqual(
      series.sort(),
      s.names.map((n) => `${s.schema}.${n}`).sort(),
      `${s.label}: one series per table`,
    )
    return { tables: s.names.length, values, events: all.length }
  } finally {
    p?.kill('SIGKILL')
    if (p) await exitWithin(p, 10_000).catch(() => undefined)
    tmp.cleanup()
  }
}

describe('hostile identifiers', () => {
  let pg: PgServer
  let maria: MariaServer
  before(async () => {
    ;[pg, maria] = await Promise.all([startPostgres(), startMariadb()])
    await pg.sql('CREATE DATABASE shop')
    await maria.sql('CREATE DATABASE shop')
  })
  after(async () => {
    await Promise.all([pg?.stop(), maria?.stop()])
  })

  test(
    'postgres: hostile table names and values are captured by snapshot and stream, never executed',
    { timeout: 180_000 },
    async () => {
      const names = [
        'a"; DROP TABLE victim; --',
        "b'); DELETE FROM victim; /*",
        'c`back`tick # hash',
        'with  spaces -- and dashes',
        'ünïcödé_表_🙂',
        '../../escape',
        '$1 %s \\. \\N',
        'dot.ted',
        'MiXeD Case',
        'L'.repeat(63),
      ]
      const quote = (n: string): string => `"${n.replace(/"/g, '""')}"`
      const r = await captureHostile({
        label: 'postgres',
        names,
        schema: 'public',
        quote,
        // standard_conforming_strings: a backslash is a plain character
        literal: (v) => `'${v.replace(/'/g, "''")}'`,
        sql: (text) => pg.sql(text, [], 'shop'),
        source: (tables) => `type: postgres
url: ${pg.urlFor('shop')}
tables: [${tables.map((t) => JSON.stringify(t)).join(', ')}]`,
        createTable: (n) =>
          `CREATE TABLE ${quote(n)} (id int PRIMARY KEY, ${COLUMNS.map((c) => `${quote(c)} text`).join(', ')});
         ALTER TABLE ${quote(n)} REPLICA IDENTITY FULL`,
      })
      console.log(
        `# bad-input identifiers postgres: ${r.tables} hostile table names x ${COLUMNS.length} keyword/case/non-Avro columns, ${r.values} hostile values checked in ${r.events} events; victim intact, nothing outside the sink directory`,
      )
    },
  )

  test(
    'mariadb: hostile table names and values are captured by snapshot and stream, never executed',
    { timeout: 180_000 },
    async () => {
      const names = [
        'a"; DROP TABLE victim; --',
        "b'); DELETE FROM victim; /*",
        'c`back``tick # hash',
        'with  spaces -- and dashes',
        'ünïcödé_表_ß',
        '../../escape',
        '$1 %s \\. \\N',
        'dot.ted',
        'MiXeD Case',
        'L'.repeat(64),
      ]
      const quote = (n: string): string => `\`${n.replace(/`/g, '``')}\``
      const r = await captureHostile({
        label: 'mariadb',
        names,
        schema: 'shop',
        quote,
        // MariaDB's default sql_mode reads backslash escapes in string literals
        literal: (v) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`,
        sql: (text) => maria.sql(text, [], 'shop'),
        source: (tables) => `type: mysql
url: ${maria.urlFor('shop')}
tables: [${tables.map((t) => JSON.stringify(t)).join(', ')}]
server_id: 5801`,
        createTable: (n) =>
          `CREATE TABLE ${quote(n)} (id int PRIMARY KEY, ${COLUMNS.map((c) => `${quote(c)} varchar(200)`).join(', ')}) DEFAULT CHARSET utf8mb4`,
      })
      console.log(
        `# bad-input identifiers mariadb: ${r.tables} hostile table names x ${COLUMNS.length} keyword/case/non-Avro columns, ${r.values} hostile values checked in ${r.events} events; victim intact, nothing outside the sink directory`,
      )
    },
  )
})
