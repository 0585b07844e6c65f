/**
 * Progress for anything slow: a bar on the terminal (redrawn in place on a TTY, a line every 10% in logs)
 * or an updating HTML bar in a notebook.
 */
import { newNotebookDisplay, TslabDisplay } from "../notebook/tslab";
import { escapeHtml } from "../util/html";

export interface Progress {
  /** Reports that `done` of `total` units are finished; `info` is shown beside the bar. */
  update(done: number, info?: Record<string, number | string>): void;
  /** Marks the end and prints the final line. */
  end(info?: Record<string, number | string>): void;
}

function formatInfo(info: Record<string, number | string> | undefined): string {
  if (!info) return "";
  return Object.entries(info)
    .map(([k, v]) => `${k} ${typeof v === "number" ? (Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(4)) : v}`)
    .join("  ");
}

function formatSeconds(s: number): string {
  if (!isFinite(s)) return "?";
  const m = Math.floor(s / 60);
  return m > 0
    ? `${m}m${Math.round(s % 60)
        .toString()
        .padStart(2, "0")}s`
    : `${s.toFixed(1)}s`;
}

class TerminalProgress implements Progress {
  private readonly start = Date.now();
  private lastDecile = -1;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  private line(done: number, info?: Record<string, number | string>): string {
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : NaN;
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    return `${this.label} ${bar} ${done}/${this.total} [${formatSeconds(elapsed)}<${formatSeconds(eta)}] ${formatInfo(info)}`;
  }

  update(done: number, info?: Record<string, number | string>): void {
    if (this.tty) {
      this.stream.write(`\r\x1b[K${this.line(done, info)}`);
      return;
    }
    const decile = Math.floor((10 * done) / Math.max(1, this.total));
    if (decile > this.lastDecile) {
      this.lastDecile = decile;
      this.stream.write(`${this.line(done, info)}\n`);
    }
  }

  end(info?: Record<string, number | string>): void {
    this.stream.write(`${this.tty ? "\r\x1b[K" : ""}${this.line(this.total, info)}\n`);
  }
}

class NotebookProgress implements Progress {
  private readonly start = Date.now();
  private lastDraw = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly display: TslabDisplay,
  ) {
    this.draw(0);
  }

  private draw(done: number, info?: Record<string, number | string>, final = false): void {
    const pct = this.total > 0 ? Math.min(100, (100 * done) / this.total) : 100;
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = done > 0 && !final ? ` · ${formatSeconds((elapsed / done) * (this.total - done))} left` : "";
    this.display.html(
      `<div style="font-family:monospace">${escapeHtml(this.label)} ${done}/${this.total} · ${formatSeconds(elapsed)}${eta}` +
        `<div style="background:#eee;width:320px;height:10px;border-radius:3px"><div style="background:${final ? "#2a7" : "#48c"};width:${pct.toFixed(1)}%;height:10px;border-radius:3px"></div></div>` +
        `${escapeHtml(formatInfo(info))}</div>`,
    );
  }

  update(done: number, info?: Record<string, number | string>): void {
    const now = Date.now();
    if (now - this.lastDraw < 250 && done < this.total) return; // redraw at most 4 times a second
    this.lastDraw = now;
    this.draw(done, info);
  }

  end(info?: Record<string, number | string>): void {
    this.draw(this.total, info, true);
  }
}

/** A notebook bar inside a tslab kernel, a terminal bar elsewhere; `silent` shows nothing. */
export function progress(label: string, total: number, mode: "auto" | "terminal" | "silent" = "auto"): Progress {
  if (mode === "silent") return { update: () => undefined, end: () => undefined };
  const nb = mode === "auto" ? newNotebookDisplay() : null;
  return nb ? new NotebookProgress(label, total, nb) : new TerminalProgress(label, total);
}
