import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigInvalidError, parseConfigText } from '../../../config/index.js'
import { configLocation } from '../../../config/locations.js'

/** A pipeline with the given `transforms:` body (indented by 6) and sink extras (indented by 8). */
function yaml(transforms: string, sinkExtra = '', sinkType = 'file'): string {
  return `pipelines:
  - name: shop
    source:
      type: postgres
      url: postgres://sluice@localhost/shop
      tables: [public.accounts, public.orders]
    transforms:
${transforms}
    sinks:
      - type: ${sinkType}
${sinkType === 'file' ? '        path: /tmp/out\n' : ''}${sinkExtra}
`
}

function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfigText(text, 'sluice.yaml', env)
  } catch (e) {
    assert.ok(e instanceof ConfigInvalidError, String(e))
    return e.problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`)
  }
  return []
}

describe('transforms configuration', () => {
  it('accepts the documented contract and keeps the list in order', () => {
    const { config } = parseConfigText(
      yaml(`      - type: mask
        columns: [public.accounts.note]
        with: hash
        secret: \${MASK_SECRET}
      - type: filter
        drop: "after.qty == 13"`),
      'sluice.yaml',
      { MASK_SECRET: 'a-long-mask-secret' },
    )
    const [mask, filter] = config.pipelines[0]!.transforms
    assert.equal(mask!.type, 'mask')
    assert.equal(filter!.type, 'filter')
    assert.equal(configLocation(mask!), 'sluice.yaml:8:9: pipelines[0].transforms[0]')
    assert.equal(configLocation(filter!), 'sluice.yaml:12:9: pipelines[0].transforms[1]')
  })

  it('bad expression, bad glob, missing secret and an uncaptured table are located problems', () => {
    const got = problems(
      yaml(`      - type: filter
        keep: "after.qty >"
      - type: columns
        exclude: ["public.accounts.[ab"]
      - type: mask
        columns: [public.accounts.note]
        with: hash
      - type: mask
        columns: [public.acounts.note]
        with: redact
      - type: filter
        drop: "status == 'x'"`),
    )
    assert.deepEqual(
      got.map((p) => p.split(':')[0]),
      ['9', '11', '12', '16', '19'],
    )
    assert.match(got[0]!, /transforms\[0\]\.keep: expression syntax/)
    assert.match(got[1]!, /transforms\[1\]\.exclude\[0\]: column pattern .* Missing closing/)
    assert.match(got[2]!, /transforms\[2\]\.secret: with: hash needs a secret/)
    assert.match(got[3]!, /transforms\[3\]\.columns\[0\]: public\.acounts matches none of source\.tables/)
    assert.match(got[4]!, /transforms\[4\]\.drop: unknown name status/)
  })

  it('an unset secret variable is an interpolation problem at its line, and no value is echoed', () => {
    const got = problems(
      yaml(`      - type: mask
        columns: [public.accounts.note]
        with: hash
        secret: \${MASK_SECRET}`),
    )
    assert.deepEqual(got, [
      "11:17 pipelines[0].transforms[0].secret: environment variable MASK_SECRET is not set; set it, or give a default with '${MASK_SECRET:-value}'",
    ])
  })

  it('an unknown transform type lists the known ones', () => {
    assert.match(
      problems(yaml('      - type: explode'))[0]!,
      /unknown transform type; known types: columns, filter, route, mask, unwrap/,
    )
  })

  it('per-sink transforms: validated, recorded, and unknown sink keys still reported with the sink keys', () => {
    const { config } = parseConfigText(
      yaml('      []', '        transforms: [{ type: unwrap }]'),
      'sluice.yaml',
      {},
    )
    const sink = config.pipelines[0]!.sinks[0]! as { transforms?: object[]; path?: string }
    assert.equal(sink.path, '/tmp/out')
    assert.equal(
      configLocation(sink.transforms![0]!),
      'sluice.yaml:12:22: pipelines[0].sinks[0].transforms[0]',
    )
    const got = problems(
      yaml('      []', '        transforms: [{ type: filter, drop: "x" }]\n        pth: /x'),
    )
    assert.equal(got.length, 2)
    assert.match(got[0]!, /sinks\[0\]\.transforms\[0\]\.drop: unknown name x/)
    assert.match(got[1]!, /sinks\[0\]\.pth: unknown key 'pth'; did you mean 'path'\?/)
  })

  it('unwrap in front of a sink that cannot write it is an error', () => {
    const got = problems(yaml('      - type: unwrap', '', 'stdout'))
    assert.equal(got.length, 1)
    assert.match(
      got[0]!,
      /^8:15 pipelines\[0\]\.transforms\[0\]\.type: unwrap does not apply to the stdout sink: it applies to sinks that write envelopes \(file, kafka\)/,
    )
  })

  it('exactly one of keep/drop, include/exclude; a route needs a destination', () => {
    const got = problems(
      yaml(`      - type: filter
        keep: "true"
        drop: "true"
      - type: columns
      - type: route
        tables: [public.orders]`),
    )
    assert.deepEqual(
      got.map((p) => p.replace(/^\d+:\d+ /, '')),
      [
        'pipelines[0].transforms[0]: a filter needs exactly one of keep or drop',
        'pipelines[0].transforms[1]: a columns transform needs exactly one of include or exclude',
        'pipelines[0].transforms[2]: a route needs at least one of topic, index or key',
      ],
    )
  })
})
