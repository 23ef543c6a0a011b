import { openSync, readSync, closeSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Counts Avro records in the Object Container Files under a directory (any depth)
 * without decoding them: it parses the header once, then only each block's header
 * (record count and byte size, two zig-zag longs) and skips the data and the 16-byte sync
 * marker. Incremental: each call reads only what was appended since the previous one, and
 * a block still being written is counted once it is complete.
 */
export class OcfCounter {
  private readonly files = new Map<string, { offset: number; records: number }>()

  constructor(private readonly root: string) {}

  /** Total complete records found so far. */
  count(): number {
    for (const path of listFiles(this.root)) {
      let st = this.files.get(path)
      if (!st) this.files.set(path, (st = { offset: 0, records: 0 }))
      advance(path, st)
    }
    let n = 0
    for (const st of this.files.values()) n += st.records
    return n
  }
}

function listFiles(dir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const out: string[] = []
  for (const n of names) {
    const p = join(dir, n)
    try {
      if (statSync(p).isDirectory()) out.push(...listFiles(p))
      else if (n.endsWith('.avro')) out.push(p)
    } catch {
      // vanished
    }
  }
  return out
}

/** Reads a zig-zag varint long at `pos`; returns [value, next] or null if `buf` ends first. */
function readLong(buf: Buffer, pos: number, end: number): [number, number] | null {
  let n = 0
  let mul = 1
  for (let i = pos; i < end; i++) {
    const b = buf[i]!
    n += (b & 0x7f) * mul
    mul *= 128
    if ((b & 0x80) === 0) return [n % 2 === 0 ? n / 2 : -(n + 1) / 2, i + 1]
  }
  return null
}

const SYNC = 16

function advance(path: string, st: { offset: number; records: number }): void {
  let size: number
  try {
    size = statSync(path).size
  } catch {
    return
  }
  if (size <= st.offset) return
  const fd = openSync(path, 'r')
  try {
    if (st.offset === 0) {
      // Header: magic, metadata map (blocks of count + key/value pairs, ended by 0), sync.
      const want = Math.min(size, 1 << 20)
      const buf = Buffer.alloc(want)
      const got = readSync(fd, buf, 0, want, 0)
      let p = 4
      for (;;) {
        const c = readLong(buf, p, got)
        if (!c) return
        p = c[1]
        let count = c[0]
        if (count === 0) break
        if (count < 0) {
          const bs = readLong(buf, p, got)
          if (!bs) return
          p = bs[1]
          count = -count
        }
        for (let i = 0; i < count * 2; i++) {
          const l = readLong(buf, p, got)
          if (!l) return
          p = l[1] + l[0]
        }
      }
      if (p + SYNC > got) return
      st.offset = p + SYNC
    }
    const head = Buffer.alloc(20)
    while (st.offset < size) {
      const got = readSync(fd, head, 0, 20, st.offset)
      const c = readLong(head, 0, got)
      if (!c) return
      const s = readLong(head, c[1], got)
      if (!s) return
      const next = st.offset + s[1] + s[0] + SYNC
      if (next > size) return // block not complete yet
      st.records += c[0]
      st.offset = next
    }
  } finally {
    closeSync(fd)
  }
}
