/** DataFrames shown readably (lib/notebook/frame.ts): whole column names, HTML tables with escaping. */
import { strict as assert } from "node:assert";
import { rowsToDataFrame } from "../../lib/data/dataframe";
import { fitColumns, frameHtml, printRows } from "../../lib/notebook/frame";

describe("showing DataFrames", () => {
  const rows = [
    { method: "gradients measured <by hand>", "trainable params": 1478786 },
    { method: "head", "trainable params": 16770 },
  ];

  it("fitColumns: the text table shows whole names instead of danfojs' 16-character cut", () => {
    const text = fitColumns(rowsToDataFrame(rows)).toString();
    assert.match(text, /gradients measured <by hand>/);
    assert.match(text, /trainable params/);
    assert.match(text, /1478786/);
  });

  it("frameHtml: one row per record, numbers right-aligned, text escaped, a note for rows left out", () => {
    const html = frameHtml(rowsToDataFrame(rows), { maxRows: 1 });
    assert.equal((html.match(/<tr>/g) ?? []).length, 2, "header + one row");
    assert.match(html, /gradients measured &lt;by hand&gt;/);
    assert.match(html, /<td style="text-align:right">1478786<\/td>/);
    assert.match(html, /… 1 more rows/);
  });

  it("printRows outside a notebook prints an aligned text table without loading danfojs", () => {
    const before = Object.keys(require.cache).filter((k) => /[\\/]danfojs[\\/]/.test(k)).length;
    const lines: string[] = [];
    const log = console.log;
    console.log = (s: string) => lines.push(s);
    try {
      printRows([
        { method: "full", params: 1478786 },
        { method: "lora <r=8>", params: 36864 },
      ]);
    } finally {
      console.log = log;
    }
    const text = lines.join("\n").split("\n");
    assert.deepEqual(text, ["   method       params", "-  ----------  -------", "0  full        1478786", "1  lora <r=8>    36864"]);
    if (before === 0) assert.equal(Object.keys(require.cache).filter((k) => /[\\/]danfojs[\\/]/.test(k)).length, 0, "danfojs was not loaded");
  });
});
