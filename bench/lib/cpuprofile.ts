import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

/** One function's share of a CPU profile. */
export interface SelfTime {
  fn: string
  where: string
  ms: number
  pct: number
}

/**
 * Self time per function from a V8 `.cpuprofile` (`node --cpu-prof`): each sample's time
 * delta is charged to the node it hit, then nodes are merged by function name and source
 * location. `(idle)` is left out of the percentages; `(garbage collector)` and `(program)`
 * (native work outside JS, e.g. libuv and syscalls) are kept.
 */
export function selfTimes(file: string, repo: string): { top: SelfTime[]; totalMs: number; idleMs: number } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!
    // timeDeltas[i] is the time before sample i; charge it to the sample it ends at.
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0))
  }
  const merged = new Map<string, SelfTime>()
  let idleMs = 0
  let totalMs = 0
  for (const [id, us] of self) {
    const n = byId.get(id)!
    const cf = n.callFrame
    const ms = us / 1000
    if (cf.functionName === '(idle)') {
      idleMs += ms
      continue
    }
    totalMs += ms
    const url = cf.url
      .replace(/^file:\/\//, '')
      .replace(repo + '/', '')
      .replace(/.*\/node_modules\//, 'node_modules/')
    const where = url ? `${url}:${cf.lineNumber + 1}` : ''
    const fn = cf.functionName || '(anonymous)'
    const key = `${fn}@${where}`
    const e = merged.get(key) ?? { fn, where, ms: 0, pct: 0 }
    e.ms += ms
    merged.set(key, e)
  }
  const top = [...merged.values()].sort((a, b) => b.ms - a.ms)
  for (const t of top) t.pct = (100 * t.ms) / totalMs
  return { top, totalMs, idleMs }
}

/** Self time summed by file (module), the coarser view. */
export function selfTimesByFile(top: readonly SelfTime[]): { file: string; pct: number }[] {
  const m = new Map<string, number>()
  for (const t of top) {
    const f = t.where.replace(/:\d+$/, '') || t.fn
    m.set(f, (m.get(f) ?? 0) + t.pct)
  }
  return [...m.entries()].map(([file, pct]) => ({ file, pct })).sort((a, b) => b.pct - a.pct)
}
