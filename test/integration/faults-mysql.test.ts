/**
 * MariaDB source faults under write load (harness: helpers/faults.ts): the connection cut by
 * a TCP proxy (and refused for a while), the binlog dump thread killed by an administrator,
 * and a restart of mariadbd itself; one `sluice run` process must survive them all by
 * restarting the pipeline (pipeline/supervisor.ts) and lose nothing.
 */
import { after, before, test } from 'node:test'
import { loadRowOf } from './helpers/crash.js'
import { faultSeed, proxyCut, runFaultScenario, viaProxy } from './helpers/faults.js'
import { snapshotFinished, sortKey, startMysqlLoad } from './helpers/mysql.js'
import { waitFor } from './helpers/pipeline.js'
import { startProxy, type FaultProxy } from './helpers/proxy.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'

const SERIES = 'shop.counters'
const ROWS = 2000

let server: MariaServer
let proxy: FaultProxy

before(async () => {
  server = await startMariadb()
  await server.sql('CREATE DATABASE shop')
  await server.sql(
    'CREATE TABLE counters (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(64) NOT NULL) ENGINE=InnoDB',
    [],
    'shop',
  )
  await server.sql(
    `INSERT INTO counters SELECT seq, 0, CONCAT('seed-', seq) FROM seq_1_to_${ROWS}`,
    [],
    'shop',
  )
  proxy = await startProxy(server.port)
})
after(async () => {
  await proxy?.stop()
  await server?.stop()
})

/** The write load (helpers/mysql.ts), which can be paused around a server restart. */
function restartableLoad(seed: number): {
  pause(): Promise<void>
  resume(): void
  stop(): Promise<number>
} {
  let txs = 0
  let generation = 0
  let load: ReturnType<typeof startMysqlLoad> | null = null
  const start = (): void => {
    generation++
    load = startMysqlLoad({
      url: server.urlFor('shop'),
      table: 'counters',
      writers: 1,
      seed: seed + generation,
      maxId: ROWS,
      firstNewId: ROWS + 1 + generation * 1_000_000,
      mixed: false,
      pauseMs: 3,
    })
  }
  start()
  const pause = async (): Promise<void> => {
    const l = load
    load = null
    if (l) txs += (await l.stop()).txs
  }
  return {
    pause,
    resume: start,
    async stop() {
      await pause()
      return txs
    },
  }
}

test(
  'mysql: connection cut, dump thread killed, server restarted: the pipeline reconnects by itself and loses nothing',
  { timeout: 240_000 },
  async (t) => {
    const seed = faultSeed(t)
    const url = viaProxy(server.urlFor('shop'), server.port, proxy)
    const writer = restartableLoad(seed)
    await runFaultScenario(t, {
      pipeline: 'faults',
      series: SERIES,
      source: `type: mysql\nurl: ${url}\ntables: [${SERIES}]\nserver_id: 5801\nheartbeat_interval_ms: 1000`,
      proxy,
      sortKey,
      streaming: (key) => snapshotFinished(key) && key.split('.')[2] === '1',
      faults: [
        proxyCut(proxy),
        {
          name: 'the binlog dump thread killed by an administrator',
          async inject() {
            const id = await waitFor(
              async () => {
                const rows = await server.sql<{ Id: number; Command: string }>('SHOW PROCESSLIST')
                return rows.find((r) => r.Command === 'Binlog Dump')?.Id ?? null
              },
              30_000,
              'the dump thread',
            )
            await server.sql(`KILL ${Number(id)}`)
          },
        },
        {
          // The write load runs on its own connections, which the restart breaks: it is
          // stopped around the restart and started again on fresh ids.
          name: 'mariadbd restarted',
          async inject() {
            await writer.pause()
            await server.restart()
            writer.resume()
          },
        },
      ],
      startWriter: () => writer,
      insertSentinel: async () => {
        await server.sql(`INSERT INTO counters VALUES (-1, 0, 'sentinel')`, [], 'shop')
      },
      rows: async () =>
        (await server.sql('SELECT id, v, note FROM counters ORDER BY id', [], 'shop')).map(loadRowOf),
    })
  },
)
