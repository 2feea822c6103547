/**
 * Counter-based random numbers (Threefry-2x32). A key is an i32[2] tensor;
 * the same key always gives the same bits on every backend. Split keys to get
 * independent streams; never reuse a key for two draws.
 */
import { isFloat, type DType } from "./dtype";
import * as ops from "./ops";
import { checkDim, type Dim } from "./shape";
import { Tensor } from "./tensor";
import { tensor } from "./creation";
import { bind } from "./trace";

function checkKey(key: Tensor, fn: string): Tensor {
  if (!(key instanceof Tensor))
    throw new TypeError(`random.${fn}: key must be a Tensor from random.key(seed), got ${typeof key}`);
  return key;
}

function floatDType(dtype: DType, fn: string): DType {
  if (!isFloat(dtype)) throw new TypeError(`random.${fn}: dtype ${dtype} is not a float dtype`);
  return dtype;
}

/** A key from an integer seed (0 <= seed < 2^53). */
export function key(seed: number): Tensor {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`random.key: seed ${seed} must be a non-negative safe integer`);
  return tensor([Math.floor(seed / 2 ** 32) | 0, seed | 0], [2], "i32");
}

/** Splits a key into `n` new independent keys. */
export function split(k: Tensor, n = 2): Tensor[] {
  checkKey(k, "split");
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`random.split: n = ${n} must be a positive integer`);
  const bits = bind("randomBits", [k], { shape: [n, 2] });
  return Array.from({ length: n }, (_, i) => ops.reshape(ops.slice(bits, [i, 0], [i + 1, 2]), [2]));
}

/** Raw 32-bit draws (as i32). */
export function bits(k: Tensor, shape: readonly Dim[]): Tensor {
  return bind("randomBits", [checkKey(k, "bits")], { shape: shape.map((d) => checkDim(d, "random.bits")) });
}

/** Uniform in [minval, maxval), of the given (literal) shape. @example random.uniform(k, [2, 3]) // Tensor<[2, 3], "f32"> */
export function uniform<const S extends readonly Dim[], D extends DType = "f32">(
  k: Tensor,
  shape: S,
  opts: { minval?: number; maxval?: number; dtype?: D } = {},
): Tensor<S, D> {
  const dtype = floatDType(opts.dtype ?? "f32", "uniform");
  const u = bind("bitsToUniform", [bits(k, shape)], { dtype });
  const { minval = 0, maxval = 1 } = opts;
  return (minval === 0 && maxval === 1 ? u : ops.add(ops.mul(u, maxval - minval), minval)) as Tensor<S, D>;
}

/** Standard normal draws (Box-Muller on two independent uniform streams). @example random.normal(k, ["T", 16]) // Tensor<["T", 16], "f32"> */
export function normal<const S extends readonly Dim[], D extends DType = "f32">(
  k: Tensor,
  shape: S,
  dtype: D = "f32" as D,
): Tensor<S, D> {
  floatDType(dtype, "normal");
  const [k1, k2] = split(k, 2);
  const u1 = uniform(k1!, shape, { dtype });
  const u2 = uniform(k2!, shape, { dtype });
  const radius = ops.sqrt(ops.mul(ops.log(ops.sub(1, u1)), -2));
  return ops.mul(radius, ops.cos(ops.mul(u2, 2 * Math.PI))) as Tensor<S, D>;
}

/** Standard Gumbel draws: -log(-log(u)). */
export function gumbel(k: Tensor, shape: readonly Dim[], dtype: DType = "f32"): Tensor {
  const tiny = dtype === "f64" ? 1e-300 : 1e-30;
  const u = ops.maximum(uniform(k, shape, { dtype }), tiny);
  return ops.neg(ops.log(ops.neg(ops.log(u))));
}

/** Samples class indices from unnormalised log-probabilities (Gumbel-max), i32. */
export function categorical(k: Tensor, logits: Tensor, axis = -1): Tensor {
  return ops.argmax(ops.add(ops.stopGradient(logits), gumbel(k, logits.shape, logits.dtype)), axis);
}

/** Bernoulli draws with probability p: bool. */
export function bernoulli(k: Tensor, p: number | Tensor, shape?: readonly Dim[]): Tensor {
  const s = shape ?? (p instanceof Tensor ? p.shape : []);
  const dtype = p instanceof Tensor ? p.dtype : "f32";
  return ops.less(uniform(k, s, { dtype }), p);
}
