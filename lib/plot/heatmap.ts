/**
 * A grid of matrix heatmaps as one plotly figure (for showFigure / writeFiguresHtml): weight matrices,
 * wavelet sub-bands, weight updates. Rows are drawn top-down like a printed matrix (row 0 at the top), and
 * a signed matrix gets a diverging colour scale centred on zero, so that + and − read at a glance.
 */
import type { Figure } from "./plotly";

export interface HeatmapPanel {
  title: string;
  /** The matrix, row by row. */
  z: number[][];
  /** Centre of the colour scale; default 0 when the matrix has both signs, none otherwise. */
  zmid?: number;
}

export interface HeatmapGridOptions {
  /** Panels per row of the grid (default: all in one row). */
  columns?: number;
  title?: string;
  /** Height of one grid row in pixels (default 300). */
  rowHeight?: number;
  /** Diverging scale for signed data (default plotly's "RdBu": negative blue, positive red). */
  colorscale?: string;
  /** Show each panel's colour bar (default false: hover shows the values). */
  showScale?: boolean;
}

function range(z: number[][]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of z)
    for (const v of row) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  return [lo, hi];
}

/** One figure with a heatmap per panel, laid out on a grid, each panel titled and on its own colour scale. */
export function heatmapGrid(panels: HeatmapPanel[], opts: HeatmapGridOptions = {}): Figure {
  if (panels.length === 0) throw new Error("heatmapGrid: give at least one panel");
  const columns = Math.max(1, Math.min(opts.columns ?? panels.length, panels.length));
  const rows = Math.ceil(panels.length / columns);
  const gapX = 0.04;
  const gapY = 0.12 / rows;
  const data: Array<Record<string, unknown>> = [];
  const layout: Record<string, unknown> = {
    height: (opts.rowHeight ?? 300) * rows + (opts.title ? 60 : 30),
    margin: { l: 40, r: 20, t: opts.title ? 70 : 40, b: 30 },
    annotations: [] as Array<Record<string, unknown>>,
  };
  if (opts.title) layout.title = { text: opts.title };
  panels.forEach((p, i) => {
    const r = Math.floor(i / columns);
    const c = i % columns;
    const suffix = i === 0 ? "" : String(i + 1);
    const x0 = c / columns + (c > 0 ? gapX / 2 : 0);
    const x1 = (c + 1) / columns - (c < columns - 1 ? gapX / 2 : 0);
    const y1 = 1 - r / rows - (r > 0 ? gapY / 2 : 0);
    const y0 = 1 - (r + 1) / rows + (r < rows - 1 ? gapY / 2 : 0);
    const [lo, hi] = range(p.z);
    const signed = lo < 0 && hi > 0;
    const zmid = p.zmid ?? (signed ? 0 : undefined);
    data.push({
      type: "heatmap",
      z: p.z,
      xaxis: `x${suffix}`,
      yaxis: `y${suffix}`,
      colorscale: zmid !== undefined ? (opts.colorscale ?? "RdBu") : "Viridis",
      ...(zmid !== undefined ? { zmid } : {}),
      showscale: opts.showScale ?? false,
      name: p.title,
      hovertemplate: `${p.title}<br>row %{y}, col %{x}: %{z:.4g}<extra></extra>`,
    });
    layout[`xaxis${suffix}`] = { domain: [x0, x1], anchor: `y${suffix}`, showticklabels: false, ticks: "" };
    layout[`yaxis${suffix}`] = { domain: [y0, y1], anchor: `x${suffix}`, autorange: "reversed", showticklabels: false, ticks: "" };
    (layout.annotations as Array<Record<string, unknown>>).push({
      text: p.title,
      x: (x0 + x1) / 2,
      y: y1,
      xref: "paper",
      yref: "paper",
      xanchor: "center",
      yanchor: "bottom",
      showarrow: false,
      font: { size: 13 },
    });
  });
  return { data, layout };
}
