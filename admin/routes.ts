import type { AdminMetrics } from './metrics.js'
import type { PipelineHandle } from './pipelines.js'
import { PAGE_CSP, renderPage } from './page.js'
import type { Redactor } from './redact.js'
import { collectStatus, notReadyReasons, toJson } from './status.js'
import { redactValue } from './redact.js'

/** What a route answers; the server adds auth, security headers and redaction. */
export interface Reply {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  readonly body: string
}

/** What the routes read: the runners, their metrics, and the redactor for everything shown. */
export interface RouteContext {
  readonly pipelines: readonly PipelineHandle[]
  readonly metrics: AdminMetrics
  readonly redact: Redactor
}

const JSON_TYPE = 'application/json; charset=utf-8'

function json(status: number, value: unknown): Reply {
  return { status, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(value, null, 2) + '\n' }
}

/** A JSON error body: `{ "error": code, "message": text }`. */
export function jsonError(status: number, error: string, message: string): Reply {
  return json(status, { error, message })
}

const PIPELINE_ACTION = /^\/api\/pipelines\/([^/]+)\/(pause|resume)$/

/**
 * The admin routes:
 * - `GET /healthz`: 200 while the process serves requests.
 * - `GET /readyz`: 200 when every pipeline is snapshotting or streaming, else 503 with reasons.
 * - `GET /metrics`: Prometheus text exposition, every name prefixed `sluice_`.
 * - `GET /api/pipelines`: the status of every pipeline (see status.ts).
 * - `POST /api/pipelines/NAME/pause|resume`: stop / continue pulling from the source.
 * - `GET /`: the status page.
 */
export async function route(method: string, path: string, ctx: RouteContext): Promise<Reply> {
  const action = PIPELINE_ACTION.exec(path)
  if (action) {
    if (method !== 'POST') return methodNotAllowed('POST')
    return pipelineAction(decodeURIComponent(action[1]!), action[2] as 'pause' | 'resume', ctx)
  }
  const get = (): Reply | null =>
    method === 'GET' || method === 'HEAD' ? null : methodNotAllowed('GET, HEAD')
  switch (path) {
    case '/healthz':
      return get() ?? { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'ok\n' }
    case '/readyz': {
      const bad = get()
      if (bad) return bad
      const status = await collectStatus(ctx.pipelines, ctx.redact)
      const reasons = notReadyReasons(status)
      return json(reasons.length === 0 ? 200 : 503, {
        ready: reasons.length === 0,
        reasons,
        pipelines: status.pipelines.map((p) => ({ name: p.name, state: p.state })),
      })
    }
    case '/metrics': {
      const bad = get()
      if (bad) return bad
      const text = await ctx.metrics.registry.metrics()
      return {
        status: 200,
        headers: { 'content-type': ctx.metrics.registry.contentType },
        body: ctx.redact(text),
      }
    }
    case '/api/pipelines':
      return get() ?? json(200, await collectStatus(ctx.pipelines, ctx.redact))
    case '/':
      return (
        get() ?? {
          status: 200,
          headers: {
            'content-type': 'text/html; charset=utf-8',
            'content-security-policy': PAGE_CSP,
            'cache-control': 'no-store',
          },
          body: renderPage(await collectStatus(ctx.pipelines, ctx.redact)),
        }
      )
    default:
      return jsonError(
        404,
        'not_found',
        `no route ${path}; see /api/pipelines, /metrics, /healthz, /readyz or /`,
      )
  }
}

function methodNotAllowed(allow: string): Reply {
  return {
    ...jsonError(405, 'method_not_allowed', `use ${allow}`),
    headers: { 'content-type': JSON_TYPE, allow },
  }
}

async function pipelineAction(name: string, action: 'pause' | 'resume', ctx: RouteContext): Promise<Reply> {
  const runner = ctx.pipelines.find((r) => r.name === name)
  if (!runner) {
    const known = ctx.pipelines.map((r) => r.name).join(', ') || '(none)'
    return jsonError(404, 'pipeline_not_found', `no pipeline '${name}'; pipelines: ${known}`)
  }
  const ok = action === 'pause' ? runner.pause() : runner.resume()
  const now = Date.now()
  const status = redactValue(toJson(await runner.status(now), now), ctx.redact)
  if (!ok) {
    return jsonError(
      409,
      'pipeline_not_running',
      `pipeline '${name}' is ${status.state}; only a running pipeline can be ${action === 'pause' ? 'paused' : 'resumed'}`,
    )
  }
  return json(200, status)
}
