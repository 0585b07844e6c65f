/**
 * Wavelet filter banks, exactly as PyWavelets defines them (`pywt.Wavelet(name).filter_bank`).
 *
 * A one-level discrete wavelet transform (DWT) splits a signal with two filters and keeps every second
 * output of each:
 *
 *   - the low-pass *decomposition* filter `decLo` gives the approximation (a smoothed, half-length signal);
 *   - the high-pass *decomposition* filter `decHi` gives the detail (what the smoothing removed).
 *
 * The inverse transform (IDWT) upsamples both halves and filters them with the *reconstruction* filters
 * `recLo` and `recHi`, then adds them up. For every wavelet here (all orthogonal) the four filters follow
 * from the first one, and these relations hold bit for bit in PyWavelets' own tables
 * (scripts/fixtures/make-wavelet-fixtures.py asserts it), so only `decLo` is stored below:
 *
 *   decHi[k] = (−1)^(k+1) · decLo[L−1−k]      (the "quadrature mirror" of decLo)
 *   recLo    = decLo reversed,  recHi = decHi reversed
 *
 * Reversed filters are what make the inverse the transpose of the forward transform: an orthogonal
 * wavelet transform is a rotation of the signal space (see dwt.ts).
 *
 * Families: Haar (= db1, the shortest: a plain sum and difference of neighbours), Daubechies dbN (filter
 * length 2N, N vanishing moments: the most compact support for that smoothness), Symlets symN (same
 * length, nearly symmetric), Coiflets coifN (length 6N, vanishing moments for the scaling function too).
 */

/** The four filters of one wavelet, in PyWavelets' order and sign conventions. */
export interface FilterBank {
  /** The name as given (e.g. "haar", "db2"). */
  readonly name: string;
  /** Filter length L (2 for Haar, 2N for dbN and symN, 6N for coifN). */
  readonly length: number;
  readonly decLo: readonly number[];
  readonly decHi: readonly number[];
  readonly recLo: readonly number[];
  readonly recHi: readonly number[];
}

/**
 * Low-pass decomposition filters (`pywt.Wavelet(name).dec_lo`), double precision, pasted from
 * `make-wavelet-fixtures.py --ts`. Note that db2/sym2 and db3/sym3 differ in the last digits only: the
 * Symlets of orders 2 and 3 are the Daubechies filters (PyWavelets computed the two tables separately).
 */
const DEC_LO: Readonly<Record<string, readonly number[]>> = {
  haar: [0.7071067811865476, 0.7071067811865476],
  db1: [0.7071067811865476, 0.7071067811865476],
  db2: [-0.12940952255126037, 0.2241438680420134, 0.8365163037378079, 0.48296291314453416],
  db3: [0.03522629188570953, -0.08544127388202666, -0.13501102001025458, 0.45987750211849154, 0.8068915093110925, 0.33267055295008263],
  db4: [
    -0.010597401785069032, 0.0328830116668852, 0.030841381835560764, -0.18703481171909309, -0.027983769416859854, 0.6308807679298589, 0.7148465705529157,
    0.2303778133088965,
  ],
  sym2: [-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025],
  sym3: [0.035226291882100656, -0.08544127388224149, -0.13501102001039084, 0.4598775021193313, 0.8068915093133388, 0.3326705529509569],
  sym4: [
    -0.07576571478927333, -0.02963552764599851, 0.49761866763201545, 0.8037387518059161, 0.29785779560527736, -0.09921954357684722, -0.012603967262037833,
    0.0322231006040427,
  ],
  coif1: [-0.015655728135791993, -0.07273261951252645, 0.3848648468648578, 0.8525720202116004, 0.3378976624574818, -0.07273261951252645],
};

/** Names accepted by {@link waveletFilters}, in the order above. */
export const WAVELET_NAMES: readonly string[] = Object.keys(DEC_LO);

const cache = new Map<string, FilterBank>();

/** The filter bank of a supported wavelet; an unknown name is an error that lists the supported ones. */
export function waveletFilters(name: string): FilterBank {
  const hit = cache.get(name);
  if (hit) return hit;
  const decLo = DEC_LO[name];
  if (!Object.prototype.hasOwnProperty.call(DEC_LO, name) || decLo === undefined) {
    throw new Error(`unknown wavelet "${name}": supported wavelets are ${WAVELET_NAMES.join(", ")}`);
  }
  const L = decLo.length;
  const decHi = decLo.map((_, k) => (k % 2 === 0 ? -1 : 1) * decLo[L - 1 - k]);
  const bank: FilterBank = Object.freeze({
    name,
    length: L,
    decLo: Object.freeze(decLo.slice()),
    decHi: Object.freeze(decHi),
    recLo: Object.freeze(decLo.slice().reverse()),
    recHi: Object.freeze(decHi.slice().reverse()),
  });
  cache.set(name, bank);
  return bank;
}
