/**
 * The crash-test harness shared by postgres-crash.test.ts and mysql-crash.test.ts: the real
 * `sluice run` process is SIGKILLed at seeded random moments (during the snapshot, around the
 * snapshot/stream handoff and mid-stream) while a writer changes the table, and restarted
 * each time. Its output files are then replayed into a table image ("a new snapshot replaces
 * the table") that must equal the source table, committed positions must never go backwards,
 * positions must increase within each run's files, and re-delivered events must carry their
 * original positions and content.
 *
 * Also the pieces these tests and mysql-source.test.ts share: a seeded PRNG, reading the
 * committed position, and replaying change events into a table image.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import avro from 'avsc'
import { exitWithin, spawnCli, type CliProcess } from './cli.js'
import { tempDir, waitFor, type Envelope } from './pipeline.js'

import { prng } from '../../prng.js'

export { prng }

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The committed position in `<dir>/state/<pipeline>.json`, or null when there is none yet. */
export function readStatePosition(stateDir: string, pipeline: string): string | null {
  try {
    const s = JSON.parse(readFileSync(join(stateDir, `${pipeline}.json`), 'utf8')) as {
      position: string | null
    }
    return s.position
  } catch {
    return null
  }
}

/** A row of the load tables: `(id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(64) NOT NULL)`. */
export type LoadRow = { id: number; v: number; note: string }
export const loadRowOf = (r: Record<string, unknown>): LoadRow => ({
  id: Number(r.id),
  v: Number(r.v),
  note: String(r.note),
})

/**
 * Applies one change event to a table image keyed by id: r/c/u set the after image, d
 * removes the before image's id, t clears. Returns an error message for an unknown op.
 */
export function applyEvent<R>(
  table: Map<number, R>,
  e: Envelope,
  rowOf: (r: Record<string, unknown>) => R,
): string | null {
  if (e.op === 'r' || e.op === 'c' || e.op === 'u') table.set(Number(e.after!.id), rowOf(e.after!))
  else if (e.op === 'd') table.delete(Number(e.before?.id ?? NaN))
  else if (e.op === 't') table.clear()
  else return `unknown op ${e.op} at ${e.source.position}`
  return null
}

/** Differences between a replayed image and the source rows (at most `limit`), as text. */
export function diffRows(
  replayed: Map<number, LoadRow>,
  rows: readonly LoadRow[],
  limit = 20,
): { count: number; sample: string[] } {
  const out: string[] = []
  const byId = new Map(rows.map((r) => [r.id, r]))
  for (const r of rows) {
    const got = replayed.get(r.id)
    if (!got) out.push(`missing ${JSON.stringify(r)}`)
    else if (got.v !== r.v || got.note !== r.note)
      out.push(`id ${r.id}: replayed ${JSON.stringify(got)}, source ${JSON.stringify(r)}`)
  }
  for (const [id, r] of replayed) if (!byId.has(id)) out.push(`extra ${JSON.stringify(r)}`)
  return { count: out.length, sample: out.slice(0, limit) }
}

/** Calls `fn` for each envelope of an Avro file in order; returns whether its tail was torn. */
export async function forEachEnvelope(
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

/** The number of a series data file (`000042.avro` -> 42). */
const fileNumber = (f: string): number => Number(f.slice(0, -5))

/** The data files of a series (`<out>/<series>/<n>.avro`), by number. */
export function seriesFiles(out: string, series: string): string[] {
  try {
    return readdirSync(join(out, series))
      .filter((f) => /^\d+\.avro$/.test(f))
      .sort()
  } catch {
    return []
  }
}

/** Bytes in the series' data files numbered above `after` (the files of the current run). */
function bytesWrittenAfter(out: string, series: string, after: number): number {
  let total = 0
  for (const f of seriesFiles(out, series)) {
    if (fileNumber(f) <= after) continue
    try {
      total += statSync(join(out, series, f)).size
    } catch {
      // rotated away meanwhile: not possible (files are never removed), but harmless
    }
  }
  return total
}

const fingerprint = (e: Envelope): string =>
  JSON.stringify([e.op, e.before && loadRowOf(e.before), e.after && loadRowOf(e.after)])

/** How a source's positions are compared and where its committed position is read. */
interface PositionRules {
  /** The part of a position that sorts (positions compare as strings). */
  sortKey(position: string): string
  /** The snapshot a sort key belongs to (its coordinates and phase): a new one replaces the table. */
  snapshotIdOf(key: string): string
  /** The committed position in the state file, or null. */
  readCommitted(): string | null
}

/**
 * What the checks accumulate over all runs: the violations found, the replayed table images,
 * and the position bookkeeping. Positions here are sort keys.
 */
class CrashLedger {
  readonly violations: string[] = []
  /** Replay with "a snapshot with new coordinates replaces the table" (the consumer contract). */
  readonly table = new Map<number, LoadRow>()
  /** Replay that applies every event and never resets, to report what a naive consumer would see. */
  readonly naive = new Map<number, LoadRow>()
  private currentSnapshot: string | null = null
  snapshotsSeen = 0
  /** Positions delivered (decodable in the files) and not yet committed, with their content. */
  private delivered = new Map<string, string>()
  private maxDelivered = ''
  /** The committed position when the previous run died: nothing at or before it may come again. */
  private resumeAfter: string | null = null
  /**
   * The committed position sampled just before the previous kill (a lower bound of
   * resumeAfter: the state may still advance until the process is gone).
   */
  private committedBeforeKill: string | null = null
  /** The last position the sink had written (decodable in the files) when the previous run died. */
  private deliveredAtKill = ''
  /** Number of the last data file already processed. */
  processedUpTo = 0
  tornFiles = 0
  eventsRead = 0
  duplicates = 0
  /**
   * Per re-delivery (a run that re-delivered something): how many duplicates, their lowest
   * and highest sort key, and the window they must lie in: above the committed position at
   * the kill before it, at or below what the sink had acknowledged (written) by then.
   */
  readonly redeliveries: {
    run: number
    count: number
    min: string
    max: string
    committed: string | null
    acked: string
  }[] = []
  /** First..last position of the last processed run. */
  lastRunSpan = ''
  private readonly committedSamples: { at: string; key: string | null }[] = []

  constructor(
    private readonly out: string,
    private readonly series: string,
    private readonly rules: PositionRules,
  ) {}

  violate(msg: string): void {
    if (this.violations.length < 50) this.violations.push(msg)
  }

  /** Reads the committed position, records a violation if it went backwards, and returns it. */
  sampleCommitted(at: string): string | null {
    const position = this.rules.readCommitted()
    const key = position === null ? null : this.rules.sortKey(position)
    const prev = this.committedSamples.findLast((s) => s.key !== null)
    if (prev && (key === null || key < prev.key!)) {
      this.violate(`committed position went backwards at ${at}: ${prev.key} (${prev.at}) -> ${key}`)
    }
    this.committedSamples.push({ at, key })
    return position
  }

  /** The files above processedUpTo: those of the current run. */
  newFiles(): string[] {
    return seriesFiles(this.out, this.series).filter((f) => fileNumber(f) > this.processedUpTo)
  }

  /**
   * Reads the files the finished run `run` wrote (numbers above processedUpTo), in order:
   * replays them, checks positions increase within each file and across the run's files,
   * and checks every event against what earlier runs delivered: nothing at or before the
   * position committed when the previous run died, and nothing new at or below a position
   * already delivered (a re-delivered event keeps its position and content).
   */
  async processRun(run: number, mayBeTorn: boolean): Promise<number> {
    const files = this.newFiles()
    const before = new Map(this.delivered)
    const maxBefore = this.maxDelivered
    const resumeKey = this.resumeAfter === null ? null : this.rules.sortKey(this.resumeAfter)
    const beforeKillKey =
      this.committedBeforeKill === null ? null : this.rules.sortKey(this.committedBeforeKill)
    const acked = this.deliveredAtKill
    const redelivery = { run, count: 0, min: '', max: '', committed: resumeKey, acked }
    let last = ''
    let firstPos = ''
    let n = 0
    for (const f of files) {
      let lastInFile = ''
      const res = await forEachEnvelope(join(this.out, this.series, f), (e) => {
        n++
        const pos = this.rules.sortKey(e.source.position)
        if (!firstPos) firstPos = pos
        if (pos <= lastInFile)
          this.violate(`run ${run} ${f}: position ${pos} does not increase within the file`)
        else if (pos <= last)
          this.violate(`run ${run} ${f}: position ${pos} does not increase (after ${last})`)
        last = lastInFile = pos
        if (resumeKey !== null && pos <= resumeKey) {
          this.violate(
            `run ${run} ${f}: ${e.op} at ${pos} is at or before the committed position ${resumeKey}`,
          )
        }
        if (pos <= maxBefore) {
          const seen = before.get(pos)
          if (seen === undefined)
            this.violate(`run ${run} ${f}: new ${e.op} at ${pos} is not after delivered ${maxBefore}`)
          else if (seen !== fingerprint(e))
            this.violate(`run ${run} ${f}: duplicate at ${pos} differs from the original`)
          else {
            this.duplicates++
            redelivery.count++
            if (!redelivery.min || pos < redelivery.min) redelivery.min = pos
            if (pos > redelivery.max) redelivery.max = pos
            // The explicit window: a duplicate is an event the sink had acknowledged (written)
            // before the kill but whose position was not yet committed, so it lies above the
            // committed position (sampled before and after the kill) and at or below the
            // last acknowledged one.
            if (pos > acked)
              this.violate(`run ${run} ${f}: duplicate at ${pos} is above the acknowledged ${acked}`)
            if ((resumeKey !== null && pos <= resumeKey) || (beforeKillKey !== null && pos <= beforeKillKey))
              this.violate(
                `run ${run} ${f}: duplicate at ${pos} is at or below the committed ${resumeKey} (before the kill: ${beforeKillKey})`,
              )
          }
        }
        this.delivered.set(pos, fingerprint(e))
        if (pos > this.maxDelivered) this.maxDelivered = pos
        // Replay.
        if (e.op === 'r') {
          const snap = this.rules.snapshotIdOf(pos)
          if (snap !== this.currentSnapshot) {
            this.currentSnapshot = snap
            this.snapshotsSeen++
            this.table.clear()
          }
        }
        for (const m of [this.table, this.naive]) {
          const err = applyEvent(m, e, loadRowOf)
          if (err) this.violate(err)
        }
      })
      if (res.torn) {
        if (!mayBeTorn) this.violate(`${f} of the cleanly stopped run does not decode completely`)
        this.tornFiles++
      }
      this.processedUpTo = Math.max(this.processedUpTo, fileNumber(f))
    }
    if (redelivery.count > 0) this.redeliveries.push(redelivery)
    this.eventsRead += n
    this.lastRunSpan = `${firstPos || '-'}..${last || '-'}`
    return n
  }

  /**
   * After a killed run: the next run resumes after `committed`. Everything at or before it
   * is never re-read: forget it.
   */
  resumeFrom(committed: string | null, committedBeforeKill: string | null): void {
    this.resumeAfter = committed
    this.committedBeforeKill = committedBeforeKill
    this.deliveredAtKill = this.maxDelivered
    if (committed !== null) {
      const key = this.rules.sortKey(committed)
      this.delivered = new Map([...this.delivered].filter(([p]) => p > key))
    }
  }

  /** The sort key of the sentinel row's insert (id -1) in the last two new files, or null. */
  async findSentinel(): Promise<string | null> {
    for (const f of this.newFiles().slice(-2).reverse()) {
      const found = { position: '' }
      await forEachEnvelope(join(this.out, this.series, f), (e) => {
        if (e.op === 'c' && Number(e.after!.id) === -1) found.position = this.rules.sortKey(e.source.position)
      })
      if (found.position) return found.position
    }
    return null
  }
}

export type Phase = 'snapshot' | 'handoff' | 'stream'

/**
 * The number of kill cycles per crash test: `SLUICE_KILL_CYCLES` (default 20, what CI runs;
 * at least 3 so the plan covers the snapshot, the handoff and the stream).
 */
export function killCycles(): number {
  const raw = process.env.SLUICE_KILL_CYCLES
  const n = raw === undefined || raw === '' ? 20 : Number(raw)
  if (!Number.isInteger(n) || n < 3) throw new Error(`SLUICE_KILL_CYCLES must be an integer >= 3, got ${raw}`)
  return n
}

/** A test timeout that grows with the number of kill cycles. */
export const crashTimeoutMs = (cycles: number): number => 120_000 + cycles * 15_000

/**
 * `cycles` kills: the first 2..3 during the snapshot (1 when there are only 3 cycles), then
 * one at the handoff, the rest mid-stream at random moments.
 */
function killPlan(rand: () => number, cycles: number): Phase[] {
  const snapshotKills = cycles <= 3 ? 1 : 2 + Math.floor(rand() * 2) // 2..3
  return Array.from({ length: cycles }, (_, i) =>
    i < snapshotKills ? 'snapshot' : i === snapshotKills ? 'handoff' : 'stream',
  )
}

/** What a crash test says about its source. */
export interface CrashScenario {
  /** Printed with the seed on stdout: `# <label> seed <n>`. */
  label: string
  /** The pipeline's name: its state is `<state>/<pipeline>.json`. */
  pipeline: string
  /** The table as the file sink names its directory (`<schema>.<table>`). */
  series: string
  /** The table as SQL names it on the source's database. */
  table: string
  /** About what the snapshot writes, in bytes: snapshot kills land at 5..60% of it. */
  snapshotBytes: number
  /** How often to check the snapshot's progress while waiting to kill it. */
  progressPollMs: number
  /**
   * The pipeline's `source:` settings, one per line, unindented. The harness adds the file
   * sink (Avro, rotating at 4 MiB), file state and log level info.
   */
  source: string
  /** The part of a position that sorts. */
  sortKey(position: string): string
  /** The snapshot a sort key belongs to: its coordinates and phase. */
  snapshotIdOf(key: string): string
  /** Whether a committed position says the snapshot finished (streaming, or snapshot END). */
  snapshotFinished(position: string | null): boolean
  /**
   * Log lines: a run starts a snapshot (`starting`), the snapshot's table copy started
   * (`tableStarted`; the same text where the source logs one line for both).
   */
  snapshotLog: { starting: string; tableStarted: string }
  /** Waits until the source is ready for the next run (e.g. a killed run's slot released). */
  beforeRun?(): Promise<void>
  /** Starts the write load; stop() ends it and describes what it did (`N writer transactions ...`). */
  startWriter(seed: number, rand: () => number): { stop(): Promise<string> }
  /** Runs SQL on the source's database. */
  sql(text: string): Promise<Record<string, unknown>[]>
}

/**
 * Runs the crash scenario: kills and restarts `sluice run` per a seeded plan, then inserts a
 * sentinel row, waits for it to be committed, stops the last run with SIGTERM, and checks
 * the output against the source table. SLUICE_KILL_CYCLES sets the number of kills
 * (default 20); SLUICE_KILL_SEED (or the older SLUICE_CRASH_SEED) replays a schedule. Prints
 * a one-line summary: `# <label> summary: ...`.
 */
export async function runCrashScenario(t: TestContext, s: CrashScenario): Promise<void> {
  const started = Date.now()
  const cycles = killCycles()
  const seedEnv = process.env.SLUICE_KILL_SEED ?? process.env.SLUICE_CRASH_SEED
  const seed = Number(seedEnv || Math.floor(Math.random() * 2 ** 32))
  t.diagnostic(`seed ${seed} (replay with SLUICE_KILL_SEED=${seed} SLUICE_KILL_CYCLES=${cycles})`)
  console.log(`# ${s.label} seed ${seed}, ${cycles} kill cycles`)
  const rand = prng(seed)
  const tmp = tempDir()
  const out = join(tmp.dir, 'out')
  const stateDir = join(tmp.dir, 'state')
  const configFile = join(tmp.dir, 'sluice.yaml')
  writeFileSync(
    configFile,
    `pipelines:
  - name: ${s.pipeline}
    source:
${s.source.replace(/^/gm, '      ')}
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

  const readCommitted = (): string | null => readStatePosition(stateDir, s.pipeline)
  const ledger = new CrashLedger(out, s.series, {
    sortKey: s.sortKey,
    snapshotIdOf: s.snapshotIdOf,
    readCommitted,
  })

  const writer = s.startWriter(seed, rand)
  const plan = killPlan(rand, cycles)
  t.diagnostic(`plan: ${plan.join(', ')}`)
  const killedIn: string[] = []
  let child: CliProcess | null = null
  let poller: NodeJS.Timeout | null = null
  try {
    poller = setInterval(() => ledger.sampleCommitted('poll'), 100)
    for (let k = 0; k <= plan.length; k++) {
      await s.beforeRun?.()
      const committedAtStart = ledger.sampleCommitted(`start of run ${k}`)
      child = spawnCli(['run', '-c', configFile], { cwd: tmp.dir })
      const snapshotExpected = !s.snapshotFinished(committedAtStart)
      if (k === plan.length) break // the last run is stopped cleanly below
      // A kill planned for the snapshot lands mid-stream when the previous run got its
      // snapshot acknowledged after all.
      const phase: Phase = snapshotExpected ? plan[k]! : 'stream'
      if (phase === 'snapshot') {
        // Kill at a random point of the snapshot's progress (bytes written by this run),
        // whatever the machine's speed; the snapshot finishing first is a handoff kill.
        await child.waitForOutput(s.snapshotLog.tableStarted, 60_000)
        const target = (0.05 + 0.55 * rand()) * s.snapshotBytes
        const deadline = Date.now() + 60_000
        while (
          !child.stderr().includes('snapshot done') &&
          bytesWrittenAfter(out, s.series, ledger.processedUpTo) < target
        ) {
          assert.ok(Date.now() < deadline, 'the snapshot makes progress')
          await sleep(s.progressPollMs)
        }
      } else if (phase === 'handoff') {
        await child.waitForOutput('snapshot done', 60_000)
        // Short: the snapshot end is committed soon after, and then the kill lands mid-stream.
        await sleep(rand() * 300)
      } else {
        await child.waitForOutput('streaming started', 60_000)
        // Mostly short (the cost of a cycle is mostly the restart), sometimes long enough for
        // several commits.
        await sleep(rand() < 0.8 ? 100 + rand() * 900 : 1000 + rand() * 2000)
      }
      const logged = child.stderr()
      const committedBeforeKill = ledger.sampleCommitted(`before kill ${k + 1}`)
      child.kill('SIGKILL')
      const { signal } = await exitWithin(child, 10_000)
      assert.equal(
        signal,
        'SIGKILL',
        `run ${k} was killed, not exited on its own:\n${child.stderr().slice(-2000)}`,
      )
      const snapshotted = logged.includes(s.snapshotLog.starting)
      assert.equal(
        snapshotted,
        snapshotExpected,
        `run ${k}: a snapshot runs exactly when the committed position (${committedAtStart}) is not past a finished snapshot`,
      )
      const committed = readCommitted()
      // Where the kill landed: before the snapshot's table copy started (startup), before the
      // snapshot finished, after it finished but before its end was committed (handoff), or
      // with the snapshot acknowledged (stream).
      const atKill: string = !snapshotted
        ? 'stream'
        : !logged.includes(s.snapshotLog.tableStarted)
          ? 'startup'
          : !logged.includes('snapshot done')
            ? 'snapshot'
            : s.snapshotFinished(committed)
              ? 'stream'
              : 'handoff'
      killedIn.push(atKill)
      ledger.sampleCommitted(`after kill ${k + 1} (${atKill})`)
      const n = await ledger.processRun(k, true)
      t.diagnostic(
        `kill ${k + 1}: planned ${phase}, in ${atKill}; ${n} events (${ledger.lastRunSpan}); committed ${committed}`,
      )
      if (n === 0 && process.env.SLUICE_CRASH_DEBUG) t.diagnostic(logged)
      ledger.resumeFrom(committed, committedBeforeKill)
    }

    // Stop the writer, mark the end with a sentinel row, and let Sluice catch up.
    const writerSummary = await writer.stop()
    await s.sql(`INSERT INTO ${s.table} VALUES (-1, 0, 'sentinel')`)
    const live = child!
    await live.waitForOutput('streaming started', 60_000)
    const sentinelPos = await waitFor(() => ledger.findSentinel(), 60_000, 'the sentinel row to be delivered')
    await waitFor(
      () => s.sortKey(readCommitted() ?? '') >= sentinelPos,
      10_000,
      'the sentinel to be committed',
    )
    live.kill('SIGTERM')
    const exit = await exitWithin(live, 10_000)
    t.diagnostic(`SIGTERM: exit code ${exit.code} after ${exit.elapsedMs} ms`)
    assert.equal(exit.code, 0, `SIGTERM exits 0:\n${live.stderr().slice(-2000)}`)
    clearInterval(poller)
    poller = null
    ledger.sampleCommitted('after SIGTERM')
    await ledger.processRun(plan.length, false)

    // --- assertions ------------------------------------------------------------------------
    t.diagnostic(
      `${writerSummary}; ${ledger.eventsRead} events in ${ledger.processedUpTo} files (${ledger.tornFiles} torn), ${ledger.duplicates} re-delivered, ${ledger.snapshotsSeen} snapshots; kills in: ${killedIn.join(', ')}`,
    )
    assert.equal(killedIn.length, plan.length)
    assert.ok(killedIn.includes('snapshot'), `at least one kill during the snapshot (${killedIn.join(', ')})`)
    assert.ok(killedIn.includes('stream'), `at least one kill mid-stream (${killedIn.join(', ')})`)
    assert.deepEqual(ledger.violations, [], `position/duplicate violations (seed ${seed})`)

    const rows = (await s.sql(`SELECT id, v, note FROM ${s.table} ORDER BY id`)).map(loadRowOf)
    const diff = diffRows(ledger.table, rows)
    assert.deepEqual(diff.sample, [], `replay differs from the source in ${diff.count} rows (seed ${seed})`)
    assert.equal(ledger.table.size, rows.length)

    const byId = new Set(rows.map((r) => r.id))
    const naiveExtra = [...ledger.naive.keys()].filter((id) => !byId.has(id)).length
    t.diagnostic(`a consumer that ignores snapshot restarts would keep ${naiveExtra} deleted rows`)

    // The quotable line.
    const perPhase = ['startup', 'snapshot', 'handoff', 'stream']
      .map((p) => [p, killedIn.filter((k) => k === p).length] as const)
      .filter(([, n]) => n > 0)
      .map(([p, n]) => `${n} ${p}`)
      .join(', ')
    const worst = ledger.redeliveries.reduce<(typeof ledger.redeliveries)[number] | null>(
      (w, r) => (w === null || r.max > w.max ? r : w),
      null,
    )
    const dupBound = worst
      ? `max duplicate position ${worst.max} <= acked ${worst.acked} (committed at that kill ${worst.committed})`
      : 'no duplicates'
    const summary =
      `${s.label} summary: ${plan.length} kill cycles (${perPhase}), ${ledger.eventsRead} events, ` +
      `${rows.length} rows replayed exactly, ${ledger.duplicates} duplicates in ${ledger.redeliveries.length} re-deliveries, ` +
      `every duplicate above the committed and at or below the acked position at its kill; ${dupBound}; ` +
      `${ledger.violations.length} violations; seed ${seed}; ${((Date.now() - started) / 1000).toFixed(0)} s`
    t.diagnostic(summary)
    console.log(`# ${summary}`)
  } finally {
    if (poller) clearInterval(poller)
    child?.kill('SIGKILL')
    if (child) await exitWithin(child, 10_000).catch(() => undefined)
    await writer.stop().catch(() => undefined)
    tmp.cleanup()
  }
}
