/**
 * Terminal output for the demo: optional ANSI colours and a fixed-width table that fits a 100-column terminal.
 * Written by hand (a few lines) rather than pulling a table or colour package into a library's dev dependencies.
 *
 * @module
 */

/** Wraps text in ANSI styles, or returns it unchanged when colours are off. */
export interface Style {
  readonly enabled: boolean
  bold(text: string): string
  dim(text: string): string
  red(text: string): string
  green(text: string): string
  yellow(text: string): string
  cyan(text: string): string
}

/**
 * Whether to colour output written to `stream`: only on a TTY, never when `NO_COLOR` is set to a non-empty value
 * (https://no-color.org) or `TERM=dumb`.
 *
 * @example
 * ```ts
 * const style = createStyle(colorEnabled(process.stdout, process.env))
 * ```
 */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.TERM === 'dumb') return false
  return stream.isTTY === true
}

/**
 * A {@link Style} that colours when `enabled`, else returns its input unchanged.
 *
 * @example
 * ```ts
 * createStyle(false).red('block') // 'block'
 * createStyle(true).red('block')  // '\u001b[31mblock\u001b[39m'
 * ```
 */
export function createStyle(enabled: boolean): Style {
  const wrap =
    (open: number, close: number) =>
    (text: string): string =>
      enabled ? `\u001b[${String(open)}m${text}\u001b[${String(close)}m` : text
  return {
    enabled,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  }
}

/** One column of a {@link renderTable} table. */
export interface Column<Row> {
  header: string
  /** Fixed width in characters; longer cells are cut with `…`. */
  width: number
  align?: 'left' | 'right'
  /** The plain text of the cell. */
  text(row: Row): string
  /** Colours the cell's text (already cut to the width; padding is added around the result). */
  paint?(row: Row, text: string, style: Style): string
}

/**
 * Cuts `text` to at most `width` characters, ending in `…` when cut.
 *
 * @example
 * ```ts
 * clip('risk_score_exceeded', 10) // 'risk_scor…'
 * ```
 */
export function clip(text: string, width: number): string {
  const chars = Array.from(text)
  return chars.length > width ? `${chars.slice(0, Math.max(0, width - 1)).join('')}…` : text
}

/**
 * Cuts `text` to `width` characters (ending in `…` when cut) and pads it to exactly `width`.
 *
 * @example
 * ```ts
 * fit('92', 5, 'right') // '   92'
 * ```
 */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const cut = clip(text, width)
  return align === 'right' ? cut.padStart(width) : cut.padEnd(width)
}

/**
 * Renders rows as lines of fixed-width columns separated by two spaces, with a header and a rule. Colours wrap the
 * visible text only (padding is added outside them, so escape codes never skew the layout); trailing spaces are
 * trimmed so copied output stays clean.
 *
 * @example
 * ```ts
 * renderTable([{ header: 'who', width: 8, text: (r: { who: string }) => r.who }], [{ who: 'tor' }], createStyle(false))
 * // ['who', '--------', 'tor']
 * ```
 */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[], style: Style): string[] {
  const gap = '  '
  const header = columns.map((c) => fit(c.header, c.width, c.align)).join(gap).trimEnd()
  const rule = columns.map((c) => '-'.repeat(c.width)).join(gap)
  const lines = [style.bold(header), style.dim(rule)]
  for (const row of rows) {
    const cells = columns.map((c) => {
      const text = clip(c.text(row), c.width)
      const padding = ' '.repeat(c.width - Array.from(text).length)
      const painted = c.paint ? c.paint(row, text, style) : text
      return c.align === 'right' ? `${padding}${painted}` : `${painted}${padding}`
    })
    lines.push(cells.join(gap).trimEnd())
  }
  return lines
}

/**
 * Width of a table made of `columns` (what must fit in the terminal).
 *
 * @example
 * ```ts
 * tableWidth([{ width: 10 }, { width: 5 }]) // 17 (two spaces between columns)
 * ```
 */
export function tableWidth(columns: readonly { width: number }[]): number {
  return columns.reduce((sum, c) => sum + c.width, 0) + 2 * Math.max(0, columns.length - 1)
}
