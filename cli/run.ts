import type { Logger } from 'pino'
import { AdminMetrics } from '../admin/metrics.js'
import { PipelineHandle } from '../admin/pipelines.js'
import { AdminServer } from '../admin/server.js'
import { loadConfig } from '../config/index.js'
import type { PipelineConfig, SluiceConfig } from '../config/schema.js'
import { SOURCES } from '../connectors/index.js'
import { RejectPolicy, type DeadLetterConfig, type RejectMetrics } from '../pipeline/dead-letter.js'
import { SluiceError } from '../pipeline/errors.js'
import type { PipelineMetrics, RateWindow } from '../pipeline/metrics.js'
import type { SinkEntry, SourceEntry } from '../pipeline/registry.js'
import { PipelineRunner } from '../pipeline/runner.js'
import { FileStateStore } from '../pipeline/state.js'
import { supervise } from '../pipeline/supervisor.js'
import { SINKS } from '../sinks/index.js'
import { transformSink, transformSource } from '../transforms/index.js'
import type { TransformConfig } from '../transforms/transform.js'
import { createLogger } from './logger.js'
import { progressBar } from './progress.js'

/** How long a graceful stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 10_000

function entryFor<E extends { type: string }>(entries: readonly E[], type: string): E {
  const e = entries.find((x) => x.type === type)
  if (!e) throw new Error(`no registry entry for type '${type}'`) // config validation makes this unreachable
  return e
}

/** Where a runner reports to (the admin API); both optional. */
export interface RunnerHooks {
  readonly metrics?: PipelineMetrics & Partial<RejectMetrics>
  readonly throughput?: RateWindow
}

/** Builds the runner of one pipeline from its validated config. */
export function buildPipeline(
  p: PipelineConfig,
  config: SluiceConfig,
  log: Logger,
  hooks: RunnerHooks = {},
): PipelineRunner {
  const plog = log.child({ pipeline: p.name })
  const src = p.source as { type: string }
  const sourceEntry = entryFor(SOURCES, src.type) as SourceEntry<unknown>
  const bar = process.stderr.isTTY ? progressBar(p.name) : null
  // A row that fails conversion never reaches the transforms: with masking configured
  // anywhere in the pipeline, its raw values must not go to the dead-letter destination.
  const masks = [p.transforms, ...p.sinks.map((s) => (s as { transforms?: unknown }).transforms)].some(
    (list) => ((list ?? []) as readonly { type: string }[]).some((t) => t.type === 'mask'),
  )
  const rejects = new RejectPolicy({
    pipeline: p.name,
    ...(masks && {
      withholdSourceValues:
        'the pipeline has mask transforms, which do not run on a row that failed conversion; find the row by table and position',
    }),
    onError: p.on_error,
    deadLetter: p.dead_letter as DeadLetterConfig | undefined,
    log: plog.child({ component: 'on_error' }),
    metrics: hooks.metrics,
  })
  const raw = sourceEntry.create(p.source, {
    pipeline: p.name,
    log: plog.child({ component: 'source', connector: src.type }),
    avro: p.avro,
    rejectRows: true,
    onSnapshotProgress: (progress) => {
      bar?.(progress)
      runner.recordSnapshotProgress(progress)
    },
  })
  const source = transformSource(raw, p.transforms as readonly TransformConfig[], p.name)
  const sinks = p.sinks.map((s, i) => {
    // A sink's own transforms wrap it; the sink itself never sees the key.
    const { transforms, ...sinkConfig } = s as { type: string; transforms?: readonly TransformConfig[] }
    const entry = entryFor(SINKS, sinkConfig.type) as SinkEntry<unknown>
    const origin = `sinks[${i}].${sinkConfig.type}`
    const sink = entry.create(sinkConfig, {
      pipeline: p.name,
      log: plog.child({ component: 'sink', sink: sinkConfig.type, index: i }),
      avro: p.avro,
      reject: (event, error) => rejects.rejectEvent(event, error, origin),
    })
    return transformSink(sink, transforms ?? [], p.name, i)
  })
  const runner: PipelineRunner = new PipelineRunner({
    name: p.name,
    source,
    sinks,
    state: new FileStateStore(config.state.path),
    log: plog,
    maxInFlightEvents: p.max_in_flight_events,
    maxInFlightBytes: p.max_in_flight_bytes,
    metrics: hooks.metrics,
    throughput: hooks.throughput,
    sinkLabels: p.sinks.map((s) => (s as { type: string }).type),
    rejects,
  })
  return runner
}

/** Loads the configuration and creates the root logger; prints the problems and returns null on failure. */
async function loadOrReport(
  file: string,
): Promise<{ config: SluiceConfig; log: Logger; secrets: readonly string[] } | null> {
  try {
    const { config, secrets } = await loadConfig(file)
    return { config, log: createLogger(config.log.level, secrets), secrets }
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return null
  }
}

/**
 * `sluice run -c FILE`: runs every pipeline until SIGINT/SIGTERM (stop reading, drain,
 * commit, exit 0 within 10 s) or until one fails permanently (the others stop too; exit 1).
 * A retriable failure (connection lost, server restart) restarts that pipeline from its
 * committed position after a backoff (pipeline/supervisor.ts).
 */
export async function runCommand(file: string, only: string[] = []): Promise<number> {
  const loaded = await loadOrReport(file)
  if (!loaded) return 1
  const { config, log, secrets } = loaded
  const pipelines = config.pipelines.filter((p) => only.length === 0 || only.includes(p.name))
  if (pipelines.length === 0) {
    log.error({ only }, 'no pipeline with that name in the configuration')
    return 1
  }
  const stop = new AbortController()
  const onSignal = (sig: string): void => {
    if (stop.signal.aborted) return
    log.info({ signal: sig }, 'stopping')
    stop.abort(new Error(`received ${sig}`))
    setTimeout(() => {
      log.error('graceful stop took longer than 10 s; exiting')
      process.exit(1)
    }, STOP_DEADLINE_MS).unref()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  let failed = false
  log.info({ pipelines: pipelines.map((p) => p.name) }, 'sluice starting')
  const handles = pipelines.map((p) => new PipelineHandle(p.name))
  const admin = await startAdmin(config, handles, secrets, log)
  if (admin === 'failed') {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    return 1
  }
  const attempt = (p: PipelineConfig, i: number): PipelineRunner => {
    const h = handles[i]!
    const runner = buildPipeline(p, config, log, { metrics: admin?.metrics, throughput: h.throughput })
    h.attach(runner)
    return runner
  }
  await Promise.all(
    pipelines.map(async (p, i) => {
      try {
        await supervise(p.name, () => attempt(p, i), stop.signal, log)
        log.info({ pipeline: p.name }, 'pipeline stopped')
      } catch (err) {
        failed = true
        const e = err as SluiceError
        log.error(
          { pipeline: p.name, code: e.code, retriable: e.retriable, ...errorDetail(err, log) },
          e.message,
        )
        stop.abort(err)
      }
    }),
  )
  await admin?.server.stop()
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  log.flush?.()
  return failed ? 1 : 0
}

/** Starts the admin API when the config has an `admin` block; 'failed' (logged) when it cannot listen. */
async function startAdmin(
  config: SluiceConfig,
  pipelines: readonly PipelineHandle[],
  secrets: readonly string[],
  log: Logger,
): Promise<{ server: AdminServer; metrics: AdminMetrics } | null | 'failed'> {
  if (!config.admin) return null
  const metrics = new AdminMetrics()
  for (const p of pipelines) metrics.track(p)
  const server = new AdminServer({
    ...config.admin,
    pipelines,
    metrics,
    secrets,
    log: log.child({ component: 'admin' }),
  })
  try {
    await server.start()
  } catch (err) {
    const e = err as SluiceError
    log.error({ code: e.code, ...errorDetail(err, log) }, e.message)
    return 'failed'
  }
  return { server, metrics }
}

/** `sluice cleanup -c FILE PIPELINE`: drops the pipeline's slot and publication and its state. */
export async function cleanupCommand(file: string, pipeline: string): Promise<number> {
  const loaded = await loadOrReport(file)
  if (!loaded) return 1
  const { config, log } = loaded
  const p = config.pipelines.find((x) => x.name === pipeline)
  if (!p) {
    process.stderr.write(
      `no pipeline '${pipeline}' in ${file}; pipelines: ${config.pipelines.map((x) => x.name).join(', ')}\n`,
    )
    return 1
  }
  const src = p.source as { type: string }
  const entry = entryFor(SOURCES, src.type) as SourceEntry<unknown>
  try {
    const done = entry.cleanup
      ? await entry.cleanup(p.source, {
          pipeline: p.name,
          log: log.child({ pipeline: p.name }),
          avro: p.avro,
        })
      : []
    const { rm } = await import('node:fs/promises')
    await rm(`${config.state.path}/${p.name}.json`, { force: true })
    done.push(`removed state ${config.state.path}/${p.name}.json`)
    for (const d of done) process.stdout.write(`${d}\n`)
    return 0
  } catch (err) {
    process.stderr.write(`cleanup of ${pipeline} failed: ${(err as Error).message}\n`)
    return 1
  }
}

/**
 * What an error log line carries besides code and message: for a SluiceError (a known
 * condition whose message names the object and the fix) only its cause's message, unless
 * the log level is debug; anything else (a bug) with its stack.
 */
export function errorDetail(err: unknown, log: Logger): Record<string, unknown> {
  if (!(err instanceof SluiceError) || log.isLevelEnabled('debug')) return { err }
  const cause = err.cause instanceof Error ? err.cause.message : undefined
  return cause === undefined ? {} : { cause }
}
