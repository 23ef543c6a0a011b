import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { startPostgres, type PgServer } from '../test/integration/servers/postgres.js'
import { say, workspace, runMain } from './lib/harness.js'
import { prepareLauncher, runSluice, writePipelineYaml } from './lib/sluice.js'
import { createTableSql, insertSql, lsnNow, parseLsn } from './lib/workload.js'

let server: PgServer | null = null
const WORK = workspace({ prefix: 'memexp-', serverName: 'pg', stopServer: async () => { await server?.stop().catch(() => {}) }, signals: ['SIGINT'] })
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000)
async function main(): Promise<void> {
  const launcher = prepareLauncher(WORK.dir, [], [])
  server = await startPostgres({ autovacuum: 'off', max_wal_size: '8GB', checkpoint_timeout: '1h' })
  const c = new pg.Client({ connectionString: server.url })
  await c.connect()
  await c.query(createTableSql('bench_big'))
  await c.query('CREATE PUBLICATION big_pub FOR TABLE bench_big')
  await c.query(`SELECT pg_create_logical_replication_slot('tmpl_big', 'pgoutput')`)
  const start = parseLsn(await lsnNow(c))
  await c.query(insertSql('bench_big'), [1, ROWS])
  await c.query('CHECKPOINT')
  const variants = (process.env.EXP ?? '').split(';')
  const reps = Number(process.env.EXP_REPS ?? 1)
  for (let rep = 0; rep < reps; rep++)
  for (const [vi, v] of variants.entries()) {
    const [flagsS, inflight, rt] = v.split('|')
    process.env.RT_FLAGS = rt ?? ''
    const flags = (flagsS ?? '').split(' ').filter(Boolean)
    const slot = `s_${rep}_${vi}`
    await c.query('SELECT pg_copy_logical_replication_slot($1, $2)', ['tmpl_big', slot])
    const memlog = join(WORK.dir, `${slot}.mem`)
    process.env.MEMLOG = memlog
    const r = await runSluice(launcher, WORK.dir, {
      name: slot,
      configure: (dir) => writePipelineYaml({ url: server!.url, table: 'public.bench_big', slot, publication: 'big_pub', snapshot: 'never', dir, maxInFlightEvents: inflight ? Number(inflight) : undefined }),
      events: ROWS,
      complete: (pos) => { const m = /^([0-9A-F]{16})\.1\.999999999999$/.exec(pos); return !!m && BigInt('0x' + m[1]) >= start },
      nodeFlags: [...flags, '--import', '/tmp/mem-wt/rtflags.mjs', '--import', '/tmp/mem-wt/sampler.mjs'],
    })
    const rows = readFileSync(memlog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>)
    const mx = (k: string): string => (Math.max(...rows.map((x) => x[k]!)) / 2 ** 20).toFixed(0)
    const atPeak = rows.reduce((a, b) => (b.rss! > a.rss! ? b : a))
    const f = (x: number | undefined): string => ((x ?? 0) / 2 ** 20).toFixed(0)
    say(`[${v}] rep ${rep}: ${(r.ms / 1000).toFixed(2)} s ${Math.round(r.rate)} ev/s hwm ${(r.peak!.hwmKb / 1024).toFixed(0)} MiB cpu ${r.peak!.cpuS.toFixed(1)} s | max rss ${mx('rss')} heapTotal ${mx('ht')} heapUsed ${mx('hu')} ext ${mx('ext')} ab ${mx('ab')} new ${mx('new')} old ${mx('old')} lo ${mx('lo')} | at peak: ht ${f(atPeak.ht)} hu ${f(atPeak.hu)} ext ${f(atPeak.ext)} new ${f(atPeak.new)} old ${f(atPeak.old)} lo ${f(atPeak.lo)} code ${f(atPeak.code)}`)
    await c.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => {})
  }
  await c.end()
}
runMain(main, WORK.cleanup)
