import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
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
  /**
   * The saved state, or null when there is none. Fails (never returns null) when state
   * exists but cannot be read or is not valid, and when the store could not be written
   * to: a pipeline must not read a single change it will be unable to commit.
   */
  load(pipeline: string): Promise<PipelineState | null>
  /** Durable when the promise resolves. */
  save(pipeline: string, state: PipelineState): Promise<void>
}

/** What an errno means for a state directory, and what to do about it. */
function writeHint(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return 'the disk is full: free space on it (the pipeline stopped without acknowledging anything it could not record)'
    case 'EROFS':
      return 'the file system is read-only: point state.path at a writable directory'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: make the directory writable by the user running Sluice, or change state.path'
    case 'ENOTDIR':
    case 'EEXIST':
      return 'a file is in the way of the directory: change state.path or move the file'
    default:
      return 'check the directory (state.path) and the disk'
  }
}

function writeFailed(what: string, err: unknown): SluiceError {
  return new SluiceError('STATE_WRITE_FAILED', `${what}: ${(err as Error).message}; ${writeHint(err)}`, {
    cause: err,
  })
}

/** Checks the parsed JSON is state this version wrote; throws naming the offending field. */
function checkState(s: unknown): PipelineState {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new Error('not a JSON object')
  const o = s as Record<string, unknown>
  if (!('position' in o)) throw new Error('no position field')
  if (o.position !== null && (typeof o.position !== 'string' || o.position.length === 0))
    throw new Error('position is neither null nor a non-empty string')
  if (o.snapshot !== undefined) {
    const tables = (o.snapshot as { tables?: unknown } | null)?.tables
    if (typeof tables !== 'object' || tables === null) throw new Error('snapshot.tables is not an object')
  }
  return o as unknown as PipelineState
}

/**
 * State in one JSON file per pipeline under a directory. A save writes a temp file,
 * fsyncs it, renames it over the old one and fsyncs the directory, so a crash leaves
 * either the old or the new state, never a torn file. Every failure is fail-stop with a
 * clear error (STATE_READ_FAILED, STATE_CORRUPT, STATE_WRITE_FAILED): a missing file means
 * "start from scratch", anything unreadable never does.
 */
export class FileStateStore implements StateStore {
  constructor(private readonly dir: string) {}

  private file(pipeline: string): string {
    return join(this.dir, `${pipeline}.json`)
  }

  async load(pipeline: string): Promise<PipelineState | null> {
    await this.checkWritable(pipeline)
    let text: string
    try {
      text = await readFile(this.file(pipeline), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw new SluiceError(
        'STATE_READ_FAILED',
        `cannot read state file ${this.file(pipeline)}: ${(err as Error).message}`,
        { cause: err },
      )
    }
    try {
      return checkState(JSON.parse(text))
    } catch (err) {
      throw new SluiceError(
        'STATE_CORRUPT',
        `state file ${this.file(pipeline)} is not valid Sluice state (${(err as Error).message}); restore it or delete it to start over with a new snapshot`,
        { cause: err },
      )
    }
  }

  async save(pipeline: string, state: PipelineState): Promise<void> {
    const target = this.file(pipeline)
    const tmp = `${target}.tmp`
    try {
      await mkdir(this.dir, { recursive: true })
      const fh = await open(tmp, 'w')
      try {
        await fh.writeFile(JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2) + '\n')
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, target)
      await this.syncDir()
    } catch (err) {
      // The old state file is intact (the rename is the commit point); a partial temp file
      // is removed so that it cannot be mistaken for anything later.
      await rm(tmp, { force: true }).catch(() => undefined)
      throw writeFailed(`cannot write state file ${target}`, err)
    }
  }

  /** Creates the directory and proves a file can be written, synced and removed there. */
  private async checkWritable(pipeline: string): Promise<void> {
    const probe = join(this.dir, `.${pipeline}.probe`)
    try {
      await mkdir(this.dir, { recursive: true })
      const fh = await open(probe, 'w')
      try {
        await fh.writeFile('sluice\n')
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rm(probe, { force: true })
    } catch (err) {
      await rm(probe, { force: true }).catch(() => undefined)
      throw writeFailed(`state directory ${this.dir} is not writable`, err)
    }
  }

  private async syncDir(): Promise<void> {
    const dh = await open(this.dir, 'r')
    try {
      await dh.sync()
    } finally {
      await dh.close()
    }
  }
}
