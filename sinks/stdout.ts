import type { Writable } from 'node:stream'
import { z } from 'zod'
import { codecFor } from '../avro/codec.js'
import { envelopeToJson } from '../avro/json.js'
import { EncodeError, SinkError, SluiceError } from '../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent } from '../pipeline/event.js'
import type { SinkEntry } from '../pipeline/registry.js'
import type { Sink, SinkContext } from '../pipeline/sink.js'
import type { AvroOptions } from '../pipeline/source.js'

/** A `sinks:` entry of type `stdout`. */
export const stdoutConfig = z
  .strictObject({
    type: z.literal('stdout'),
  })
  .describe(
    'Prints one JSON line per change event to standard output (decimals as strings, bytes as base64).',
  )

/** Validated stdout sink configuration. */
export type StdoutConfig = z.infer<typeof stdoutConfig>

/** Lines are joined into chunks of about this many characters per stream write. */
const CHUNK_CHARS = 256 * 1024

/**
 * Writes each event as one line of JSON (`envelopeToJson`) to a stream, process.stdout by
 * default. Writes are chained in call order; each waits for 'drain' when the stream's
 * buffer is full, and a batch resolves when the callback of its last write has fired.
 * The stream is never ended (it is shared with the process).
 */
export class StdoutSink implements Sink {
  readonly delivery = 'at-least-once' as const

  private tail: Promise<void> = Promise.resolve()
  private failure: SluiceError | null = null
  private readonly onError = (err: Error): void => {
    this.failure ??= streamError(err)
  }

  constructor(
    private readonly avro: AvroOptions,
    private readonly out: Writable = process.stdout,
  ) {}

  /** Listens for stream errors (EPIPE when the reader went away) so they fail writes, not the process. */
  async open(): Promise<void> {
    this.out.on('error', this.onError)
  }

  /**
   * Resolves when every line of the batch was handed to the stream and its callback fired.
   * Lines are rendered when the batch's turn comes, one chunk at a time, so queued batches
   * hold no rendered text. After a failure every later write rejects.
   */
  write(batch: ChangeBatch): Promise<void> {
    const p = this.tail.then(async () => {
      if (this.failure) throw this.failure
      let chunk = ''
      for (const ev of batch.events) {
        chunk += this.line(ev)
        if (chunk.length >= CHUNK_CHARS) {
          await this.writeChunk(chunk)
          chunk = ''
        }
      }
      if (chunk.length > 0) await this.writeChunk(chunk)
    })
    // Keep the chain going after a failure; the next write sees `failure` and rejects.
    this.tail = p.catch(() => undefined)
    return p
  }

  private line(ev: ChangeEvent): string {
    try {
      return JSON.stringify(envelopeToJson(codecFor(ev.table, this.avro), ev)) + '\n'
    } catch (err) {
      this.failure ??= new EncodeError(
        'STDOUT_ENCODE_FAILED',
        `cannot render the ${ev.op} event at position ${ev.position} of ${ev.table.schema}.${ev.table.table} ` +
          `as JSON: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      )
      throw this.failure
    }
  }

  /** Everything written so far has been handed to the stream. */
  async flush(): Promise<void> {
    await this.tail
    if (this.failure) throw this.failure
  }

  /** Flushes and stops listening; process.stdout stays open. */
  async close(): Promise<void> {
    try {
      await this.flush()
    } finally {
      this.out.off('error', this.onError)
    }
  }

  private writeChunk(chunk: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure)
      let done = false
      let drained = true
      const finish = (): void => {
        if (done && drained) resolve()
      }
      const ok = this.out.write(chunk, (err) => {
        if (err) {
          this.failure ??= streamError(err)
          return reject(this.failure)
        }
        done = true
        finish()
      })
      if (!ok) {
        drained = false
        this.out.once('drain', () => {
          drained = true
          finish()
        })
      }
    })
  }
}

function streamError(err: Error): SinkError {
  const code = (err as NodeJS.ErrnoException).code ?? 'ERROR'
  return new SinkError('STDOUT_WRITE_FAILED', `stdout sink cannot write: ${code} (${err.message})`, {
    cause: err,
  })
}

/** Registry entry of the stdout sink (`type: stdout`). */
export const stdoutEntry: SinkEntry<StdoutConfig> = {
  type: 'stdout',
  config: stdoutConfig,
  create: (_config: StdoutConfig, ctx: SinkContext) => new StdoutSink(ctx.avro),
}
