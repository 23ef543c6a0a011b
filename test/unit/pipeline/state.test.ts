import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { SluiceError } from '../../../pipeline/errors.js'
import { FileStateStore } from '../../../pipeline/state.js'

const code = (err: unknown): string => (err as SluiceError).code

describe('FileStateStore', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-state-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('round-trips state; a missing file means no state', async () => {
    const store = new FileStateStore(join(dir, 'a'))
    assert.equal(await store.load('p'), null)
    await store.save('p', { position: '0000000001000000.1.000000000003' })
    const s = await store.load('p')
    assert.equal(s?.position, '0000000001000000.1.000000000003')
    assert.deepEqual(await readdir(join(dir, 'a')), ['p.json'], 'no temp or probe files left')
  })

  for (const [name, text] of [
    ['empty', ''],
    ['half-written', '{"position": "00000000010'],
    ['not an object', '[1,2]'],
    ['no position', '{"updatedAt": "x"}'],
    ['wrong position type', '{"position": 17}'],
    ['empty position', '{"position": ""}'],
    ['bad snapshot', '{"position": null, "snapshot": 3}'],
  ] as const) {
    test(`a ${name} state file is STATE_CORRUPT, never "start from scratch"`, async () => {
      const d = join(dir, `corrupt-${name.replace(/ /g, '-')}`)
      const store = new FileStateStore(d)
      await store.save('p', { position: null })
      await writeFile(join(d, 'p.json'), text)
      await assert.rejects(store.load('p'), (err) => {
        assert.equal(code(err), 'STATE_CORRUPT')
        assert.match((err as Error).message, /p\.json.*delete it to start over/)
        return true
      })
    })
  }
})

/** A tiny tmpfs of `size`, so that full and read-only file systems are real. */
function mountTmpfs(at: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe('FileStateStore on a full or read-only file system', () => {
  let mnt: string
  before(async () => {
    mnt = await mkdtemp(join(tmpdir(), 'sluice-tmpfs-'))
    assert.ok(mountTmpfs(mnt, '64k'), 'mounting a tmpfs needs root (the test machines run tests as root)')
  })
  after(async () => {
    try {
      execFileSync('umount', [mnt], { stdio: 'ignore' })
    } catch {
      // already unmounted
    }
    await rm(mnt, { recursive: true, force: true })
  })

  test('a full disk fails the save with STATE_WRITE_FAILED and keeps the old state intact', async () => {
    const store = new FileStateStore(join(mnt, 'full'))
    await store.save('p', { position: 'A' })
    // Fill the file system.
    await writeFile(join(mnt, 'filler'), Buffer.alloc(60 * 1024)).catch(() => undefined)
    const tables = Object.fromEntries(
      [...Array(2000)].map((_, i) => [`table_${i}`, { rows: i, estimate: i, done: false }]),
    )
    const huge = { position: 'B', snapshot: { tables } }
    await assert.rejects(store.save('p', huge), (err) => {
      assert.equal(code(err), 'STATE_WRITE_FAILED')
      assert.match((err as Error).message, /disk is full/)
      return true
    })
    assert.equal(JSON.parse(await readFile(join(mnt, 'full', 'p.json'), 'utf8')).position, 'A')
    assert.deepEqual(await readdir(join(mnt, 'full')), ['p.json'], 'the partial temp file was removed')
    await rm(join(mnt, 'filler'))
  })

  test('a read-only state directory fails load() before anything is read', async () => {
    const store = new FileStateStore(join(mnt, 'ro'))
    await store.save('p', { position: 'A' })
    execFileSync('mount', ['-o', 'remount,ro', mnt])
    try {
      await assert.rejects(store.load('p'), (err) => {
        assert.equal(code(err), 'STATE_WRITE_FAILED')
        assert.match((err as Error).message, /not writable.*read-only/)
        return true
      })
      await assert.rejects(store.save('p', { position: 'B' }), (err) => code(err) === 'STATE_WRITE_FAILED')
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', mnt])
    }
    assert.equal((await store.load('p'))?.position, 'A')
  })
})
