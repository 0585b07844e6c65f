/**
 * Plotly figures for notebooks and files, with no network: plotly.js is read from node_modules and
 * embedded (it cannot be `require`d in Node — it needs a browser).
 *
 * In a notebook a figure is sent as one output with two representations: the plotly MIME type, which
 * JupyterLab's plotly renderer draws (the `plotly` package in .venv; it renders without trust, so graded
 * feedback copies keep their figures), and an HTML fallback that draws the figure wherever plotly.js is
 * on the page. plotly.js itself (about 4.6 MB) is never put into a notebook: a saved notebook stays small.
 * The HTML export (lib/grader/html-export.ts) adds it once to the page; in a front end without plotly's
 * renderer (the classic Notebook) the fallback says where to see the figure.
 */
import * as fs from "node:fs";
import { notebookDisplayBundle } from "../notebook/tslab";

export interface Figure {
  data: Array<Record<string, unknown>>;
  layout?: Record<string, unknown>;
}

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

let plotlySource: string | null = null;
let counter = 0;

/** What the HTML fallback shows where plotly.js is not on the page. */
export const NO_PLOTLY_MESSAGE =
  "(an interactive plotly figure: open this notebook in JupyterLab (npm start), or export it to HTML with npm run grade -- FILE --html)";

/** The <script> that puts plotly.js on a page. */
export function plotlyScriptTag(): string {
  return `<script type="text/javascript">${plotlyJs().replace(/<\/script/gi, "<\\/script")}</script>`;
}

/** The minified plotly.js bundle as text. */
export function plotlyJs(): string {
  if (plotlySource === null) plotlySource = fs.readFileSync(require.resolve("plotly.js-dist-min/plotly.min.js"), "utf8");
  return plotlySource;
}

/** A <div> and script drawing `fig`; with `includePlotlyJs` the library itself comes along. */
export function figureHtml(fig: Figure, opts: { includePlotlyJs: boolean }): string {
  const id = `coursekit-plot-${Date.now().toString(36)}-${counter++}`;
  const spec = JSON.stringify({ data: fig.data, layout: { height: 420, ...fig.layout } }).replace(/</g, "\\u003c");
  const lib = opts.includePlotlyJs ? plotlyScriptTag() : "";
  const draw =
    `(function draw(tries){var el=document.getElementById(${JSON.stringify(id)});` +
    `if(window.Plotly){var s=${spec};window.Plotly.newPlot(el,s.data,s.layout,{responsive:true});}` +
    `else if(tries>0){setTimeout(function(){draw(tries-1);},100);}` +
    `else{el.style.minHeight="0";el.textContent=${JSON.stringify(NO_PLOTLY_MESSAGE)};}})(20);`;
  return `${lib}<div id="${id}" style="width:100%;min-height:420px"></div><script type="text/javascript">${draw}</script>`;
}

/** A standalone HTML page with the figures (plotly.js embedded once). */
export function writeFiguresHtml(figs: Figure[], file: string, title = "figures"): void {
  const body = figs.map((f, i) => figureHtml(f, { includePlotlyJs: i === 0 })).join("\n");
  fs.writeFileSync(file, `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>\n`);
}

/** Shows `fig` in the notebook; outside a kernel it says how to see it instead. */
export function showFigure(fig: Figure): void {
  const html = figureHtml(fig, { includePlotlyJs: false });
  if (!notebookDisplayBundle({ [PLOTLY_MIME]: { data: fig.data, layout: fig.layout ?? {} }, "text/html": html }))
    console.log('(not in a notebook: write the figure to a page with writeFiguresHtml([fig], "figure.html"))');
}
