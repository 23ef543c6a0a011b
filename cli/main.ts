#!/usr/bin/env node
import { parseArgs } from 'node:util'
import v8 from 'node:v8'
import { ConfigError } from '../pipeline/errors.js'
import { VERSION } from '../pipeline/version.js'
import { cleanupCommand, runCommand } from './run.js'
import { statusCommand } from './status.js'
import { validateCommand } from './validate.js'
import { verifyMain } from './verify.js'

const HELP = `sluice ${VERSION} — change data capture from Postgres to Avro change events

Usage:
  sluice run -c FILE [PIPELINE...]      run the pipelines of FILE (all, or those named)
  sluice validate -c FILE               check FILE and print every problem
  sluice cleanup -c FILE PIPELINE       drop the pipeline's replication slot, publication and state
  sluice verify -c FILE PIPELINE        compare the source tables with the pipeline's cache/index sinks
      [--chunk-size N] [--recheck-ms MS] [--examples N] [--json]   (exit 0 in sync, 1 drift, 2 error)
  sluice status [-c FILE | --url URL] [--token TOKEN]   print the pipelines of a running sluice (admin API)
  sluice --version
  sluice --help

Options:
  -c, --config FILE   configuration file (YAML); default ./sluice.yaml

Environment:
  SLUICE_HEAP_GROWING_PERCENT   V8 old-generation growth between full GCs, in percent of the
                                live heap (default 50; 0: V8's own heuristics)
`

/**
 * V8's old-generation growth, in percent over the live heap after each full GC, unless
 * SLUICE_HEAP_GROWING_PERCENT says otherwise. V8's own heuristics let the old generation
 * grow to up to 4× the live heap on a machine with more than ~2 GB of heap limit: events
 * that stay in flight across two scavenges are promoted and then die in old space, so a
 * ~40 MB live heap reached 150–200 MB between full GCs and peak RSS 250–300 MiB on a
 * 1,000,000-row transaction. At 50 % a full GC runs once the old generation has grown by
 * half its live size; measured (bench/RESULTS.md) peak RSS stays under 200 MB at a few
 * percent more CPU. `--heap-growing-percent` is read at every full GC, so setting it here,
 * at run time, works (and node refuses it in NODE_OPTIONS); heap-size flags
 * (`--max-semi-space-size`, `--max-old-space-size`) only work on the command line or in
 * NODE_OPTIONS.
 */
const DEFAULT_HEAP_GROWING_PERCENT = 50

/**
 * Applies the heap growth setting: the value of SLUICE_HEAP_GROWING_PERCENT (0: V8's own
 * heuristics), else DEFAULT_HEAP_GROWING_PERCENT; nothing when node was started with its
 * own `--heap-growing-percent` (node does not accept it in NODE_OPTIONS). Returns the
 * percentage applied (null: none).
 */
function tuneHeap(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): number | null {
  if (execArgv.some((f) => /^--heap[-_]growing[-_]percent\b/.test(f))) return null
  const raw = env.SLUICE_HEAP_GROWING_PERCENT
  let pct = DEFAULT_HEAP_GROWING_PERCENT
  if (raw !== undefined && raw !== '') {
    if (!/^\d{1,4}$/.test(raw.trim()))
      throw new ConfigError(
        'CONFIG_INVALID',
        `SLUICE_HEAP_GROWING_PERCENT is '${raw}': set a whole number of percent (e.g. 50), or 0 for V8's default heap growth`,
      )
    pct = Number(raw.trim())
  }
  if (pct === 0) return null
  v8.setFlagsFromString(`--heap-growing-percent=${pct}`)
  return pct
}

async function main(argv: string[]): Promise<number> {
  try {
    tuneHeap()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`error ${err.code}: ${err.message}\n`)
    return 2
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c', default: 'sluice.yaml' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      'chunk-size': { type: 'string' },
      'recheck-ms': { type: 'string' },
      examples: { type: 'string' },
      json: { type: 'boolean' },
      url: { type: 'string' },
      token: { type: 'string' },
    },
  })
  if (values.version) {
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  const [command, ...rest] = positionals
  if (values.help || !command) {
    process.stdout.write(HELP)
    return values.help ? 0 : 2
  }
  const file = values.config!
  switch (command) {
    case 'run':
      return runCommand(file, rest)
    case 'validate':
      return validateCommand(file)
    case 'cleanup':
      if (rest.length !== 1) {
        process.stderr.write('usage: sluice cleanup -c FILE PIPELINE\n')
        return 2
      }
      return cleanupCommand(file, rest[0]!)
    case 'verify':
      return verifyMain(file, rest, values)
    case 'status':
      return statusCommand({ config: file, url: values.url, token: values.token })
    default:
      process.stderr.write(`unknown command '${command}'\n\n${HELP}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`)
    process.exitCode = 1
  },
)
