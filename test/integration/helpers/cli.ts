import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** The repository root (this file is test/integration/helpers/cli.ts). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/**
 * tsx's loader as an absolute file URL: `--import tsx` resolves against the child's cwd,
 * which for these tests is a temp dir without node_modules.
 */
const TSX_LOADER = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href

/** The `sluice` command from source (no build step), as a user would run it. */
export interface CliProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** Everything written so far. */
  stdout(): string
  stderr(): string
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves when `pattern` appears in stderr (or stdout); rejects on exit or timeout. */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<void>
  /** Sends a signal unless the process already exited. */
  kill(signal: NodeJS.Signals): void
}

/** Spawns `node --import tsx cli/main.ts ...args` with `cwd` and `env` (merged over process.env). */
export function spawnCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined> } = {},
): CliProcess {
  const child = spawn(
    process.execPath,
    ['--import', TSX_LOADER, join(REPO_ROOT, 'cli', 'main.ts'), ...args],
    {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  let err = ''
  const listeners = new Set<() => void>()
  const changed = (): void => {
    for (const l of [...listeners]) l()
  }
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('utf8')
    changed()
  })
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString('utf8')
    changed()
  })
  let hasExited = false
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close' fires after the exit and after stdio has been drained.
    child.once('close', (code, signal) => {
      hasExited = true
      changed()
      resolve({ code, signal })
    })
  })
  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(pattern, timeoutMs = 30_000) {
      const matches = (): boolean =>
        typeof pattern === 'string'
          ? err.includes(pattern) || out.includes(pattern)
          : pattern.test(err) || pattern.test(out)
      return new Promise<void>((resolve, reject) => {
        const done = (fn: () => void): void => {
          clearTimeout(timer)
          listeners.delete(check)
          fn()
        }
        const check = (): void => {
          if (matches()) done(resolve)
          else if (hasExited)
            done(() =>
              reject(new Error(`sluice exited before printing ${pattern}; stderr:\n${err.slice(-4000)}`)),
            )
        }
        const timer = setTimeout(
          () =>
            done(() => reject(new Error(`timed out waiting for ${pattern}; stderr:\n${err.slice(-4000)}`))),
          timeoutMs,
        )
        listeners.add(check)
        check()
      })
    },
    kill(signal) {
      if (!hasExited && child.exitCode === null && child.signalCode === null) child.kill(signal)
    },
  }
}

/** Runs the CLI to completion. */
export async function runCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnCli(args, opts)
  const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
  const { code } = await p.exited
  clearTimeout(timer)
  return { code, stdout: p.stdout(), stderr: p.stderr() }
}

/** Resolves with the exit of `p`, or rejects if it takes longer than `ms`. */
export async function exitWithin(
  p: CliProcess,
  ms: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; elapsedMs: number }> {
  const started = Date.now()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`sluice did not exit within ${ms} ms; stderr:\n${p.stderr().slice(-4000)}`)),
      ms,
    )
  })
  try {
    const r = await Promise.race([p.exited, timeout])
    return { ...r, elapsedMs: Date.now() - started }
  } finally {
    clearTimeout(timer)
  }
}
