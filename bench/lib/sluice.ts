import { spawnSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { REPO, say, sleep, SluiceFailed, STALL_MS, tail } from './harness.js'
import { OcfCounter } from './ocf-count.js'
import { spawnMeasured, terminate, type Measured } from './proc.js'
import type { Run } from './runs.js'

/** How the Sluice CLI is launched. */
export interface SluiceLauncher {
  /** `built` (tsc output of the working tree in a temp dir), `dist` (the repo's dist/) or `tsx`. */
  readonly kind: 'built' | 'dist' | 'tsx'
  /** Human-readable command line, for the results. */
  readonly describe: string
  /** Args after `node` for `run -c <yaml>`. */
  args(yaml: string, nodeFlags?: readonly string[]): string[]
  readonly cwd: string
}

/**
 * Picks how to run the real CLI. BENCH_SLUICE=build (default) compiles the working tree
 * with tsconfig.build.json into a temp dir (leaving the repo's dist/ alone) and runs
 * `node <tmp>/dist/cli/main.js`; `dist` runs the repo's existing dist/cli/main.js; `tsx`
 * runs `node --import tsx cli/main.ts`. A failed build falls back to tsx.
 */
export function sluiceLauncher(repo: string, work: string, log: (s: string) => void): SluiceLauncher {
  const want = process.env.BENCH_SLUICE ?? 'build'
  const tsx: SluiceLauncher = {
    kind: 'tsx',
    describe: 'node --import tsx cli/main.ts run -c <yaml>',
    cwd: repo,
    args: (yaml, flags = []) => [...flags, '--import', 'tsx', join(repo, 'cli/main.ts'), 'run', '-c', yaml],
  }
  if (want === 'tsx') return tsx
  if (want === 'dist') {
    const main = join(repo, 'dist/cli/main.js')
    if (!existsSync(main)) throw new Error(`BENCH_SLUICE=dist but ${main} does not exist: run npm run build`)
    return {
      kind: 'dist',
      describe: 'node dist/cli/main.js run -c <yaml>',
      cwd: repo,
      args: (yaml, flags = []) => [...flags, main, 'run', '-c', yaml],
    }
  }
  const root = join(work, 'sluice-build')
  mkdirSync(root, { recursive: true })
  const r = spawnSync(
    process.execPath,
    [
      join(repo, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(repo, 'tsconfig.build.json'),
      '--outDir',
      join(root, 'dist'),
      '--declaration',
      'false',
      '--sourceMap',
      'false',
    ],
    { cwd: repo, encoding: 'utf8' },
  )
  const main = join(root, 'dist/cli/main.js')
  if (!existsSync(main)) {
    log(`tsc build failed (${r.status}); falling back to tsx:\n${r.stdout}${r.stderr}`)
    return tsx
  }
  if (r.status !== 0)
    log(`tsc reported type errors but emitted JavaScript; using it:\n${r.stdout.slice(0, 2000)}`)
  // The build needs Sluice's package.json (VERSION, "type": "module") and node_modules.
  copyFileSync(join(repo, 'package.json'), join(root, 'package.json'))
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'))
  return {
    kind: 'built',
    describe:
      'node dist/cli/main.js run -c <yaml> (tsc -p tsconfig.build.json of the working tree, into a temp dir)',
    cwd: root,
    args: (yaml, flags = []) => [...flags, main, 'run', '-c', yaml],
  }
}

/** What every benchmark pipeline has besides its source: snapshot mode, run dir, in-flight limit. */
export interface PipelineBase {
  snapshot: 'never' | 'initial' | 'initial_only'
  dir: string
  /** Pipeline `max_in_flight_events`; Sluice's default when absent. */
  maxInFlightEvents?: number | undefined
  /** Serve the admin API (/metrics) on this loopback port; none when absent. */
  adminPort?: number | undefined
}

/** The top-level `admin:` block for `o.adminPort` (empty without one). */
export const adminYaml = (o: PipelineBase): string =>
  o.adminPort ? `admin:\n  host: 127.0.0.1\n  port: ${o.adminPort}\n` : ''

/** Options of one Sluice pipeline reading Postgres into a file sink writing Avro. */
export interface PipelineOptions extends PipelineBase {
  url: string
  table: string
  slot: string
  publication: string
}

/** The pipeline's name in every benchmark config (state file `<dir>/state/bench.json`). */
export const PIPELINE = 'bench'

/** The pipeline's state file in a run dir. */
export const stateFile = (dir: string): string => join(dir, 'state', `${PIPELINE}.json`)

/**
 * Writes `<dir>/sluice.yaml`: pipeline `bench` with the `source` keys in order, a file sink
 * writing Avro to `<dir>/out` and state in `<dir>/state`. Returns its path.
 */
export function writeSluiceYaml(
  o: PipelineBase,
  source: readonly (readonly [string, string | number])[],
): string {
  const yaml = `pipelines:
  - name: ${PIPELINE}
    source:
${source.map(([k, v]) => `      ${k}: ${v}\n`).join('')}    sinks:
      - type: file
        path: ${join(o.dir, 'out')}
        format: avro
${o.maxInFlightEvents ? `    max_in_flight_events: ${o.maxInFlightEvents}\n` : ''}state:
  type: file
  path: ${join(o.dir, 'state')}
log:
  level: info
${adminYaml(o)}`
  const file = join(o.dir, 'sluice.yaml')
  writeFileSync(file, yaml)
  return file
}

/** Writes `<dir>/sluice.yaml` for a Postgres source and returns its path. */
export const writePipelineYaml = (o: PipelineOptions): string =>
  writeSluiceYaml(o, [
    ['type', 'postgres'],
    ['url', o.url],
    ['tables', `[${o.table}]`],
    ['snapshot', o.snapshot],
    ['slot', o.slot],
    ['publication', o.publication],
  ])

/** The committed position in the state file, or null. */
export function statePosition(dir: string): string | null {
  try {
    return (JSON.parse(readFileSync(stateFile(dir), 'utf8')) as { position: string | null }).position
  } catch {
    return null // missing, or caught between rename and write: try again
  }
}

/** Starts the CLI with its log (stdout and stderr) in `<dir>/sluice.log`. */
export function startSluice(
  l: SluiceLauncher,
  yaml: string,
  dir: string,
  nodeFlags: readonly string[] = [],
): Measured {
  return spawnMeasured(process.execPath, l.args(yaml, nodeFlags), {
    cwd: l.cwd,
    logFile: join(dir, 'sluice.log'),
  })
}

/** A fresh temp dir for one run. */
export function runDir(work: string, name: string): string {
  return mkdtempSync(join(work, `${name}-`))
}

/**
 * Picks the launcher (sluiceLauncher()) and prints how Sluice is run. A launcher message
 * (a failed build) is printed and its first `noteLines` lines, joined, become a note.
 */
export function prepareLauncher(
  work: string,
  flags: readonly string[],
  notes: string[],
  noteLines = 1,
): SluiceLauncher {
  const launcher = sluiceLauncher(REPO, work, (s) => {
    say(s)
    notes.push(s.split('\n').slice(0, noteLines).join(' ').trim())
  })
  say(`sluice: ${launcher.describe}${flags.length ? ` with node flags ${flags.join(' ')}` : ''}`)
  return launcher
}

/** The `- Sluice: ...` line of a results section; `rest` follows the command line and flags. */
export const sluiceLine = (l: SluiceLauncher, flags: readonly string[], rest: string): string =>
  `- Sluice: ${l.describe}${flags.length ? `, node flags \`${flags.join(' ')}\`` : ''}; ${rest}`

/**
 * Measures the database server's CPU seconds during one Sluice run: called just before the
 * spawn with a promise that settles when the process exits; the function it returns is
 * called once the run is complete (null: not measured).
 */
export type ServerCpuMeter = (exited: Promise<unknown>) => () => number | null

/** One Sluice run (runSluice()). */
export interface SluiceRunOptions {
  /** Prefix of the run's temp dir under the workspace. */
  name: string
  /** Writes the pipeline's config (and any state to resume from) into the run dir; returns the YAML's path. */
  configure: (dir: string) => string
  /** Records the output must hold. */
  events: number
  /** Whether a committed position means every event is durable and committed. */
  complete: (pos: string) => boolean
  /** Node flags of the CLI process. */
  nodeFlags?: readonly string[]
  serverCpu?: ServerCpuMeter
  /** Give the CLI this long to exit by itself after completing, before SIGTERM. */
  awaitExitMs?: number
}

/** A Sluice run with its (not yet discarded) dir and, with awaitExitMs, how soon it exited by itself. */
export type SluiceRun = Run & { dir: string; selfExitMs?: number }

/**
 * Runs the Sluice CLI on a pipeline in a fresh dir under `work` until the state file holds
 * a position that `complete` accepts (all events durable and committed), then stops it
 * with SIGTERM. Throws a SluiceFailed when it exits early or makes no progress (neither
 * position nor record count changes) for STALL_MS.
 */
export async function runSluice(l: SluiceLauncher, work: string, o: SluiceRunOptions): Promise<SluiceRun> {
  const dir = runDir(work, o.name)
  const yaml = o.configure(dir)
  const log = join(dir, 'sluice.log')
  const counter = new OcfCounter(join(dir, 'out'))
  let settle = (): void => {}
  const gone = new Promise<void>((r) => (settle = r))
  const serverCpu = o.serverCpu?.(gone)
  let m: Measured
  try {
    m = startSluice(l, yaml, dir, o.nodeFlags)
  } catch (err) {
    settle()
    throw err
  }
  void m.exited.finally(settle).catch(() => {})
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null
  void m.exited.then((r) => (exited = r))
  let writtenMs: number | undefined
  let lastProgress = performance.now()
  let lastSeen = ''
  let doneMs: number
  for (;;) {
    const pos = statePosition(dir)
    const now = performance.now()
    if (pos !== null && o.complete(pos)) {
      doneMs = now - m.t0
      // The last blocks landed within this poll interval.
      writtenMs ??= doneMs
      break
    }
    if (writtenMs === undefined) {
      const n = counter.count()
      if (n >= o.events) writtenMs = now - m.t0
      const seen = `${pos}:${n}`
      if (seen !== lastSeen) {
        lastSeen = seen
        lastProgress = now
      }
    }
    if (exited) {
      const e = exited as { code: number | null; signal: NodeJS.Signals | null }
      throw new SluiceFailed(
        `sluice exited (${e.code ?? e.signal}) before completing; position ${pos}; log ${log}:\n${tail(log)}`,
      )
    }
    if (now - lastProgress > STALL_MS) {
      const stop = await terminate(m, 12_000)
      throw new SluiceFailed(
        `sluice made no progress for ${STALL_MS / 1000} s (position ${pos}, ${counter.count()} records written; stopped: ${stop.code ?? stop.signal}${stop.killed ? ', needed SIGKILL' : ''}); log:\n${tail(log)}`,
      )
    }
    await sleep(20)
  }
  const serverCpuS = serverCpu?.() ?? null
  m.watcher.poll()
  const rssCurve = m.watcher.rssAt([0.25, 0.5, 0.75, 1])
  let selfExitMs: number | undefined
  if (o.awaitExitMs) {
    const t = performance.now()
    const byItself = await Promise.race([m.exited.then(() => true), sleep(o.awaitExitMs).then(() => false)])
    if (byItself) selfExitMs = performance.now() - t
  }
  const stop = await terminate(m)
  const records = counter.count()
  return {
    dir,
    ms: doneMs,
    rate: o.events / (doneMs / 1000),
    peak: m.watcher.last,
    serverCpuS,
    ...(writtenMs !== undefined ? { writtenMs } : {}),
    records,
    rssCurve,
    exit: `${stop.code ?? stop.signal}${stop.killed ? ' (SIGKILL after 15 s)' : ''}${o.awaitExitMs && selfExitMs === undefined ? ` (did not exit by itself within ${o.awaitExitMs / 1000} s; SIGTERM)` : ''}`,
    ...(selfExitMs !== undefined ? { selfExitMs } : {}),
  }
}
