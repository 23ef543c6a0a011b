import { spawn, type ChildProcess } from 'node:child_process'
import { openSync, closeSync, readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we use). */
const USER_HZ = 100

/** What /proc says about a process at one moment. */
export interface ProcSample {
  /** Peak resident set size so far (VmHWM), KiB. */
  hwmKb: number
  /** Current resident set size (VmRSS), KiB. */
  rssKb: number
  /** User + system CPU time so far, seconds. */
  cpuS: number
}

/** Reads VmHWM, VmRSS and CPU time of `pid`; null once it is gone (or a zombie). */
export function sampleProc(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status)
    const rss = /VmRSS:\s+(\d+) kB/.exec(status)
    if (!hwm || !rss) return null // zombie: memory already released
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // After "pid (comm) ", field 3 (state) is f[0]; utime is field 14, stime field 15.
    const cpuS = (Number(f[11]) + Number(f[12])) / USER_HZ
    return { hwmKb: Number(hwm[1]), rssKb: Number(rss[1]), cpuS }
  } catch {
    return null
  }
}

/** Samples a process until it is gone, keeping the last good sample (peak RSS only grows). */
export class ProcWatcher {
  last: ProcSample | null = null
  /** [ms since the watcher started, VmRSS KiB] of every sample. */
  readonly series: [number, number][] = []
  private readonly started = performance.now()
  private readonly timer: NodeJS.Timeout

  constructor(
    readonly pid: number,
    intervalMs = 25,
  ) {
    this.poll()
    this.timer = setInterval(() => this.poll(), intervalMs)
  }

  poll(): void {
    const s = sampleProc(this.pid)
    if (s) {
      this.last = s
      this.series.push([performance.now() - this.started, s.rssKb])
    }
  }

  /** VmRSS at the given fractions of the time sampled so far (up to `untilMs`), KiB. */
  rssAt(fractions: readonly number[], untilMs = Infinity): number[] {
    const pts = this.series.filter(([t]) => t <= untilMs)
    if (pts.length === 0) return fractions.map(() => NaN)
    const end = pts[pts.length - 1]![0]
    return fractions.map((f) => {
      let best = pts[0]!
      for (const p of pts) if (p[0] <= f * end) best = p
      return best[1]
    })
  }

  stop(): ProcSample | null {
    clearInterval(this.timer)
    return this.last
  }
}

/** A child process with its start time, peak-RSS watcher and output captured to a file. */
export interface Measured {
  readonly child: ChildProcess
  readonly pid: number
  /** performance.now() just before spawn. */
  readonly t0: number
  readonly watcher: ProcWatcher
  /** Resolves with the exit code (or the signal name) and the ms since t0 at exit. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>
}

/** Every child still running, so a SIGINT or an error can end them. */
export const running = new Set<ChildProcess>()

/** Spawns `cmd` with stdout/stderr to `logFile` (or /dev/null) and starts sampling it. */
export function spawnMeasured(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; logFile?: string; env?: NodeJS.ProcessEnv },
): Measured {
  const fd = openSync(opts.logFile ?? '/dev/null', 'a')
  const t0 = performance.now()
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', fd, fd] })
  closeSync(fd)
  if (child.pid === undefined) throw new Error(`cannot start ${cmd}`)
  running.add(child)
  const watcher = new ProcWatcher(child.pid)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>(
    (resolve, reject) => {
      child.once('error', reject)
      child.once('exit', (code, signal) => {
        running.delete(child)
        watcher.stop()
        resolve({ code, signal, ms: performance.now() - t0 })
      })
    },
  )
  return { child, pid: child.pid, t0, watcher, exited }
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves with the exit. */
export async function terminate(
  m: Measured,
  graceMs = 15_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; killed: boolean }> {
  let killed = false
  if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGTERM')
  const t = setTimeout(() => {
    killed = true
    m.child.kill('SIGKILL')
  }, graceMs)
  const r = await m.exited
  clearTimeout(t)
  return { ...r, killed }
}

/** Ends every child still running (SIGKILL): used on SIGINT and on errors. */
export function killAll(): void {
  for (const c of running) {
    try {
      c.kill('SIGKILL')
    } catch {
      // gone
    }
  }
}
