/**
 * Reading a tensor's values on every backend.
 *
 * `t.dataSync()` and `t.arraySync()` block until the values are on the CPU. On wasm and cpu they already are;
 * on webgpu in Node they are not, and a synchronous read fails (Node has no OffscreenCanvas to read through),
 * so the notebooks and the library read with `await`. These helpers make that one line:
 *
 *   const change = await readScalar(() => tf.max(tf.abs(tf.sub(after, before))));  // built, read, disposed
 *   const rows = await readArray(logits);                                            // logits stays yours
 *
 * Given a function, a helper builds the tensor inside `tf.tidy` (intermediates freed), reads it and disposes
 * it. Given a tensor, it only reads it: the tensor stays the caller's to dispose.
 */
import * as tf from "@tensorflow/tfjs";

/** A tensor, or a function that builds one (run inside tf.tidy, and disposed after reading). */
export type TensorSource<T extends tf.Tensor = tf.Tensor> = T | (() => T);

async function read<T extends tf.Tensor, V>(source: TensorSource<T>, how: (t: T) => Promise<V>): Promise<V> {
  if (source instanceof tf.Tensor) return how(source);
  const built = tf.tidy(source);
  try {
    return await how(built);
  } finally {
    built.dispose();
  }
}

/** The single value of a tensor with one element (a scalar, or shape [1], [1, 1], …). */
export async function readScalar(source: TensorSource): Promise<number> {
  return read(source, async (t) => {
    if (t.size !== 1) throw new Error(`readScalar: the tensor has shape [${t.shape}] (${t.size} values); it needs exactly one`);
    return (await t.data())[0] as number;
  });
}

/** The values as a flat array, row-major (like `await t.data()`, as plain numbers). */
export async function readValues(source: TensorSource): Promise<number[]> {
  return read(source, async (t) => Array.from((await t.data()) as ArrayLike<number>));
}

/** The values as nested arrays of the tensor's shape (like `await t.array()`). */
export async function readArray(source: TensorSource<tf.Tensor1D>): Promise<number[]>;
export async function readArray(source: TensorSource<tf.Tensor2D>): Promise<number[][]>;
export async function readArray(source: TensorSource<tf.Tensor3D>): Promise<number[][][]>;
export async function readArray(source: TensorSource): Promise<unknown>;
export async function readArray(source: TensorSource): Promise<unknown> {
  return read(source, (t) => t.array());
}

/** The largest absolute difference between two tensors of the same shape: max |a − b|. */
export async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  if (!tf.util.arraysEqual(a.shape, b.shape)) throw new Error(`maxAbsDiff: shapes differ ([${a.shape}] vs [${b.shape}])`);
  return readScalar(() => tf.max(tf.abs(tf.sub(a, b))));
}
