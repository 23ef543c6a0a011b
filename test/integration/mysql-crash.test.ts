/**
 * Crash test for the MySQL/MariaDB source: the real `sluice run` process is SIGKILLed at
 * random moments (seeded; set SLUICE_CRASH_SEED to replay a run) during the snapshot,
 * around the snapshot/stream handoff and mid-stream, while concurrent writers change the
 * table, and restarted each time. Then the output files must replay to exactly the source
 * table, committed positions must never go backwards, positions must increase within each
 * run's files, and re-delivered events must carry their original positions and content.
 */
import assert from 'node:assert/strict'
import { readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import avro from 'avsc'
import { exitWithin, spawnCli, type CliProcess } from './helpers/cli.js'
import {
  applyEvent,
  diffRows,
  loadRowOf,
  prng,
  readStatePosition,
  sleep,
  snapshotFinished,
  snapshotIdOf,
  sortKey,
  startMysqlLoad,
  type LoadRow,
} from './helpers/mysql.js'
import { tempDir, waitFor, type Envelope } from './helpers/pipeline.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'

const SNAPSHOT_ROWS = 300_000
/** About what the snapshot writes (measured: ~205 bytes per Avro envelope of this table). */
const SNAPSHOT_BYTES = SNAPSHOT_ROWS * 200
const SERIES = 'shop.counters'
const PIPELINE = 'crash'

let server: MariaServer

before(async () => {
  server = await startMariadb()
  await server.sql('CREATE DATABASE shop')
  await server.sql(
    'CREATE TABLE counters (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(64) NOT NULL) ENGINE=InnoDB',
    [],
    'shop',
  )
  await server.sql(
    `INSERT INTO counters SELECT seq, 0, CONCAT('seed-', seq) FROM seq_1_to_${SNAPSHOT_ROWS}`,
    [],
    'shop',
  )
  await server.sql('ANALYZE TABLE counters', [], 'shop')
})
after(async () => {
  await server?.stop()
})

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
      // A truncated or torn tail (a killed writer): keep what decoded.
      .on('error', () => resolve({ torn: true, count }))
  })
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

/** Bytes in the series' data files numbered above `after` (the files of the current run). */
function bytesWrittenAfter(out: string, after: number): number {
  let total = 0
  for (const f of seriesFiles(out)) {
    if (Number(f.slice(0, -5)) <= after) continue
    try {
      total += statSync(join(out, SERIES, f)).size
    } catch {
      // files are never removed; harmless
    }
  }
  return total
}

const fingerprint = (e: Envelope): string =>
  JSON.stringify([e.op, e.before && loadRowOf(e.before), e.after && loadRowOf(e.after)])

type Phase = 'snapshot' | 'handoff' | 'stream'

test(
  'mysql: kill -9 under write load: at-least-once, exact replay, no position regressions',
  { timeout: 180_000 },
  async (t) => {
    const seed = Number(process.env.SLUICE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 32))
    t.diagnostic(`seed ${seed} (replay with SLUICE_CRASH_SEED=${seed})`)
    console.log(`# mysql-crash seed ${seed}`)
    const rand = prng(seed)
    const tmp = tempDir()
    const out = join(tmp.dir, 'out')
    const stateDir = join(tmp.dir, 'state')
    const configFile = join(tmp.dir, 'sluice.yaml')
    writeFileSync(
      configFile,
      `pipelines:
  - name: ${PIPELINE}
    source:
      type: mysql
      url: ${server.urlFor('shop')}
      tables: [${SERIES}]
      server_id: 5701
      heartbeat_interval_ms: 1000
    sinks:
      - type: file
        path: ${out}
        format: avro
        rotate_bytes: 4194304
state:
  type: file
  path: ${stateDir}
log:
  level: info
`,
    )

    // --- what the checks accumulate -------------------------------------------------------
    const violations: string[] = []
    const violate = (msg: string): void => {
      if (violations.length < 50) violations.push(msg)
    }
    /** Replay with "a snapshot with new coordinates replaces the table". */
    const table = new Map<number, LoadRow>()
    /** Replay that never resets, to report what a naive consumer would see. */
    const naive = new Map<number, LoadRow>()
    let currentSnapshot: string | null = null
    let snapshotsSeen = 0
    /** Sort keys delivered (decodable in the files) and not yet committed, with their content. */
    let delivered = new Map<string, string>()
    let maxDelivered = ''
    let processedUpTo = 0 // number of the last data file already processed
    let tornFiles = 0
    let eventsRead = 0
    let duplicates = 0
    let lastRunSpan = ''

    const readCommitted = (): string | null => readStatePosition(stateDir, PIPELINE)
    const committedSamples: { at: string; key: string | null }[] = []
    const sampleCommitted = (at: string): string | null => {
      const position = readCommitted()
      const key = position === null ? null : sortKey(position)
      const prev = committedSamples.findLast((s) => s.key !== null)
      if (prev && (key === null || key < prev.key!)) {
        violate(`committed position went backwards at ${at}: ${prev.key} (${prev.at}) -> ${key}`)
      }
      committedSamples.push({ at, key })
      return position
    }

    /**
     * Reads the files the finished run `run` wrote (numbers above processedUpTo), in order:
     * replays them, checks sort keys increase within each file and across the run's files,
     * and checks every event against what earlier runs delivered: nothing at or before the
     * position committed when the previous run died (`resumeAfter`), and nothing new at or
     * below a position already delivered (a re-delivered event keeps its position and content).
     */
    const processRun = async (
      run: number,
      resumeAfter: string | null,
      mayBeTorn: boolean,
    ): Promise<number> => {
      const files = seriesFiles(out).filter((f) => Number(f.slice(0, -5)) > processedUpTo)
      const before = new Map(delivered)
      const maxBefore = maxDelivered
      const resumeKey = resumeAfter === null ? null : sortKey(resumeAfter)
      let last = ''
      let firstPos = ''
      let n = 0
      for (const f of files) {
        let lastInFile = ''
        const res = await forEachEnvelope(join(out, SERIES, f), (e) => {
          n++
          const pos = sortKey(e.source.position)
          if (!firstPos) firstPos = pos
          if (pos <= lastInFile) violate(`run ${run} ${f}: position ${pos} does not increase within the file`)
          else if (pos <= last) violate(`run ${run} ${f}: position ${pos} does not increase (after ${last})`)
          last = lastInFile = pos
          if (resumeKey !== null && pos <= resumeKey) {
            violate(`run ${run} ${f}: ${e.op} at ${pos} is at or before the committed position ${resumeKey}`)
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
            const snap = snapshotIdOf(pos)
            if (snap !== currentSnapshot) {
              currentSnapshot = snap
              snapshotsSeen++
              table.clear()
            }
          }
          for (const m of [table, naive]) {
            const err = applyEvent(m, e, loadRowOf)
            if (err) violate(err)
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

    const writer = startMysqlLoad({
      url: server.urlFor('shop'),
      table: 'counters',
      writers: 2,
      seed,
      maxId: SNAPSHOT_ROWS,
      firstNewId: SNAPSHOT_ROWS + 1,
      mixed: true,
      pauseMs: 2,
    })
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
        const committedAtStart = sampleCommitted(`start of run ${k}`)
        child = spawnCli(['run', '-c', configFile], { cwd: tmp.dir })
        const snapshotExpected = !snapshotFinished(committedAtStart)
        if (k === plan.length) break // the last run is stopped cleanly below
        // A kill planned for the snapshot lands mid-stream when the previous run got its
        // snapshot acknowledged after all.
        const phase: Phase = snapshotExpected ? plan[k]! : 'stream'
        if (phase === 'snapshot') {
          // Kill at a random point of the snapshot's progress (bytes written by this run),
          // whatever the machine's speed; the snapshot finishing first is a handoff kill.
          await child.waitForOutput('snapshot started', 60_000)
          const target = (0.05 + 0.55 * rand()) * SNAPSHOT_BYTES
          const deadline = Date.now() + 60_000
          while (
            !child.stderr().includes('snapshot done') &&
            bytesWrittenAfter(out, processedUpTo) < target
          ) {
            assert.ok(Date.now() < deadline, 'the snapshot makes progress')
            await sleep(5)
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
        const snapshotted = logged.includes('snapshot started')
        assert.equal(
          snapshotted,
          snapshotExpected,
          `run ${k}: a snapshot runs exactly when the committed position (${committedAtStart}) is not past a finished snapshot`,
        )
        const committed = readCommitted()
        // Where the kill landed: before the snapshot finished, after it finished but before its
        // end was committed (handoff), or with the snapshot acknowledged (stream).
        const atKill: string = !snapshotted
          ? 'stream'
          : !logged.includes('snapshot done')
            ? 'snapshot'
            : snapshotFinished(committed)
              ? 'stream'
              : 'handoff'
        killedIn.push(atKill)
        sampleCommitted(`after kill ${k + 1} (${atKill})`)
        const n = await processRun(k, resumeAfter, true)
        t.diagnostic(
          `kill ${k + 1}: planned ${phase}, in ${atKill}; ${n} events (${lastRunSpan}); committed ${committed}`,
        )
        if (n === 0 && process.env.SLUICE_CRASH_DEBUG) t.diagnostic(logged)
        // Everything at or before the committed position is never re-read: forget it.
        resumeAfter = committed
        if (committed !== null) {
          const key = sortKey(committed)
          delivered = new Map([...delivered].filter(([p]) => p > key))
        }
      }

      // Stop the writers, mark the end with a sentinel row, and let Sluice catch up.
      const stats = await writer.stop()
      await server.sql(`INSERT INTO counters VALUES (-1, 0, 'sentinel')`, [], 'shop')
      const live = child!
      await live.waitForOutput('streaming started', 60_000)
      const sentinelPos = await waitFor(
        async () => {
          const files = seriesFiles(out).filter((f) => Number(f.slice(0, -5)) > processedUpTo)
          for (const f of files.slice(-2).reverse()) {
            const found = { position: '' }
            await forEachEnvelope(join(out, SERIES, f), (e) => {
              if (e.op === 'c' && Number(e.after!.id) === -1) found.position = sortKey(e.source.position)
            })
            if (found.position) return found.position
          }
          return null
        },
        60_000,
        'the sentinel row to be delivered',
      )
      await waitFor(
        () => sortKey(readCommitted() ?? '') >= sentinelPos,
        10_000,
        'the sentinel to be committed',
      )
      live.kill('SIGTERM')
      const exit = await exitWithin(live, 10_000)
      t.diagnostic(`SIGTERM: exit code ${exit.code} after ${exit.elapsedMs} ms`)
      assert.equal(exit.code, 0, `SIGTERM exits 0:\n${live.stderr().slice(-2000)}`)
      clearInterval(poller)
      poller = null
      sampleCommitted('after SIGTERM')
      await processRun(plan.length, resumeAfter, false)

      // --- assertions ------------------------------------------------------------------------
      t.diagnostic(
        `${stats.txs} writer transactions (${stats.rollbacks} rolled back, ${stats.conflicts} conflicts); ${eventsRead} events in ${processedUpTo} files (${tornFiles} torn), ${duplicates} re-delivered, ${snapshotsSeen} snapshots; kills in: ${killedIn.join(', ')}`,
      )
      assert.equal(killedIn.length, plan.length)
      assert.ok(
        killedIn.includes('snapshot'),
        `at least one kill during the snapshot (${killedIn.join(', ')})`,
      )
      assert.ok(killedIn.includes('stream'), `at least one kill mid-stream (${killedIn.join(', ')})`)
      assert.deepEqual(violations, [], `position/duplicate violations (seed ${seed})`)

      const rows = (
        await server.sql<LoadRow>('SELECT id, v, note FROM counters ORDER BY id', [], 'shop')
      ).map(loadRowOf)
      const diff = diffRows(table, rows)
      assert.deepEqual(diff.sample, [], `replay differs from the source in ${diff.count} rows (seed ${seed})`)
      assert.equal(table.size, rows.length)

      const byId = new Set(rows.map((r) => r.id))
      const naiveExtra = [...naive.keys()].filter((id) => !byId.has(id)).length
      t.diagnostic(`a consumer that ignores snapshot restarts would keep ${naiveExtra} deleted rows`)
    } finally {
      if (poller) clearInterval(poller)
      child?.kill('SIGKILL')
      if (child) await exitWithin(child, 10_000).catch(() => undefined)
      await writer.stop().catch(() => undefined)
      tmp.cleanup()
    }
  },
)

test('SIGTERM exits 0 within 10 s while the binlog stream is idle', { timeout: 60_000 }, async () => {
  await server.sql('CREATE TABLE idle (id INT PRIMARY KEY)', [], 'shop')
  const tmp = tempDir()
  const configFile = join(tmp.dir, 'sluice.yaml')
  writeFileSync(
    configFile,
    `pipelines:
  - name: idle
    source:
      type: mysql
      url: ${server.urlFor('shop')}
      tables: [shop.idle]
      server_id: 5702
      heartbeat_interval_ms: 1000
    sinks:
      - type: file
        path: ${join(tmp.dir, 'out')}
state:
  type: file
  path: ${join(tmp.dir, 'state')}
log:
  level: info
`,
  )
  // A fresh start (snapshot, then streaming) and a resumed run, each stopped while idle.
  let child: CliProcess | null = null
  try {
    for (const run of ['fresh', 'resumed']) {
      child = spawnCli(['run', '-c', configFile], { cwd: tmp.dir })
      await child.waitForOutput('streaming started', 60_000)
      await sleep(1500)
      child.kill('SIGTERM')
      const exit = await exitWithin(child, 12_000)
      assert.equal(
        exit.code,
        0,
        `${run}: exit code ${exit.code} after ${exit.elapsedMs} ms:\n${child.stderr().slice(-2000)}`,
      )
      assert.ok(exit.elapsedMs < 10_000, `${run}: exited after ${exit.elapsedMs} ms`)
      if (run === 'fresh')
        assert.ok(readStatePosition(join(tmp.dir, 'state'), 'idle'), 'the snapshot end is recorded')
    }
  } finally {
    child?.kill('SIGKILL')
    if (child) await exitWithin(child, 10_000).catch(() => undefined)
    tmp.cleanup()
  }
})
