/**
 * Gradient cases of the elementwise primitives: unary, binary (through the
 * public broadcasting ops), select (`where`) and float-to-float casts.
 * Domains avoid kinks and singularities by construction (see each case).
 */
import fc from "fast-check";
import * as ops from "../../../dsl/ops";
import { UNARY_PRIMS } from "../../../dsl/primitives/params";
import { UNARY_DOMAINS } from "../../../testing/unary_domains";
import { broadcastTo, cast, tensor, type Tensor } from "../../../index";
import {
  awayFromZeroArb,
  broadcastShapesArb,
  f64,
  numelOf,
  refBroadcastShape,
  shapeArb,
  tensorArb,
  valuesArb,
  values,
  type GradCase,
  type GradSample,
} from "../helpers";

function unaryCase(
  name: string,
  fn: (x: Tensor) => Tensor,
  arg: (shape: number[]) => fc.Arbitrary<Tensor>,
  runs = { vjp: 100, dual: 60, second: 30 },
): GradCase {
  return {
    name,
    runs,
    sample: shapeArb(0, 3)
      .chain(arg)
      .map((x): GradSample => ({ f: fn, args: [x] })),
  };
}

const range = (lo: number, hi: number) => (shape: number[]) => tensorArb(shape, lo, hi);

/** Every differentiable unary primitive, on its smooth domain (testing/unary_domains.ts). */
export const unaryCases: readonly GradCase[] = UNARY_PRIMS.flatMap((p): GradCase[] => {
  const d = UNARY_DOMAINS[p];
  if (d === "bool" || "piecewiseConstant" in d) return [];
  const fn = ops[p] as (x: Tensor) => Tensor;
  const label = d.note ? `${p} (${d.note})` : p;
  if (d.awayFromZero !== undefined) return [unaryCase(label, fn, (s) => awayFromZeroArb(s, d.awayFromZero, d.hi))];
  return [unaryCase(label, fn, range(d.lo, d.hi))];
});

/** Two broadcastable operands drawn by `pick(shapeA, shapeB)`. */
function binaryCase(
  name: string,
  fn: (a: Tensor, b: Tensor) => Tensor,
  pick: (sa: number[], sb: number[]) => fc.Arbitrary<[Tensor, Tensor]>,
  runs = { vjp: 100, dual: 60, second: 0 },
): GradCase {
  return {
    name,
    runs,
    sample: broadcastShapesArb(2)
      .chain(([sa, sb]) => pick(sa!, sb!))
      .map(([a, b]): GradSample => ({ f: fn, args: [a, b] })),
  };
}

const plain = (sa: number[], sb: number[]) => fc.tuple(tensorArb(sa), tensorArb(sb));

/** a on odd multiples of 0.25, b on multiples of 0.5, both with jitter < 0.05: |a - b| >= 0.15, no ties. */
function noTies(sa: number[], sb: number[]): fc.Arbitrary<[Tensor, Tensor]> {
  const grid = (shape: number[], offset: number) =>
    fc
      .tuple(
        fc.array(fc.integer({ min: -6, max: 6 }), { minLength: numelOf(shape), maxLength: numelOf(shape) }),
        valuesArb(numelOf(shape), 0, 0.05),
      )
      .map(([ks, j]) =>
        f64(
          ks.map((k, i) => k * 0.5 + offset + j[i]!),
          shape,
        ),
      );
  return fc.tuple(grid(sa, 0.25), grid(sb, 0));
}

/**
 * rem(a, b) = a - b trunc(a / b) has kinks where a / b is an integer. `a` gets
 * the full broadcast shape and is built as b * q with frac(|q|) in [0.15, 0.85].
 */
function remOperands(sa: number[], sb: number[]): fc.Arbitrary<[Tensor, Tensor]> {
  const out = refBroadcastShape(sa, sb)!;
  const n = numelOf(out);
  return fc
    .tuple(
      awayFromZeroArb(sb, 0.5, 2),
      fc.array(fc.integer({ min: -3, max: 3 }), { minLength: n, maxLength: n }),
      valuesArb(n, 0.15, 0.85),
    )
    .map(([b, whole, frac]) => {
      const bb = values(broadcastTo(b, out));
      const a = f64(
        whole.map((w, i) => (w >= 0 ? w + frac[i]! : w - frac[i]!) * bb[i]!),
        out,
      );
      return [a, b] as [Tensor, Tensor];
    });
}

export const binaryCases: readonly GradCase[] = [
  binaryCase("add (broadcasting)", ops.add, plain),
  binaryCase("sub (broadcasting)", ops.sub, plain),
  binaryCase("mul (broadcasting)", ops.mul, plain, { vjp: 100, dual: 60, second: 30 }),
  binaryCase(
    "div (broadcasting, abs(b) >= 0.3)",
    ops.div,
    (sa, sb) => fc.tuple(tensorArb(sa), awayFromZeroArb(sb, 0.3, 2)),
    { vjp: 100, dual: 60, second: 30 },
  ),
  binaryCase("maximum (no ties)", ops.maximum, noTies, { vjp: 100, dual: 60, second: 15 }),
  binaryCase("minimum (no ties)", ops.minimum, noTies),
  binaryCase("pow (base in [0.3, 3])", ops.pow, (sa, sb) => fc.tuple(tensorArb(sa, 0.3, 3), tensorArb(sb, -2, 2)), {
    vjp: 100,
    dual: 60,
    second: 30,
  }),
  binaryCase("rem (a/b away from integers)", ops.rem, remOperands, { vjp: 100, dual: 60, second: 15 }),
];

/** where(cond, a, b) with all three operands broadcasting against each other. */
const selectCase: GradCase = {
  name: "select (where, broadcasting)",
  runs: { vjp: 100, dual: 60, second: 15 },
  sample: broadcastShapesArb(3).chain(([sc, sa, sb]) =>
    fc
      .tuple(
        fc.array(fc.boolean(), { minLength: numelOf(sc!), maxLength: numelOf(sc!) }),
        tensorArb(sa!),
        tensorArb(sb!),
      )
      .map(([c, a, b]): GradSample => {
        const cond = tensor(Uint8Array.from(c, Number), sc!, "bool");
        return { f: (x, y) => ops.mul(ops.where(cond, x, y), ops.where(cond, y, 2)), args: [a, b] };
      }),
  ),
};

/**
 * Float-to-float casts. Through f32 the finite difference uses a step of 1e-2
 * (so f32 rounding, ~6e-8 relative, stays below the 1e-4 tolerance) and the
 * duality check allows f32 rounding of the cotangent or tangent (1e-6).
 */
const castCases: readonly GradCase[] = [
  {
    name: "cast f64 -> f32",
    runs: { vjp: 60, dual: 45, second: 0 },
    opts: { eps: 1e-2, tol: 1e-4, dualTol: 1e-6 },
    sample: shapeArb(0, 3)
      .chain((s) => tensorArb(s, -3, 3))
      .map((x): GradSample => ({ f: (t) => cast(t, "f32"), args: [x] })),
  },
  {
    name: "cast f32 -> f64",
    runs: { vjp: 60, dual: 45, second: 0 },
    opts: { eps: 1e-2, tol: 1e-6, dualTol: 1e-6 },
    sample: shapeArb(0, 3)
      .chain((s) => valuesArb(numelOf(s), -3, 3).map((v) => tensor(Float32Array.from(v), s, "f32")))
      .map((x): GradSample => ({ f: (t) => ops.mul(cast(t, "f64"), cast(t, "f64")), args: [x] })),
  },
];

export const elementwiseCases: readonly GradCase[] = [...unaryCases, ...binaryCases, selectCase, ...castCases];
