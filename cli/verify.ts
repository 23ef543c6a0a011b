import { loadConfig, redactSecrets } from '../config/index.js'
import { SOURCES } from '../connectors/index.js'
import { PreconditionError, SluiceError } from '../pipeline/errors.js'
import type { SinkEntry, SourceEntry } from '../pipeline/registry.js'
import {
  verifyPipeline,
  type SinkReport,
  type TableReport,
  type VerifyReport,
  type VerifySink,
} from '../pipeline/verify.js'
import { SINKS } from '../sinks/index.js'
import { createLogger } from './logger.js'
import type { TextOut } from './validate.js'

/** Exit codes of `sluice verify`. */
export const VERIFY_EXIT = {
  /** Every verifiable sink holds exactly the source's rows. */
  inSync: 0,
  /** Some key is missing, extra or differs (after the recheck). */
  drift: 1,
  /** Verify could not run: bad arguments or config, unknown pipeline, no verifiable sink, a connection failed. */
  error: 2,
} as const

/** Options of `sluice verify`. */
export interface VerifyArgs {
  /** Rows per source query and keys per target read (default 1000). */
  readonly chunkSize?: number
  /** Delay before suspects are read again (default 2000 ms). */
  readonly recheckMs?: number
  /** Example keys shown per kind and table (default 10). */
  readonly examples?: number
  /** Print the report as one JSON object instead of text. */
  readonly json?: boolean
}

/** Parses a non-negative integer option; null when invalid. */
export function intOption(v: string | undefined, min: number): number | null | undefined {
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v)) return null
  const n = Number(v)
  return Number.isSafeInteger(n) && n >= min ? n : null
}

/**
 * `sluice verify -c FILE PIPELINE`: compares every captured table of PIPELINE with each sink
 * of it that can be read back (Redis cache, Elasticsearch/OpenSearch), without locking the
 * source, and prints per table the keys missing from the target, extra in it, or differing
 * (column names only, never values). Exit codes: VERIFY_EXIT.
 */
export async function verifyCommand(
  file: string,
  pipeline: string,
  args: VerifyArgs = {},
  out: TextOut = process.stdout,
  err: TextOut = process.stderr,
): Promise<number> {
  let secrets: readonly string[] = []
  const fail = (e: unknown): number => {
    const code = e instanceof SluiceError ? `${e.code}: ` : ''
    err.write(`verify failed: ${code}${redactSecrets((e as Error).message, secrets)}\n`)
    return VERIFY_EXIT.error
  }
  try {
    const loaded = await loadConfig(file)
    secrets = loaded.secrets
    const { config } = loaded
    const p = config.pipelines.find((x) => x.name === pipeline)
    if (!p) {
      err.write(
        `no pipeline '${pipeline}' in ${file}; pipelines: ${config.pipelines.map((x) => x.name).join(', ')}\n`,
      )
      return VERIFY_EXIT.error
    }
    const log = createLogger(config.log.level, loaded.secrets).child({ pipeline: p.name, command: 'verify' })
    const src = p.source as { type: string }
    const sourceEntry = SOURCES.find((e) => e.type === src.type) as SourceEntry<unknown> | undefined
    if (!sourceEntry?.scan) {
      throw new PreconditionError(
        'VERIFY_SOURCE_UNSUPPORTED',
        `pipeline ${p.name}: verify cannot read ${src.type} sources; use a postgres or mysql source`,
      )
    }
    const scanner = sourceEntry.scan(p.source, {
      pipeline: p.name,
      log: log.child({ component: 'source', connector: src.type }),
      avro: p.avro,
    })
    const sinks: VerifySink[] = p.sinks.map((s, index) => {
      const type = (s as { type: string }).type
      const entry = SINKS.find((e) => e.type === type) as SinkEntry<unknown> | undefined
      const verifier = entry?.verifier
        ? entry.verifier(s, {
            pipeline: p.name,
            log: log.child({ component: 'sink', sink: type, index }),
            avro: p.avro,
          })
        : { unverifiable: `the ${type} sink keeps a log of change events, not the current rows` }
      return { index, type, verifier }
    })
    if (sinks.every((s) => 'unverifiable' in s.verifier)) {
      for (const s of sinks)
        err.write(`sink ${s.index} (${s.type}): not verifiable: ${unverifiableReason(s)}\n`)
      throw new PreconditionError(
        'VERIFY_NO_VERIFIABLE_SINK',
        `pipeline ${p.name} has no sink verify can read back: add a redis (mode: cache) or elasticsearch sink, or verify another pipeline`,
      )
    }
    const report = await verifyPipeline({
      scanner,
      sinks,
      chunkSize: args.chunkSize ?? 1000,
      recheckMs: args.recheckMs ?? 2000,
      examples: args.examples ?? 10,
      onRecheck: (table, keys, waitMs) =>
        log.info({ table, keys, wait_ms: waitMs }, 'verify: rechecking keys that differ after a delay'),
    })
    out.write(
      args.json
        ? `${JSON.stringify({ pipeline: p.name, status: report.inSync ? 'in-sync' : 'drift', ...report })}\n`
        : formatReport(p.name, src.type, report),
    )
    return report.inSync ? VERIFY_EXIT.inSync : VERIFY_EXIT.drift
  } catch (e) {
    return fail(e)
  }
}

function unverifiableReason(s: VerifySink): string {
  return 'unverifiable' in s.verifier ? s.verifier.unverifiable : ''
}

/** Keys as JSON strings, so `:`, spaces and control characters stay visible. */
const quoteKeys = (keys: readonly string[]): string => keys.map((k) => JSON.stringify(k)).join(', ')

function tableLines(t: TableReport): string[] {
  const drift = t.missing + t.extra + t.differing
  const target = t.targetKeys === null ? 'target ?' : `target ${t.targetKeys}`
  const lines = [
    `  ${t.table} (${t.location}): source ${t.sourceRows}, ${target}, missing ${t.missing}, extra ${t.extra}, differing ${t.differing}: ${drift === 0 ? 'in sync' : 'DRIFT'}${t.rechecked > 0 ? ` (${t.rechecked} rechecked)` : ''}`,
  ]
  if (t.targetKeys === null)
    lines.push('    extra keys not checked: another table of the pipeline shares this location')
  const more = (shown: number, total: number): string => (total > shown ? ` (and ${total - shown} more)` : '')
  if (t.examples.missing.length > 0)
    lines.push(`    missing: ${quoteKeys(t.examples.missing)}${more(t.examples.missing.length, t.missing)}`)
  if (t.examples.extra.length > 0)
    lines.push(`    extra: ${quoteKeys(t.examples.extra)}${more(t.examples.extra.length, t.extra)}`)
  for (const d of t.examples.differing)
    lines.push(`    differing: ${JSON.stringify(d.key)} in columns ${d.columns.join(', ')}`)
  if (t.differing > t.examples.differing.length)
    lines.push(`    (and ${t.differing - t.examples.differing.length} more differing)`)
  return lines
}

function sinkLines(s: SinkReport): string[] {
  if (s.unverifiable !== null) return [`sink ${s.index} (${s.type}): not verifiable: ${s.unverifiable}`]
  return [`sink ${s.index} (${s.type}) at ${s.target}`, ...s.tables.flatMap(tableLines)]
}

/**
 * The text report: one line per sink and table with the counts, examples of drifted keys,
 * and a last line `summary: in sync | DRIFT ...`.
 */
export function formatReport(pipeline: string, source: string, r: VerifyReport): string {
  const verified = r.sinks.filter((s) => s.unverifiable === null).length
  const t = r.totals
  const drift = t.missing + t.extra + t.differing
  const lines = [
    `verify ${pipeline} (${source} source)`,
    ...r.sinks.flatMap(sinkLines),
    `summary: ${drift === 0 ? 'in sync' : 'DRIFT'}: ${t.missing} missing, ${t.extra} extra, ${t.differing} differing; ` +
      `${t.tables} table${t.tables === 1 ? '' : 's'}, ${t.sourceRows} rows compared on ${verified} of ${r.sinks.length} sink${r.sinks.length === 1 ? '' : 's'} in ${(r.durationMs / 1000).toFixed(1)} s`,
  ]
  return `${lines.join('\n')}\n`
}

/** `sluice verify` from the parsed command line: checks the arguments, then runs verifyCommand(). */
export async function verifyMain(
  file: string,
  rest: readonly string[],
  values: { 'chunk-size'?: string; 'recheck-ms'?: string; examples?: string; json?: boolean },
): Promise<number> {
  const chunkSize = intOption(values['chunk-size'], 1)
  const recheckMs = intOption(values['recheck-ms'], 0)
  const examples = intOption(values.examples, 0)
  const bad = [
    chunkSize === null ? '--chunk-size must be an integer >= 1' : '',
    recheckMs === null ? '--recheck-ms must be an integer >= 0' : '',
    examples === null ? '--examples must be an integer >= 0' : '',
  ].filter((m) => m !== '')
  if (rest.length !== 1 || bad.length > 0) {
    for (const m of bad) process.stderr.write(`${m}\n`)
    process.stderr.write(
      'usage: sluice verify -c FILE PIPELINE [--chunk-size N] [--recheck-ms MS] [--examples N] [--json]\n',
    )
    return VERIFY_EXIT.error
  }
  return verifyCommand(file, rest[0]!, {
    chunkSize: chunkSize ?? undefined,
    recheckMs: recheckMs ?? undefined,
    examples: examples ?? undefined,
    json: values.json === true,
  })
}
