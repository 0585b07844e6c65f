/**
 * Access to tslab's display functions when (and only when) this code runs inside a tslab kernel.
 * Outside a kernel (scripts, tests) these return null/false and load nothing.
 */
export interface TslabDisplay {
  html(s: string): void;
  markdown(s: string): void;
  text(s: string): void;
  svg(s: string): void;
  raw(contentType: string, b: string | Uint8Array | object): unknown;
}

interface TslabModule {
  display: TslabDisplay;
  newDisplay(): TslabDisplay;
}

type WriteDisplayData = (
  msg: { data: Record<string, unknown>; metadata: Record<string, unknown>; transient: Record<string, unknown> },
  update: boolean,
) => void;

/** The path of tslab's Jupyter module if the kernel has loaded it and is executing a cell. */
function kernelModulePath(): string | null {
  const loaded = Object.keys(require.cache).find((k) => /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(k));
  if (!loaded) return null;
  const jupyter = require.cache[loaded]?.exports as { lastWriteDisplayData?: WriteDisplayData | null } | undefined;
  return jupyter?.lastWriteDisplayData ? loaded : null;
}

function tslabModule(): TslabModule | null {
  const loaded = kernelModulePath();
  return loaded ? (require(loaded.replace(/jupyter\.js$/, "public.js")) as TslabModule) : null;
}

/** tslab's `display`, or null outside a notebook. */
export function notebookDisplay(): TslabDisplay | null {
  return tslabModule()?.display ?? null;
}

/** A display that overwrites itself on every call (progress bars), or null outside a notebook. */
export function newNotebookDisplay(): TslabDisplay | null {
  return tslabModule()?.newDisplay() ?? null;
}

/**
 * Sends one output with several representations (MIME type → content), e.g. a plotly figure with an HTML
 * fallback; tslab's own `display.raw` sends only one. Returns false outside a notebook.
 */
export function notebookDisplayBundle(data: Record<string, unknown>): boolean {
  const loaded = kernelModulePath();
  if (!loaded) return false;
  const write = (require.cache[loaded]?.exports as { lastWriteDisplayData: WriteDisplayData }).lastWriteDisplayData;
  write({ data, metadata: {}, transient: {} }, false);
  return true;
}
