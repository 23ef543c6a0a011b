import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { escapeHtml, formatBytes, formatMs, renderPage, sparkline } from '../../../admin/page.js'
import type { PipelineStatusJson } from '../../../admin/status.js'
import { formatStatusTable } from '../../../cli/status.js'

const pipeline = (over: Partial<PipelineStatusJson> = {}): PipelineStatusJson => ({
  name: 'shop',
  state: 'snapshotting',
  position: '00000000016B3748:0:00000012',
  lag: { ms: 1500, bytes: 2048 },
  retained_wal_bytes: 4096,
  events: { delivered: 120, read: 130, per_second_1m: 2, per_second_5m: 0.4 },
  throughput: { bucket_seconds: 5, events: [0, 10, 110] },
  in_flight: { events: 10, bytes: 100, batches: 1 },
  snapshot: [
    { table: 'public.accounts', rows: 61, estimate: 100, done: false },
    { table: 'public.orders', rows: 50, estimate: 40, done: true },
  ],
  last_error: null,
  ...over,
})

describe('status page rendering', () => {
  it('escapes every value taken from the database or an error', () => {
    const html = renderPage({
      generated_at: '2026-01-01T00:00:00.000Z',
      pipelines: [
        pipeline({
          state: 'failed',
          snapshot: [{ table: 'public."<img src=x>"', rows: 1, estimate: 1, done: false }],
          last_error: {
            code: 'PG_ERROR',
            message: '<script>alert(1)</script>',
            at: '2026-01-01T00:00:00.000Z',
          },
        }),
      ],
    })
    assert.ok(!html.includes('<script>alert(1)'), 'error message is escaped')
    assert.ok(!html.includes('<img src=x>'), 'table name is escaped')
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
    assert.match(html, /data-field="state">failed</)
    // Exactly one script element: the page's own.
    assert.equal(html.split('<script>').length - 1, 1)
  })

  it('shows per-table snapshot progress, the sparkline and the figures', () => {
    const html = renderPage({ generated_at: 'now', pipelines: [pipeline()] })
    assert.match(html, /data-table="public.accounts".*?value="61".*?61%/s)
    assert.match(html, /data-table="public.orders".*?100%.*?\(done\)/s)
    assert.match(html, /<svg class="spark"[^>]*>.*<polyline[^>]*points="0\.0,/s)
    assert.match(html, /data-field="events-delivered">120</)
    assert.match(html, /data-field="lag">1\.5 s · 2\.0 KiB unconfirmed</)
  })

  it('formats bytes, durations and sparklines', () => {
    assert.equal(formatBytes(512), '512 B')
    assert.equal(formatBytes(1536), '1.5 KiB')
    assert.equal(formatBytes(null), 'unknown')
    assert.equal(formatMs(450), '450 ms')
    assert.equal(formatMs(83_000), '1m 23s')
    assert.equal(formatMs(null), 'no events yet')
    assert.equal(escapeHtml(`a&b<"'>`), 'a&amp;b&lt;&quot;&#39;&gt;')
    const svg = sparkline([0, 5, 10], 100, 20)
    // The peak sits at the top (y = 2), zero at the bottom (y = 18).
    assert.match(svg, /points="0\.0,18\.0 50\.0,10\.0 100\.0,2\.0"/)
  })
})

describe('sluice status table', () => {
  it('prints one aligned line per pipeline and each last error below', () => {
    const text = formatStatusTable({
      generated_at: 'now',
      pipelines: [
        pipeline(),
        pipeline({
          name: 'billing',
          state: 'failed',
          position: null,
          lag: { ms: null, bytes: null },
          snapshot: [],
          last_error: { code: 'PG_AUTH_FAILED', message: 'authentication failed', at: 'then' },
        }),
      ],
    })
    const lines = text.trimEnd().split('\n')
    assert.match(lines[0]!, /^PIPELINE\s+STATE\s+POSITION\s+LAG\s+EVENTS\s+EVENTS\/S\s+SNAPSHOT\s+ERROR$/)
    assert.match(
      lines[1]!,
      /^shop\s+snapshotting\s+00000000016B3748:0:00000012\s+1\.5 s \/ 2\.0 KiB\s+120\s+2\s+1\/2 tables, 74%\s+-$/,
    )
    assert.match(lines[2]!, /^billing\s+failed\s+-\s+-\s+120\s+2\s+-\s+PG_AUTH_FAILED$/)
    assert.equal(lines[0]!.indexOf('STATE'), lines[1]!.indexOf('snapshotting'), 'columns align')
    assert.match(text, /billing: PG_AUTH_FAILED at then: authentication failed/)
  })
})
