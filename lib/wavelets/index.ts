/**
 * The 2-D discrete wavelet transform (one level, forward and inverse), matching PyWavelets, built from
 * TensorFlow.js ops so that gradients reach the coefficients. WaveFT (lib/peft/waveft) trains its weight
 * update in this wavelet domain.
 */
export * from "./filters";
export * from "./dwt";
