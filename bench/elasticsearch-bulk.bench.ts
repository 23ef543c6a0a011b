/**
 * Elasticsearch/OpenSearch sink throughput (overhead of the sink and the client only):
 * change batches of a realistic row (int key, text, decimal, timestamp, ~100-byte text)
 * are written through ElasticsearchSink, in two scenarios:
 *
 *   1. `render`: the sink against an in-process client that acknowledges every item at
 *      once: document rendering, versions, NDJSON building and result handling only;
 *   2. `http`: the sink through the real client to the in-test fake (test/integration/
 *      servers/elasticsearch-fake.ts) running in a child process, so its parsing does
 *      not share the sink's thread: adds HTTP, the client and bulk round trips.
 *
 * The fake answers cheaply but is not a search server: the figures are an upper bound of
 * what the sink can feed, not an Elasticsearch indexing rate. Prints a summary and appends
 * a dated section to bench/RESULTS.md (BENCH_RESULTS=0: do not).
 *
 *   npm run bench:elasticsearch
 *   BENCH_ROWS=20000 BENCH_RUNS=1 BENCH_RESULTS=0 npm run bench:elasticsearch   # smoke run
 *   env: BENCH_ROWS (200,000 events per run), BENCH_RUNS (5), BENCH_ONLY (render,http),
 *        BENCH_FLAVOR (elasticsearch|opensearch), BENCH_BATCH (1,000 events per batch),
 *        BENCH_RESULTS
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import pino from 'pino'
import { makePosition } from '../connectors/postgres/position.js'
import type { ChangeBatch, ChangeEvent, Row } from '../pipeline/event.js'
import type { ColumnSchema, TableSchema } from '../pipeline/schema.js'
import type { BulkItemResult, SearchClient } from '../sinks/elasticsearch/client.js'
import { elasticsearchConfig } from '../sinks/elasticsearch/config.js'
import { createElasticsearchSink, type ElasticsearchSinkDeps } from '../sinks/elasticsearch/sink.js'
import { startSearchFake, type SearchFlavor } from '../test/integration/servers/elasticsearch-fake.js'
import { announce, benchCommand, benchSettings, REPO, runMain, say } from './lib/harness.js'
import { machineInfo } from './lib/machine.js'
import { commandLine, finishSection, machineLine, sectionHead, subsection } from './lib/report.js'
import { fix, int, median, table } from './lib/stats.js'

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'
const { rows: ROWS_SETTING, runs: RUNS, only: ONLY } = benchSettings('render,http')
const ROWS = process.env.BENCH_ROWS ? ROWS_SETTING : 200_000
const FLAVOR = (process.env.BENCH_FLAVOR ?? 'elasticsearch') as SearchFlavor
const BATCH = Number(process.env.BENCH_BATCH ?? 1000)
/** Rows per source transaction (one commit LSN each). */
const TX_ROWS = 100

const col = (name: string, avro: ColumnSchema['avro']): ColumnSchema => ({
  name,
  sourceType: 'x',
  nullable: true,
  avro,
  fromText: (t) => t,
})

const TABLE: TableSchema = {
  connector: 'postgresql',
  db: 'bench',
  schema: 'public',
  table: 'items',
  version: 1,
  keyColumns: ['id'],
  columns: [
    col('id', 'int'),
    col('name', 'string'),
    col('price', {
      type: 'bytes',
      scale: 2,
      precision: 12,
      'connect.parameters': { scale: '2', 'connect.decimal.precision': '12' },
      'connect.name': 'org.apache.kafka.connect.data.Decimal',
      logicalType: 'decimal',
    }),
    col('updated', { type: 'long', 'connect.name': 'io.debezium.time.MicroTimestamp' }),
    col('note', 'string'),
  ],
}

const NOTE =
  'lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore'

/** The batches of one run: inserts, then every third row updated, every tenth deleted. */
function workload(rows: number): { batches: ChangeBatch[]; events: number } {
  const events: ChangeEvent[] = []
  let lsn = 0x10_0000_0000n
  const push = (op: 'c' | 'u' | 'd', id: number, index: number): void => {
    if (index === 0) lsn += 0x1000n
    const position = makePosition(lsn, '1', index + 1)
    const unscaled = Buffer.alloc(4)
    unscaled.writeInt32BE(id * 125)
    const row: Row = {
      id,
      name: `item ${id}`,
      price: unscaled,
      updated: 1_700_000_000_000_000n + BigInt(id),
      note: NOTE,
    }
    events.push({
      op,
      table: TABLE,
      key: { id },
      before: op === 'c' ? null : row,
      after: op === 'd' ? null : row,
      position,
      source: {
        version: 'bench',
        connector: 'postgresql',
        name: 'bench',
        ts_ms: 0,
        snapshot: 'false',
        db: 'bench',
        schema: 'public',
        table: 'items',
        position,
      },
      transaction: null,
      ts_ms: 0,
    })
  }
  let n = 0
  for (let id = 1; n < rows; id++, n++) push('c', id, n % TX_ROWS)
  const inserted = n
  for (let id = 1; id <= inserted && n < rows * 1.5; id += 3, n++) push('u', id, n % TX_ROWS)
  for (let id = 2; id <= inserted && n < rows * 1.6; id += 10, n++) push('d', id, n % TX_ROWS)
  const batches: ChangeBatch[] = []
  for (let i = 0; i < events.length; i += BATCH) {
    const slice = events.slice(i, i + BATCH)
    batches.push({ events: slice, checkpoint: slice.at(-1)!.position, bytes: 0 })
  }
  return { batches, events: events.length }
}

/** A client that acknowledges every item without a server (scenario `render`). */
function instantClient(): SearchClient & { bytes: number } {
  const c = {
    bytes: 0,
    info: async () => ({ product: FLAVOR, version: 'in-process' }),
    indexExists: async () => true,
    createIndex: async () => false,
    async bulk(ndjson: string): Promise<BulkItemResult[]> {
      c.bytes += ndjson.length
      const out: BulkItemResult[] = []
      for (let i = ndjson.indexOf('{"'); i >= 0;) {
        const isDelete = ndjson.startsWith('{"delete"', i)
        out.push({ status: isDelete ? 200 : 201 })
        // Skip the action line, and the source line of an index action.
        let next = ndjson.indexOf('\n', i) + 1
        if (!isDelete) next = ndjson.indexOf('\n', next) + 1
        i = next > 0 && next < ndjson.length ? next : -1
      }
      return out
    },
    close: async () => {},
  }
  return c
}

interface Result {
  ms: number
  events: number
  requests: number
}

async function runOnce(url: string | null, deps: ElasticsearchSinkDeps): Promise<Result> {
  const { batches, events } = workload(ROWS)
  const config = elasticsearchConfig.parse({
    type: 'elasticsearch',
    flavor: FLAVOR,
    url: url ?? 'http://127.0.0.1:1',
    index: 'bench-${table}',
  })
  const sink = createElasticsearchSink(
    config,
    {
      pipeline: 'bench',
      log: pino({ level: 'silent' }),
      avro: { types: 'debezium', prefix: 'bench', unsupported: 'fail' },
    },
    deps,
  )
  await sink.open()
  const t0 = performance.now()
  for (const b of batches) sink.write(b).catch(() => {}) // flush() reports a failure
  await sink.flush()
  const ms = performance.now() - t0
  await sink.close()
  return { ms, events, requests: sink.stats.bulkRequests }
}

/** Starts the fake in a child process (this file with `--fake`); resolves with its URL. */
async function startFakeProcess(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--fake', FLAVOR],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const [line] = (await Promise.race([
    once(child.stdout!, 'data'),
    once(child, 'exit').then(() => {
      throw new Error('the fake process exited')
    }),
  ])) as [Buffer]
  return { url: line.toString().trim(), child }
}

async function main(): Promise<void> {
  const info = machineInfo(REPO, PG_BIN)
  const command = benchCommand(
    ['BENCH_ROWS', 'BENCH_RUNS', 'BENCH_ONLY', 'BENCH_FLAVOR', 'BENCH_BATCH'],
    'npm run bench:elasticsearch',
  )
  announce('Elasticsearch sink bulk throughput', command, info, ROWS, RUNS)
  const rows: string[][] = []
  const notes: string[] = []
  for (const scenario of ['render', 'http'] as const) {
    if (!ONLY.has(scenario)) continue
    const fake = scenario === 'http' ? await startFakeProcess() : null
    try {
      const results: Result[] = []
      for (let r = 0; r < RUNS; r++) {
        const res = await runOnce(fake?.url ?? null, fake ? {} : { client: instantClient() })
        say(
          `${scenario} run ${r + 1}: ${int(res.events)} events in ${fix(res.ms / 1000)} s = ${int((res.events / res.ms) * 1000)} events/s (${int(res.requests)} bulk requests)`,
        )
        results.push(res)
      }
      const rates = results.map((x) => (x.events / x.ms) * 1000)
      rows.push([
        scenario,
        int(results[0]!.events),
        int(median(rates)),
        int(Math.min(...rates)),
        int(Math.max(...rates)),
        int(results[0]!.requests),
      ])
    } finally {
      fake?.child.kill('SIGTERM')
    }
  }
  const lines = [
    sectionHead(info, `Elasticsearch sink bulk throughput (${FLAVOR})`),
    '',
    commandLine(command, ROWS, RUNS, `, batches of ${int(BATCH)} events, ${TX_ROWS} rows per transaction`),
    machineLine(info, `${FLAVOR} in-test fake (child process)`),
    ...subsection(
      'Events per second (inserts, then updates of every third row and deletes of every tenth)',
      table(['scenario', 'events', 'median events/s', 'min', 'max', 'bulk requests'], rows),
    ),
  ]
  notes.push(
    '`render`: no HTTP (the sink alone); `http`: the official client to the fake in a child process.',
  )
  notes.push('The fake does not index or search: these figures bound the sink, not a real cluster.')
  finishSection(lines, notes, REPO)
}

if (process.argv[2] === '--fake') {
  const fake = await startSearchFake({
    flavor: (process.argv[3] as SearchFlavor | undefined) ?? 'elasticsearch',
  })
  process.stdout.write(`${fake.url}\n`)
  process.on('SIGTERM', () => void fake.stop().then(() => process.exit(0)))
} else {
  runMain(main, async () => {})
}
