import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { selfTimes, type SelfTime } from './cpuprofile.js'
import { say } from './harness.js'
import type { Measured, ProcSample } from './proc.js'
import { fix, int, median, mib } from './stats.js'

/** One consumer run, as the benchmarks record it. */
export interface Run {
  ms: number
  /** Changes (or rows) per second over `ms`. */
  rate: number
  /** Last sample of the consumer process (peak RSS, CPU). */
  peak: ProcSample | null
  /** CPU seconds the database server spent during the run (null: not measured). */
  serverCpuS: number | null
  /** Sluice: ms from start until every record was in complete Avro blocks (before the state commit). */
  writtenMs?: number
  /** Sluice: records found in the output files after the run. */
  records?: number
  /** Sluice: VmRSS (KiB) at 25, 50, 75 and 100 % of the time to completion. */
  rssCurve?: number[]
  exit: string
}

/**
 * Runs every consumer `runs` times, forwards in even rounds and backwards in odd ones
 * (A B C, C B A, A B C ...), so machine-speed drift hits them alike. Returns each
 * consumer's runs in order.
 */
export async function interleave<T extends readonly unknown[]>(
  runs: number,
  consumers: readonly [...{ [K in keyof T]: (i: number) => Promise<T[K]> }],
): Promise<{ [K in keyof T]: T[K][] }> {
  const fns = consumers as readonly ((i: number) => Promise<unknown>)[]
  const out: unknown[][] = fns.map(() => [])
  for (let i = 0; i < runs; i++) {
    const order = fns.map((_, k) => k)
    if (i % 2 === 1) order.reverse()
    for (const k of order) out[k]!.push(await fns[k]!(i))
  }
  return out as { [K in keyof T]: T[K][] }
}

/** Median figures of a list of runs. */
export function summarise(rs: readonly Run[]): {
  ms: number
  rate: number
  rateMin: number
  rateMax: number
  peakKb: number
  peakMaxKb: number
  cpuS: number
  serverCpuS: number
} {
  const rates = rs.map((r) => r.rate)
  return {
    ms: median(rs.map((r) => r.ms)),
    rate: median(rates),
    rateMin: Math.min(...rates),
    rateMax: Math.max(...rates),
    peakKb: median(rs.map((r) => r.peak?.hwmKb ?? NaN)),
    peakMaxKb: Math.max(...rs.map((r) => r.peak?.hwmKb ?? 0)),
    cpuS: median(rs.map((r) => r.peak?.cpuS ?? NaN)),
    serverCpuS: median(rs.map((r) => r.serverCpuS ?? NaN)),
  }
}

/** Column heads matching row(); `server` names the server-side CPU column. */
export const runHead = (server: string): string[] => [
  'consumer',
  'runs',
  'median wall s',
  'median rate',
  'rate range',
  'peak RSS median',
  'CPU (median)',
  `${server} CPU`,
]

/** One Markdown table row of median figures. */
export function runRow(name: string, unit: 'changes' | 'rows', rs: readonly Run[], events: number): string[] {
  const s = summarise(rs)
  return [
    name,
    String(rs.length),
    fix(s.ms / 1000),
    `${int(s.rate)} ${unit}/s`,
    `${int(s.rateMin)}–${int(s.rateMax)}`,
    `${mib(s.peakKb)} (max ${mib(s.peakMaxKb)})`,
    `${fix(s.cpuS)} s (${fix((s.cpuS * 1e6) / events)} µs/${unit === 'rows' ? 'row' : 'change'})`,
    Number.isFinite(s.serverCpuS) ? `${fix(s.serverCpuS)} s` : '–',
  ]
}

/** One line per run for the console. */
export const describeRun = (label: string, r: Run, server = 'server'): string =>
  `  ${label}: ${fix(r.ms / 1000)} s, ${int(r.rate)}/s, peak RSS ${mib(r.peak?.hwmKb ?? NaN)}, CPU ${fix(r.peak?.cpuS ?? NaN)} s` +
  (r.serverCpuS !== null ? `, ${server} CPU ${fix(r.serverCpuS)} s` : '') +
  (r.writtenMs !== undefined ? `, all written at ${fix(r.writtenMs / 1000)} s` : '') +
  (r.records !== undefined ? `, ${int(r.records)} records` : '') +
  (r.exit !== '0' ? `, exit ${r.exit}` : '') +
  (r.rssCurve ? `, RSS at 25/50/75/100 %: ${r.rssCurve.map((k) => fix(k / 1024, 0)).join('/')} MiB` : '')

/** The Run of a baseline process that exited by itself after delivering `events`. */
export const exitedRun = (
  m: Measured,
  r: { code: number | null; ms: number },
  events: number,
  serverCpuS: number | null,
): Run => ({ ms: r.ms, rate: events / (r.ms / 1000), peak: m.watcher.last, serverCpuS, exit: String(r.code) })

/** `per-pair ratios: median …, range …–…` of a's rate over b's, run by run. */
export function pairRatios(a: readonly Run[], b: readonly Run[]): string {
  const pair = a.map((x, i) => x.rate / b[i]!.rate)
  return `per-pair ratios: median ${fix(median(pair))}, range ${fix(Math.min(...pair))}–${fix(Math.max(...pair))}`
}

/** `Every record was in complete Avro blocks at a median … s (… changes/s)`, and that median (ms). */
export function allWritten(rs: readonly Run[], events: number): { ms: number; text: string } {
  const ms = median(rs.map((x) => x.writtenMs ?? NaN))
  return {
    ms,
    text: `Every record was in complete Avro blocks at a median ${fix(ms / 1000)} s (${int(events / (ms / 1000))} changes/s)`,
  }
}

/**
 * Notes run `i` of `scenario` when Sluice did not exit with 0 (`sluice exited <exit><how>`)
 * or the output holds other than `expected` records.
 */
export function noteSluiceRun(
  notes: string[],
  scenario: string,
  i: number,
  r: Run,
  expected: number,
  how = ' after SIGTERM',
): void {
  if (r.exit !== '0') notes.push(`${scenario} run ${i + 1}: sluice exited ${r.exit}${how}`)
  if (r.records !== expected)
    notes.push(`${scenario} run ${i + 1}: ${r.records} records in the output, expected ${expected}`)
}

/** Self-time summary of one profiled Sluice run of `ms`. */
export interface Profiled {
  top: SelfTime[]
  totalMs: number
  idleMs: number
  ms: number
}

/**
 * One extra Sluice run under `node --cpu-prof` (not in the figures): `run` performs it with
 * the given node flags. Returns the profile's self times (sources relative to `cwd`), or
 * null with a note when no profile was written.
 */
export async function profileSluice(
  work: string,
  cwd: string,
  notes: string[],
  server: string,
  run: (nodeFlags: string[]) => Promise<Run>,
): Promise<Profiled | null> {
  say('profiling one more Sluice run (node --cpu-prof; not in the figures)')
  const profDir = join(work, 'cpuprof')
  const r = await run(['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=500'])
  say(describeRun('sluice (profiled)', r, server))
  const files = existsSync(profDir) ? readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')) : []
  if (!files[0]) {
    notes.push('the profiled run wrote no .cpuprofile')
    return null
  }
  const profile = { ...selfTimes(join(profDir, files[0]), cwd), ms: r.ms }
  say(`  profile: ${join(profDir, files[0])}`)
  return profile
}
