/**
 * Plotly figures for notebooks and files, with no network: plotly.js is read from node_modules and
 * embedded (it cannot be `require`d in Node — it needs a browser).
 *
 * In a notebook a figure is sent as one output with two representations: the plotly MIME type, which
 * JupyterLab's plotly renderer draws (`pip install plotly>=6.1`), and an HTML fallback for the classic
 * Notebook and nbconvert's HTML export. The HTML embeds plotly.js (about 4.6 MB) in the first figure of a
 * kernel session only; later figures wait for it, so a notebook does not carry it once per plot.
 */
import * as fs from "node:fs";
import { notebookDisplayBundle } from "../notebook/tslab";

export interface Figure {
  data: Array<Record<string, unknown>>;
  layout?: Record<string, unknown>;
}

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

let plotlySource: string | null = null;
let embeddedInSession = false;
let counter = 0;

/** The minified plotly.js bundle as text. */
export function plotlyJs(): string {
  if (plotlySource === null) plotlySource = fs.readFileSync(require.resolve("plotly.js-dist-min/plotly.min.js"), "utf8");
  return plotlySource;
}

/** A <div> and script drawing `fig`; with `includePlotlyJs` the library itself comes along. */
export function figureHtml(fig: Figure, opts: { includePlotlyJs: boolean }): string {
  const id = `coursekit-plot-${Date.now().toString(36)}-${counter++}`;
  const spec = JSON.stringify({ data: fig.data, layout: { height: 420, ...fig.layout } }).replace(/</g, "\\u003c");
  const lib = opts.includePlotlyJs ? `<script type="text/javascript">${plotlyJs().replace(/<\/script/gi, "<\\/script")}</script>` : "";
  const draw = `(function draw(tries){var el=document.getElementById(${JSON.stringify(id)});` +
    `if(window.Plotly){var s=${spec};window.Plotly.newPlot(el,s.data,s.layout,{responsive:true});}` +
    `else if(tries>0){setTimeout(function(){draw(tries-1);},100);}` +
    `else{el.textContent="plotly.js is not loaded: run the first plotting cell of this notebook again.";}})(50);`;
  return `${lib}<div id="${id}" style="width:100%;min-height:420px"></div><script type="text/javascript">${draw}</script>`;
}

/** A standalone HTML page with the figures (plotly.js embedded once). */
export function writeFiguresHtml(figs: Figure[], file: string, title = "figures"): void {
  const body = figs.map((f, i) => figureHtml(f, { includePlotlyJs: i === 0 })).join("\n");
  fs.writeFileSync(file, `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>\n`);
}

/** Shows `fig` in the notebook; outside a kernel it says how to see it instead. */
export function showFigure(fig: Figure): void {
  const html = figureHtml(fig, { includePlotlyJs: !embeddedInSession });
  if (notebookDisplayBundle({ [PLOTLY_MIME]: { data: fig.data, layout: fig.layout ?? {} }, "text/html": html })) embeddedInSession = true;
  else console.log("(not in a notebook: write the figure to a page with writeFiguresHtml([fig], \"figure.html\"))");
}
