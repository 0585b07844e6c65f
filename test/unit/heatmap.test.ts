/** Heatmap grids (lib/plot/heatmap.ts): layout on the grid, matrix orientation, colour scales. */
import { strict as assert } from "node:assert";
import { heatmapGrid } from "../../lib/plot/heatmap";

describe("heatmapGrid", () => {
  it("lays panels out row by row, each on its own axes, row 0 at the top", () => {
    const fig = heatmapGrid(
      [
        {
          title: "signed",
          z: [
            [-1, 2],
            [3, 4],
          ],
        },
        { title: "positive", z: [[1, 2]] },
        { title: "third", z: [[0]] },
      ],
      { columns: 2, rowHeight: 200 },
    );
    assert.equal(fig.data.length, 3);
    assert.deepEqual(
      fig.data.map((d) => [d.xaxis, d.yaxis]),
      [
        ["x", "y"],
        ["x2", "y2"],
        ["x3", "y3"],
      ],
    );
    const layout = fig.layout as Record<string, { domain: number[]; autorange?: string }>;
    assert.equal(layout.yaxis.autorange, "reversed", "matrices read top-down");
    assert.ok(layout.xaxis.domain[1] <= layout.xaxis2.domain[0], "first row: side by side");
    assert.ok(layout.yaxis3.domain[1] <= layout.yaxis.domain[0], "the third panel is on the second row, below");
    assert.equal((fig.layout as { height: number }).height, 2 * 200 + 30);
    assert.equal(fig.data[0].zmid, 0, "signed data: diverging scale centred on zero");
    assert.equal(fig.data[1].zmid, undefined);
    assert.equal(fig.data[1].colorscale, "Viridis");
  });

  it("needs at least one panel", () => {
    assert.throws(() => heatmapGrid([]), /at least one panel/);
  });
});
