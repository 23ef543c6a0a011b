import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'

/** Facts recorded with every result. */
export interface MachineInfo {
  date: string
  commit: string
  dirty: boolean
  cpus: number
  model: string
  ramGiB: number
  node: string
  postgres: string
}

const sh = (cmd: string, args: string[], cwd?: string): string => {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return 'unknown'
  }
}

/** Date (`date -u`), commit, CPU count and model, RAM, Node and Postgres versions. */
export function machineInfo(repo: string, pgBin: string): MachineInfo {
  let model = cpus()[0]?.model ?? 'unknown'
  try {
    model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model
  } catch {
    // not Linux
  }
  return {
    date: sh('date', ['-u']),
    commit: sh('git', ['rev-parse', '--short', 'HEAD'], repo),
    dirty: sh('git', ['status', '--porcelain', '--untracked-files=no'], repo).length > 0,
    cpus: Number(sh('nproc', [])) || cpus().length,
    model,
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    postgres: sh(`${pgBin}/postgres`, ['--version']),
  }
}
