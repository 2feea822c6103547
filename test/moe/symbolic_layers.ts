/**
 * MoE layers traced once with a symbolic token count T, and the same layers
 * traced at a concrete T, for tests that run the symbolic programs at many T
 * and compare them with the concrete traces (forward and gradient).
 */
import { expect } from "vitest";
import { moeInputs, moeLayer as benchLayer, type MoeConfig } from "../../bench/moe_layer";
import { vjpProgram } from "../../autodiff/vjp";
import { dims, mul, random, spec, square, sum, trace, tree, type Dim, type Program, type Tensor } from "../../index";
import { ffnExperts, moeLayer, swigluExperts } from "../../moe/index";
import { evalProgram } from "../../dsl/trace";
import { mulberry32, randomFloats, relativeError, type ProgramRunner } from "../../testing/random_programs";

const D = 8;
const BENCH: MoeConfig = { T: 0, D, H: 16, E: 4, K: 2 };

/** A layer as a flat function of (x [T, D], ...params) and its parameter values. */
export interface SymbolicCase {
  readonly name: string;
  readonly fn: (x: Tensor, ...params: Tensor[]) => Tensor[];
  readonly params: readonly Tensor[];
}

function libraryCase(name: string, layer: ReturnType<typeof moeLayer>): SymbolicCase {
  const values = layer.init(random.key(3), { dModel: D, hidden: 16 });
  const [leaves, def] = tree.flatten(values);
  const fn = (x: Tensor, ...ps: Tensor[]) => {
    const { y, report } = layer.apply(tree.unflatten(def, ps) as typeof values, x);
    return [y, report.auxLoss, report.dropFraction];
  };
  return { name, fn, params: leaves };
}

/** The benchmark layer (dropless top-2 SwiGLU), a capacity-factor layer, moe.moeLayer top-2 SwiGLU + a shared expert, expert choice. */
export function symbolicCases(): SymbolicCase[] {
  const bench: SymbolicCase = {
    name: "benchmark layer (bench/moe_layer.ts)",
    fn: (x, ...w) => [benchLayer(BENCH, x, w[0]!, w[1]!, w[2]!, w[3]!)],
    params: moeInputs({ ...BENCH, T: 1 }).slice(1),
  };
  return [
    bench,
    libraryCase(
      "moe.moeLayer capacity factor 1.25 (top-2 FFN)",
      moeLayer({ numExperts: 4, gate: { type: "topK", k: 2 }, experts: ffnExperts, capacityFactor: 1.25 }),
    ),
    libraryCase(
      "moe.moeLayer top-2 SwiGLU + shared expert",
      moeLayer({
        numExperts: 4,
        gate: { type: "topK", k: 2 },
        experts: swigluExperts,
        shared: { count: 1, experts: swigluExperts },
        auxLossWeights: { switch: 0.01, zLoss: 0.001 },
      }),
    ),
    libraryCase(
      "moe.moeLayer expert choice (c = ceilDiv(T, 2))",
      moeLayer({ numExperts: 4, gate: { type: "expertChoice", capacityFactor: 2 }, experts: ffnExperts }),
    ),
  ];
}

/** Forward program and gradient program (of sum(y^2)/2 + the other outputs, w.r.t. x and every param) at token count T. */
export function tracePrograms(c: SymbolicCase, T: Dim): { forward: Program; gradient: Program } {
  const specs = [spec([T, D]), ...c.params.map((p) => spec(p.shape as number[], p.dtype))];
  const forward = trace(c.fn, ...specs);
  const loss = trace(
    (...a: Tensor[]) => {
      const [y, ...rest] = c.fn(a[0]!, ...a.slice(1));
      return rest.reduce((acc, r) => acc.add(r), mul(sum(square(y!)), 0.5));
    },
    ...specs,
  );
  return { forward, gradient: vjpProgram(loss) };
}

/** Inputs at token count T: random tokens, the case's params, and (gradient) a random cotangent. */
export function inputsAt(c: SymbolicCase, T: number, gradient: boolean): Tensor[] {
  const rng = mulberry32(T + 17);
  const x = randomFloats(rng, "f32", [T, D]);
  return gradient ? [x, ...c.params, randomFloats(rng, "f32", [])] : [x, ...c.params];
}

/** Runs the symbolic program with `runner` and the concrete trace on the interpreter; outputs must agree. */
export async function expectSameAsConcrete(
  runner: ProgramRunner,
  symbolic: Program,
  concrete: Program,
  inputs: readonly Tensor[],
  what: string,
): Promise<void> {
  const want = evalProgram(concrete, inputs);
  const got = await runner(symbolic, inputs);
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(got[i]!.shape, `${what}: output ${i} shape`).toEqual(want[i]!.shape);
    const err = relativeError(await got[i]!.data(), want[i]!.dataSync());
    expect(err, `${what}: output ${i} relative error`).toBeLessThanOrEqual(1e-4);
  }
}

/** Every named dim a bundle's buffer sizes and launch grids read. */
export function bundleNames(b: { buffers: readonly { size: Dim }[]; schedule: readonly { grid: Dim }[] }): string[] {
  const out: string[] = [];
  for (const x of b.buffers) dims.names(x.size, out);
  for (const l of b.schedule) dims.names(l.grid, out);
  return out;
}
