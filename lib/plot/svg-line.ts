/**
 * A dependency-free SVG line chart, for files that must render anywhere (a checkpoint's README on a code
 * host, a terminal-only machine). Notebooks use plotly instead.
 */
export interface Series {
  name: string;
  x: number[];
  y: number[];
  color?: string;
}

export function svgLineChart(series: Series[], opts: { title: string; xLabel: string; yLabel: string; width?: number; height?: number }): string {
  const w = opts.width ?? 640;
  const h = opts.height ?? 360;
  const m = { left: 60, right: 20, top: 36, bottom: 48 };
  const xs = series.flatMap((s) => s.x);
  const ys = series.flatMap((s) => s.y).filter((v) => isFinite(v));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys) * 1.05];
  const px = (x: number) => m.left + ((x - x0) / Math.max(1e-12, x1 - x0)) * (w - m.left - m.right);
  const py = (y: number) => h - m.bottom - ((y - y0) / Math.max(1e-12, y1 - y0)) * (h - m.top - m.bottom);
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
  const ticks = (lo: number, hi: number, n: number) => Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
  const fmt = (v: number) => (Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="20" text-anchor="middle" font-size="14">${opts.title}</text>`,
  ];
  for (const t of ticks(y0, y1, 5)) {
    parts.push(`<line x1="${m.left}" x2="${w - m.right}" y1="${py(t)}" y2="${py(t)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.left - 6}" y="${py(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of ticks(x0, x1, 5)) parts.push(`<text x="${px(t)}" y="${h - m.bottom + 16}" text-anchor="middle">${fmt(t)}</text>`);
  parts.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${h - m.bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${m.left}" x2="${w - m.right}" y1="${h - m.bottom}" y2="${h - m.bottom}" stroke="#333"/>`);
  parts.push(`<text x="${(m.left + w - m.right) / 2}" y="${h - 10}" text-anchor="middle">${opts.xLabel}</text>`);
  parts.push(`<text transform="translate(16 ${(m.top + h - m.bottom) / 2}) rotate(-90)" text-anchor="middle">${opts.yLabel}</text>`);
  series.forEach((s, i) => {
    const color = s.color ?? palette[i % palette.length];
    const d = s.x.map((x, j) => `${j === 0 ? "M" : "L"}${px(x).toFixed(1)},${py(s.y[j]).toFixed(1)}`).join("");
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    parts.push(`<text x="${w - m.right - 4}" y="${m.top + 14 * (i + 1)}" text-anchor="end" fill="${color}">${s.name}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}
