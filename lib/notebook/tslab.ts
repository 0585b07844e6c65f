/**
 * Access to tslab's display functions when (and only when) this code runs inside a tslab kernel.
 * Outside a kernel (scripts, tests) `notebookDisplay()` returns null and nothing is loaded.
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

/** True when the tslab kernel is the host process (its Jupyter module has been loaded and wired). */
export function inNotebook(): boolean {
  return tslabModule() !== null;
}

function tslabModule(): TslabModule | null {
  const loaded = Object.keys(require.cache).find((k) => /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(k));
  if (!loaded) return null;
  const jupyter = require.cache[loaded]?.exports as { lastWriteDisplayData?: unknown } | undefined;
  if (!jupyter || jupyter.lastWriteDisplayData == null) return null;
  return require(loaded.replace(/jupyter\.js$/, "public.js")) as TslabModule;
}

/** tslab's `display`, or null outside a notebook. */
export function notebookDisplay(): TslabDisplay | null {
  return tslabModule()?.display ?? null;
}

/** A display that overwrites itself on every call (progress bars), or null outside a notebook. */
export function newNotebookDisplay(): TslabDisplay | null {
  return tslabModule()?.newDisplay() ?? null;
}
