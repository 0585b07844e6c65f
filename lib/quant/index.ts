/**
 * Blockwise quantization as bitsandbytes does it — the pieces QLoRA needs.
 *
 *   blockwise.ts        absmax blocks, fp32 scaling, 4-bit packing (first element in the high nibble)
 *   nf4.ts              NF4: the normal-quantile code book, quantize / dequantize, its derivation
 *   fp4.ts              FP4 (e2m1) code book and rounding, for comparison
 *   int8.ts             int8 absmax, the 8-bit linear baseline
 *   double-quant.ts     quantizing the scales (≈ 4.127 instead of 4.5 bits per weight), quantize/dequantize
 *                       for any type, measured storage
 *   linear4bit.ts       Linear4bit: a frozen linear layer holding only codes + scales (+ bias)
 *   optimizer-state.ts  QuantizedAdamState: 8-bit Adam moments kept outside the tensor backend
 */
export * from "./blockwise";
export * from "./nf4";
export * from "./fp4";
export * from "./int8";
export * from "./double-quant";
export * from "./linear4bit";
export * from "./optimizer-state";
