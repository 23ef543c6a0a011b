import { mkdir, open, readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Logger } from 'pino'
import type { Type } from 'avsc'
import { codecFor, compileSchema, type TableCodec } from '../../avro/codec.js'
import { envelopeToJson, jsonValue } from '../../avro/json.js'
import { EncodeError, PreconditionError, SinkError, SluiceError } from '../../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent } from '../../pipeline/event.js'
import type { TableSchema } from '../../pipeline/schema.js'
import type { Sink, SinkContext } from '../../pipeline/sink.js'
import type { AvroOptions } from '../../pipeline/source.js'
import { GroupCommit, stoppedAfter } from '../group-commit.js'
import type { FileConfig } from './config.js'
import { newSyncMarker, ocfBlock, ocfHeader } from './ocf.js'

/** The subset of fs/promises' FileHandle the sink uses. */
export interface FileHandleLike {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<{ bytesWritten: number }>
  sync(): Promise<void>
  close(): Promise<void>
}

/**
 * The file-system calls of the sink, injectable so tests can count fsyncs or inject faults.
 * `open` is called with `wx` for a new data file (create, fail if it exists) and with `r`
 * for a directory, which is opened only to fsync it.
 */
export interface FileSystem {
  open(path: string, flags: 'wx' | 'r'): Promise<FileHandleLike>
  /** mkdir -p; returns the first directory it created, or undefined when all existed. */
  mkdir(path: string): Promise<string | undefined>
  readdir(path: string): Promise<string[]>
}

/** node:fs/promises. */
export const nodeFileSystem: FileSystem = {
  open: (path, flags) => open(path, flags),
  mkdir: (path) => mkdir(path, { recursive: true }),
  readdir: (path) => readdir(path),
}

/** Optional collaborators of FileSink. */
export interface FileSinkDeps {
  readonly fs?: FileSystem
  /** Clock for time-based rotation (ms). */
  readonly now?: () => number
  /**
   * The pipeline's on_error (SinkContext.reject; createFileSink passes it): an event that
   * cannot be encoded is handed to it instead of failing the sink. Absent: it fails the sink.
   */
  readonly reject?: SinkContext['reject']
}

/**
 * Records are buffered per file and written as one block (OCF block or a run of JSON
 * lines) when this many bytes accumulate, and at the end of every commit group. This
 * bounds the buffer and the overshoot past rotate_bytes.
 */
const BLOCK_BYTES = 1024 * 1024

/** Data files are `<6+ digit number>.<ext>`; the number grows past 999999 without wrapping. */
const SEQ_WIDTH = 6
const DATA_FILE = /^(\d+)\.(?:avro|jsonl)$/

/** OS error codes after which retrying later (space freed, descriptors released) may succeed. */
const RETRIABLE_ERRNO = new Set(['ENOSPC', 'EDQUOT', 'EAGAIN', 'EINTR', 'EMFILE', 'ENFILE', 'EBUSY'])

/**
 * The records of the block being built, encoded back to back into one reusable buffer (no
 * per-record allocation: on the hot path, per-event garbage is what costs). The buffer
 * grows when a record does not fit and is reused for every block of the file.
 */
interface BlockBuffer {
  buf: Buffer
  len: number
  count: number
}

function newBlockBuffer(): BlockBuffer {
  return { buf: Buffer.allocUnsafe(BLOCK_BYTES + (BLOCK_BYTES >> 1)), len: 0, count: 0 }
}

/** Grows `b` so that `extra` more bytes fit after `len`. */
function ensure(b: BlockBuffer, extra: number): void {
  if (b.len + extra <= b.buf.length) return
  const next = Buffer.allocUnsafe(Math.max(b.buf.length * 2, b.len + extra))
  b.buf.copy(next, 0, 0, b.len)
  b.buf = next
}

/** Appends one already-encoded record to a block buffer. */
function copyRecord(into: BlockBuffer, data: Buffer, start: number, end: number): void {
  ensure(into, end - start)
  data.copy(into.buf, into.len, start, end)
  into.len += end - start
  into.count++
}

/** How one file format lays out a file: header, records, blocks. */
interface Format {
  readonly ext: 'avro' | 'jsonl'
  header(schemaJson: string, sync: Buffer): Buffer
  /** Appends one encoded record to the block buffer. */
  append(codec: TableCodec, ev: ChangeEvent, into: BlockBuffer): void
  /** The block to write for the buffered records; must not keep a reference to `data`. */
  block(data: Buffer, count: number, sync: Buffer): Promise<Buffer>
}

/**
 * Codecs of flat rows (`ChangeEvent.unwrapped`, the unwrap transform): their files hold the
 * row record (`valueSchema`: columns plus `__op`, `__table`, `__position`, `__deleted`)
 * instead of the keyed envelope. A codec is flat for good: unwrap derives its own
 * TableSchema objects, so no codec serves both shapes.
 */
const flatTypes = new WeakMap<TableCodec, Type>()

/** The codec for an event: of its flat row's schema when unwrapped, else of its table. */
function codecOf(ev: ChangeEvent, avro: AvroOptions): TableCodec {
  if (!ev.unwrapped) return codecFor(ev.table, avro)
  const c = codecFor(ev.unwrapped.schema, avro)
  if (!flatTypes.has(c)) flatTypes.set(c, compileSchema(c.valueSchema))
  return c
}

function avroFormat(codec: 'null' | 'deflate'): Format {
  return {
    ext: 'avro',
    header: (schemaJson, sync) => ocfHeader(schemaJson, codec, sync),
    append(c, ev, into) {
      // The event has the Envelope's field names: encode it as is (see TableCodec.encodeEnvelope).
      const flat = ev.unwrapped ? flatTypes.get(c) : undefined
      const type = flat ?? c.keyedType
      const value = flat ? ev.unwrapped!.row : ev
      let end = type.encode(value, into.buf, into.len)
      if (end < 0) {
        // avsc returns minus the number of bytes past the end of the buffer the record needs.
        ensure(into, into.buf.length - into.len - end)
        end = type.encode(value, into.buf, into.len)
        if (end < 0) throw new Error(`record does not fit after growing the block buffer by ${-end} bytes`)
      }
      into.len = end
      into.count++
    },
    block: (data, count, sync) => ocfBlock([data], count, codec, sync),
  }
}

/** JSON Lines: no header; a block is the lines concatenated, each ending with `\n`. */
const jsonlFormat: Format = {
  ext: 'jsonl',
  header: () => Buffer.alloc(0),
  append(c, ev, into) {
    const record = ev.unwrapped ? jsonValue(c.valueSchema, ev.unwrapped.row) : envelopeToJson(c, ev)
    const line = JSON.stringify(record) + '\n'
    ensure(into, Buffer.byteLength(line))
    into.len += into.buf.write(line, into.len, 'utf8')
    into.count++
  },
  block: async (data) => Buffer.from(data),
}

/** The JSON written as `avro.schema`, once per codec. */
const schemaJsonCache = new WeakMap<TableCodec, string>()
function schemaJsonOf(codec: TableCodec): string {
  let s = schemaJsonCache.get(codec)
  if (s === undefined) {
    s = JSON.stringify(flatTypes.has(codec) ? codec.valueSchema : codec.keyedSchema)
    schemaJsonCache.set(codec, s)
  }
  return s
}

/** Directory-name part: percent-encoded so `/` and friends cannot escape the sink's path. */
function safePart(s: string): string {
  return encodeURIComponent(s).replace(/^\./, '%2E')
}

/** The file currently being appended to in a series. */
interface OpenFile {
  readonly path: string
  readonly handle: FileHandleLike
  readonly sync: Buffer
  readonly openedAt: number
  readonly schemaJson: string
  table: TableSchema
  codec: TableCodec
  /** Bytes written to the file so far (header and blocks). */
  size: number
  /** Encoded records not yet written, the next block. */
  readonly pending: BlockBuffer
  /** Written since the last fsync. */
  dirty: boolean
}

/** The files of one table: `<path>/<schema>.<table>/NNNNNN.<ext>`. */
interface Series {
  readonly name: string
  readonly dir: string
  /** Number of the next file; undefined until the directory has been listed. */
  next: number | undefined
  file: OpenFile | null
  /** The directory got a new entry that has not been fsynced yet. */
  dirDirty: boolean
}

/**
 * A batch encoded at write() time: the records back to back in `data`, record i ending at
 * `ends[i]`, of table `tables[i]`. Encoding when the batch arrives (rather than when the
 * writer loop gets to it) lets the event objects die young: what waits for the fsync is
 * ~160 bytes per event instead of an object graph, which keeps memory and GC work low.
 */
/** An event the sink could not encode, for the pipeline's on_error. */
interface Refused {
  readonly ev: ChangeEvent
  readonly err: EncodeError
}

interface Encoded {
  readonly data: Buffer
  readonly ends: number[]
  readonly tables: TableSchema[]
  readonly codecs: TableCodec[]
}

/**
 * Writes change events to a series of files per table, as Avro Object Container Files or
 * JSON Lines. write() resolves once the batch's bytes are fsynced. Batches are applied
 * strictly in call order by one loop; every batch that arrives while a commit is in
 * progress joins the next commit, so one fsync per file covers all of them (group commit).
 * A file is never reopened: each start, schema change or rotation begins a new file, so a
 * torn tail left by a crash stays in its own file.
 */
export class FileSink implements Sink {
  readonly delivery = 'at-least-once' as const

  private readonly fs: FileSystem
  private readonly now: () => number
  private readonly format: Format
  private readonly reject: SinkContext['reject']
  private readonly byName = new Map<string, Series>()
  private readonly byTable = new WeakMap<TableSchema, Series>()
  /** The single writer loop (group commit); it holds the sink's failure. */
  private readonly writer: GroupCommit<Encoded | null> = new GroupCommit<Encoded | null>({
    commit: (group) => this.commit(group),
    afterRound: () => this.armTimer(),
    wrap: (err) => new SinkError('FILE_WRITE_FAILED', `file sink failed: ${String(err)}`, { cause: err }),
    onFail: () => this.clearTimer(),
    stopped: stoppedAfter('FILE_SINK_FAILED', 'file sink'),
  })
  /** Where write() encodes a batch before copying it out at its exact size. */
  private readonly scratch = newBlockBuffer()
  private closed = false
  private closing: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  /** The sink's root directory got a new entry (a series directory) not yet fsynced. */
  private rootDirty = false

  constructor(
    private readonly config: FileConfig,
    private readonly avro: AvroOptions,
    private readonly log: Logger,
    deps: FileSinkDeps = {},
  ) {
    this.fs = deps.fs ?? nodeFileSystem
    this.now = deps.now ?? Date.now
    this.format = config.format === 'jsonl' ? jsonlFormat : avroFormat(config.codec)
    this.reject = deps.reject
  }

  /** Creates the root directory (and makes its entry durable when it is new). */
  async open(): Promise<void> {
    const root = this.config.path
    try {
      const created = await this.fs.mkdir(root)
      if (created !== undefined) await this.syncDir(dirname(created))
      await this.fs.readdir(root)
    } catch (err) {
      throw new PreconditionError(
        'FILE_PATH_UNUSABLE',
        `file sink cannot use directory ${root}: ${errnoOf(err)}; point path at a writable directory`,
        { cause: err },
      )
    }
    this.log.info({ path: root, format: this.config.format }, 'file sink open')
  }

  /** Encodes and queues the batch; resolves when its events are written and fsynced, in call order. */
  write(batch: ChangeBatch): Promise<void> {
    if (this.closed) return Promise.reject(new SinkError('FILE_SINK_CLOSED', 'file sink is closed'))
    if (this.failure || batch.events.length === 0) return this.enqueue(null)
    let encoded: Encoded
    const refused: Refused[] = []
    try {
      encoded = this.encode(batch.events, this.reject ? refused : null)
    } catch (err) {
      return Promise.reject(this.writer.fail(err))
    }
    if (refused.length === 0) return this.enqueue(encoded)
    // The batch resolves once its other events are durable and the pipeline's on_error has
    // been applied to the refused ones (under halt that rejects, and the sink fails).
    const rejects = (async () => {
      for (const r of refused) await this.reject!(r.ev, r.err)
    })().catch((err: unknown) => Promise.reject(this.writer.fail(err)))
    return Promise.all([this.enqueue(encoded), rejects]).then(() => undefined)
  }

  /** Resolves when everything written before it is durable. */
  flush(): Promise<void> {
    if (this.closed) return Promise.reject(new SinkError('FILE_SINK_CLOSED', 'file sink is closed'))
    return this.enqueue(null)
  }

  /**
   * Encodes the events into the scratch buffer. An event that cannot be encoded throws
   * FILE_ENCODE_FAILED, or, when `refused` is given, is left out and added to it.
   */
  private encode(events: readonly ChangeEvent[], refused: Refused[] | null): Encoded {
    const scratch = this.scratch
    scratch.len = 0
    scratch.count = 0
    const ends: number[] = []
    const tables: TableSchema[] = []
    const codecs: TableCodec[] = []
    let lastSchema: TableSchema | null = null
    let codec: TableCodec | null = null
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!
      const schema = ev.unwrapped?.schema ?? ev.table
      if (schema !== lastSchema) {
        lastSchema = schema
        codec = codecOf(ev, this.avro)
      }
      const len = scratch.len
      const count = scratch.count
      try {
        this.format.append(codec!, ev, scratch)
      } catch (err) {
        const e = new EncodeError(
          'FILE_ENCODE_FAILED',
          `cannot encode the ${ev.op} event at position ${ev.position} of ${ev.table.schema}.${ev.table.table}: ` +
            `${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        )
        if (!refused) throw e
        scratch.len = len
        scratch.count = count
        refused.push({ ev, err: e })
        continue
      }
      ends.push(scratch.len)
      tables.push(ev.table)
      codecs.push(codec!)
    }
    return { data: Buffer.from(scratch.buf.subarray(0, scratch.len)), ends, tables, codecs }
  }

  /** Flushes, then closes every open file. After a failure it only releases the handles. */
  close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  private async doClose(): Promise<void> {
    this.closed = true
    this.clearTimer()
    let flushError: unknown = null
    if (!this.failure) await this.enqueue(null).catch((err: unknown) => (flushError = err))
    const files = [...this.byName.values()].filter((s) => s.file !== null)
    if (this.failure) {
      // Already reported to the write() that failed; only release the handles.
      await Promise.allSettled(files.map((s) => s.file!.handle.close()))
      for (const s of files) s.file = null
      if (flushError) throw flushError
      return
    }
    let closeError: unknown = null
    for (const s of files) {
      // Keep closing the other files when one fails; report the first error.
      await this.finish(s).catch((err: unknown) => {
        closeError ??= err
        s.file = null
      })
    }
    if (closeError) throw closeError
  }

  private enqueue(batch: Encoded | null): Promise<void> {
    return this.writer.enqueue(batch)
  }

  private get failure(): SluiceError | null {
    return this.writer.failure
  }

  /** Writes every event of the group, then fsyncs each touched file and directory once. */
  private async commit(group: readonly (Encoded | null)[]): Promise<void> {
    await this.rotateAged()
    for (const b of group) {
      if (!b) continue
      let start = 0
      for (let i = 0; i < b.ends.length; i++) {
        const end = b.ends[i]!
        const io = this.append(b.tables[i]!, b.codecs[i]!, b.data, start, end)
        if (io) await io
        start = end
      }
    }
    const syncs: Promise<void>[] = []
    for (const s of this.byName.values()) {
      if (s.file) await this.endBlock(s, true)
    }
    for (const s of this.byName.values()) {
      const f = s.file
      if (f?.dirty) {
        f.dirty = false
        syncs.push(this.io('fsync', f.path, () => f.handle.sync()))
      }
    }
    await Promise.all(syncs)
    await this.syncDirtyDirs()
  }

  /** Buffers one encoded record in its table's current file; returns a promise only when I/O is needed. */
  private append(
    table: TableSchema,
    codec: TableCodec,
    data: Buffer,
    start: number,
    end: number,
  ): Promise<void> | undefined {
    const s = this.seriesOf(table)
    const f = s.file
    if (f && f.table === table && f.codec === codec) {
      copyRecord(f.pending, data, start, end)
      return f.pending.len >= BLOCK_BYTES ? this.endBlock(s, true) : undefined
    }
    return this.appendSlow(s, table, codec, data, start, end)
  }

  private async appendSlow(
    s: Series,
    table: TableSchema,
    codec: TableCodec,
    data: Buffer,
    start: number,
    end: number,
  ): Promise<void> {
    const json = schemaJsonOf(codec)
    let f = s.file
    if (f) {
      // A rebuilt TableSchema: OCF has one writer schema per file, so a new version or a
      // different envelope schema starts a new file.
      if (table.version > f.table.version || json !== f.schemaJson) {
        this.log.debug({ series: s.name, version: table.version }, 'schema changed, new file')
        await this.finish(s)
        f = null
      } else {
        f.table = table
        f.codec = codec
      }
    }
    f ??= await this.openNext(s, table, codec, json)
    copyRecord(f.pending, data, start, end)
    if (f.pending.len >= BLOCK_BYTES) await this.endBlock(s, true)
  }

  private seriesOf(table: TableSchema): Series {
    let s = this.byTable.get(table)
    if (s) return s
    const name = `${safePart(table.schema)}.${safePart(table.table)}`
    s = this.byName.get(name)
    if (!s) {
      s = { name, dir: join(this.config.path, name), next: undefined, file: null, dirDirty: false }
      this.byName.set(name, s)
    }
    this.byTable.set(table, s)
    return s
  }

  /** Creates the next file of the series (never an existing one) and writes its header. */
  private async openNext(
    s: Series,
    table: TableSchema,
    codec: TableCodec,
    schemaJson: string,
  ): Promise<OpenFile> {
    if (s.next === undefined) {
      const created = await this.io('create directory', s.dir, () => this.fs.mkdir(s.dir))
      if (created !== undefined) this.rootDirty = true
      const names = await this.io('list directory', s.dir, () => this.fs.readdir(s.dir))
      let max = 0
      for (const n of names) {
        const m = DATA_FILE.exec(n)
        if (m) max = Math.max(max, Number(m[1]))
      }
      s.next = max + 1
    }
    for (;;) {
      const path = join(s.dir, `${String(s.next).padStart(SEQ_WIDTH, '0')}.${this.format.ext}`)
      s.next++
      let handle: FileHandleLike
      try {
        handle = await this.fs.open(path, 'wx')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue // someone else took it: skip
        throw fsError('create', path, err)
      }
      s.dirDirty = true
      const sync = newSyncMarker()
      const header = this.format.header(schemaJson, sync)
      const f: OpenFile = {
        path,
        handle,
        sync,
        openedAt: this.now(),
        schemaJson,
        table,
        codec,
        size: 0,
        pending: newBlockBuffer(),
        dirty: false,
      }
      s.file = f
      if (header.length > 0) await this.writeAll(f, header)
      return f
    }
  }

  /**
   * Writes the buffered records as one block. With `rotate`, a file that has now reached
   * rotate_bytes or rotate_interval_ms is finished (the block that crosses the limit is
   * the file's last).
   */
  private async endBlock(s: Series, rotate: boolean): Promise<void> {
    const f = s.file
    if (!f || f.pending.count === 0) return
    const block = await this.format.block(f.pending.buf.subarray(0, f.pending.len), f.pending.count, f.sync)
    f.pending.len = 0
    f.pending.count = 0
    await this.writeAll(f, block)
    if (rotate && (f.size >= this.config.rotate_bytes || this.aged(f))) await this.finish(s)
  }

  private aged(f: OpenFile): boolean {
    return this.config.rotate_interval_ms > 0 && this.now() - f.openedAt >= this.config.rotate_interval_ms
  }

  /** Finishes the series' current file: last block, fsync, close, fsync the directory. */
  private async finish(s: Series): Promise<void> {
    const f = s.file
    if (!f) return
    await this.endBlock(s, false)
    if (f.dirty) await this.io('fsync', f.path, () => f.handle.sync())
    f.dirty = false
    s.file = null
    await this.io('close', f.path, () => f.handle.close())
    if (s.dirDirty) {
      s.dirDirty = false
      await this.syncDir(s.dir)
    }
  }

  private async rotateAged(): Promise<void> {
    if (this.config.rotate_interval_ms <= 0) return
    for (const s of this.byName.values()) if (s.file && this.aged(s.file)) await this.finish(s)
  }

  private async syncDirtyDirs(): Promise<void> {
    const dirs: string[] = []
    for (const s of this.byName.values()) {
      if (s.dirDirty) {
        s.dirDirty = false
        dirs.push(s.dir)
      }
    }
    if (this.rootDirty) {
      this.rootDirty = false
      dirs.push(this.config.path)
    }
    await Promise.all(dirs.map((d) => this.syncDir(d)))
  }

  /** A new directory entry is durable only once the directory itself is fsynced. */
  private async syncDir(dir: string): Promise<void> {
    const h = await this.io('open directory', dir, () => this.fs.open(dir, 'r'))
    try {
      await this.io('fsync directory', dir, () => h.sync())
    } finally {
      await h.close().catch(() => undefined)
    }
  }

  private async writeAll(f: OpenFile, buf: Buffer): Promise<void> {
    let off = 0
    while (off < buf.length) {
      const { bytesWritten } = await this.io('write', f.path, () =>
        f.handle.write(buf, off, buf.length - off, null),
      )
      off += bytesWritten
    }
    f.size += buf.length
    f.dirty = true
  }

  private async io<T>(action: string, path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw fsError(action, path, err)
    }
  }

  /** With time rotation on, wakes the writer loop when the oldest open file is due. */
  private armTimer(): void {
    if (this.config.rotate_interval_ms <= 0 || this.timer || this.closed || this.failure) return
    let oldest = Infinity
    for (const s of this.byName.values()) if (s.file) oldest = Math.min(oldest, s.file.openedAt)
    if (oldest === Infinity) return
    const delay = Math.max(0, oldest + this.config.rotate_interval_ms - this.now())
    this.timer = setTimeout(() => {
      this.timer = null
      if (!this.closed) this.enqueue(null).catch(() => undefined) // the failure reaches the next write()
    }, delay)
    this.timer.unref()
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }
}

function errnoOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return e?.code ?? (err instanceof Error ? err.message : String(err))
}

function fsError(action: string, path: string, err: unknown): SinkError {
  if (err instanceof SinkError) return err
  const code = errnoOf(err)
  return new SinkError(
    'FILE_WRITE_FAILED',
    `file sink cannot ${action} ${path}: ${code}; check that the directory is writable and has free space`,
    { cause: err, retriable: RETRIABLE_ERRNO.has(code) },
  )
}

/** Creates a file sink from its validated config. */
export function createFileSink(config: FileConfig, ctx: SinkContext, deps: FileSinkDeps = {}): FileSink {
  return new FileSink(config, ctx.avro, ctx.log.child({ component: 'sink', sink: 'file' }), {
    ...deps,
    reject: deps.reject ?? ctx.reject,
  })
}
