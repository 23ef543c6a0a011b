/** Writing a benchmark's dated section of bench/RESULTS.md. */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { selfTimesByFile } from './cpuprofile.js'
import { say } from './harness.js'
import type { MachineInfo } from './machine.js'
import type { Profiled } from './runs.js'
import { fix, int, table } from './stats.js'

/** `## <date> — [<title> — ]commit <sha>[ + uncommitted changes in the working tree]` */
export const sectionHead = (info: MachineInfo, title?: string): string =>
  `## ${info.date} — ${title ? `${title} — ` : ''}commit ${info.commit}${info.dirty ? ' + uncommitted changes in the working tree' : ''}`

/** `- Command: ...` with the sizes; `extra` is appended inside the parentheses. */
export const commandLine = (command: string, rows: number, runs: number, extra = ''): string =>
  `- Command: \`${command}\` (${int(rows)} rows, ${runs} runs of each consumer per scenario${extra})`

/** `- Machine: ...`, ending with `server` (the database and its tools). */
export const machineLine = (info: MachineInfo, server: string): string =>
  `- Machine: ${info.cpus} × ${info.model} (nproc ${info.cpus}), ${info.ramGiB} GiB RAM; Node ${info.node}; ${server}`

/** A `### <title>` subsection: the heading, then each block, each after an empty line. */
export const subsection = (title: string, ...blocks: string[]): string[] => [
  '',
  `### ${title}`,
  ...blocks.flatMap((b) => ['', b]),
]

/**
 * The `#### CPU profile ...` subsection (each paragraph after an empty line): on-CPU and
 * idle time (`idleAside` right after "idle"), the top 20 functions and the top 12 files.
 */
export function profileSection(p: Profiled, idleAside = '', run = 'run'): string[] {
  return [
    '',
    '#### CPU profile of one more Sluice streaming run (`node --cpu-prof`, not in the figures above)',
    '',
    `${fix(p.totalMs / 1000)} s on-CPU in the main thread, ${fix(p.idleMs / 1000)} s idle${idleAside}, of a ${fix(p.ms / 1000)} s ${run}. Top self time (functions without a location are V8-generated code, e.g. avsc's compiled record writers):`,
    '',
    table(
      ['self %', 'self ms', 'function', 'where'],
      p.top.slice(0, 20).map((x) => [fix(x.pct, 1), int(x.ms), `\`${x.fn}\``, x.where]),
    ),
    '',
    'By file: ' +
      selfTimesByFile(p.top)
        .slice(0, 12)
        .map((f) => `${f.file} ${fix(f.pct, 1)} %`)
        .join(', '),
  ]
}

/**
 * Ends the section with the notes, prints it and, unless BENCH_RESULTS=0, appends it to
 * `<repo>/bench/RESULTS.md`.
 */
export function finishSection(lines: string[], notes: readonly string[], repo: string): void {
  if (notes.length > 0) {
    lines.push('')
    lines.push('Notes:')
    for (const n of notes) lines.push(`- ${n}`)
  }
  lines.push('')
  const section = lines.join('\n')
  say('\n' + section)
  if (process.env.BENCH_RESULTS !== '0') {
    appendFileSync(join(repo, 'bench/RESULTS.md'), '\n' + section)
    say('appended to bench/RESULTS.md')
  }
}
