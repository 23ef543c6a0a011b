/**
 * The docker-compose stack and the Dockerfile, checked without a Docker engine:
 * docker-compose.yml through Debian's `docker-compose config` (the same validation CI
 * runs) and its parsed structure; the Dockerfile's stages, user, healthcheck and the paths
 * it copies, and a build of exactly what the build stage copies; the stack's init scripts,
 * Sluice config and load generator against throwaway servers.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { parse, stringify } from 'yaml'
import { exitWithin, REPO_ROOT, spawnCli, type CliProcess } from './helpers/cli.js'
import { tempDir, waitFor } from './helpers/pipeline.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'
import { startPostgres, type PgServer } from './servers/postgres.js'

const COMPOSE = '/usr/bin/docker-compose'
const COMPOSE_FILE = join(REPO_ROOT, 'docker-compose.yml')

interface Service {
  image?: string
  build?: { context: string; target?: string }
  command?: string[]
  entrypoint?: string[]
  environment?: Record<string, string | number>
  healthcheck?: { test: string[]; interval?: string; retries?: number }
  depends_on?: Record<string, { condition: string }>
  profiles?: string[]
  ports?: { published: number; target: number }[]
  /** Short syntax, as `docker-compose config` prints it: `source:target:mode`. */
  volumes?: string[]
}

/** A service's volume, from the short syntax: a bind mount when the source is a path. */
interface Mount {
  readonly type: 'bind' | 'volume'
  readonly source: string
  readonly target: string
  readonly readOnly: boolean
}

function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    const [source = '', target = '', mode = 'rw'] = v.split(':')
    const type = source.startsWith('/') || source.startsWith('.') ? 'bind' : 'volume'
    return { type, source, target, readOnly: mode.split(',').includes('ro') }
  })
}

/** `docker-compose config` with the given extra arguments, in the repo, with a clean environment. */
function compose(
  args: string[],
  file = COMPOSE_FILE,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(COMPOSE, ['-f', file, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    // Only what compose needs: the demo defaults must apply, not a developer's own values.
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    timeout: 60_000,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('docker-compose.yml', () => {
  let services: Record<string, Service>
  let volumes: Record<string, unknown>

  before(() => {
    const r = compose(['config'])
    assert.equal(r.status, 0, r.stderr)
    const doc = parse(r.stdout) as { services: Record<string, Service>; volumes: Record<string, unknown> }
    services = doc.services
    volumes = doc.volumes
  })

  test('docker-compose config -q accepts the file (exit 0)', () => {
    const r = compose(['config', '-q'])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, '')
  })

  test('docker-compose config -q rejects a broken copy, so the check above means something', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-compose-'))
    try {
      const broken = readFileSync(COMPOSE_FILE, 'utf8').replace(
        /(\n {6})redis:\n( {8}condition: service_healthy)/,
        '$1rediss:\n$2',
      )
      assert.notEqual(broken, readFileSync(COMPOSE_FILE, 'utf8'), 'the replacement must apply')
      const file = join(dir, 'docker-compose.yml')
      writeFileSync(file, broken)
      const r = compose(['config', '-q'], file)
      assert.notEqual(r.status, 0)
      assert.match(r.stderr, /rediss/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('has the whole stack: both databases, Kafka, Schema Registry, OpenSearch, Redis, Sluice, load generator', () => {
    assert.deepEqual(Object.keys(services).sort(), [
      'kafka',
      'loadgen',
      'mysql',
      'opensearch',
      'postgres',
      'redis',
      'schema-registry',
      'sluice',
    ])
    assert.deepEqual(Object.keys(volumes).sort(), [
      'mysql-data',
      'opensearch-data',
      'postgres-data',
      'sluice-state',
    ])
  })

  test('every pulled image is pinned to a version (no latest, no bare major)', () => {
    const expected: Record<string, RegExp> = {
      postgres: /^postgres:16\.\d+/,
      mysql: /^mysql:8\.4\.\d+$/,
      kafka: /^apache\/kafka:\d+\.\d+\.\d+$/,
      'schema-registry': /^confluentinc\/cp-schema-registry:\d+\.\d+\.\d+$/,
      opensearch: /^opensearchproject\/opensearch:\d+\.\d+\.\d+$/,
      redis: /^redis:7\.\d+\.\d+/,
    }
    for (const [name, re] of Object.entries(expected)) {
      assert.match(services[name]!.image ?? '', re, `${name} image`)
      assert.equal(services[name]!.build, undefined, `${name} is pulled, not built`)
    }
    // Sluice and the load generator are built from this repository's Dockerfile.
    assert.equal(services.sluice!.build?.context, REPO_ROOT)
    assert.equal(services.sluice!.build?.target, undefined, 'sluice runs the final (runtime) stage')
    assert.equal(services.loadgen!.build?.context, REPO_ROOT)
    assert.equal(services.loadgen!.build?.target, 'build')
  })

  test('every long-running service has a healthcheck, and dependants wait for service_healthy', () => {
    for (const name of ['postgres', 'mysql', 'kafka', 'schema-registry', 'opensearch', 'redis', 'sluice']) {
      const hc = services[name]!.healthcheck
      assert.ok(hc && hc.test.length > 1 && hc.test[0] !== 'NONE', `${name} has a healthcheck`)
      assert.ok((hc.retries ?? 0) >= 3, `${name} healthcheck retries`)
    }
    const healthy = (name: string): Record<string, string> =>
      Object.fromEntries(Object.entries(services[name]!.depends_on ?? {}).map(([k, v]) => [k, v.condition]))
    assert.deepEqual(healthy('sluice'), {
      kafka: 'service_healthy',
      mysql: 'service_healthy',
      opensearch: 'service_healthy',
      postgres: 'service_healthy',
      redis: 'service_healthy',
      'schema-registry': 'service_healthy',
    })
    assert.deepEqual(healthy('schema-registry'), { kafka: 'service_healthy' })
    assert.deepEqual(healthy('loadgen'), {
      mysql: 'service_healthy',
      postgres: 'service_healthy',
      sluice: 'service_healthy',
    })
    // Sluice's healthcheck asks its admin API, as the Dockerfile's HEALTHCHECK does.
    assert.match(
      services.sluice!.healthcheck!.test.join(' '),
      /fetch\('http:\/\/127\.0\.0\.1:8080\/healthz'\)/,
    )
  })

  test('only the load generator is behind a profile (load), so `docker compose up` starts the stack', () => {
    assert.deepEqual(services.loadgen!.profiles, ['load'])
    for (const [name, s] of Object.entries(services))
      if (name !== 'loadgen') assert.equal(s.profiles, undefined, `${name} has no profile`)
    assert.deepEqual(services.loadgen!.entrypoint, ['node', '--import', 'tsx', 'docker/loadgen.ts'])
    assert.ok(existsSync(join(REPO_ROOT, 'docker', 'loadgen.ts')), 'docker/loadgen.ts exists')
  })

  test('databases are configured for CDC: logical WAL; ROW binlog with full metadata and GTIDs', () => {
    const pgArgs = services.postgres!.command!.join(' ')
    assert.match(pgArgs, /-c wal_level=logical/)
    const my = services.mysql!.command!
    for (const flag of [
      '--binlog-format=ROW',
      '--binlog-row-image=FULL',
      '--binlog-row-metadata=FULL',
      '--gtid-mode=ON',
      '--enforce-gtid-consistency=ON',
    ])
      assert.ok(my.includes(flag), `mysql ${flag}`)
    const kafka = services.kafka!.environment!
    assert.equal(kafka.KAFKA_PROCESS_ROLES, 'broker,controller', 'KRaft: one node is broker and controller')
    assert.ok(!Object.keys(services).some((n) => /zookeeper/i.test(n)), 'no ZooKeeper')
    assert.equal(services.opensearch!.environment!.DISABLE_SECURITY_PLUGIN, 'true')
    assert.equal(services.opensearch!.environment!['discovery.type'], 'single-node')
  })

  test('ports: admin API 8080 and each backend on its standard port', () => {
    const published = (name: string): number[] => (services[name]!.ports ?? []).map((p) => p.published)
    assert.deepEqual(published('sluice'), [8080])
    assert.deepEqual(published('postgres'), [5432])
    assert.deepEqual(published('mysql'), [3306])
    assert.deepEqual(published('kafka'), [9092])
    assert.deepEqual(published('schema-registry'), [8081])
    assert.deepEqual(published('opensearch'), [9200])
    assert.deepEqual(published('redis'), [6379])
  })

  test('every bind-mounted path exists in the repository; the Sluice config is mounted read-only', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of mounts(s)) {
        if (v.type === 'bind') assert.ok(existsSync(v.source), `${name}: ${v.source} exists`)
        else assert.ok(v.source in volumes, `${name}: volume ${v.source} is declared`)
      }
    }
    const cfg = mounts(services.sluice!).find((v) => v.target === '/etc/sluice/sluice.yaml')
    assert.equal(cfg?.source, join(REPO_ROOT, 'docker', 'sluice.yaml'))
    assert.equal(cfg?.readOnly, true)
    for (const db of ['postgres', 'mysql']) {
      const init = mounts(services[db]!).find((v) => v.target === '/docker-entrypoint-initdb.d')
      assert.equal(init?.source, join(REPO_ROOT, 'docker', db), `${db} init scripts`)
    }
    assert.deepEqual(services.sluice!.command, ['run', '-c', '/etc/sluice/sluice.yaml'])
  })

  test('docker/sluice.yaml only names compose services, listens where compose publishes, and gets every variable it uses', () => {
    const text = readFileSync(join(REPO_ROOT, 'docker', 'sluice.yaml'), 'utf8')
    const cfg = parse(text) as {
      pipelines: { name: string; source: { url: string }; sinks: Record<string, unknown>[] }[]
      admin: { host: string; port: number }
      state: { path: string }
    }
    assert.deepEqual(cfg.admin, { host: '0.0.0.0', port: 8080 })
    assert.equal(services.sluice!.ports![0]!.target, cfg.admin.port)
    assert.equal(cfg.state.path, '/var/lib/sluice')
    assert.ok(
      mounts(services.sluice!).some((v) => v.target === '/var/lib/sluice' && v.type === 'volume'),
      'the state directory is a named volume',
    )
    const hosts: string[] = []
    for (const p of cfg.pipelines) {
      hosts.push(new URL(p.source.url).hostname)
      for (const s of p.sinks) {
        if (typeof s.url === 'string') hosts.push(new URL(s.url).hostname)
        if (typeof s.registry === 'string') hosts.push(new URL(s.registry).hostname)
        for (const b of (s.brokers as string[] | undefined) ?? []) hosts.push(b.split(':')[0]!)
      }
    }
    for (const h of hosts) assert.ok(services[h], `${h} is a compose service`)
    assert.deepEqual([...new Set(hosts)].sort(), [
      'kafka',
      'mysql',
      'opensearch',
      'postgres',
      'redis',
      'schema-registry',
    ])
    // Kafka: Sluice talks to the listener advertised to containers.
    assert.match(String(services.kafka!.environment!.KAFKA_ADVERTISED_LISTENERS), /INTERNAL:\/\/kafka:19092/)
    // Each ${VAR} the config uses is set in the sluice container, to what the database got.
    const used = [...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)].map((m) => m[1]!)
    assert.deepEqual([...new Set(used)].sort(), ['MYSQL_PASSWORD', 'PG_PASSWORD'])
    const env = services.sluice!.environment!
    assert.equal(env.PG_PASSWORD, services.postgres!.environment!.SLUICE_PG_PASSWORD)
    assert.equal(env.MYSQL_PASSWORD, services.mysql!.environment!.SLUICE_MYSQL_PASSWORD)
    assert.ok(String(env.PG_PASSWORD).length > 0 && String(env.MYSQL_PASSWORD).length > 0, 'passwords set')
  })

  test('the Postgres init script creates the publication of every Postgres pipeline in docker/sluice.yaml', () => {
    const cfg = parse(readFileSync(join(REPO_ROOT, 'docker', 'sluice.yaml'), 'utf8')) as {
      pipelines: { name: string; source: { type: string; publication?: string } }[]
    }
    const init = readFileSync(join(REPO_ROOT, 'docker', 'postgres', '20-sluice.sh'), 'utf8')
    const pgPipelines = cfg.pipelines.filter((p) => p.source.type === 'postgres')
    assert.ok(pgPipelines.length >= 2, 'two Postgres pipelines')
    for (const p of pgPipelines) {
      const publication = p.source.publication ?? `sluice_${p.name.replace(/[^A-Za-z0-9_]/g, '_')}`
      assert.match(init, new RegExp(`CREATE PUBLICATION ${publication} FOR TABLE`), publication)
    }
  })
})

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function dockerfile(): { op: string; args: string }[] {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ')
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l)!
      return { op: m[1]!.toUpperCase(), args: m[2]!.trim() }
    })
}

/** The instructions of each stage, by stage name. */
function stages(): Map<string, { op: string; args: string }[]> {
  const out = new Map<string, { op: string; args: string }[]>()
  let current: { op: string; args: string }[] | null = null
  for (const i of dockerfile()) {
    if (i.op === 'FROM') {
      const m = /\bAS\s+(\S+)$/i.exec(i.args)
      assert.ok(m, `every stage is named: FROM ${i.args}`)
      current = []
      out.set(m[1]!, current)
    }
    current?.push(i)
  }
  return out
}

const PACKAGE = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>
  bin: Record<string, string>
  engines: { node: string }
}

describe('Dockerfile', () => {
  test('two stages from a pinned node 20 bookworm-slim image: build, then runtime', () => {
    const arg = dockerfile().find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='))
    assert.match(arg?.args ?? '', /^NODE_IMAGE=node:20\.\d+\.\d+-bookworm-slim$/)
    const s = stages()
    assert.deepEqual([...s.keys()], ['build', 'runtime'])
    for (const st of s.values()) assert.match(st[0]!.args, /^\$\{NODE_IMAGE\} AS /)
    // The pinned Node satisfies package.json's engines (>=20.15).
    const [, minor] = /^node:20\.(\d+)/.exec(arg!.args.split('=')[1]!)!
    assert.ok(Number(minor) >= Number(/>=20\.(\d+)/.exec(PACKAGE.engines.node)![1]), 'engines.node allows it')
  })

  test('build stage: dev dependencies, then the package.json build script; runtime: production dependencies only', () => {
    const s = stages()
    const runs = (name: string): string[] =>
      s
        .get(name)!
        .filter((i) => i.op === 'RUN')
        .map((i) => i.args)
    const build = runs('build')
    assert.ok(build.includes('npm ci --no-audit --no-fund'), 'all dependencies for the build')
    assert.ok(build.includes('npm run build'), 'the build runs the package.json script')
    assert.equal(PACKAGE.scripts.build, 'tsc -p tsconfig.build.json')
    const runtime = runs('runtime')
    assert.ok(
      runtime.some((r) => r.startsWith('npm ci --omit=dev')),
      'production dependencies only',
    )
    assert.ok(!runtime.some((r) => /npm run build|tsc/.test(r)), 'nothing is compiled at runtime')
    const fromBuild = s.get('runtime')!.filter((i) => i.op === 'COPY' && i.args.startsWith('--from=build'))
    assert.deepEqual(
      fromBuild.map((i) => i.args),
      ['--from=build /app/dist ./dist'],
      'only the compiled output comes from the build stage',
    )
    // The `sluice` command is package.json's bin entry.
    assert.equal(PACKAGE.bin.sluice, 'dist/cli/main.js')
    assert.ok(
      runtime.some((r) => r.includes('ln -s /app/dist/cli/main.js /usr/local/bin/sluice')),
      'sluice on PATH',
    )
  })

  test('runs as a non-root user, checks /healthz with node, starts `sluice run -c /etc/sluice/sluice.yaml`', () => {
    const rt = stages().get('runtime')!
    const users = rt.filter((i) => i.op === 'USER').map((i) => i.args)
    assert.deepEqual(users, ['node'], 'one USER: the unprivileged node user of the image')
    const order = rt.map((i) => i.op)
    assert.ok(order.indexOf('USER') < order.indexOf('ENTRYPOINT'), 'USER before ENTRYPOINT')
    const hc = rt.find((i) => i.op === 'HEALTHCHECK')
    assert.ok(hc, 'HEALTHCHECK present')
    assert.match(hc.args, /CMD \["node", "-e", ".*fetch\('http:\/\/127\.0\.0\.1:' \+ .*\/healthz'\)/)
    assert.doesNotMatch(hc.args, /curl|wget/, 'slim images have neither')
    assert.equal(rt.find((i) => i.op === 'ENTRYPOINT')?.args, '["sluice"]')
    assert.equal(rt.find((i) => i.op === 'CMD')?.args, '["run", "-c", "/etc/sluice/sluice.yaml"]')
    assert.equal(rt.find((i) => i.op === 'EXPOSE')?.args, '8080')
  })

  test('the node -e healthcheck script is valid JavaScript that exits 1 when nothing answers', () => {
    const hc = stages()
      .get('runtime')!
      .find((i) => i.op === 'HEALTHCHECK')!
    const argv = JSON.parse(hc.args.slice(hc.args.indexOf('CMD ') + 4)) as string[]
    assert.equal(argv[0], 'node')
    // Port 1 on loopback: connection refused, so the check must fail (exit 1), not hang or throw.
    const r = spawnSync(process.execPath, argv.slice(1), {
      env: { ...process.env, SLUICE_ADMIN_PORT: '1' },
      encoding: 'utf8',
      timeout: 20_000,
    })
    assert.equal(r.status, 1, r.stderr)
    assert.equal(r.stderr, '')
  })

  test('every path it copies from the context exists and is not excluded by .dockerignore', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
    const copies = dockerfile().filter((i) => i.op === 'COPY' && !i.args.startsWith('--from='))
    assert.ok(copies.length > 5, 'the Dockerfile copies sources')
    for (const c of copies) {
      const parts = c.args.split(/\s+/)
      for (const src of parts.slice(0, -1)) {
        assert.ok(existsSync(join(REPO_ROOT, src)), `COPY source ${src} exists`)
        const top = src.split('/')[0]!
        assert.ok(!ignored.includes(top) && !ignored.includes(src), `${src} is not in .dockerignore`)
      }
    }
  })

  test('the build stage copies every source folder the build compiles (tsconfig.build.json include)', () => {
    const include = (
      JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }
    ).include
    const copied = stages()
      .get('build')!
      .filter((i) => i.op === 'COPY')
      .map((i) => i.args.split(/\s+/)[0]!)
    for (const dir of include) {
      if (existsSync(join(REPO_ROOT, dir)))
        assert.ok(copied.includes(dir), `COPY ${dir} ./${dir} in the build stage`)
    }
  })

  test('what the build stage copies compiles on its own, and the compiled `sluice` starts', () => {
    // The build stage's context, reproduced: the copied paths only, dependencies linked.
    const dir = mkdtempSync(join(tmpdir(), 'sluice-docker-build-'))
    try {
      const st = stages().get('build')!
      const runAt = st.findIndex((i) => i.args === 'npm run build')
      for (const c of st.slice(0, runAt).filter((i) => i.op === 'COPY')) {
        for (const src of c.args.split(/\s+/).slice(0, -1))
          cpSync(join(REPO_ROOT, src), join(dir, src), { recursive: true })
      }
      symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'))
      const tsc = spawnSync(
        process.execPath,
        [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
        {
          cwd: dir,
          encoding: 'utf8',
          timeout: 240_000,
        },
      )
      assert.equal(tsc.status, 0, `${tsc.stdout}${tsc.stderr}`)
      // The runtime entry point: dist/ next to package.json, as in the runtime stage.
      const run = spawnSync(process.execPath, [join(dir, 'dist', 'cli', 'main.js'), '--version'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 30_000,
      })
      assert.equal(run.status, 0, run.stderr)
      assert.equal(
        run.stdout.trim(),
        (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version,
      )
      assert.match(readFileSync(join(dir, 'dist', 'cli', 'main.js'), 'utf8'), /^#!\/usr\/bin\/env node\n/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('the stack against throwaway servers (Postgres 15 and MariaDB stand in for 16 and MySQL 8.4)', () => {
  const PG_PW = 'canary-StackPg-41d2'
  const MY_PW = 'canary-StackMy-93ae'
  let pg: PgServer
  let maria: MariaServer
  let dir: { dir: string; cleanup(): void }

  before(async () => {
    dir = tempDir()
    ;[pg, maria] = await Promise.all([startPostgres(), startMariadb()])
  })
  after(async () => {
    await Promise.all([pg?.stop(), maria?.stop()])
    dir?.cleanup()
  })

  test('init scripts, docker/sluice.yaml (sinks swapped for files) and the load generator work together', async () => {
    // docker/postgres: what the postgres image's entrypoint does with them.
    await pg.sql('CREATE DATABASE shop')
    await pg.sql(readFileSync(join(REPO_ROOT, 'docker', 'postgres', '10-shop.sql'), 'utf8'), [], 'shop')
    const pgInit = spawnSync('sh', [join(REPO_ROOT, 'docker', 'postgres', '20-sluice.sh')], {
      encoding: 'utf8',
      env: {
        ...process.env,
        PGHOST: '127.0.0.1',
        PGPORT: String(pg.port),
        POSTGRES_USER: 'postgres',
        POSTGRES_DB: 'shop',
        SLUICE_PG_PASSWORD: PG_PW,
      },
    })
    assert.equal(pgInit.status, 0, pgInit.stderr)
    // docker/mysql: the mysql image sources *.sh with docker_process_sql defined.
    await maria.sql('CREATE DATABASE shop')
    for (const stmt of readFileSync(join(REPO_ROOT, 'docker', 'mysql', '10-shop.sql'), 'utf8')
      .replace(/^--.*$/gm, '')
      .split(';')
      .map((s) => s.trim())
      .filter(Boolean))
      await maria.sql(stmt, [], 'shop')
    const myInit = spawnSync(
      'bash',
      [
        '-c',
        `docker_process_sql() { mariadb -h127.0.0.1 -P${maria.port} -uroot shop; }; source "$0"`,
        join(REPO_ROOT, 'docker', 'mysql', '20-sluice.sh'),
      ],
      { encoding: 'utf8', env: { ...process.env, SLUICE_MYSQL_PASSWORD: MY_PW } },
    )
    assert.equal(myInit.status, 0, myInit.stderr)
    // The mysql entrypoint defines docker_process_sql only for scripts it sources, which it
    // does for *.sh files that are not executable.
    assert.equal(statSync(join(REPO_ROOT, 'docker', 'mysql', '20-sluice.sh')).mode & 0o111, 0)

    // docker/sluice.yaml with the compose host names pointed at the throwaway servers and
    // each sink replaced by a JSON-lines file sink; everything else (users, publications,
    // server_id) as the stack has it.
    const cfg = parse(readFileSync(join(REPO_ROOT, 'docker', 'sluice.yaml'), 'utf8')) as {
      pipelines: { name: string; source: { url: string }; sinks: unknown[] }[]
      state: { path: string }
      admin?: unknown
    }
    for (const p of cfg.pipelines) {
      const url = p.source.url
      p.source.url = url
        .replace('@postgres:5432/', `@127.0.0.1:${pg.port}/`)
        .replace('@mysql:3306/', `@127.0.0.1:${maria.port}/`)
      assert.notEqual(p.source.url, url, `${p.name} points at a compose database`)
      p.sinks = [{ type: 'file', path: join(dir.dir, 'out', p.name), format: 'jsonl' }]
    }
    cfg.state.path = join(dir.dir, 'state')
    delete cfg.admin
    writeFileSync(join(dir.dir, 'sluice.yaml'), stringify(cfg))
    const sluice = spawnCli(['run', '-c', 'sluice.yaml'], {
      cwd: dir.dir,
      env: { PG_PASSWORD: PG_PW, MYSQL_PASSWORD: MY_PW },
    })
    let loadgen: CliProcess | null = null
    try {
      const events = (pipeline: string): { op: string }[] => {
        const root = join(dir.dir, 'out', pipeline)
        const ls = (d: string): string[] => (existsSync(d) ? readdirSync(d) : [])
        return ls(root).flatMap((t) =>
          ls(join(root, t)).flatMap((f) =>
            readFileSync(join(root, t, f), 'utf8')
              .split('\n')
              .slice(0, -1)
              .map((l) => JSON.parse(l) as { op: string }),
          ),
        )
      }
      const snapshotRows = { shop_kafka: 20 + 50, shop_redis: 20 + 50, shop_search: 5 + 6 }
      await waitFor(
        () =>
          Object.entries(snapshotRows).every(([p, n]) => events(p).filter((e) => e.op === 'r').length === n),
        120_000,
        'the snapshots of all three pipelines',
      )

      // docker/loadgen.ts as the `load` profile runs it, with the superusers' URLs.
      loadgen = spawnTsx(join(REPO_ROOT, 'docker', 'loadgen.ts'), {
        PG_URL: pg.urlFor('shop'),
        MYSQL_URL: maria.urlFor('shop'),
        LOAD_INTERVAL_MS: '50',
      })
      await loadgen.waitForOutput('loadgen: writing to postgres and mysql every 50 ms', 60_000)
      const live = (p: string): boolean => ['c', 'u', 'd'].every((op) => events(p).some((e) => e.op === op))
      await waitFor(
        () => live('shop_kafka') && live('shop_redis') && live('shop_search'),
        120_000,
        'live changes',
      )
      loadgen.kill('SIGTERM')
      const lg = await exitWithin(loadgen, 30_000)
      assert.equal(lg.code, 0, loadgen.stderr())
      assert.match(loadgen.stdout(), /loadgen: stopped after \d+ changes/)

      sluice.kill('SIGTERM')
      const { code } = await exitWithin(sluice, 30_000)
      assert.equal(code, 0, sluice.stderr())
      for (const pw of [PG_PW, MY_PW]) assert.ok(!sluice.stderr().includes(pw), 'passwords are not logged')
    } finally {
      loadgen?.kill('SIGKILL')
      sluice.kill('SIGKILL')
    }
  })
})

/** Runs a TypeScript file as a child (node --import tsx), as the loadgen container does. */
function spawnTsx(file: string, env: Record<string, string>): CliProcess {
  const tsx = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href
  const child = spawn(process.execPath, ['--import', tsx, file], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')))
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')))
  let gone = false
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      gone = true
      resolve({ code, signal })
    }),
  )
  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForOutput(pattern, timeoutMs = 30_000) {
      const hit = (): boolean =>
        typeof pattern === 'string' ? (out + err).includes(pattern) : pattern.test(out + err)
      await waitFor(() => hit() || gone, timeoutMs, String(pattern))
      if (!hit()) throw new Error(`${file} exited before printing ${pattern}:\n${err}`)
    },
    kill(signal) {
      if (!gone) child.kill(signal)
    },
  }
}
