import type { SnapshotProgress } from '../pipeline/source.js'

const WIDTH = 24

/**
 * Draws snapshot progress bars on a terminal: one line, redrawn in place, per table being
 * read (`shop public.accounts [#########-----] 61% 610000/1000000 rows`). Only used when
 * stderr is a TTY; logs stay JSON lines otherwise.
 */
export function progressBar(
  pipeline: string,
  out: NodeJS.WriteStream = process.stderr,
): (p: SnapshotProgress) => void {
  return (p) => {
    const total = p.estimate > 0 ? Math.max(p.estimate, p.rows) : 0
    const frac = p.done ? 1 : total > 0 ? p.rows / total : 0
    const filled = Math.round(frac * WIDTH)
    const bar = '#'.repeat(filled) + '-'.repeat(WIDTH - filled)
    const pct = `${Math.floor(frac * 100)}%`.padStart(4)
    const line = `${pipeline} ${p.table} [${bar}] ${pct} ${p.rows}${total ? `/${total}` : ''} rows${p.done ? ' done' : ''}`
    out.write(`\r\x1b[2K${line}${p.done ? '\n' : ''}`)
  }
}
