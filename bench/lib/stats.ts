/** Small numeric helpers for the benchmarks. */

/** Median of a non-empty list (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** `12,345` style integer. */
export const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a')

/** Fixed decimals, `n/a` for NaN. */
export const fix = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a')

/** Kibibytes as MiB with one decimal. */
export const mib = (kb: number): string =>
  Number.isFinite(kb) && kb > 0 ? `${(kb / 1024).toFixed(1)} MiB` : 'n/a'

/** Renders a Markdown table. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
}
