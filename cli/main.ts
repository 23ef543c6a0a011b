#!/usr/bin/env node
import { parseArgs } from 'node:util'
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
`

async function main(argv: string[]): Promise<number> {
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
