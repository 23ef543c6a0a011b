/**
 * What every end-to-end benchmark (`*-to-file.bench.ts`) sets up the same way: its
 * settings from the environment, console output, a temp dir that is removed (with every
 * child and the server) on exit or a signal, and the top-level error handling.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MachineInfo } from './machine.js'
import { killAll } from './proc.js'
import { int } from './stats.js'

/** The repository root. */
export const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '')

/** A Sluice run that makes no visible progress for this long is declared hung. */
export const STALL_MS = 60_000

export const say = (s: string): void => void process.stdout.write(`${s}\n`)

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The last `lines` lines of a log file. */
export const tail = (file: string, lines = 40): string => {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** A Sluice failure, with the tail of its log in the message (no stack trace is printed). */
export class SluiceFailed extends Error {}

/** The settings every end-to-end benchmark reads from the environment. */
export interface BenchSettings {
  /** BENCH_ROWS (1,000,000). */
  rows: number
  /** BENCH_RUNS (5, at least 1). */
  runs: number
  /** BENCH_PROFILE (on unless `0`): one extra profiled Sluice run. */
  profile: boolean
  /** BENCH_ONLY: the scenarios to run. */
  only: Set<string>
  /** BENCH_IN_FLIGHT: the pipelines' max_in_flight_events (Sluice's default when unset). */
  inFlight: number | undefined
  /** BENCH_SLUICE_FLAGS: extra node flags for every Sluice run. */
  sluiceFlags: string[]
}

/** Reads the BENCH_* settings; `scenarios` is BENCH_ONLY's default (every scenario). */
export function benchSettings(scenarios: string): BenchSettings {
  return {
    rows: Number(process.env.BENCH_ROWS ?? 1_000_000),
    runs: Math.max(1, Number(process.env.BENCH_RUNS ?? 5)),
    profile: process.env.BENCH_PROFILE !== '0',
    only: new Set((process.env.BENCH_ONLY ?? scenarios).split(',').map((x) => x.trim())),
    inFlight: process.env.BENCH_IN_FLIGHT ? Number(process.env.BENCH_IN_FLIGHT) : undefined,
    sluiceFlags: (process.env.BENCH_SLUICE_FLAGS ?? '').split(' ').filter(Boolean),
  }
}

/** The benchmark's temp dir and its clean-up. */
export interface Workspace {
  readonly dir: string
  /** Removes a run's directory unless BENCH_KEEP=1. */
  discard(dir: string): void
  /** Ends every child, stops the server and removes the temp dir (unless BENCH_KEEP=1). */
  cleanup(): Promise<void>
}

/**
 * Makes the temp dir `<tmp>/<prefix>XXXXXX` and runs cleanup() on each of `signals`
 * (exit 130 for SIGINT, 143 for SIGTERM). `stopServer` stops the database server, if any.
 */
export function workspace(o: {
  prefix: string
  serverName: string
  stopServer: () => Promise<void>
  signals: readonly ('SIGINT' | 'SIGTERM')[]
}): Workspace {
  const dir = mkdtempSync(join(tmpdir(), o.prefix))
  const keep = (): boolean => process.env.BENCH_KEEP === '1'
  const ws: Workspace = {
    dir,
    discard: (d) => {
      if (!keep()) rmSync(d, { recursive: true, force: true })
    },
    cleanup: async () => {
      killAll()
      await o.stopServer()
      if (!keep()) rmSync(dir, { recursive: true, force: true })
      else say(`kept ${dir}`)
    },
  }
  for (const sig of o.signals) {
    process.on(sig, () => {
      say(`\n${sig === 'SIGINT' ? 'interrupted' : 'terminated'}: stopping children and ${o.serverName}`)
      void ws.cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143))
    })
  }
  return ws
}

/** The command line as run: the BENCH_* variables among `keys` that are set, then `cmd`. */
export function benchCommand(keys: readonly string[], cmd: string): string {
  const env = keys
    .filter((k) => process.env[k] !== undefined)
    .map((k) => `${k}=${JSON.stringify(process.env[k])}`)
  return [...env, cmd].join(' ')
}

/** The first console lines: `<title>: <command> (<rows> rows, <runs> runs each)` and the machine. */
export function announce(
  title: string,
  command: string,
  info: MachineInfo,
  rows: number,
  runs: number,
): void {
  say(
    `${title}: ${command} (${int(rows)} rows, ${runs} runs each)\n${info.date}, commit ${info.commit}${info.dirty ? ' (working tree has uncommitted changes)' : ''}, ${info.cpus} × ${info.model}, ${info.ramGiB} GiB, node ${info.node}`,
  )
}

/** Runs `main`, reports a failure (with its stack unless it is a SluiceFailed) and always cleans up. */
export function runMain(main: () => Promise<void>, cleanup: () => Promise<void>): void {
  main()
    .catch((err: unknown) => {
      process.stderr.write(`\nbenchmark failed: ${err instanceof Error ? err.message : String(err)}\n`)
      if (!(err instanceof SluiceFailed) && err instanceof Error && err.stack)
        process.stderr.write(`${err.stack}\n`)
      process.exitCode = 1
    })
    .finally(() => cleanup())
}
