import { z } from 'zod'

const MIB = 1024 * 1024

/** A `sinks:` entry of type `file`. */
export const fileConfig = z
  .strictObject({
    type: z.literal('file'),
    path: z
      .string()
      .min(1)
      .refine((p) => !p.includes('\0'), 'a path cannot contain a NUL byte')
      .describe(
        'Directory to write into; each table gets a series of files under `<path>/<schema>.<table>/` ' +
          '(`000001.avro`, `000002.avro`, ...). Created when missing.',
      )
      .meta({ examples: ['./data/out'] }),
    format: z
      .enum(['avro', 'jsonl'])
      .default('avro')
      .describe(
        '`avro`: Avro Object Container Files of the change-event envelope (schema in the header); ' +
          '`jsonl`: one JSON object per line per event, decimals as strings, bytes as base64.',
      ),
    rotate_bytes: z
      .number()
      .int()
      .min(1)
      .default(64 * MIB)
      .describe('Start a new file after the block that makes the current one reach this many bytes.')
      .meta({ examples: [64 * MIB] }),
    rotate_interval_ms: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Start a new file once the current one is this old (ms), even when idle (0: off).')
      .meta({ examples: [3_600_000] }),
    codec: z
      .enum(['null', 'deflate'])
      .default('null')
      .describe(
        'Avro block compression: `null` (none) or `deflate` (raw deflate, RFC 1951). `avro` format only.',
      ),
  })
  .refine((c) => c.format === 'avro' || c.codec === 'null', {
    message: 'codec applies to format avro only; remove it or set format: avro',
    path: ['codec'],
  })
  .describe('Writes change events to local files, one series of rotating files per table; at-least-once.')

/** Validated file sink configuration. */
export type FileConfig = z.infer<typeof fileConfig>
