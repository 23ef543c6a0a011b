/**
 * Crash test: the real `sluice run` process is SIGKILLed at random moments (seeded; set
 * SLUICE_CRASH_SEED to replay a run) during the snapshot, around the snapshot/stream
 * handoff and mid-stream, while a writer changes the table, and restarted each time.
 * Then the output files must replay to exactly the source table, committed positions
 * must never go backwards, and re-delivered events must carry their original positions.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import avro from 'avsc'
import pg from 'pg'
import { exitWithin, spawnCli, type CliProcess } from './helpers/cli.js'
import { tempDir, waitFor, type Envelope } from './helpers/pipeline.js'
import { startPostgres, type PgServer } from './servers/postgres.js'

const SNAPSHOT_ROWS = 300_000
/** About what the snapshot writes (measured: ~178 bytes per Avro envelope of this table). */
const SNAPSHOT_BYTES = SNAPSHOT_ROWS * 170
const SERIES = 'public.counters'
const PIPELINE = 'crash'

let server: PgServer

before(async () => {
  server = await startPostgres()
  await server.sql('CREATE DATABASE shop')
  await server.sql(
    // REPLICA IDENTITY FULL: the file sink writes no key, and under DEFAULT a delete's
    // `before` is null, so deletes could not be replayed from the files at all.
    `CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL);
     ALTER TABLE counters REPLICA IDENTITY FULL;
     INSERT INTO counters SELECT g, 0, 'seed-' || g FROM generate_series(1, ${SNAPSHOT_ROWS}) g;
     ANALYZE counters;`,
    [],
    'shop',
  )
})
after(async () => {
  await server?.stop()
})

/** mulberry32: a small seeded PRNG, so a failing schedule can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * The write load: small transactions of inserts, updates (v = v + 1) and deletes, some
 * multi-statement and multi-row transactions, and some rolled back. Runs until stop().
 */
function startWriter(url: string, rand: () => number): { stop(): Promise<{ txs: number }> } {
  let running = true
  let txs = 0
  let nextId = SNAPSHOT_ROWS + 1
  const someId = (): number => 1 + Math.floor(rand() * (nextId - 1))
  const client = new pg.Client({ connectionString: url })
  const one = async (): Promise<void> => {
    const r = rand()
    if (r < 0.4) await client.query('UPDATE counters SET v = v + 1 WHERE id = $1', [someId()])
    else if (r < 0.7) {
      const id = nextId++
      await client.query(`INSERT INTO counters VALUES ($1, 0, $2)`, [id, `w${id}`])
    } else await client.query('DELETE FROM counters WHERE id = $1', [someId()])
  }
  const loop = (async () => {
    await client.connect()
    while (running) {
      const r = rand()
      if (r < 0.75) {
        await one()
      } else if (r < 0.85) {
        await client.query('BEGIN')
        for (let i = 0, n = 2 + Math.floor(rand() * 5); i < n; i++) await one()
        await client.query(rand() < 0.2 ? 'ROLLBACK' : 'COMMIT')
      } else if (r < 0.92) {
        const from = someId()
        await client.query('UPDATE counters SET v = v + 1 WHERE id BETWEEN $1 AND $1 + 30', [from])
      } else if (r < 0.97) {
        const first = nextId
        nextId += 50
        await client.query(
          `INSERT INTO counters SELECT g, 0, 'm' || g FROM generate_series($1::int, $2::int) g`,
          [first, nextId - 1],
        )
      } else {
        const from = someId()
        await client.query('DELETE FROM counters WHERE id BETWEEN $1 AND $1 + 10', [from])
      }
      txs++
      await sleep(2)
    }
  })()
  loop.catch(() => undefined) // reported by stop()
  let ended = false
  return {
    async stop() {
      running = false
      try {
        await loop
      } finally {
        if (!ended) {
          ended = true
          await client.end()
        }
      }
      return { txs }
    },
  }
}

/** Calls `fn` for each envelope of an Avro file in order; returns whether its tail was torn. */
async function forEachEnvelope(
  file: string,
  fn: (e: Envelope) => void,
): Promise<{ torn: boolean; count: number }> {
  return new Promise((resolve, reject) => {
    let count = 0
    const decoder = avro.createFileDecoder(file)
    decoder
      .on('data', (e: Envelope) => {
        count++
        try {
          fn(e)
        } catch (err) {
          decoder.destroy()
          reject(err as Error)
        }
      })
      .on('end', () => resolve({ torn: false, count }))
      // A truncated or torn tail (a killed writer): keep what decoded. Callers decide
      // whether a torn file is acceptable.
      .on('error', () => resolve({ torn: true, count }))
  })
}

/** Bytes in the series' data files numbered above `after` (the files of the current run). */
function bytesWrittenAfter(out: string, after: number): number {
  let total = 0
  for (const f of seriesFiles(out)) {
    if (Number(f.slice(0, -5)) <= after) continue
    try {
      total += statSync(join(out, SERIES, f)).size
    } catch {
      // rotated away meanwhile: not possible (files are never removed), but harmless
    }
  }
  return total
}

/** The data files of the series, by number. */
function seriesFiles(out: string): string[] {
  try {
    return readdirSync(join(out, SERIES))
      .filter((f) => /^\d+\.avro$/.test(f))
      .sort()
  } catch {
    return []
  }
}

type Row = { id: number; v: number; note: string }
const rowOf = (r: Record<string, unknown>): Row => ({
  id: Number(r.id),
  v: Number(r.v),
  note: String(r.note),
})
const fingerprint = (e: Envelope): string =>
  JSON.stringify([e.op, e.before && rowOf(e.before), e.after && rowOf(e.after)])
/** The snapshot a position belongs to: its consistent point and phase (`<lsn>.0`). */
const snapshotPrefix = (pos: string): string => pos.slice(0, 18)

type Phase = 'snapshot' | 'handoff' | 'stream'

test(
  'kill -9 under write load: at-least-once, exact replay, no position regressions',
  { timeout: 240_000 },
  async (t) => {
    const seed = Number(process.env.SLUICE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 32))
    t.diagnostic(`seed ${seed} (replay with SLUICE_CRASH_SEED=${seed})`)
    console.log(`# postgres-crash seed ${seed}`)
    const rand = prng(seed)
    const tmp = tempDir()
    const out = join(tmp.dir, 'out')
    const stateFile = join(tmp.dir, 'state', `${PIPELINE}.json`)
    const configFile = join(tmp.dir, 'sluice.yaml')
    writeFileSync(
      configFile,
      `pipelines:
  - name: ${PIPELINE}
    source:
      type: postgres
      url: ${server.urlFor('shop')}
      tables: [${SERIES}]
      status_interval_ms: 1000
    sinks:
      - type: file
        path: ${out}
        format: avro
        rotate_bytes: 4194304
state:
  type: file
  path: ${join(tmp.dir, 'state')}
log:
  level: info
`,
    )

    // --- what the checks accumulate -------------------------------------------------------
    const violations: string[] = []
    const violate = (msg: string): void => {
      if (violations.length < 50) violations.push(msg)
    }
    /** Replay with "a new snapshot replaces the table" (the consumer contract after a restarted snapshot). */
    const table = new Map<number, Row>()
    /** Replay that applies every event and never resets, to report what a naive consumer would see. */
    const naive = new Map<number, Row>()
    let currentSnapshot: string | null = null
    /** Positions delivered (decodable in the files) and not yet committed, with their content. */
    let delivered = new Map<string, string>()
    let maxDelivered = ''
    let processedUpTo = 0 // number of the last data file already processed
    let tornFiles = 0
    let eventsRead = 0
    let duplicates = 0
    let lastRunSpan = ''

    const committedSamples: { at: string; position: string | null }[] = []
    const readCommitted = (): string | null => {
      try {
        return (JSON.parse(readFileSync(stateFile, 'utf8')) as { position: string | null }).position
      } catch {
        return null
      }
    }
    const sampleCommitted = (at: string): string | null => {
      const position = readCommitted()
      const prev = committedSamples.findLast((s) => s.position !== null)
      if (prev && (position === null || position < prev.position!)) {
        violate(`committed position went backwards at ${at}: ${prev.position} (${prev.at}) -> ${position}`)
      }
      committedSamples.push({ at, position })
      return position
    }

    /**
     * Reads the files the finished run `run` wrote (numbers above processedUpTo), in order:
     * replays them, checks positions increase within the run, and checks every event against
     * what earlier runs delivered: nothing at or before the position committed when the
     * previous run died (`resumeAfter`), and nothing new at or below a position already
     * delivered (a re-delivered event keeps its position and content).
     */
    const processRun = async (
      run: number,
      resumeAfter: string | null,
      mayBeTorn: boolean,
    ): Promise<number> => {
      const files = seriesFiles(out).filter((f) => Number(f.slice(0, -5)) > processedUpTo)
      const before = new Map(delivered)
      const maxBefore = maxDelivered
      let last = ''
      let firstPos = ''
      let n = 0
      for (const f of files) {
        const res = await forEachEnvelope(join(out, SERIES, f), (e) => {
          n++
          const pos = e.source.position
          if (!firstPos) firstPos = pos
          if (pos <= last) violate(`run ${run} ${f}: position ${pos} does not increase (after ${last})`)
          last = pos
          if (resumeAfter !== null && pos <= resumeAfter) {
            violate(
              `run ${run} ${f}: ${e.op} at ${pos} is at or before the committed position ${resumeAfter}`,
            )
          }
          if (pos <= maxBefore) {
            const seen = before.get(pos)
            if (seen === undefined)
              violate(`run ${run} ${f}: new ${e.op} at ${pos} is not after delivered ${maxBefore}`)
            else if (seen !== fingerprint(e))
              violate(`run ${run} ${f}: duplicate at ${pos} differs from the original`)
            else duplicates++
          }
          delivered.set(pos, fingerprint(e))
          if (pos > maxDelivered) maxDelivered = pos
          // Replay.
          if (e.op === 'r') {
            const snap = snapshotPrefix(pos)
            if (snap !== currentSnapshot) {
              currentSnapshot = snap
              table.clear()
            }
          }
          for (const m of [table, naive]) {
            if (e.op === 'r' || e.op === 'c' || e.op === 'u') m.set(Number(e.after!.id), rowOf(e.after!))
            else if (e.op === 'd') m.delete(Number(e.before?.id ?? NaN))
            else if (e.op === 't') m.clear()
            else violate(`unknown op ${e.op} at ${pos}`)
          }
        })
        if (res.torn) {
          if (!mayBeTorn) violate(`${f} of the cleanly stopped run does not decode completely`)
          tornFiles++
        }
        processedUpTo = Math.max(processedUpTo, Number(f.slice(0, -5)))
      }
      eventsRead += n
      lastRunSpan = `${firstPos || '-'}..${last || '-'}`
      return n
    }

    const writer = startWriter(server.urlFor('shop'), rand)
    const totalKills = 5 + Math.floor(rand() * 4) // 5..8
    const snapshotKills = 2 + Math.floor(rand() * 2) // 2..3
    const plan: Phase[] = Array.from({ length: totalKills }, (_, i) =>
      i < snapshotKills ? 'snapshot' : i === snapshotKills ? 'handoff' : 'stream',
    )
    t.diagnostic(`plan: ${plan.join(', ')}`)
    const killedIn: string[] = []
    let child: CliProcess | null = null
    let poller: NodeJS.Timeout | null = null
    let resumeAfter: string | null = null
    try {
      poller = setInterval(() => sampleCommitted('poll'), 100)
      for (let k = 0; k <= plan.length; k++) {
        // A killed walsender may linger a moment; a real supervisor would retry, we wait.
        await waitFor(
          async () =>
            (
              await server.sql(
                `SELECT 1 FROM pg_replication_slots WHERE slot_name = 'sluice_${PIPELINE}' AND active_pid IS NOT NULL`,
                [],
                'shop',
              )
            ).length === 0,
          10_000,
          'the killed run to release the slot',
        )
        const committedAtStart = sampleCommitted(`start of run ${k}`)
        child = spawnCli(['run', '-c', configFile], { cwd: tmp.dir })
        const snapshotExpected =
          committedAtStart === null ||
          (committedAtStart.slice(17, 18) === '0' && !committedAtStart.endsWith('999999999999'))
        if (k === plan.length) break // the last run is stopped cleanly below
        // A kill planned for the snapshot lands mid-stream when the previous run got its
        // snapshot acknowledged after all.
        const phase: Phase = snapshotExpected ? plan[k]! : 'stream'
        if (phase === 'snapshot') {
          // Kill at a random point of the snapshot's progress (bytes written by this run),
          // whatever the machine's speed; the snapshot finishing first is a handoff kill.
          await child.waitForOutput('snapshot of table started', 60_000)
          const target = (0.05 + 0.55 * rand()) * SNAPSHOT_BYTES
          const deadline = Date.now() + 60_000
          while (
            !child.stderr().includes('snapshot done') &&
            bytesWrittenAfter(out, processedUpTo) < target
          ) {
            assert.ok(Date.now() < deadline, 'the snapshot makes progress')
            await sleep(10)
          }
        } else if (phase === 'handoff') {
          await child.waitForOutput('snapshot done', 60_000)
          await sleep(rand() * 1200)
        } else {
          await child.waitForOutput('streaming started', 60_000)
          await sleep(300 + rand() * 2700)
        }
        const logged = child.stderr()
        child.kill('SIGKILL')
        const { signal } = await exitWithin(child, 10_000)
        assert.equal(
          signal,
          'SIGKILL',
          `run ${k} was killed, not exited on its own:\n${child.stderr().slice(-2000)}`,
        )
        const snapshotted = logged.includes('snapshot starting')
        assert.equal(
          snapshotted,
          snapshotExpected,
          `run ${k}: a snapshot runs exactly when the committed position (${committedAtStart}) is not past a finished snapshot`,
        )
        const committed = readCommitted()
        const snapshotAcked =
          committed !== null && (committed[17] === '1' || committed.endsWith('999999999999'))
        // Where the kill landed: before the snapshot finished, after it finished but before its
        // end was committed (handoff), or with the snapshot acknowledged (stream).
        const atKill: string = !snapshotted
          ? 'stream'
          : !logged.includes('snapshot of table started')
            ? 'startup'
            : !logged.includes('snapshot done')
              ? 'snapshot'
              : snapshotAcked
                ? 'stream'
                : 'handoff'
        killedIn.push(atKill)
        sampleCommitted(`after kill ${k + 1} (${atKill})`)
        const n = await processRun(k, resumeAfter, true)
        t.diagnostic(
          `kill ${k + 1}: planned ${phase}, in ${atKill}; ${n} events (${lastRunSpan}); committed ${committed}`,
        )
        // Everything at or before the committed position is never re-read: forget it.
        resumeAfter = committed
        if (committed !== null) delivered = new Map([...delivered].filter(([p]) => p > committed))
      }

      // Stop the writer, mark the end with a sentinel row, and let Sluice catch up.
      const { txs } = await writer.stop()
      await server.sql(`INSERT INTO counters VALUES (-1, 0, 'sentinel')`, [], 'shop')
      const live = child!
      await live.waitForOutput('streaming started', 60_000)
      const sentinelPos = await waitFor(
        async () => {
          const files = seriesFiles(out).filter((f) => Number(f.slice(0, -5)) > processedUpTo)
          for (const f of files.slice(-2).reverse()) {
            const found = { position: '' }
            await forEachEnvelope(join(out, SERIES, f), (e) => {
              if (e.op === 'c' && Number(e.after!.id) === -1) found.position = e.source.position
            })
            if (found.position) return found.position
          }
          return null
        },
        60_000,
        'the sentinel row to be delivered',
      )
      await waitFor(() => (readCommitted() ?? '') >= sentinelPos, 10_000, 'the sentinel to be committed')
      live.kill('SIGTERM')
      const exit = await exitWithin(live, 10_000)
      assert.equal(exit.code, 0, `SIGTERM exits 0:\n${live.stderr().slice(-2000)}`)
      clearInterval(poller)
      poller = null
      sampleCommitted('after SIGTERM')
      await processRun(plan.length, resumeAfter, false)

      // --- assertions ------------------------------------------------------------------------
      t.diagnostic(
        `${txs} writer transactions; ${eventsRead} events in ${processedUpTo} files (${tornFiles} torn), ${duplicates} re-delivered; kills in: ${killedIn.join(', ')}`,
      )
      assert.equal(killedIn.length, plan.length)
      assert.ok(
        killedIn.includes('snapshot'),
        `at least one kill during the snapshot (${killedIn.join(', ')})`,
      )
      assert.ok(killedIn.includes('stream'), `at least one kill mid-stream (${killedIn.join(', ')})`)
      assert.deepEqual(violations, [], `position/duplicate violations (seed ${seed})`)

      const rows = await server.sql<Row>('SELECT id, v, note FROM counters ORDER BY id', [], 'shop')
      const replayed = [...table.values()].sort((a, b) => a.id - b.id)
      const diffs: string[] = []
      const byId = new Map(rows.map((r) => [r.id, r]))
      for (const r of rows) {
        const got = table.get(r.id)
        if (!got) diffs.push(`missing ${JSON.stringify(r)}`)
        else if (got.v !== r.v || got.note !== r.note)
          diffs.push(`id ${r.id}: replayed ${JSON.stringify(got)}, source ${JSON.stringify(r)}`)
      }
      for (const r of replayed) if (!byId.has(r.id)) diffs.push(`extra ${JSON.stringify(r)}`)
      assert.deepEqual(
        diffs.slice(0, 20),
        [],
        `replay differs from the source in ${diffs.length} rows (seed ${seed})`,
      )
      assert.equal(replayed.length, rows.length)

      const naiveExtra = [...naive.keys()].filter((id) => !byId.has(id)).length
      t.diagnostic(`a consumer that ignores snapshot restarts would keep ${naiveExtra} deleted rows`)
    } finally {
      if (poller) clearInterval(poller)
      child?.kill('SIGKILL')
      await writer.stop().catch(() => undefined)
      tmp.cleanup()
    }
  },
)
