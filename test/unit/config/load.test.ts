import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { ConfigInvalidError, type ConfigProblem } from '../../../config/errors.js'
import type { Env } from '../../../config/interpolate.js'
import { loadConfigWith, parseConfigWith } from '../../../config/load.js'
import { buildConfigSchema } from '../../../config/schema.js'
import { postgresConfig } from '../../../connectors/postgres/config.js'
import { ConfigError } from '../../../pipeline/errors.js'
import type { SinkEntry, SourceEntry } from '../../../pipeline/registry.js'

// Small registries of our own, so these tests pin the loader, not the real sinks' options.
const unused = (): never => {
  throw new Error('not used in config tests')
}
const sources: SourceEntry[] = [{ type: 'postgres', config: postgresConfig, create: unused }]
const sinks: SinkEntry[] = [
  {
    type: 'file',
    config: z.strictObject({
      type: z.literal('file'),
      path: z.string().min(1),
      format: z.enum(['avro', 'jsonl']).default('avro'),
    }),
    create: unused,
  },
  { type: 'stdout', config: z.strictObject({ type: z.literal('stdout') }), create: unused },
]
const schema = buildConfigSchema(sources, sinks)

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../fixtures/config/${name}`, import.meta.url))
const load = (name: string, env: Env = {}) => loadConfigWith(schema, fixture(name), env)
const parse = (text: string, env: Env = {}) => parseConfigWith(schema, text, 'inline.yaml', env)

/** `line:col path: message` of each problem, so assertions show positions at a glance. */
const where = (problems: readonly ConfigProblem[]) =>
  problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`)

async function problemsOf(run: () => unknown): Promise<ConfigInvalidError> {
  try {
    await run()
  } catch (e) {
    assert.ok(e instanceof ConfigInvalidError, `expected ConfigInvalidError, got ${String(e)}`)
    assert.ok(e instanceof ConfigError)
    assert.equal(e.code, 'CONFIG_INVALID')
    return e
  }
  assert.fail('expected the config to be rejected')
}

const minimal = (extra = '') => `pipelines:
  - name: shop
    source:
      type: postgres
      url: postgres://db/shop
      tables: [public.orders]
    sinks:
      - type: stdout
${extra}`

describe('loadConfig: valid files', () => {
  it('loads a full config with two pipelines and applies every default', async () => {
    const { config, secrets } = await load('valid-two-pipelines.yaml')
    assert.deepEqual(secrets, [])
    assert.deepEqual(
      config.pipelines.map((p) => p.name),
      ['shop', 'billing'],
    )
    const [shop, billing] = config.pipelines
    assert.deepEqual(shop!.source, {
      type: 'postgres',
      url: 'postgres://sluice:secret@db:5432/shop',
      tables: ['public.customers', 'public.orders'],
      snapshot: 'initial',
      key_columns: {},
      slot_wait_ms: 5_000,
      on_slot_lost: 'fail',
      heartbeat_interval_ms: 0,
      status_interval_ms: 10_000,
    })
    assert.deepEqual(shop!.sinks, [{ type: 'file', path: './out/shop', format: 'jsonl' }])
    assert.deepEqual(shop!.avro, { types: 'logical', prefix: 'shop_v1', unsupported: 'fail' })
    assert.equal(shop!.max_in_flight_events, 5000)
    assert.equal(shop!.max_in_flight_bytes, 67_108_864)
    assert.deepEqual(billing!.transforms, [])
    assert.deepEqual(billing!.sinks, [
      { type: 'file', path: './out/billing', format: 'avro' },
      { type: 'stdout' },
    ])
    // avro.prefix defaults to the pipeline name after validation.
    assert.deepEqual(billing!.avro, { types: 'debezium', prefix: 'billing', unsupported: 'fail' })
    assert.equal(billing!.max_in_flight_events, 8_000)
    assert.deepEqual(config.state, { type: 'file', path: './data' })
    assert.deepEqual(config.admin, { host: '127.0.0.1', port: 9090 })
    assert.deepEqual(config.log, { level: 'debug' })
  })

  it('defaults state and log, and leaves admin off when absent', () => {
    const { config } = parse(minimal())
    assert.deepEqual(config.state, { type: 'file', path: './state' })
    assert.deepEqual(config.log, { level: 'info' })
    assert.equal(config.admin, undefined)
  })
})

describe('loadConfig: interpolation', () => {
  const env = { PG_PASSWORD: 'pw-123456', PG_HOST: '', MAX_EVENTS: '7500', ADMIN_PORT: '9091' }

  it('interpolates ${VAR}, ${VAR:-default} and $${, and leaves ${table} placeholders', async () => {
    const { config } = await load('interpolation-forms.yaml', env)
    const p = config.pipelines[0]!
    assert.equal(p.name, 'shop')
    assert.equal(p.source.url, 'postgres://sluice:pw-123456@localhost:5432/shop')
    assert.deepEqual(p.sinks, [{ type: 'file', path: './out/${schema}/${table}/${literal}', format: 'avro' }])
    assert.equal(config.admin?.host, '0.0.0.0')
  })

  it('reads a whole ${VAR} as a number where the schema wants a number', async () => {
    const { config } = await load('interpolation-forms.yaml', env)
    assert.equal(config.pipelines[0]!.max_in_flight_events, 7500)
    assert.equal(config.admin?.port, 9091)
  })

  it('keeps a whole ${VAR} that looks like a number a string where the schema wants a string', () => {
    const { config } = parse(minimal().replace('      tables:', '      publication: ${PUB}\n      tables:'), {
      PUB: '12345',
    })
    assert.equal((config.pipelines[0]!.source as { publication?: unknown }).publication, '12345')
  })

  it('reports a whole ${VAR} that is not a number where the schema wants one, without echoing it', async () => {
    const e = await problemsOf(() => load('interpolation-forms.yaml', { ...env, ADMIN_PORT: 'eighty' }))
    assert.deepEqual(where(e.problems), ['13:9 admin.port: expected a number, got a string'])
  })

  it('collects every interpolated value as a secret, and no defaults', async () => {
    const { secrets } = await load('interpolation-forms.yaml', { ...env, PIPELINE_NAME: 'orders' })
    assert.deepEqual(secrets, ['orders', 'pw-123456', '7500', '9091'])
  })

  it('reports a missing variable at the line and column of its value, naming the key and the variable', async () => {
    const e = await problemsOf(() => load('env-missing-var.yaml'))
    assert.deepEqual(where(e.problems), [
      "5:12 pipelines[0].source.url: environment variable PG_PASSWORD is not set; set it, or give a default with '${PG_PASSWORD:-value}'",
    ])
    assert.equal(e.problems[0]!.file, fixture('env-missing-var.yaml'))
    assert.match(
      e.message,
      /env-missing-var\.yaml:5:12: pipelines\[0\]\.source\.url: environment variable PG_PASSWORD/,
    )
  })

  describe('${file:...} secrets', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'))
    after(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'pg-password'), 'from-a-file\n')

    it('reads a secret file relative to the config file and records it as a secret', async () => {
      const file = join(dir, 'sluice.yaml')
      writeFileSync(
        file,
        minimal().replace('postgres://db/shop', 'postgres://sluice:${file:pg-password}@db/shop'),
      )
      const { config, secrets } = await loadConfigWith(schema, file, {})
      assert.equal(config.pipelines[0]!.source.url, 'postgres://sluice:from-a-file@db/shop')
      assert.deepEqual(secrets, ['from-a-file'])
    })

    it('reports an unreadable secret file by path', async () => {
      const file = join(dir, 'missing-secret.yaml')
      writeFileSync(file, minimal().replace('postgres://db/shop', '${file:/nonexistent/pg}'))
      const e = await problemsOf(() => loadConfigWith(schema, file, {}))
      assert.deepEqual(where(e.problems), [
        '5:12 pipelines[0].source.url: cannot read secret file /nonexistent/pg (ENOENT); check the path and its permissions',
      ])
    })
  })
})

describe('loadConfig: problems point at the offending node', () => {
  it('reports an unknown key at the root at the key itself', async () => {
    const e = await problemsOf(() => load('unknown-key-root.yaml'))
    assert.deepEqual(where(e.problems), [
      "9:1 metrics: unknown key 'metrics'; known keys: pipelines, state, admin, log",
    ])
  })

  it('reports an unknown key in a source, with a suggestion, and the key it probably meant as missing', async () => {
    const e = await problemsOf(() => load('unknown-key-source.yaml'))
    assert.deepEqual(where(e.problems), [
      "3:5 pipelines[0].source.tables: missing required key 'tables'",
      "6:7 pipelines[0].source.tabels: unknown key 'tabels'; did you mean 'tables'?",
    ])
  })

  it('reports an unknown key in a sink at the key itself', async () => {
    const e = await problemsOf(() => load('unknown-key-sink.yaml'))
    assert.deepEqual(where(e.problems), [
      "10:9 pipelines[0].sinks[0].compression: unknown key 'compression'; known keys: type, path, format, transforms",
    ])
  })

  it('reports a wrong enum value with the allowed values', async () => {
    const e = await problemsOf(() => load('wrong-enum-value.yaml'))
    assert.deepEqual(where(e.problems), [
      '7:17 pipelines[0].source.snapshot: must be one of: initial, never, initial_only',
    ])
  })

  it('reports a duplicate pipeline name at the repeat, naming the first use', async () => {
    const e = await problemsOf(() => load('pipelines-duplicate-name.yaml'))
    assert.deepEqual(where(e.problems), [
      "8:11 pipelines[2].name: duplicate pipeline name 'shop' (already used by pipelines[0]); pipeline names must be unique",
    ])
  })

  it('reports an unknown source type listing the known types', async () => {
    const e = await problemsOf(() => load('source-unknown-type.yaml'))
    assert.deepEqual(where(e.problems), [
      '4:13 pipelines[0].source.type: unknown source type; known types: postgres',
    ])
  })

  it('reports a missing source type listing the known types', () => {
    assert.throws(
      () => parse(minimal().replace('      type: postgres\n', '')),
      (e: ConfigInvalidError) => {
        assert.deepEqual(where(e.problems), [
          '3:5 pipelines[0].source.type: missing source type; set type to one of: postgres',
        ])
        return true
      },
    )
  })

  it('reports an unknown sink type listing the known types', () => {
    assert.throws(
      () => parse(minimal().replace('type: stdout', 'type: kafka')),
      (e: ConfigInvalidError) => {
        assert.deepEqual(where(e.problems), [
          '8:15 pipelines[0].sinks[0].type: unknown sink type; known types: file, stdout',
        ])
        return true
      },
    )
  })

  it('rejects a transform of an unregistered type, naming the known ones', async () => {
    const e = await problemsOf(() => load('transforms-not-empty.yaml'))
    assert.deepEqual(where(e.problems), [
      '8:15 pipelines[0].transforms[0].type: unknown transform type; known types: (none registered)',
    ])
  })

  it('reports a yaml syntax error with its position and stops there', async () => {
    const e = await problemsOf(() => load('yaml-syntax-error.yaml'))
    assert.deepEqual(where(e.problems), [
      '3:13 : yaml syntax: nested mappings are not allowed in compact mappings; put the inner mapping on the next lines, indented',
    ])
  })

  it('reports a duplicate key as a yaml error', () => {
    assert.throws(
      () => parse(minimal('log:\n  level: info\n  level: warn\n')),
      (e: ConfigInvalidError) => {
        assert.deepEqual(where(e.problems), [
          "11:3 : duplicate key 'level'; a key may appear once per mapping",
        ])
        return true
      },
    )
  })

  it('reports every problem of a file together, in file order', async () => {
    const e = await problemsOf(() => load('many-problems.yaml'))
    const expected = [
      '2:11 pipelines[0].name: must be 1 to 64 letters, digits, _ or -',
      '6:15 pipelines[0].source.tables: must have at least 1 item',
      "8:9 pipelines[0].sinks[0].path: missing required key 'path'",
      '9:17 pipelines[0].sinks[0].format: must be one of: avro, jsonl',
      "12:7 pipelines[0].avro.unsuported: unknown key 'unsuported'; did you mean 'unsupported'?",
      '13:26 pipelines[0].max_in_flight_bytes: must be at least 1024',
      '15:10 log.level: must be one of: trace, debug, info, warn, error, fatal',
    ]
    assert.deepEqual(where(e.problems), expected)
    const lines = e.message.split('\n')
    assert.equal(lines[0], `${fixture('many-problems.yaml')}: 7 config problems:`)
    assert.equal(lines.length, 1 + expected.length)
    assert.equal(
      lines[1],
      `${fixture('many-problems.yaml')}:2:11: pipelines[0].name: must be 1 to 64 letters, digits, _ or -`,
    )
  })

  it('reports interpolation and validation problems together', () => {
    assert.throws(
      () => parse(minimal('log:\n  level: ${LOG_LEVEL}\nadmin:\n  port: 70000\n')),
      (e: ConfigInvalidError) => {
        assert.deepEqual(where(e.problems), [
          "10:10 log.level: environment variable LOG_LEVEL is not set; set it, or give a default with '${LOG_LEVEL:-value}'",
          '12:9 admin.port: must be at most 65535',
        ])
        return true
      },
    )
  })

  it('points an empty value at its key', () => {
    assert.throws(
      () => parse(minimal().replace('url: postgres://db/shop', 'url:')),
      (e: ConfigInvalidError) => {
        assert.deepEqual(where(e.problems), [
          '5:7 pipelines[0].source.url: expected a string, got an empty value',
        ])
        return true
      },
    )
  })

  it('reports an empty file and an empty pipelines list', () => {
    assert.throws(
      () => parse(''),
      (e: ConfigInvalidError) => {
        assert.deepEqual(where(e.problems), ['1:1 : the file is empty; it needs a pipelines list'])
        return true
      },
    )
    assert.throws(
      () => parse('pipelines: []\n'),
      (e: ConfigInvalidError) => {
        assert.deepEqual(where(e.problems), [
          '1:12 pipelines: at least one pipeline is required; add an entry under pipelines',
        ])
        return true
      },
    )
  })

  it('never echoes an interpolated value in a problem', () => {
    const env = { SNAPSHOT_MODE: 'topsecret-mode', NAME: 'classified-name' }
    const text = `pipelines:
  - name: \${NAME}
    source: { type: postgres, url: 'postgres://db/a', tables: [a.b], snapshot: '\${SNAPSHOT_MODE}' }
    sinks: [{ type: stdout }]
  - name: \${NAME}
    source: { type: postgres, url: 'postgres://db/a', tables: [a.b] }
    sinks: [{ type: stdout }]
`
    assert.throws(
      () => parse(text, env),
      (e: ConfigInvalidError) => {
        assert.equal(e.problems.length, 2)
        assert.doesNotMatch(e.message, /topsecret|classified/)
        assert.deepEqual(where(e.problems), [
          '3:80 pipelines[0].source.snapshot: must be one of: initial, never, initial_only',
          "5:11 pipelines[1].name: duplicate pipeline name '***' (already used by pipelines[0]); pipeline names must be unique",
        ])
        return true
      },
    )
  })

  it('refuses an alias bomb with one clear problem instead of expanding it', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]']
    for (const [prev, name] of [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'd'],
      ['d', 'e'],
      ['e', 'f'],
      ['f', 'g'],
    ])
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`)
    const text = `${levels.join('\n')}\npipelines: *g\n`
    assert.throws(
      () => parseConfigWith(schema, text, 'bomb.yaml', {}),
      (e: ConfigInvalidError) => {
        assert.ok(e instanceof ConfigInvalidError)
        assert.equal(e.problems.length, 1)
        assert.match(e.problems[0]!.message, /aliases expand to more than 100 references/)
        return true
      },
    )
  })

  it('refuses a config file over 1 MiB as CONFIG_TOO_LARGE before parsing it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'))
    try {
      const file = join(dir, 'huge.yaml')
      writeFileSync(file, `# ${'x'.repeat(1024 * 1024)}\npipelines: []\n`)
      await assert.rejects(loadConfigWith(schema, file, {}), (e: ConfigError) => {
        assert.equal(e.code, 'CONFIG_TOO_LARGE')
        assert.match(e.message, /huge\.yaml is \d+ bytes, more than the 1048576/)
        return true
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('reports an unreadable config file as CONFIG_UNREADABLE naming the path', async () => {
    await assert.rejects(loadConfigWith(schema, '/nonexistent/sluice.yaml', {}), (e: ConfigError) => {
      assert.ok(!(e instanceof ConfigInvalidError))
      assert.equal(e.code, 'CONFIG_UNREADABLE')
      assert.equal(e.message, 'cannot read config file /nonexistent/sluice.yaml (ENOENT); check the path')
      return true
    })
  })
})
