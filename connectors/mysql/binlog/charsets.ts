/**
 * Collation ids (as TABLE_MAP's charset metadata carries them) → character sets, and text
 * decoding per character set. Ids below 256 are shared by MySQL and MariaDB; above that
 * they differ (MySQL 8's utf8mb4_*_0900_* at 255–323; MariaDB's NO PAD variants at
 * id + 1024 and its UCA 14.0 collations at 2048 + 256 × charset slot). The table was read
 * from MariaDB 10.11's information_schema.COLLATIONS and MySQL 8's documented ids; an id
 * not in it decodes to an UndecodedText carrying the id.
 */
import { TextDecoder } from 'node:util'
import type { Flavour, UndecodedText } from './values.js'

/** How text in a character set is turned into a JS string. */
export const CharsetKind = {
  /** Not known: values stay bytes (UndecodedText). */
  Unknown: 0,
  /** utf8mb3 / utf8mb4. */
  Utf8: 1,
  /** MySQL "latin1" is Windows-1252 (0x80–0x9F are € ‚ ƒ …), not ISO-8859-1. */
  Latin1: 2,
  Ascii: 3,
  /** Collation 63: binary strings; values stay Buffers. */
  Binary: 4,
  Utf16le: 5,
  /** utf16 and ucs2 are big-endian in MySQL. */
  Utf16be: 6,
  /** utf32 is big-endian in MySQL. */
  Utf32be: 7,
  /** A WHATWG TextDecoder does the work (cp1250, gbk, sjis, ...). */
  Decoder: 8,
} as const

/** A character set resolved from a collation id. Shared, immutable. */
export interface Charset {
  /** The collation id as sent. */
  readonly collation: number
  /** MySQL character set name (`utf8mb4`, `latin1`, `binary`, ...), or `unknown`. */
  readonly name: string
  /** A CharsetKind. */
  readonly kind: number
  /** For kind Decoder. */
  readonly decoder: TextDecoder | null
  /** A space is byte 0x20, so CHAR padding can be stripped bytewise. */
  readonly asciiSpace: boolean
}

/** Collation ids below 256, by character set (MariaDB 10.11 and MySQL 8 agree on these). */
const LOW_IDS: Record<string, number[]> = {
  big5: [1, 84],
  latin2: [2, 9, 21, 27, 77],
  dec8: [3, 69],
  cp850: [4, 80],
  latin1: [5, 8, 15, 31, 47, 48, 49, 94],
  hp8: [6, 72],
  koi8r: [7, 74],
  swe7: [10, 82],
  ascii: [11, 65],
  ujis: [12, 91],
  sjis: [13, 88],
  cp1251: [14, 23, 50, 51, 52],
  hebrew: [16, 71],
  tis620: [18, 89],
  euckr: [19, 85],
  latin7: [20, 41, 42, 79],
  koi8u: [22, 75],
  gb2312: [24, 86],
  greek: [25, 70],
  cp1250: [26, 34, 44, 66, 99],
  gbk: [28, 87],
  cp1257: [29, 58, 59],
  latin5: [30, 78],
  armscii8: [32, 64],
  utf8mb3: [33, 76, 83, 223],
  ucs2: [35, 90, 159],
  cp866: [36, 68],
  keybcs2: [37, 73],
  macce: [38, 43],
  macroman: [39, 53],
  cp852: [40, 81],
  utf8mb4: [45, 46],
  utf16: [54, 55],
  utf16le: [56, 62],
  cp1256: [57, 67],
  utf32: [60, 61],
  binary: [63],
  geostd8: [92, 93],
  cp932: [95, 96],
  eucjpms: [97, 98],
  gb18030: [248, 249, 250],
}
/** Contiguous ranges below 256: [first, last, charset]. */
const LOW_RANGES: [number, number, string][] = [
  [101, 124, 'utf16'],
  [128, 151, 'ucs2'],
  [160, 183, 'utf32'],
  [192, 215, 'utf8mb3'],
  [224, 247, 'utf8mb4'],
]
/** MariaDB ids 256–1023: [first, last, charset]. */
const MARIADB_MID_RANGES: [number, number, string][] = [
  [576, 578, 'utf8mb3'],
  [608, 610, 'utf8mb4'],
  [640, 642, 'ucs2'],
  [672, 674, 'utf16'],
  [736, 738, 'utf32'],
]
/** MariaDB UCA 14.0 collations: id = 2048 + 256 × slot + variant. */
const MARIADB_UCA1400_SLOTS = ['utf8mb3', 'utf8mb4', 'ucs2', 'utf16', 'utf32']

/** WHATWG encoding labels for character sets decoded with TextDecoder. */
const DECODER_LABELS: Record<string, string> = {
  cp1250: 'windows-1250',
  cp1251: 'windows-1251',
  cp1256: 'windows-1256',
  cp1257: 'windows-1257',
  latin2: 'iso-8859-2',
  latin5: 'windows-1254',
  latin7: 'iso-8859-13',
  greek: 'iso-8859-7',
  hebrew: 'iso-8859-8',
  koi8r: 'koi8-r',
  koi8u: 'koi8-u',
  cp866: 'ibm866',
  macroman: 'macintosh',
  tis620: 'windows-874',
  gbk: 'gbk',
  gb2312: 'gbk',
  gb18030: 'gb18030',
  big5: 'big5',
  sjis: 'shift_jis',
  cp932: 'shift_jis',
  ujis: 'euc-jp',
  eucjpms: 'euc-jp',
  euckr: 'euc-kr',
}

const lowNames: (string | undefined)[] = new Array(255)
for (const [name, ids] of Object.entries(LOW_IDS)) for (const id of ids) lowNames[id] = name
for (const [first, last, name] of LOW_RANGES) for (let id = first; id <= last; id++) lowNames[id] = name

/** The character set name of a collation id, or undefined when not in the table. */
export function charsetNameOf(collation: number, flavour: Flavour): string | undefined {
  if (collation < 255) return lowNames[collation]
  if (flavour === 'mysql') return collation <= 323 ? 'utf8mb4' : undefined
  if (collation < 256) return undefined
  if (collation < 1024) {
    for (const [first, last, name] of MARIADB_MID_RANGES)
      if (collation >= first && collation <= last) return name
    return undefined
  }
  // NO PAD collations are the PAD collation's id + 1024, in the same character set.
  if (collation < 2048) return charsetNameOf(collation - 1024, flavour)
  return MARIADB_UCA1400_SLOTS[(collation - 2048) >> 8]
}

function kindOf(name: string | undefined): number {
  switch (name) {
    case 'utf8mb3':
    case 'utf8mb4':
      return CharsetKind.Utf8
    case 'latin1':
      return CharsetKind.Latin1
    case 'ascii':
      return CharsetKind.Ascii
    case 'binary':
      return CharsetKind.Binary
    case 'utf16le':
      return CharsetKind.Utf16le
    case 'utf16':
    case 'ucs2':
      return CharsetKind.Utf16be
    case 'utf32':
      return CharsetKind.Utf32be
    case undefined:
      return CharsetKind.Unknown
    default:
      return DECODER_LABELS[name] === undefined ? CharsetKind.Unknown : CharsetKind.Decoder
  }
}

const cache = { mysql: new Map<number, Charset>(), mariadb: new Map<number, Charset>() }

/** The (cached, shared) character set of a collation id. */
export function charsetOf(collation: number, flavour: Flavour): Charset {
  const m = cache[flavour]
  let cs = m.get(collation)
  if (cs === undefined) {
    const name = charsetNameOf(collation, flavour)
    const kind = kindOf(name)
    let decoder: TextDecoder | null = null
    if (kind === CharsetKind.Decoder) {
      try {
        decoder = new TextDecoder(DECODER_LABELS[name!]!)
      } catch {
        // A Node built without full ICU lacks the legacy encodings: keep the bytes.
      }
    }
    cs = Object.freeze({
      collation,
      name: name ?? 'unknown',
      kind: kind === CharsetKind.Decoder && decoder === null ? CharsetKind.Unknown : kind,
      decoder,
      asciiSpace:
        kind !== CharsetKind.Utf16le && kind !== CharsetKind.Utf16be && kind !== CharsetKind.Utf32be,
    })
    m.set(collation, cs)
  }
  return cs
}

/** Windows-1252 code points for bytes 0x80–0x9F (undefined bytes map to themselves, as in MySQL). */
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d,
  0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a,
  0x153, 0x9d, 0x17e, 0x178,
]

function decodeLatin1(buf: Buffer, start: number, end: number): string {
  let i = start
  while (i < end) {
    const c = buf[i]!
    if (c >= 0x80 && c < 0xa0) break
    i++
  }
  if (i === end) return buf.toString('latin1', start, end)
  let s = buf.toString('latin1', start, i)
  for (; i < end; i++) {
    const c = buf[i]!
    s += String.fromCharCode(c >= 0x80 && c < 0xa0 ? CP1252_HIGH[c - 0x80]! : c)
  }
  return s
}

function decodeUtf32be(buf: Buffer, start: number, end: number): string {
  let s = ''
  for (let i = start; i + 4 <= end; i += 4) s += String.fromCodePoint(buf.readUInt32BE(i) & 0x1fffff)
  return s
}

/**
 * Bytes `[start, end)` of `buf` as text in `cs`. Binary charsets give a copied Buffer,
 * unknown ones an UndecodedText with copied bytes.
 */
export function decodeText(
  buf: Buffer,
  start: number,
  end: number,
  cs: Charset,
): string | Buffer | UndecodedText {
  switch (cs.kind) {
    case CharsetKind.Utf8:
      return buf.toString('utf8', start, end)
    case CharsetKind.Latin1:
      return decodeLatin1(buf, start, end)
    case CharsetKind.Ascii:
      return buf.toString('latin1', start, end)
    case CharsetKind.Binary:
      return Buffer.from(buf.subarray(start, end))
    case CharsetKind.Utf16le:
      return buf.toString('utf16le', start, end)
    case CharsetKind.Utf16be: {
      const copy = Buffer.from(buf.subarray(start, end - ((end - start) & 1)))
      return copy.swap16().toString('utf16le')
    }
    case CharsetKind.Utf32be:
      return decodeUtf32be(buf, start, end)
    case CharsetKind.Decoder:
      return cs.decoder!.decode(buf.subarray(start, end))
    default:
      return { collation: cs.collation, bytes: Buffer.from(buf.subarray(start, end)) }
  }
}
