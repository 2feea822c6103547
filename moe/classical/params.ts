/**
 * Parameter pytrees shared by the classical mixtures, and the affine maps they
 * use: a gate (x W + b over the experts) and a bank of linear experts (one
 * affine map per expert, applied to every input).
 */
import { matmul, random, reshape, transpose, zeros, type Dim, type DType, type Tensor } from "../../core";
import { expectShape } from "./validate";

/** An affine map y = x w + b with `w` [in, out] and `b` [out]. */
export interface AffineParams {
  w: Tensor;
  b: Tensor;
}

/** E affine experts: `w` [E, in, out], `b` [E, out]; expert i computes x w[i] + b[i]. */
export interface ExpertBankParams {
  w: Tensor;
  b: Tensor;
}

/** A gate plus a bank of linear experts: the parameters of meta-pi and of the mixture of local experts. */
export interface GatedExpertsParams {
  gate: AffineParams;
  experts: ExpertBankParams;
}

/**
 * Checks an affine map's shapes and returns its [in, out] sizes.
 * @example const [inDim, outDim] = checkAffine("gate", p.gate, "metaPi");
 */
export function checkAffine(what: string, p: AffineParams, fn: string): [Dim, Dim] {
  if (p === null || typeof p !== "object")
    throw new TypeError(`${fn}: ${what} must be {w, b}, got ${p === null ? "null" : typeof p}`);
  const [i, o] = expectShape(fn, `${what}.w`, p.w, [null, null]);
  expectShape(fn, `${what}.b`, p.b, [o]);
  return [i!, o!];
}

/**
 * Checks a bank of experts' shapes and returns its [E, in, out] sizes.
 * @example const [E, D, O] = checkExpertBank("experts", p.experts, "metaPi");
 */
export function checkExpertBank(what: string, p: ExpertBankParams, fn: string): [Dim, Dim, Dim] {
  if (p === null || typeof p !== "object")
    throw new TypeError(`${fn}: ${what} must be {w, b}, got ${p === null ? "null" : typeof p}`);
  const [e, i, o] = expectShape(fn, `${what}.w`, p.w, [null, null, null]);
  expectShape(fn, `${what}.b`, p.b, [e, o]);
  return [e!, i!, o!];
}

/** x w + b for x [N, in]. @example affine({ w, b }, x) // [N, out] */
export function affine(p: AffineParams, x: Tensor): Tensor {
  return matmul(x, p.w).add(p.b);
}

/**
 * Every expert of a bank on every input: out[n, i] = x[n] w[i] + b[i].
 * @returns [N, E, out]
 * @example expertBank({ w, b }, x) // w [E, D, O], x [N, D] -> [N, E, O]
 */
export function expertBank(p: ExpertBankParams, x: Tensor): Tensor {
  const [e, , o] = p.w.shape;
  const perExpert = matmul(x, p.w).add(reshape(p.b, [e!, 1, o!])); // [E, N, O]
  return transpose(perExpert, [1, 0, 2]);
}

/**
 * Validates gate + expert shapes against the inputs and returns [E, out]:
 * x [N, in] feeds the experts, `gateX` [N, gateIn] (default x) feeds the gate,
 * which must have one output per expert.
 */
export function checkGatedExperts(p: GatedExpertsParams, x: Tensor, fn: string, gateX: Tensor = x): [Dim, Dim] {
  if (p === null || typeof p !== "object")
    throw new TypeError(`${fn}: params must be {gate, experts}, got ${p === null ? "null" : typeof p}`);
  const [gateIn, gateOut] = checkAffine("params.gate", p.gate, fn);
  const [e, expertIn, o] = checkExpertBank("params.experts", p.experts, fn);
  const [n] = expectShape(fn, "x", x, [null, expertIn]);
  if (gateOut !== e)
    throw new Error(
      `${fn}: the gate has ${gateOut} outputs but there are ${e} experts; expected one gate output per expert`,
    );
  const gateWhat = gateX === x ? "x" : "the gate input";
  const [, dg] = expectShape(fn, gateWhat, gateX, [n, null]);
  if (gateIn !== dg)
    throw new Error(
      `${fn}: the gate reads ${gateIn} features but ${gateWhat} has ${dg}; expected params.gate.w of shape [${dg}, ${e}]`,
    );
  return [e!, o!];
}

/** Draws N(0, scale^2) values; used by the init helpers below. */
function normal(key: Tensor, shape: readonly number[], scale: number, dtype: DType): Tensor {
  return random.normal(key, shape, dtype).mul(scale);
}

/**
 * Random gate + linear experts: weights ~ N(0, 1/in), biases 0 for the gate and
 * ~ N(0, 1/in) for the experts (so experts start different).
 * @example const p = initGatedExperts(random.key(0), { inputDim: 2, outputDim: 1, experts: 4 });
 */
export function initGatedExperts(
  key: Tensor,
  sizes: { inputDim: number; outputDim: number; experts: number },
  dtype: DType = "f32",
): GatedExpertsParams {
  const { inputDim: d, outputDim: o, experts: e } = sizes;
  for (const [name, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`initGatedExperts: ${name} = ${v}; expected a positive integer`);
  }
  const [kg, kw, kb] = random.split(key, 3);
  const s = 1 / Math.sqrt(d);
  return {
    gate: { w: normal(kg!, [d, e], s, dtype), b: zeros([e], dtype) },
    experts: { w: normal(kw!, [e, d, o], s, dtype), b: normal(kb!, [e, o], s, dtype) },
  };
}
