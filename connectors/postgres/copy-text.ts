/**
 * Parser for COPY ... TO STDOUT in text format. Each row ends with a newline; columns are
 * separated by a tab; `\N` alone is NULL; inside a value, backslash escapes stand for the
 * characters COPY must not emit raw (`\\`, `\n`, `\r`, `\t`, `\b`, `\f`, `\v`, and octal
 * `\ooo` / hex `\xhh` on input). Since newlines in data are always escaped, a raw 0x0A
 * always ends a row, so rows can be cut out of the byte stream before decoding UTF-8.
 * After unescaping, a value is exactly the type's text output, the same text pgoutput sends.
 */
const NL = 0x0a

/** Splits a stream of COPY text chunks into rows of column values (string, or null for NULL). */
export class CopyTextParser {
  private rest: Buffer | null = null

  /** Feeds one chunk; returns the complete rows it finished. */
  push(chunk: Buffer): (string | null)[][] {
    let buf = chunk
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk])
      this.rest = null
    }
    const rows: (string | null)[][] = []
    let start = 0
    for (;;) {
      const nl = buf.indexOf(NL, start)
      if (nl < 0) break
      rows.push(parseLine(buf.toString('utf8', start, nl)))
      start = nl + 1
    }
    if (start < buf.length) this.rest = Buffer.from(buf.subarray(start))
    return rows
  }

  /** Call at the end of the stream; throws if a partial row is left over. */
  end(): void {
    if (this.rest && this.rest.length > 0) throw new Error('COPY output ended in the middle of a row')
  }
}

function parseLine(line: string): (string | null)[] {
  const fields: (string | null)[] = line.split('\t')
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as string
    if (f.length >= 2 && f.charCodeAt(0) === 0x5c) {
      if (f === '\\N') {
        fields[i] = null
        continue
      }
    }
    if (f.indexOf('\\') >= 0) fields[i] = unescape(f)
  }
  return fields
}

const SIMPLE: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' }

/** Undoes COPY text escaping in one value. */
export function unescape(s: string): string {
  let out = ''
  let i = 0
  while (i < s.length) {
    const j = s.indexOf('\\', i)
    if (j < 0) {
      out += s.slice(i)
      break
    }
    out += s.slice(i, j)
    const c = s[j + 1]
    if (c === undefined) {
      out += '\\'
      break
    }
    const simple = SIMPLE[c]
    if (simple !== undefined) {
      out += simple
      i = j + 2
    } else if (c >= '0' && c <= '7') {
      let k = j + 1
      while (k < s.length && k < j + 4 && s[k]! >= '0' && s[k]! <= '7') k++
      out += String.fromCharCode(parseInt(s.slice(j + 1, k), 8))
      i = k
    } else if (c === 'x' && /^[0-9A-Fa-f]/.test(s[j + 2] ?? '')) {
      let k = j + 2
      while (k < s.length && k < j + 4 && /[0-9A-Fa-f]/.test(s[k]!)) k++
      out += String.fromCharCode(parseInt(s.slice(j + 2, k), 16))
      i = k
    } else {
      out += c
      i = j + 2
    }
  }
  return out
}
