/**
 * A grouped-GEMM layer whose kernels bind the run-time check flag: the token
 * of each expert row and the group sizes are program inputs, so no index is
 * proven in range and the gathered gate+up GEMM (x rows, both weights, the
 * group sizes, three outputs) checks its gather. Shared by the binding-limit
 * tests of the code generator and of WebGPU.
 */
import { vjpProgram } from "../../autodiff/vjp";
import {
  mul,
  raggedMatmul,
  reshape,
  scatterAdd,
  silu,
  spec,
  square,
  sum,
  take,
  tensor,
  trace,
  zeros,
} from "../../index";
import type { Program } from "../../dsl/program";
import type { Tensor } from "../../dsl/tensor";
import { mulberry32, randomFloats } from "../../testing/random_programs";

export interface GatheredLayerSizes {
  readonly T: number;
  readonly D: number;
  readonly H: number;
  readonly E: number;
  readonly K: number;
}

/** Forward (y = combine of SwiGLU experts over rows gathered by `rowToken`) and the gradient of sum(y^2)/2. */
export function gatheredLayer(s: GatheredLayerSizes): { forward: Program; gradient: Program } {
  const { T, D, H, E, K } = s;
  const f = (x: Tensor, rowToken: Tensor, sizes: Tensor, weight: Tensor, wg: Tensor, wu: Tensor, wd: Tensor) => {
    const rows = take(x, rowToken);
    const hidden = mul(silu(raggedMatmul(rows, wg, sizes)), raggedMatmul(rows, wu, sizes));
    const out = raggedMatmul(hidden, wd, sizes);
    return scatterAdd(zeros([T, D]), rowToken, mul(out, reshape(weight, [T * K, 1])));
  };
  const specs = [
    spec([T, D]),
    spec([T * K], "i32"),
    spec([E], "i32"),
    spec([T * K]),
    spec([E, D, H]),
    spec([E, D, H]),
    spec([E, H, D]),
  ];
  const call = (a: Tensor[]) => f(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!);
  const forward = trace((...a: Tensor[]) => call(a), ...specs);
  const loss = trace((...a: Tensor[]) => mul(sum(square(call(a))), 0.5), ...specs);
  return { forward, gradient: vjpProgram(loss) };
}

/**
 * Random inputs: each token's K rows in a random expert order (rows grouped by expert,
 * uneven group sizes, one expert empty), random non-zero floats; `gradient` appends the cotangent.
 */
export function gatheredInputs(s: GatheredLayerSizes, seed: number, gradient: boolean): Tensor[] {
  const { T, D, H, E, K } = s;
  const rng = mulberry32(seed);
  const expertOf = Array.from({ length: T * K }, () => Math.floor(rng() * (E - 1))); // expert E-1 stays empty
  const order = expertOf.map((e, slot) => ({ e, slot })).sort((a, b) => a.e - b.e || a.slot - b.slot);
  const rowToken = Int32Array.from(order, (o) => Math.floor(o.slot / K));
  const sizes = Int32Array.from({ length: E }, (_, e) => expertOf.filter((x) => x === e).length);
  const inputs = [
    randomFloats(rng, "f32", [T, D]),
    tensor(rowToken, [T * K], "i32"),
    tensor(sizes, [E], "i32"),
    randomFloats(rng, "f32", [T * K]),
    randomFloats(rng, "f32", [E, D, H], 1 / Math.sqrt(D)),
    randomFloats(rng, "f32", [E, D, H], 1 / Math.sqrt(D)),
    randomFloats(rng, "f32", [E, H, D], 1 / Math.sqrt(H)),
  ];
  return gradient ? [...inputs, randomFloats(rng, "f32", [])] : inputs;
}
