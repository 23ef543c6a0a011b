import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { SluiceError } from './errors.js'

/** What is persisted per pipeline. */
export interface PipelineState {
  /** The last checkpoint every sink has made durable; the source resumes strictly after it. */
  position: string | null
  /** Snapshot progress, informational (rows done / estimate per table). */
  snapshot?: { tables: Record<string, { rows: number; estimate: number; done: boolean }> } | undefined
  /** ISO time of the last save. */
  updatedAt?: string
}

/** Where positions and snapshot progress live (config `state`). */
export interface StateStore {
  load(pipeline: string): Promise<PipelineState | null>
  /** Durable when the promise resolves. */
  save(pipeline: string, state: PipelineState): Promise<void>
}

/**
 * State in one JSON file per pipeline under a directory. A save writes a temp file,
 * fsyncs it, renames it over the old one and fsyncs the directory, so a crash leaves
 * either the old or the new state, never a torn file.
 */
export class FileStateStore implements StateStore {
  constructor(private readonly dir: string) {}

  private file(pipeline: string): string {
    return join(this.dir, `${pipeline}.json`)
  }

  async load(pipeline: string): Promise<PipelineState | null> {
    let text: string
    try {
      text = await readFile(this.file(pipeline), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw new SluiceError(
        'STATE_READ_FAILED',
        `cannot read state file ${this.file(pipeline)}: ${(err as Error).message}`,
        {
          cause: err,
        },
      )
    }
    try {
      const s = JSON.parse(text) as PipelineState
      if (typeof s !== 'object' || s === null || !('position' in s)) throw new Error('no position field')
      return s
    } catch (err) {
      throw new SluiceError(
        'STATE_CORRUPT',
        `state file ${this.file(pipeline)} is not valid Sluice state (${(err as Error).message}); restore it or delete it to start over with a new snapshot`,
        { cause: err },
      )
    }
  }

  async save(pipeline: string, state: PipelineState): Promise<void> {
    await mkdir(this.dir, { recursive: true })
    const target = this.file(pipeline)
    const tmp = `${target}.tmp`
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2) + '\n')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, target)
    const dh = await open(this.dir, 'r')
    try {
      await dh.sync()
    } finally {
      await dh.close()
    }
  }
}
