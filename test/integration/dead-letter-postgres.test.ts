import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import pino from 'pino'
import { AdminMetrics } from '../../admin/metrics.js'
import { buildPipeline } from '../../cli/run.js'
import { parseConfigText } from '../../config/index.js'
import { parsePosition } from '../../connectors/postgres/position.js'
import type { DeadLetterRecord } from '../../pipeline/dead-letter.js'
import type { PipelineRunner } from '../../pipeline/runner.js'
import { exitWithin, spawnCli } from './helpers/cli.js'
import { readStatePosition } from './helpers/crash.js'
import { pipelineYaml, readEnvelopes, tempDir, waitFor, type Envelope } from './helpers/pipeline.js'
import { parseMetrics, sampleValue } from './helpers/prometheus.js'
import { startPostgres, type PgServer } from './servers/postgres.js'

let pg: PgServer

before(async () => {
  pg = await startPostgres()
})
after(async () => {
  await pg?.stop()
})

/** A pipeline run in-process with the admin metrics attached. */
interface Run {
  readonly runner: PipelineRunner
  readonly metrics: AdminMetrics
  readonly done: Promise<void>
  stop(): Promise<void>
}

function run(yaml: string, dir: string): Run {
  const { config } = parseConfigText(yaml, join(dir, 'sluice.yaml'), {})
  const metrics = new AdminMetrics()
  const runner = buildPipeline(config.pipelines[0]!, config, pino({ level: config.log.level }), { metrics })
  const ac = new AbortController()
  const done = runner.run(ac.signal)
  done.catch(() => {})
  return {
    runner,
    metrics,
    done,
    async stop() {
      ac.abort(new Error('test stop'))
      await done
    },
  }
}

async function metric(m: AdminMetrics, name: string, labels: Record<string, string>): Promise<number | null> {
  return sampleValue(parseMetrics(await m.registry.metrics()), name, labels)
}

const ids = (evs: Envelope[]): number[] => evs.map((e) => Number((e.after ?? e.before)!.id))
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i)

function deadLetters(path: string): DeadLetterRecord[] {
  if (!existsSync(path)) return []
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as DeadLetterRecord)
}

async function freshDb(db: string): Promise<void> {
  await pg.sql(`CREATE DATABASE ${db}`)
  await pg.sql(`CREATE TABLE orders (id int PRIMARY KEY, amount numeric(12,2), note text);`, [], db)
}

/** Inserts rows `ids`; the ones in `nan` get numeric 'NaN' (which no Avro decimal can hold). */
async function insert(db: string, rows: number[], nan: number[] = []): Promise<void> {
  const values = rows.map((i) => `(${i}, ${nan.includes(i) ? `'NaN'` : `${i}.50`}, 'n${i}')`).join(', ')
  await pg.sql(`INSERT INTO orders VALUES ${values}`, [], db)
}

describe('on_error with a postgres source', () => {
  test('dead_letter (file): the NaN rows of the snapshot and of the stream are dead-lettered, everything else delivered, the position passes them', async () => {
    const db = 'dl_file'
    await freshDb(db)
    await insert(db, range(1, 20), [10])
    const t = tempDir()
    const dlPath = join(t.dir, 'dead', 'letters.jsonl')
    const yaml = pipelineYaml({
      url: pg.urlFor(db),
      tables: ['public.orders'],
      dir: t.dir,
      name: 'dlfile',
      extraPipeline: `    on_error: dead_letter\n    dead_letter: {type: file, path: ${dlPath}}\n`,
    })
    const p = run(yaml, t.dir)
    try {
      await waitFor(async () => (await readEnvelopes(join(t.dir, 'out'))).length >= 19, 30_000, 'snapshot')
      // Streaming: one transaction with a NaN row in the middle, one update to NaN, then more rows.
      await insert(db, range(21, 40), [30])
      await pg.sql(`UPDATE orders SET amount = 'NaN' WHERE id = 5`, [], db)
      await insert(db, [41])
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(join(t.dir, 'out'))
        return ids(e).includes(41) ? e : null
      })
      const snap = evs.filter((e) => e.op === 'r')
      assert.deepEqual(
        ids(snap).sort((a, b) => a - b),
        range(1, 20).filter((i) => i !== 10),
      )
      const stream = evs.filter((e) => e.op !== 'r')
      assert.deepEqual(ids(stream), [...range(21, 40).filter((i) => i !== 30), 41])
      const dl = deadLetters(dlPath)
      assert.equal(dl.length, 3, JSON.stringify(dl))
      const [r10, r30, u5] = dl
      for (const r of dl) {
        assert.equal(r.pipeline, 'dlfile')
        assert.equal(r.origin, 'source')
        assert.equal(r.error.code, 'VALUE_OUT_OF_RANGE')
        assert.match(r.error.message, /amount/)
        assert.equal(r.table, 'public.orders')
        assert.equal(r.column, 'amount')
        assert.ok(!Number.isNaN(Date.parse(r.timestamp)))
      }
      assert.equal(r10!.op, 'r')
      assert.deepEqual(r10!.after, { id: '10', amount: 'NaN', note: 'n10' })
      assert.equal(r10!.before, null)
      assert.equal(r30!.op, 'c')
      assert.deepEqual(r30!.after, { id: '30', amount: 'NaN', note: 'n30' })
      assert.equal(u5!.op, 'u')
      assert.deepEqual(u5!.after, { id: '5', amount: 'NaN', note: 'n5' })
      // Positions: the snapshot record sits between its neighbours; the stream one in its transaction.
      const pos = (id: number, op: string): string =>
        evs.find((e) => Number((e.after ?? e.before)!.id) === id && e.op === op)!.source.position
      assert.ok(pos(29, 'c') < r30!.position && r30!.position < pos(31, 'c'))
      assert.equal(parsePosition(r30!.position).lsn, parsePosition(pos(29, 'c')).lsn, 'same transaction')
      assert.equal(parsePosition(r10!.position).phase, '0', 'a snapshot position')
      // The committed position moves past every dead-lettered row.
      const committed = await waitFor(() => {
        const c = readStatePosition(join(t.dir, 'state'), 'dlfile')
        return c !== null && c > pos(41, 'c') ? c : null
      })
      assert.ok(committed > u5!.position)
      assert.equal(await metric(p.metrics, 'sluice_dead_letter_events_total', { pipeline: 'dlfile' }), 3)
      assert.equal(p.runner.stats.rejected, 3)
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('skip: the NaN row is counted once in sluice_events_skipped_total and the rows around it are delivered', async () => {
    const db = 'dl_skip'
    await freshDb(db)
    await insert(db, range(1, 5))
    const t = tempDir()
    const yaml = pipelineYaml({
      url: pg.urlFor(db),
      tables: ['public.orders'],
      dir: t.dir,
      name: 'dlskip',
      extraPipeline: '    on_error: skip\n',
    })
    const p = run(yaml, t.dir)
    try {
      await waitFor(async () => (await readEnvelopes(join(t.dir, 'out'))).length >= 5, 30_000, 'snapshot')
      await insert(db, [6, 7, 8], [7])
      await insert(db, [9])
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(join(t.dir, 'out'))
        return ids(e).includes(9) ? e : null
      })
      assert.deepEqual(ids(evs), [1, 2, 3, 4, 5, 6, 8, 9])
      const labels = { pipeline: 'dlskip', origin: 'source', code: 'VALUE_OUT_OF_RANGE' }
      assert.equal(await metric(p.metrics, 'sluice_events_skipped_total', labels), 1)
      assert.equal(p.runner.stats.rejected, 1)
      assert.equal(await metric(p.metrics, 'sluice_dead_letter_events_total', { pipeline: 'dlskip' }), null)
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('halt (default): sluice run exits non-zero with VALUE_OUT_OF_RANGE, the position stays before the row, a restart fails the same way, and nothing is lost', async () => {
    const db = 'dl_halt'
    await freshDb(db)
    await insert(db, range(1, 5))
    const t = tempDir()
    const file = join(t.dir, 'sluice.yaml')
    const base = { url: pg.urlFor(db), tables: ['public.orders'], dir: t.dir, name: 'dlhalt' }
    // The CLI's own log (stderr) is what this test reads: warn shows the rejection and the failure.
    const yamlOf = (extraPipeline = ''): string =>
      pipelineYaml({ ...base, extraPipeline }).replace(/level: \w+/, 'level: warn')
    writeFileSync(file, yamlOf())
    const env = {}
    const first = spawnCli(['run', '-c', file], { cwd: t.dir, env })
    try {
      await waitFor(() => readStatePosition(join(t.dir, 'state'), 'dlhalt'), 30_000, 'snapshot committed')
      await insert(db, [6])
      const walAfter6 = (
        (await pg.sql(`SELECT pg_current_wal_insert_lsn()::text AS lsn`, [], db)) as { lsn: string }[]
      )[0]!.lsn
      await insert(db, [7], [7])
      await insert(db, [8])
      const exit = await exitWithin(first, 30_000)
      assert.equal(exit.code, 1)
      assert.match(first.stderr(), /"code":"VALUE_OUT_OF_RANGE"/)
      assert.match(first.stderr(), /event rejected \(VALUE_OUT_OF_RANGE\) at public\.orders position /)
      assert.doesNotMatch(first.stderr(), /retriable error; restarting/)
      const committed = readStatePosition(join(t.dir, 'state'), 'dlhalt')
      assert.ok(committed !== null)
      const [hi, lo] = walAfter6.split('/').map((h: string) => BigInt('0x' + h))
      const limit = (hi! << 32n) + lo!
      assert.ok(
        parsePosition(committed).lsn < limit,
        `committed ${committed} is past row 7 (wal after row 6: ${walAfter6})`,
      )
      assert.ok(!ids(await readEnvelopes(join(t.dir, 'out'))).includes(8))

      const again = spawnCli(['run', '-c', file], { cwd: t.dir, env })
      const exit2 = await exitWithin(again, 30_000)
      assert.equal(exit2.code, 1)
      assert.match(again.stderr(), /"code":"VALUE_OUT_OF_RANGE"/)
      assert.equal(readStatePosition(join(t.dir, 'state'), 'dlhalt'), committed)

      // Nothing was lost: with skip, the rows after the bad one are still there to deliver.
      writeFileSync(file, yamlOf('    on_error: skip\n'))
      const third = spawnCli(['run', '-c', file], { cwd: t.dir, env })
      try {
        const evs = await waitFor(async () => {
          const e = await readEnvelopes(join(t.dir, 'out'))
          return ids(e).includes(8) ? e : null
        })
        assert.deepEqual(
          [...new Set(ids(evs))].sort((a, b) => a - b),
          [1, 2, 3, 4, 5, 6, 8],
        )
      } finally {
        third.kill('SIGTERM')
        await exitWithin(third, 15_000)
      }
    } finally {
      first.kill('SIGKILL')
      t.cleanup()
    }
  })
})
