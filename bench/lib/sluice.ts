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
import { spawnMeasured, type Measured } from './proc.js'

/** How the Sluice CLI is launched. */
export interface SluiceLauncher {
  /** `built` (tsc output of the working tree in a temp dir), `dist` (the repo's dist/) or `tsx`. */
  readonly kind: 'built' | 'dist' | 'tsx'
  /** Human-readable command line, for the results. */
  readonly describe: string
  /** Args after `node` for `run -c <yaml>`. */
  args(yaml: string, nodeFlags?: string[]): string[]
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

/** Options of one Sluice pipeline with a file sink writing Avro. */
export interface PipelineOptions {
  url: string
  table: string
  slot: string
  publication: string
  snapshot: 'never' | 'initial' | 'initial_only'
  dir: string
  /** Pipeline `max_in_flight_events`; Sluice's default when absent. */
  maxInFlightEvents?: number
}

/** The pipeline's name in every benchmark config (state file `<dir>/state/bench.json`). */
export const PIPELINE = 'bench'

/** Writes `<dir>/sluice.yaml` and returns its path. */
export function writePipelineYaml(o: PipelineOptions): string {
  const yaml = `pipelines:
  - name: ${PIPELINE}
    source:
      type: postgres
      url: ${o.url}
      tables: [${o.table}]
      snapshot: ${o.snapshot}
      slot: ${o.slot}
      publication: ${o.publication}
    sinks:
      - type: file
        path: ${join(o.dir, 'out')}
        format: avro
${o.maxInFlightEvents ? `    max_in_flight_events: ${o.maxInFlightEvents}\n` : ''}state:
  type: file
  path: ${join(o.dir, 'state')}
log:
  level: info
`
  const file = join(o.dir, 'sluice.yaml')
  writeFileSync(file, yaml)
  return file
}

/** The committed position in the state file, or null. */
export function statePosition(dir: string): string | null {
  try {
    return (
      JSON.parse(readFileSync(join(dir, 'state', `${PIPELINE}.json`), 'utf8')) as { position: string | null }
    ).position
  } catch {
    return null // missing, or caught between rename and write: try again
  }
}

/** Starts the CLI with its log (stdout and stderr) in `<dir>/sluice.log`. */
export function startSluice(
  l: SluiceLauncher,
  yaml: string,
  dir: string,
  nodeFlags: string[] = [],
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
