/**
 * Where each unary primitive is smooth: the inputs the gradient property tests
 * (test/core/cases/elementwise.ts) and the kernel-vs-interpreter tests of every
 * unary primitive (test/codegen/unary_prims.test.ts, test/webgpu/unary_prims.test.ts)
 * draw. Keyed by primitive, so a new unary primitive is a compile error here
 * until its domain is written down.
 */
import { vjpProgram } from "../autodiff/vjp";
import { spec, trace } from "../dsl/api";
import { tensor } from "../dsl/creation";
import type { DType } from "../dsl/dtype";
import * as ops from "../dsl/ops";
import type { UnaryPrim } from "../dsl/primitives/params";
import type { Tensor } from "../dsl/tensor";
import { mulberry32, runAndCompare, type ProgramRunner } from "./random_programs";

export type UnaryDomain =
  /** Values in [lo, hi]; `awayFromZero`: |x| >= it (a kink at 0); `note`: what the test label says. */
  | { readonly lo: number; readonly hi: number; readonly awayFromZero?: number; readonly note?: string }
  /** No derivative (a step function); kernels are still checked on [lo, hi]. */
  | { readonly lo: number; readonly hi: number; readonly piecewiseConstant: true }
  /** A bool primitive. */
  | "bool";

export const UNARY_DOMAINS: { readonly [P in UnaryPrim]: UnaryDomain } = {
  neg: { lo: -3, hi: 3 },
  exp: { lo: -3, hi: 3 },
  log: { lo: 0.2, hi: 4, note: "x > 0.2" },
  log1p: { lo: -0.8, hi: 4, note: "x > -0.8" },
  sqrt: { lo: 0.2, hi: 4, note: "x > 0.2" },
  rsqrt: { lo: 0.2, hi: 4, note: "x > 0.2" },
  tanh: { lo: -3, hi: 3 },
  sigmoid: { lo: -6, hi: 6 },
  abs: { lo: -3, hi: 3, awayFromZero: 0.05, note: "0.05 <= abs(x) <= 3" },
  sign: { lo: -3, hi: 3, piecewiseConstant: true },
  sin: { lo: -4, hi: 4 },
  cos: { lo: -4, hi: 4 },
  // Both branches of the f64 algorithm (series below 2, continued fraction above) and the saturated tails.
  erf: { lo: -4, hi: 4 },
  logicalNot: "bool",
};

/** Elements per draw: a prime, so no schedule divides it. */
const N = 67;

/** Inputs across the primitive's domain (both signs away from a kink), and cotangents. */
function draws(p: UnaryPrim, dtype: DType, seed: number): { x: Tensor; ct: Tensor } {
  const rng = mulberry32(seed);
  const d = UNARY_DOMAINS[p];
  if (d === "bool")
    return {
      x: tensor(
        Array.from({ length: N }, () => Number(rng() < 0.5)),
        [N],
        "bool",
      ),
      ct: tensor([0], [1]),
    };
  const gap = "awayFromZero" in d ? (d.awayFromZero ?? 0) : 0;
  const xs = Array.from({ length: N }, () => {
    const v = d.lo + (d.hi - d.lo) * rng();
    return Math.abs(v) < gap ? Math.sign(v || 1) * gap : v;
  });
  return {
    x: tensor(xs, [N], dtype),
    ct: tensor(
      Array.from({ length: N }, () => rng() * 2 - 1),
      [N],
      dtype,
    ),
  };
}

/**
 * Runs `y = p(x)` and its reverse-mode gradient program with `runner` and with
 * the interpreter on inputs across p's domain, and compares (floats to `rtol`,
 * bools exactly).
 */
export async function checkUnaryPrim(runner: ProgramRunner, p: UnaryPrim, dtype: DType, rtol: number): Promise<void> {
  const fn = ops[p] as (x: Tensor) => Tensor;
  const d = UNARY_DOMAINS[p];
  const { x, ct } = draws(p, dtype, p.length * 7 + dtype.length);
  const forward = trace(fn, spec([N], d === "bool" ? "bool" : dtype));
  await runAndCompare(runner, forward, [x], rtol);
  if (d === "bool" || "piecewiseConstant" in d) return;
  await runAndCompare(runner, vjpProgram(forward), [x, ct], rtol);
}
