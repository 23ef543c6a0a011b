import type { PipelineStatusJson, StatusJson } from '../admin/status.js'
import { formatBytes, formatMs } from '../admin/page.js'
import { loadConfig } from '../config/index.js'

/** How long `sluice status` waits for the admin API. */
const REQUEST_TIMEOUT_MS = 5_000

/** Options of `sluice status`. */
export interface StatusOptions {
  /** Configuration file whose `admin` block gives the address and token (used when `url` is absent). */
  readonly config: string
  /** Base URL of a running admin API (`http://127.0.0.1:8080`). */
  readonly url?: string | undefined
  /** Bearer token; default: $SLUICE_ADMIN_TOKEN, then the config's admin.token. */
  readonly token?: string | undefined
}

/** Where to ask, or why we cannot tell. */
async function target(opts: StatusOptions): Promise<{ url: string; token?: string | undefined } | string> {
  const envToken = process.env.SLUICE_ADMIN_TOKEN || undefined
  if (opts.url) return { url: opts.url.replace(/\/+$/, ''), token: opts.token ?? envToken }
  let config
  try {
    config = (await loadConfig(opts.config)).config
  } catch (err) {
    return `${(err as Error).message}\n(or pass --url http://HOST:PORT of a running sluice)`
  }
  const admin = config.admin
  if (!admin) {
    return `${opts.config} has no admin block, so sluice serves no status: add \`admin: { port: 8080 }\` and restart \`sluice run\`, or pass --url`
  }
  if (admin.port === 0) {
    return `admin.port in ${opts.config} is 0 (any free port): pass --url with the address sluice logged as 'admin API listening'`
  }
  const host =
    admin.host === '0.0.0.0'
      ? '127.0.0.1'
      : admin.host === '::'
        ? '[::1]'
        : admin.host.includes(':')
          ? `[${admin.host}]`
          : admin.host
  return { url: `http://${host}:${admin.port}`, token: opts.token ?? envToken ?? admin.token }
}

/** Fits text to `width` columns (with an ellipsis when cut). */
function fit(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`
}

function snapshotSummary(p: PipelineStatusJson): string {
  if (p.snapshot.length === 0) return '-'
  const done = p.snapshot.filter((t) => t.done).length
  if (done === p.snapshot.length) return `done (${p.snapshot.length} tables)`
  const rows = p.snapshot.reduce((a, t) => a + t.rows, 0)
  const total = p.snapshot.reduce((a, t) => a + (t.done ? t.rows : Math.max(t.estimate, t.rows)), 0)
  const pct = total > 0 ? `${Math.floor((rows / total) * 100)}%` : `${rows} rows`
  return `${done}/${p.snapshot.length} tables, ${pct}`
}

/** The table `sluice status` prints: one line per pipeline, then each pipeline's last error. */
export function formatStatusTable(status: StatusJson): string {
  const header = ['PIPELINE', 'STATE', 'POSITION', 'LAG', 'EVENTS', 'EVENTS/S', 'SNAPSHOT', 'ERROR']
  const rows = status.pipelines.map((p) => [
    p.name,
    p.state,
    p.position ?? '-',
    p.lag.ms === null
      ? '-'
      : formatMs(p.lag.ms) + (p.lag.bytes === null ? '' : ` / ${formatBytes(p.lag.bytes)}`),
    String(p.events.delivered),
    String(p.events.per_second_1m),
    snapshotSummary(p),
    p.last_error?.code ?? '-',
  ])
  const widths = header.map((h, i) => Math.min(48, Math.max(h.length, ...rows.map((r) => r[i]!.length))))
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => fit(c, widths[i]!).padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  const out = [line(header), ...rows.map(line)]
  for (const p of status.pipelines) {
    if (p.last_error)
      out.push('', `${p.name}: ${p.last_error.code} at ${p.last_error.at}: ${p.last_error.message}`)
  }
  return out.join('\n') + '\n'
}

/**
 * `sluice status [-c FILE | --url URL] [--token TOKEN]`: reads GET /api/pipelines of a
 * running sluice and prints a table. Exit 0 when the API answered, 1 otherwise.
 */
export async function statusCommand(
  opts: StatusOptions,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const t = await target(opts)
  if (typeof t === 'string') {
    err.write(`${t}\n`)
    return 1
  }
  const endpoint = `${t.url}/api/pipelines`
  let res: Response
  try {
    res = await fetch(endpoint, {
      headers: { accept: 'application/json', ...(t.token ? { authorization: `Bearer ${t.token}` } : {}) },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name
    err.write(
      `cannot reach the admin API at ${t.url} (${cause}): is \`sluice run\` running with an admin block there?\n`,
    )
    return 1
  }
  if (res.status === 401) {
    err.write(
      `the admin API at ${t.url} refused the request (401): pass the admin token with --token or SLUICE_ADMIN_TOKEN${t.token ? ' (the one given is wrong)' : ''}\n`,
    )
    return 1
  }
  if (!res.ok) {
    err.write(`the admin API at ${t.url} answered ${res.status} for /api/pipelines\n`)
    return 1
  }
  const body = (await res.json()) as StatusJson
  out.write(formatStatusTable(body))
  return 0
}
