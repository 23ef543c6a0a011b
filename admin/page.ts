import { createHash } from 'node:crypto'
import { VERSION } from '../pipeline/version.js'
import type { PipelineStatusJson, StatusJson } from './status.js'

/** How often the page refreshes itself. */
export const REFRESH_MS = 2_000

/**
 * The page's only script: every REFRESH_MS it fetches the page again and swaps in the new
 * <main> (rendering stays on the server: no build step, no client templates). On a failed
 * fetch it keeps the last view and marks it stale.
 */
const SCRIPT = `(() => {
  const tick = async () => {
    try {
      const r = await fetch(location.pathname, { cache: 'no-store', credentials: 'same-origin' })
      if (!r.ok) throw new Error(String(r.status))
      const doc = new DOMParser().parseFromString(await r.text(), 'text/html')
      const next = doc.querySelector('main')
      if (next) document.querySelector('main').replaceWith(next)
      document.body.classList.remove('stale')
    } catch {
      document.body.classList.add('stale')
    }
  }
  setInterval(tick, ${REFRESH_MS})
})()`

/** Content-Security-Policy of the page: nothing but itself and its own inline script. */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'`,
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330 }
header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: baseline }
header h1 { font-size: 18px; margin: 0 }
header .meta { opacity: .7; font-size: 12px }
body.stale header::after { content: 'not updating: admin API unreachable'; color: #ffb4b4; font-size: 12px }
main { padding: 16px 20px; display: grid; gap: 16px }
section { background: #fff; border-radius: 6px; box-shadow: 0 1px 2px #0002; padding: 14px 18px }
section h2 { margin: 0 0 8px; font-size: 16px; display: flex; gap: 10px; align-items: center }
.state { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #ddd; text-transform: uppercase }
.state-streaming { background: #d3f4dc; color: #0b6b2a } .state-snapshotting { background: #dbe8ff; color: #1b4fb8 }
.state-paused { background: #fff1c7; color: #7a5a00 } .state-failed { background: #ffd9d9; color: #a30f0f }
.state-starting, .state-stopped { background: #e6e6e6; color: #444 }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0 0 8px }
dt { color: #667 } dd { margin: 0; font-variant-numeric: tabular-nums; word-break: break-all }
table { border-collapse: collapse; margin-top: 6px } td, th { padding: 2px 10px 2px 0; text-align: left }
th { color: #667; font-weight: normal } progress { width: 160px }
.error { background: #fff4f4; border-left: 3px solid #d33; padding: 6px 10px; white-space: pre-wrap; word-break: break-word }
svg.spark { display: block; background: #fafbfc; border: 1px solid #e3e5ea }
.empty { color: #667 }
`

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  )
}

/** 1234567 → "1.2 MiB". */
export function formatBytes(n: number | null): string {
  if (n === null) return 'unknown'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

/** 83000 → "1m 23s"; 450 → "450 ms". */
export function formatMs(ms: number | null): string {
  if (ms === null) return 'no events yet'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  return `${Math.floor(m / 60)}h ${m % 60}m`
}

/** An inline SVG line of `values` (oldest first), scaled to its maximum. */
export function sparkline(values: readonly number[], width = 360, height = 48): string {
  const max = Math.max(1, ...values)
  const step = values.length > 1 ? width / (values.length - 1) : width
  const points = values
    .map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`)
    .join(' ')
  return (
    `<svg class="spark" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="delivered events per bucket, peak ${max}">` +
    `<polyline fill="none" stroke="#2f6fde" stroke-width="1.5" points="${points}"/></svg>`
  )
}

function renderSnapshot(p: PipelineStatusJson): string {
  if (p.snapshot.length === 0) return ''
  const rows = p.snapshot
    .map((t) => {
      const total = t.done ? t.rows : Math.max(t.estimate, t.rows)
      const pct = t.done ? 100 : total > 0 ? Math.floor((t.rows / total) * 100) : 0
      return (
        `<tr data-table="${escapeHtml(t.table)}"><td>${escapeHtml(t.table)}</td>` +
        `<td><progress max="100" value="${pct}"></progress></td><td>${pct}%</td>` +
        `<td>${t.rows}${total ? ` / ${total}` : ''} rows${t.done ? ' (done)' : ''}</td></tr>`
      )
    })
    .join('')
  return `<h3>Snapshot</h3><table class="snapshot"><tr><th>table</th><th colspan="2">progress</th><th>rows</th></tr>${rows}</table>`
}

function renderPipeline(p: PipelineStatusJson): string {
  const name = escapeHtml(p.name)
  const minutes = Math.round((p.throughput.events.length * p.throughput.bucket_seconds) / 60)
  const error = p.last_error
    ? `<h3>Last error</h3><div class="error" data-field="last-error"><b>${escapeHtml(p.last_error.code)}</b> at ${escapeHtml(p.last_error.at)}\n${escapeHtml(p.last_error.message)}</div>`
    : ''
  return `<section class="pipeline" data-pipeline="${name}">
<h2>${name} <span class="state state-${p.state}" data-field="state">${p.state}</span></h2>
<dl>
<dt>Position (committed)</dt><dd data-field="position">${p.position === null ? '<span class="empty">none yet</span>' : escapeHtml(p.position)}</dd>
<dt>Lag</dt><dd data-field="lag">${formatMs(p.lag.ms)}${p.lag.bytes === null ? '' : ` · ${formatBytes(p.lag.bytes)} unconfirmed`}</dd>
${p.retained_wal_bytes === null ? '' : `<dt>Retained WAL</dt><dd data-field="retained-wal">${formatBytes(p.retained_wal_bytes)}</dd>`}
<dt>Events delivered</dt><dd data-field="events-delivered">${p.events.delivered}</dd>
<dt>Events/s</dt><dd data-field="events-per-second">${p.events.per_second_1m} (1 min) · ${p.events.per_second_5m} (5 min)</dd>
<dt>In flight</dt><dd data-field="in-flight">${p.in_flight.events} events · ${formatBytes(p.in_flight.bytes)}</dd>
</dl>
<h3>Throughput, last ${minutes} minutes (${p.throughput.bucket_seconds} s buckets)</h3>
${sparkline(p.throughput.events)}
${renderSnapshot(p)}
${error}
</section>`
}

/** The status page (`GET /`): one section per pipeline, refreshing itself. */
export function renderPage(status: StatusJson): string {
  const body =
    status.pipelines.length === 0
      ? '<p class="empty">No pipelines.</p>'
      : status.pipelines.map(renderPipeline).join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice status</title>
<noscript><meta http-equiv="refresh" content="${Math.round(REFRESH_MS / 1000)}"></noscript>
<style>${STYLE}</style>
</head><body>
<header><h1>Sluice</h1><span class="meta">version ${escapeHtml(VERSION)}</span></header>
<main data-generated-at="${escapeHtml(status.generated_at)}">
<p class="meta">Updated ${escapeHtml(status.generated_at)}</p>
${body}
</main>
<script>${SCRIPT}</script>
</body></html>
`
}
