/** Jupyter iopub messages → nbformat outputs (lib/grader/cell-outputs.ts), without a kernel. */
import { strict as assert } from "node:assert";
import { CellOutputs } from "../../lib/grader/cell-outputs";

const BIG = { streamBytes: 1 << 20, displayBytes: 1 << 20 };

describe("grader: iopub messages become a cell's outputs", () => {
  it("stream text joins the previous output of the same stream, and a new stream starts a new output", () => {
    const c = new CellOutputs(BIG);
    c.apply("stream", { name: "stdout", text: "a" });
    c.apply("stream", { name: "stdout", text: "b\n" });
    c.apply("stream", { name: "stderr", text: "oops\n" });
    c.apply("stream", { name: "stdout", text: "c" });
    assert.deepEqual(c.outputs, [
      { output_type: "stream", name: "stdout", text: "ab\n" },
      { output_type: "stream", name: "stderr", text: "oops\n" },
      { output_type: "stream", name: "stdout", text: "c" },
    ]);
  });

  it("update_display_data replaces its display in place (a progress bar), execute_result keeps its count", () => {
    const c = new CellOutputs(BIG);
    c.apply("display_data", { data: { "text/html": "step 1/3" }, metadata: {}, transient: { display_id: "bar" } });
    c.apply("display_data", { data: { "text/plain": "a table" }, metadata: {} });
    c.apply("update_display_data", { data: { "text/html": "step 3/3" }, metadata: {}, transient: { display_id: "bar" } });
    c.apply("update_display_data", { data: { "text/html": "nobody" }, metadata: {}, transient: { display_id: "unknown" } });
    c.apply("execute_result", { data: { "text/plain": "42" }, metadata: {}, execution_count: 7 });
    assert.deepEqual(c.outputs, [
      { output_type: "display_data", data: { "text/html": "step 3/3" }, metadata: {} },
      { output_type: "display_data", data: { "text/plain": "a table" }, metadata: {} },
      { output_type: "execute_result", data: { "text/plain": "42" }, metadata: {}, execution_count: 7 },
    ]);
  });

  it("errors keep name, value and at most 50 traceback lines; clear_output empties; other messages add nothing", () => {
    const c = new CellOutputs(BIG);
    c.apply("execute_input", { code: "x" });
    c.apply("status", { execution_state: "busy" });
    c.apply("stream", { name: "stdout", text: "before" });
    c.apply("clear_output", { wait: false });
    c.apply("error", { ename: "TypeError", evalue: "x is not a function", traceback: Array.from({ length: 80 }, (_, i) => `line ${i}`) });
    assert.equal(c.outputs.length, 1);
    const [e] = c.outputs;
    assert.equal(e.output_type, "error");
    assert.equal(e.ename, "TypeError");
    assert.equal(e.evalue, "x is not a function");
    assert.equal((e.traceback as string[]).length, 50);
  });

  it("past the output limits the rest is dropped and the cell is marked truncated", () => {
    const c = new CellOutputs({ streamBytes: 10, displayBytes: 30 });
    c.apply("stream", { name: "stdout", text: "12345" });
    c.apply("stream", { name: "stdout", text: "67890" });
    assert.equal(c.truncated, false, "exactly at the limit is fine");
    c.apply("stream", { name: "stdout", text: "x" });
    assert.equal(c.truncated, true);
    c.apply("display_data", { data: { "text/plain": "small" }, metadata: {} });
    assert.deepEqual(c.outputs, [{ output_type: "stream", name: "stdout", text: "1234567890" }], "nothing is admitted after truncation");
    const d = new CellOutputs({ streamBytes: 100, displayBytes: 30 });
    d.apply("display_data", { data: { "text/plain": "a".repeat(40) }, metadata: {} });
    assert.equal(d.truncated, true);
    assert.deepEqual(d.outputs, []);
  });
});
