/** Special functions built from public ops (so they differentiate and trace like any other op). */
import { add, exp, greaterEqual, mul, neg, reciprocal, square, sub, where, type Tensor } from "../core";

// Abramowitz & Stegun 7.1.26: erf(a) ≈ 1 - t(a1 + t(a2 + t(a3 + t(a4 + t a5)))) e^{-a²}, t = 1/(1 + p a), a >= 0;
// absolute error <= 1.5e-7 (ample for the load loss, which only needs a smooth CDF).
const P = 0.3275911;
const A = [0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429] as const;
// The coefficients sum to 1 + 1e-9; dividing by the sum makes erf(0) exactly 0 (and changes nothing else visibly).
const A_SUM = A.reduce((s, a) => s + a, 0);

/**
 * The error function, `erf(x) = 2/√π ∫_0^x e^{-s²} ds`, by the Abramowitz &
 * Stegun 7.1.26 rational approximation (|error| <= 1.5e-7). It is odd by
 * construction, exactly 0 at 0, and its derivative is the derivative of the
 * approximation (within ~1e-5 of `2/√π e^{-x²}`), smooth everywhere including x = 0.
 * @example erf(tensor([0, 0.5, -1])) // ≈ [0, 0.5205, -0.8427]
 */
export function erf(x: Tensor): Tensor {
  const positive = greaterEqual(x, 0);
  // |x| through `where` rather than `abs`, so the derivative at 0 is 1 (abs' derivative there is 0).
  const a = where(positive, x, neg(x));
  const t = reciprocal(add(mul(a, P), 1));
  let poly = mul(t, A[4]);
  for (const c of [A[3], A[2], A[1], A[0]]) poly = mul(t, add(poly, c));
  const erfAbs = sub(1, mul(mul(poly, 1 / A_SUM), exp(neg(square(a)))));
  return where(positive, erfAbs, neg(erfAbs));
}

/**
 * The standard normal CDF, `Φ(z) = (1 + erf(z / √2)) / 2`.
 * @example normalCdf(tensor([0])) // [0.5]
 */
export function normalCdf(z: Tensor): Tensor {
  return mul(add(erf(mul(z, Math.SQRT1_2)), 1), 0.5);
}
