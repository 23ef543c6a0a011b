/**
 * Postgres source faults under write load (harness: helpers/faults.ts): the connection cut
 * by a TCP proxy (and refused for a while), the walsender terminated by an administrator,
 * and a restart of Postgres itself; one `sluice run` process must survive them all by
 * restarting the pipeline (pipeline/supervisor.ts) and lose nothing. Also: an idle captured
 * table on a busy database keeps the slot moving.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { loadRowOf, prng, sleep } from './helpers/crash.js'
import { faultSeed, proxyCut, runFaultScenario, viaProxy } from './helpers/faults.js'
import { pipelineYaml, readEnvelopes, startPipeline, tempDir, waitFor } from './helpers/pipeline.js'
import { startProxy, type FaultProxy } from './helpers/proxy.js'
import { startPostgres, type PgServer } from './servers/postgres.js'

const SERIES = 'public.counters'
const PIPELINE = 'faults'

let server: PgServer
let proxy: FaultProxy

before(async () => {
  server = await startPostgres()
  await server.sql('CREATE DATABASE shop')
  await server.sql(
    `CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL);
     ALTER TABLE counters REPLICA IDENTITY FULL;
     INSERT INTO counters SELECT g, 0, 'seed-' || g FROM generate_series(1, 2000) g;`,
    [],
    'shop',
  )
  proxy = await startProxy(server.port)
})
after(async () => {
  await proxy?.stop()
  await server?.stop()
})

/** Small write transactions until stop(); reconnects by itself when the server restarts. */
function startWriter(url: string, rand: () => number): { stop(): Promise<number> } {
  let running = true
  let txs = 0
  let nextId = 2001
  const loop = (async () => {
    while (running) {
      const client = new pg.Client({ connectionString: url })
      client.on('error', () => undefined)
      try {
        await client.connect()
        while (running) {
          const r = rand()
          const id = 1 + Math.floor(rand() * (nextId - 1))
          if (r < 0.5) await client.query('UPDATE counters SET v = v + 1 WHERE id = $1', [id])
          else if (r < 0.85) {
            const n = nextId++
            await client.query('INSERT INTO counters VALUES ($1, 0, $2)', [n, `w${n}`])
          } else await client.query('DELETE FROM counters WHERE id = $1', [id])
          txs++
          await sleep(3)
        }
      } catch {
        await sleep(200) // the server is restarting
      } finally {
        await client.end().catch(() => undefined)
      }
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      return txs
    },
  }
}

test(
  'connection cut, walsender terminated, server restarted: the pipeline reconnects by itself and loses nothing',
  { timeout: 240_000 },
  async (t) => {
    const seed = faultSeed(t)
    const url = viaProxy(server.urlFor('shop'), server.port, proxy)
    await runFaultScenario(t, {
      pipeline: PIPELINE,
      series: SERIES,
      source: `type: postgres\nurl: ${url}\ntables: [${SERIES}]\nstatus_interval_ms: 500`,
      proxy,
      sortKey: (pos) => pos,
      streaming: (pos) => pos.includes('.1.'),
      faults: [
        proxyCut(proxy),
        {
          name: 'the walsender terminated by an administrator',
          async inject() {
            const pid = await waitFor(
              async () => {
                const r = await server.sql<{ pid: number | null }>(
                  `SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = 'sluice_${PIPELINE}'`,
                  [],
                  'shop',
                )
                return r[0]?.pid ?? null
              },
              30_000,
              'the slot active',
            )
            const [r] = await server.sql<{ ok: boolean }>(
              'SELECT pg_terminate_backend($1) AS ok',
              [pid],
              'shop',
            )
            assert.equal(r!.ok, true, `walsender ${pid} was terminated`)
          },
        },
        { name: 'Postgres restarted', inject: () => server.restart() },
      ],
      startWriter: () => startWriter(server.urlFor('shop'), prng(seed)),
      insertSentinel: async () => {
        await server.sql(`INSERT INTO counters VALUES (-1, 0, 'sentinel')`, [], 'shop')
      },
      rows: async () =>
        (await server.sql('SELECT id, v, note FROM counters ORDER BY id', [], 'shop')).map(loadRowOf),
    })
  },
)

test(
  'an idle captured table on a busy database: confirmed_flush_lsn keeps up, retained WAL stays bounded',
  { timeout: 120_000 },
  async (t) => {
    await server.sql(
      `CREATE TABLE quiet (id int PRIMARY KEY, v text);
       CREATE TABLE busy (id serial PRIMARY KEY, payload text NOT NULL);`,
      [],
      'shop',
    )
    const tmp = tempDir()
    const p = startPipeline(
      pipelineYaml({
        url: server.urlFor('shop'),
        tables: ['public.quiet'],
        dir: tmp.dir,
        name: 'idle',
        extraSource: '      heartbeat_interval_ms: 500\n      status_interval_ms: 500',
      }),
      tmp.dir,
    )
    const slot = async (): Promise<{ confirmed: bigint; retained: bigint }> => {
      const [r] = await server.sql<{ confirmed: string; retained: string }>(
        `SELECT (confirmed_flush_lsn - '0/0'::pg_lsn)::text AS confirmed,
                (pg_current_wal_lsn() - restart_lsn)::text AS retained
           FROM pg_replication_slots WHERE slot_name = 'sluice_idle'`,
        [],
        'shop',
      )
      return { confirmed: BigInt(r!.confirmed), retained: BigInt(r!.retained) }
    }
    try {
      await waitFor(() => p.runner.stats.committedPosition !== null, 30_000, 'snapshot committed')
      const start = await slot()
      // ~40 MB of WAL on a table the pipeline does not capture.
      for (let i = 0; i < 20; i++) {
        await server.sql(
          `INSERT INTO busy (payload) SELECT repeat('x', 1000) FROM generate_series(1, 2000)`,
          [],
          'shop',
        )
      }
      const [w] = await server.sql<{ written: string }>(
        `SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS written`,
      )
      const written = BigInt(w!.written)
      // confirmed_flush_lsn follows at once; restart_lsn (what the server retains) follows
      // at the next xl_running_xacts record, which Postgres logs every 15 s.
      const end = await waitFor(
        async () => {
          const s = await slot()
          return written - s.confirmed < 1n << 20n && s.retained < 16n << 20n ? s : null
        },
        60_000,
        'confirmed_flush_lsn and restart_lsn to follow the busy table',
      )
      t.diagnostic(
        `confirmed advanced ${end.confirmed - start.confirmed} bytes; retained ${end.retained} bytes`,
      )
      assert.ok(
        end.confirmed - start.confirmed > 30n << 20n,
        'confirmed_flush_lsn advanced past the busy WAL',
      )
      assert.ok(end.retained < 16n << 20n, `retained WAL bounded (${end.retained} bytes)`)
      assert.deepEqual(
        (await readEnvelopes(p.out)).map((e) => e.source.table),
        [],
        'nothing of the uncaptured table was emitted',
      )
    } finally {
      await p.stop()
      tmp.cleanup()
    }
  },
)
