/**
 * QR-Adaptor's search space and memory model.
 *
 * QR-Adaptor (arXiv 2505.03802) gives every transformer layer l its own pair (q_l, r_l): the bit-width of
 * the layer's frozen, quantized weights and the rank of its LoRA adapters. All the adapted linear modules
 * of one layer share that pair. The search trades task performance against memory, so the memory of a
 * configuration has to be computed exactly and cheaply, without building the model:
 *
 *   M(config) = Σ_l [ |W_l| · q_l / 8                 quantized base weights: q_l bits per weight
 *                    + P_l · r_l · 2                   LoRA parameters, kept in 16 bits (2 bytes)
 *                    + ceil(|W_l| / 128) · 4 ]         one fp32 scale (4 bytes) per block of 128 weights
 *
 * where |W_l| counts all the quantizable weights of layer l and P_l = Σ (in + out) over the layer's adapted
 * linears, the number of LoRA parameters per unit of rank (A is r × in, B is out × r).
 *
 * Decision (the spec leaves it open): at q ≥ 16 bits the layer is simply kept in 16-bit floats — there is
 * nothing to dequantize, so the third term (the quantization constants) is dropped. Below 16 bits, 8 bits
 * included, the constants are counted, as in the formula. Memory is a real number of bytes: a 3-bit layer
 * packs 3/8 of a byte per weight.
 */

/** One transformer layer as the search sees it: a name and two counts taken from the real model. */
export interface LayerInfo {
  name: string;
  /** |W_l|: all quantizable weights of the layer (e.g. Q, K, V, O and the two feed-forward matrices). */
  weightParams: number;
  /** P_l = Σ over the layer's adapted linears of (in + out): the LoRA parameters per unit of rank. */
  loraParamsPerRank: number;
}

/** The choice for one layer: its bit-width and its LoRA rank (0 = no adapter). */
export interface LayerChoice {
  bits: number;
  rank: number;
}

/** One choice per layer, in layer order. */
export type Configuration = LayerChoice[];

/** The allowed values of each knob, sorted ascending. */
export interface Ladders {
  bits: number[];
  ranks: number[];
}

/** The lecture's ladders: bits {4, 8, 16}, ranks {0, 2, 4, 8, 16}. */
export const LECTURE_LADDERS: Ladders = { bits: [4, 8, 16], ranks: [0, 2, 4, 8, 16] };
/** The paper's low-bit ladders: bits {2, 3, 4, 8}, ranks {4, 8, 16}. */
export const PAPER_LADDERS: Ladders = { bits: [2, 3, 4, 8], ranks: [4, 8, 16] };

/** Weights per quantization block: each block stores one scale. */
export const QUANT_BLOCK_SIZE = 128;
/** Bytes of one block's scale (fp32). */
export const QUANT_SCALE_BYTES = 4;
/** Bytes per LoRA parameter (16-bit floats). */
export const LORA_BYTES_PER_PARAM = 2;
/** From this bit-width on, a layer is stored unquantized and has no quantization constants. */
export const UNQUANTIZED_BITS = 16;

/** The memory of one layer, term by term. */
export interface LayerMemory {
  name: string;
  bits: number;
  rank: number;
  /** |W_l| · q_l / 8 */
  weightBytes: number;
  /** P_l · r_l · 2 */
  loraBytes: number;
  /** ceil(|W_l| / 128) · 4, or 0 at ≥ 16 bits */
  constantBytes: number;
  totalBytes: number;
}

export interface MemoryBreakdown {
  layers: LayerMemory[];
  weightBytes: number;
  loraBytes: number;
  constantBytes: number;
  totalBytes: number;
}

/** The memory of one layer under one choice, term by term. */
export function layerMemory(layer: LayerInfo, choice: LayerChoice): LayerMemory {
  const weightBytes = (layer.weightParams * choice.bits) / 8;
  const loraBytes = layer.loraParamsPerRank * choice.rank * LORA_BYTES_PER_PARAM;
  const constantBytes = choice.bits >= UNQUANTIZED_BITS ? 0 : Math.ceil(layer.weightParams / QUANT_BLOCK_SIZE) * QUANT_SCALE_BYTES;
  return { name: layer.name, bits: choice.bits, rank: choice.rank, weightBytes, loraBytes, constantBytes, totalBytes: weightBytes + loraBytes + constantBytes };
}

/** The bytes of one layer under one choice (the summand of M). */
export function layerBytes(layer: LayerInfo, choice: LayerChoice): number {
  return layerMemory(layer, choice).totalBytes;
}

function checkLength(layers: LayerInfo[], config: Configuration): void {
  if (config.length !== layers.length) {
    throw new Error(`QR-Adaptor: the configuration has ${config.length} layer choices but the model has ${layers.length} layers`);
  }
}

/** M(config) in bytes: the sum over layers of quantized weights, LoRA parameters and quantization constants. */
export function memoryBytes(layers: LayerInfo[], config: Configuration): number {
  checkLength(layers, config);
  let total = 0;
  for (let l = 0; l < layers.length; l++) total += layerBytes(layers[l], config[l]);
  return total;
}

/** M(config) term by term and layer by layer (for tables and for teaching where the bytes go). */
export function memoryBreakdown(layers: LayerInfo[], config: Configuration): MemoryBreakdown {
  checkLength(layers, config);
  const rows = layers.map((layer, l) => layerMemory(layer, config[l]));
  const sum = (pick: (m: LayerMemory) => number): number => rows.reduce((s, m) => s + pick(m), 0);
  return {
    layers: rows,
    weightBytes: sum((m) => m.weightBytes),
    loraBytes: sum((m) => m.loraBytes),
    constantBytes: sum((m) => m.constantBytes),
    totalBytes: sum((m) => m.totalBytes),
  };
}

/**
 * The smallest memory any configuration on these ladders can reach. Layers are independent, so it is the
 * sum of each layer's cheapest choice (usually the lowest bit-width and rank; not always, because 16-bit
 * layers carry no quantization constants).
 */
export function minimumMemoryBytes(layers: LayerInfo[], ladders: Ladders): number {
  let total = 0;
  for (const layer of layers) {
    let best = Infinity;
    for (const bits of ladders.bits) for (const rank of ladders.ranks) best = Math.min(best, layerBytes(layer, { bits, rank }));
    total += best;
  }
  return total;
}

/** Throws unless both ladders are non-empty, strictly ascending, with positive bits and non-negative integer ranks. */
export function checkLadders(ladders: Ladders): void {
  const check = (name: string, values: number[], ok: (v: number) => boolean): void => {
    if (values.length === 0) throw new Error(`QR-Adaptor: the ${name} ladder is empty`);
    for (let i = 0; i < values.length; i++) {
      if (!ok(values[i])) throw new Error(`QR-Adaptor: invalid ${name} ladder value ${values[i]}`);
      if (i > 0 && values[i] <= values[i - 1]) throw new Error(`QR-Adaptor: the ${name} ladder [${values.join(", ")}] must be strictly ascending`);
    }
  };
  check("bits", ladders.bits, (v) => Number.isInteger(v) && v > 0);
  check("ranks", ladders.ranks, (v) => Number.isInteger(v) && v >= 0);
}

/** Throws unless every layer has a name, a positive integer weight count and a non-negative integer P_l. */
export function checkLayers(layers: LayerInfo[]): void {
  if (layers.length === 0) throw new Error("QR-Adaptor: no layers");
  for (const layer of layers) {
    if (!Number.isInteger(layer.weightParams) || layer.weightParams <= 0) {
      throw new Error(`QR-Adaptor: layer ${layer.name} has weightParams ${layer.weightParams}; use the real count of the model's weights`);
    }
    if (!Number.isInteger(layer.loraParamsPerRank) || layer.loraParamsPerRank < 0) {
      throw new Error(`QR-Adaptor: layer ${layer.name} has loraParamsPerRank ${layer.loraParamsPerRank}; expected Σ (in + out) over its adapted linears`);
    }
  }
}

/** A short string that identifies a configuration, e.g. "8/4,4/0,16/8" (bits/rank per layer). */
export function configKey(config: Configuration): string {
  return config.map((c) => `${c.bits}/${c.rank}`).join(",");
}

/** A copy of a configuration (choices are small objects; copy them so no two configurations share one). */
export function cloneConfig(config: Configuration): Configuration {
  return config.map((c) => ({ bits: c.bits, rank: c.rank }));
}

/** Bytes in a human unit, e.g. "1.50 MiB" (exact byte counts stay available in the numbers themselves). */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let u = 0;
  while (Math.abs(value) >= 1024 && u < units.length - 1) {
    value /= 1024;
    u++;
  }
  return u === 0 ? `${value} B` : `${value.toFixed(2)} ${units[u]}`;
}
