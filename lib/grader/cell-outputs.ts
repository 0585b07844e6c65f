/**
 * A cell's outputs as they arrive from the kernel: Jupyter's iopub messages turned into nbformat outputs
 * (https://jupyter-client.readthedocs.io/en/latest/messaging.html), within the grader's output limits.
 * A pure translation, no sockets: the kernel client feeds it, and test/unit/cell-outputs.test.ts checks it.
 *
 *   stream                 appended to the previous output when it is the same stream, else a new one
 *   display_data           a new display_data output (remembered by its transient display_id)
 *   update_display_data    replaces every earlier output of that display_id (progress bars), adds nothing
 *   execute_result         an execute_result output with its execution_count
 *   error                  an error output (traceback cut to 50 lines)
 *   clear_output           removes everything so far
 *
 * Past `streamBytes` of text (streams and errors) or `displayBytes` of display data (displays, their updates
 * and results, each counted in full however often it replaces an earlier one), the rest is dropped and
 * `truncated` is set. The kernel client asks `fitsUnparsed` with a message's raw size before it parses it,
 * so a message that cannot fit is dropped without ever being turned into a string or an object.
 */
import type { JsonObject, JsonValue, NbOutput } from "../notebook/ipynb";

export interface OutputLimits {
  streamBytes: number;
  displayBytes: number;
}

const STREAM_TYPES = new Set(["stream", "error"]);
const DISPLAY_TYPES = new Set(["display_data", "update_display_data", "execute_result"]);
/** What a message's JSON may add around the text or data that is counted (keys, quotes, metadata). */
const JSON_ALLOWANCE = 4096;

export class CellOutputs {
  readonly outputs: NbOutput[] = [];
  /** True once an output was dropped for going over a limit. */
  truncated = false;
  private readonly displayIndex = new Map<string, number[]>();
  private streamBytes = 0;
  private displayBytes = 0;

  constructor(private readonly limits: OutputLimits) {}

  /** Applies one iopub message; message types that carry no output (status, execute_input, …) are ignored. */
  apply(msgType: string, c: JsonObject): void {
    switch (msgType) {
      case "stream": {
        const name = c.name === "stderr" ? "stderr" : "stdout";
        const text = String(c.text ?? "");
        if (!this.admit("stream", Buffer.byteLength(text))) return;
        const last = this.outputs[this.outputs.length - 1];
        if (last && last.output_type === "stream" && last.name === name) last.text = `${String(last.text ?? "")}${text}`;
        else this.outputs.push({ output_type: "stream", name, text });
        return;
      }
      case "display_data":
      case "update_display_data":
      case "execute_result": {
        const output: NbOutput = {
          output_type: msgType === "execute_result" ? "execute_result" : "display_data",
          data: (c.data ?? {}) as Record<string, JsonValue>,
          metadata: (c.metadata ?? {}) as JsonObject,
        };
        const displayId = (c.transient as JsonObject | undefined)?.display_id;
        if (!this.admit("display", JSON.stringify(output.data).length)) return;
        if (msgType === "update_display_data") {
          for (const i of this.displayIndex.get(String(displayId)) ?? []) this.outputs[i] = output;
          return;
        }
        if (msgType === "execute_result") output.execution_count = typeof c.execution_count === "number" ? c.execution_count : null;
        if (typeof displayId === "string") this.displayIndex.set(displayId, [...(this.displayIndex.get(displayId) ?? []), this.outputs.length]);
        this.outputs.push(output);
        return;
      }
      case "error":
        if (!this.admit("stream", String(c.evalue ?? "").length)) return;
        this.outputs.push({
          output_type: "error",
          ename: String(c.ename ?? "Error"),
          evalue: String(c.evalue ?? ""),
          traceback: Array.isArray(c.traceback) ? c.traceback.slice(0, 50).map(String) : [],
        });
        return;
      case "clear_output":
        this.outputs.length = 0;
        this.displayIndex.clear();
        return;
      default:
        return;
    }
  }

  /** Bytes of output counted so far (streams and displays together). */
  get bytes(): number {
    return this.streamBytes + this.displayBytes;
  }

  /**
   * Before parsing: whether a message whose raw content is `rawBytes` long can still fit (its parsed size is
   * at most that, less the JSON around it). When it cannot, `truncated` is set and the caller drops it unread.
   * Messages that carry no output always fit.
   */
  fitsUnparsed(msgType: string, rawBytes: number): boolean {
    const kind = STREAM_TYPES.has(msgType) ? "stream" : DISPLAY_TYPES.has(msgType) ? "display" : undefined;
    if (!kind) return true;
    const left = kind === "stream" ? this.limits.streamBytes - this.streamBytes : this.limits.displayBytes - this.displayBytes;
    if (!this.truncated && rawBytes <= left + JSON_ALLOWANCE) return true;
    this.truncated = true;
    return false;
  }

  /** Counts output against its limit; false (and `truncated` set) when over. */
  private admit(kind: "stream" | "display", bytes: number): boolean {
    if (this.truncated) return false;
    if (kind === "stream") this.streamBytes += bytes;
    else this.displayBytes += bytes;
    if (this.streamBytes > this.limits.streamBytes || this.displayBytes > this.limits.displayBytes) {
      this.truncated = true;
      return false;
    }
    return true;
  }
}
