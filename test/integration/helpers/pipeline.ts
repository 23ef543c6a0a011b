import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import avro from 'avsc'
import pino from 'pino'
import { parseConfigText } from '../../../config/index.js'
import { buildPipeline } from '../../../cli/run.js'
import { compileReaderSchema } from '../../../avro/codec.js'
import type { PipelineRunner } from '../../../pipeline/runner.js'

/** A decoded envelope as read back from the file sink. */
export interface Envelope {
  before: Record<string, unknown> | null
  after: Record<string, unknown> | null
  source: Record<string, unknown> & { position: string; snapshot: string; table: string; schema: string }
  op: string
  ts_ms: number
  transaction: { id: string; total_order: number; data_collection_order: number } | null
  /** The event key (file records carry it after the Envelope fields). */
  key?: Record<string, unknown> | null
}

/** A pipeline run in-process with a file sink in a temp dir. */
export interface TestPipeline {
  readonly dir: string
  readonly out: string
  readonly runner: PipelineRunner
  /** Resolves when the runner stops (rejects with its error). */
  readonly done: Promise<void>
  stop(): Promise<void>
}

/** YAML for one pipeline writing Avro files to `<dir>/out`, state in `<dir>/state`. */
export function pipelineYaml(opts: {
  url: string
  tables: string[]
  dir: string
  name?: string
  snapshot?: string
  extraSource?: string
  extraPipeline?: string
}): string {
  return `
pipelines:
  - name: ${opts.name ?? 'shop'}
    source:
      type: postgres
      url: ${opts.url}
      tables: [${opts.tables.join(', ')}]
      snapshot: ${opts.snapshot ?? 'initial'}
${opts.extraSource ?? ''}
    sinks:
      - type: file
        path: ${join(opts.dir, 'out')}
        format: avro
${opts.extraPipeline ?? ''}
state:
  type: file
  path: ${join(opts.dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

/** A temp dir for one test's output and state. */
export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-test-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Starts a pipeline in-process from YAML. */
export function startPipeline(yaml: string, dir: string): TestPipeline {
  const { config } = parseConfigText(yaml, join(dir, 'sluice.yaml'), {})
  const log = pino({ level: config.log.level })
  const runner = buildPipeline(config.pipelines[0]!, config, log)
  const ac = new AbortController()
  const done = runner.run(ac.signal)
  done.catch(() => {})
  return {
    dir,
    out: join(dir, 'out'),
    runner,
    done,
    async stop() {
      ac.abort(new Error('test stop'))
      await done
    },
  }
}

/** Reads every Avro file under `out` (all tables), ordered by file name within each table. */
export async function readEnvelopes(out: string, table?: string): Promise<Envelope[]> {
  const result: Envelope[] = []
  let dirs: string[]
  try {
    dirs = readdirSync(out).sort()
  } catch {
    return result
  }
  for (const d of dirs) {
    if (table && d !== table) continue
    for (const f of readdirSync(join(out, d)).sort()) {
      if (!f.endsWith('.avro')) continue
      const records = await new Promise<Envelope[]>((resolve, reject) => {
        const acc: Envelope[] = []
        avro
          .createFileDecoder(join(out, d, f), { parseHook: (schema: unknown) => compileReaderSchema(schema) })
          .on('data', (r: Envelope) => acc.push(r))
          .on('end', () => resolve(acc))
          .on('error', (err: Error) => {
            // A torn tail from a killed process: keep what decoded.
            if (/truncated|invalid/i.test(err.message)) resolve(acc)
            else reject(err)
          })
      })
      result.push(...records)
    }
  }
  return result
}

/** Polls `check` until it returns a truthy value or the timeout expires. */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
