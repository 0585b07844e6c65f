/** DataFrames shown readably (lib/notebook/frame.ts): whole column names, HTML tables with escaping. */
import { strict as assert } from "node:assert";
import { rowsToDataFrame } from "../lib/data/dataframe";
import { fitColumns, frameHtml } from "../lib/notebook/frame";

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
});
