import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './postgres.js'

const BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server'

/** A throwaway redis-server. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` (no password, database 0). */
  readonly url: string
  readonly port: number
  /** The redis-server process id (benchmarks read its CPU time). */
  readonly pid: number
  /** Stops the server (SIGTERM, then SIGKILL) and removes its directory. Safe to call twice. */
  stop(): Promise<void>
}

/** Sends PING over a raw socket; resolves true on any reply (`+PONG`, or `-NOAUTH` with a password). */
async function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    let buf = ''
    const done = (ok: boolean): void => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(1000, () => done(false))
    s.once('error', () => done(false))
    s.once('connect', () => s.write('PING\r\n'))
    s.on('data', (d: Buffer) => {
      buf += d.toString()
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG') || buf.startsWith('-NOAUTH'))
    })
  })
}

/**
 * Starts redis-server on a free loopback port without persistence
 * (`--save '' --appendonly no`), in a temp working dir. Never touches the machine's
 * service on 6379.
 */
export async function startRedis(extraArgs: string[] = []): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-redis-'))
  const port = await freePort()
  const proc = spawn(
    BIN,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--protected-mode',
      'no',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  const collect = (d: Buffer): void => {
    output += d.toString()
    if (output.length > 20000) output = output.slice(-10000)
  }
  proc.stdout?.on('data', collect)
  proc.stderr?.on('data', collect)
  const deadline = Date.now() + 15_000
  for (;;) {
    if (await ping(port)) break
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`redis-server did not start on port ${port}: ${output}`)
    }
    await new Promise((r) => setTimeout(r, 30))
  }
  let stopped = false
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: proc.pid!,
    async stop() {
      if (stopped) return
      stopped = true
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise<void>((r) => proc.once('exit', () => r()))
        proc.kill('SIGTERM')
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(t)
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
