import { mulberry32 } from "../../autodiff/check";
/**
 * Shared machinery of the gradient property tests: f64 tensors from
 * fast-check values, central finite differences, and the three checks every
 * differentiable primitive goes through.
 *
 * Numerics (float64 throughout):
 * - Step: `FD_EPS = 1e-5`. A central difference has truncation error
 *   ~ h^2 |f'''| / 6 and round-off error ~ eps_mach |L| / h (eps_mach = 2.2e-16);
 *   their sum is smallest near h = eps_mach^(1/3) ~ 6e-6. With the value ranges
 *   the cases draw (|x| <= ~6, |f'''| <= ~1e2, |L| <= ~1e3) both terms stay
 *   below ~2e-8.
 * - Tolerance for derivative vs finite differences: `FD_TOL = 1e-6`, normwise:
 *   |analytic_i - numeric_i| <= FD_TOL * max(1, max_j |numeric_j|). That is
 *   >= 50x the expected error above, and a wrong rule is off by O(1).
 * - Tolerance for <vjp(u), v> vs <u, jvp(v)>: both are exact up to float64
 *   round-off, so `DUAL_TOL = 1e-10` relative to sum |terms|.
 * - The finite difference divides by the *stored* perturbation
 *   (x+ - x-), so checks through f32 inputs or casts stay exact for linear maps.
 */
import fc from "fast-check";
import { describe, it } from "vitest";
import { add, grad, jvp, mul, sum, tensor, vjp, type Tensor } from "../../index";
import { bind } from "../../dsl/trace";

export const FD_EPS = 1e-5;
export const FD_TOL = 1e-6;
export const DUAL_TOL = 1e-10;

/** A function of float tensors (integer operands are closed over) and a point to check it at. */
export interface GradSample {
  readonly f: (...xs: Tensor[]) => Tensor;
  readonly args: readonly Tensor[];
}

export interface CheckOptions {
  /** Finite-difference step (default FD_EPS). */
  eps?: number;
  /** Tolerance against finite differences (default FD_TOL). */
  tol?: number;
  /** Tolerance of <vjp(u), v> == <u, jvp(v)> (default DUAL_TOL; larger where a cast rounds to f32). */
  dualTol?: number;
}

// ------------------------------------------------------------------ tensors

export const numelOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** An f64 tensor from flat values. */
export function f64(values: ArrayLike<number>, shape: readonly number[]): Tensor {
  return tensor(Float64Array.from(values), [...shape], "f64");
}

/** An i32 tensor from flat values. */
export function i32(values: ArrayLike<number>, shape: readonly number[]): Tensor {
  return tensor(Int32Array.from(values), [...shape], "i32");
}

/** Flat values of a concrete tensor as float64. */
export function values(t: Tensor): Float64Array {
  return Float64Array.from(t.dataSync() as ArrayLike<number>);
}

/** Runs `fn` and returns what it threw (fails the test if it did not throw). */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    if (e instanceof Error) return e;
    throw new Error(`expected an Error, got ${String(e)}`, { cause: e });
  }
  throw new Error("expected the call to throw, it returned normally");
}

/** The line of the caller of `here()` (in the test file that calls it), as reported by the JS engine. */
export function here(): number {
  const frame = new Error().stack!.split("\n")[2]!;
  return Number(/:(\d+):\d+\)?$/.exec(frame)![1]);
}

/** Binds a primitive directly (for primitives with no public op, e.g. scatterAddAlong). */
export const prim = bind;

// ------------------------------------------------------------------ arbitraries

/** A shape of rank in [minRank, maxRank] with dims in [minDim, maxDim] (size-1 dims included). */
export function shapeArb(minRank: number, maxRank: number, minDim = 1, maxDim = 3): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/** `n` float64 values in [min, max]. */
export function valuesArb(n: number, min = -2, max = 2): fc.Arbitrary<number[]> {
  return fc.array(fc.double({ min, max, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n });
}

/** An f64 tensor of the given shape with values in [min, max]. */
export function tensorArb(shape: readonly number[], min = -2, max = 2): fc.Arbitrary<Tensor> {
  return valuesArb(numelOf(shape), min, max).map((v) => f64(v, shape));
}

/** Values with |x| in [gap, max]: away from the kink of abs/relu at 0. */
export function awayFromZeroArb(shape: readonly number[], gap = 0.05, max = 3): fc.Arbitrary<Tensor> {
  return fc
    .tuple(
      valuesArb(numelOf(shape), gap, max),
      fc.array(fc.boolean(), { minLength: numelOf(shape), maxLength: numelOf(shape) }),
    )
    .map(([mag, neg]) =>
      f64(
        mag.map((m, i) => (neg[i] ? -m : m)),
        shape,
      ),
    );
}

/**
 * Pairwise distinct values at least ~0.2 apart (distinct integers times 0.25
 * plus a jitter below 0.05): no ties for max/topK/sort, no kink within a step.
 */
export function distinctTensorArb(shape: readonly number[]): fc.Arbitrary<Tensor> {
  const n = numelOf(shape);
  return fc
    .tuple(fc.uniqueArray(fc.integer({ min: -40, max: 40 }), { minLength: n, maxLength: n }), valuesArb(n, 0, 0.05))
    .map(([ks, jitter]) =>
      f64(
        ks.map((k, i) => k * 0.25 + jitter[i]!),
        shape,
      ),
    );
}

/** i32 indices in [0, size) of the given shape (repeats likely when the shape is larger than size). */
export function indicesArb(shape: readonly number[], size: number): fc.Arbitrary<Tensor> {
  const n = numelOf(shape);
  return fc.array(fc.integer({ min: 0, max: size - 1 }), { minLength: n, maxLength: n }).map((v) => i32(v, shape));
}

/** `n` shapes that broadcast numpy-style: each a suffix of a common shape, some dims set to 1. */
export function broadcastShapesArb(n: number, maxRank = 3, maxDim = 3): fc.Arbitrary<number[][]> {
  return shapeArb(0, maxRank, 1, maxDim).chain((out) => {
    const operand = fc
      .tuple(
        fc.integer({ min: 0, max: out.length }),
        fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
      )
      .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
    return fc.array(operand, { minLength: n, maxLength: n });
  });
}

/** Reference numpy broadcasting of two shapes (right-aligned; equal or 1), or null when they clash. */
export function refBroadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Group sizes for ragged ops: `groups` non-negative sizes (zeros likely) summing to `rows`. */
export function groupSizesArb(groups: number, rows: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 0, max: groups - 1 }), { minLength: rows, maxLength: rows }).map((owners) => {
    const sizes = new Array<number>(groups).fill(0);
    for (const g of owners) sizes[g]!++;
    return sizes;
  });
}

// ------------------------------------------------------------------ numerics

/** A small deterministic PRNG (mulberry32) for random directions u, v, w. */
export const rng: (seed: number) => () => number = mulberry32;

/** A tensor like `t` (shape and dtype) with values uniform in [-1, 1). */
export function randomLike(t: Tensor, rand: () => number): Tensor {
  const n = numelOf(t.shape as number[]);
  return tensor(
    Float64Array.from({ length: n }, () => rand() * 2 - 1),
    [...(t.shape as number[])],
    t.dtype,
  );
}

/** <a, b> summed over lists of tensors, and sum |a_i b_i| (the scale of its round-off). */
export function dotAndScale(a: readonly Tensor[], b: readonly Tensor[]): [number, number] {
  let dot = 0;
  let scale = 0;
  a.forEach((x, i) => {
    const xs = values(x);
    const ys = values(b[i]!);
    for (let j = 0; j < xs.length; j++) {
      dot += xs[j]! * ys[j]!;
      scale += Math.abs(xs[j]! * ys[j]!);
    }
  });
  return [dot, scale];
}

const dot = (a: readonly Tensor[], b: readonly Tensor[]): number => dotAndScale(a, b)[0];

/** `t` with element `i` replaced by `value`; returns the tensor and the value as stored (rounded to its dtype). */
function withElement(t: Tensor, i: number, value: number): [Tensor, number] {
  const data = t.dataSync().slice();
  data[i] = value;
  return [tensor(data, [...(t.shape as number[])], t.dtype), data[i]!];
}

/** Central finite differences of a scalar function of tensors, one partial derivative per element. */
export function numericGradient(L: (xs: Tensor[]) => number, xs: readonly Tensor[], eps = FD_EPS): Float64Array[] {
  return xs.map((x, k) => {
    const base = values(x);
    const out = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const [xp, hi] = withElement(x, i, base[i]! + eps);
      const [xm, lo] = withElement(x, i, base[i]! - eps);
      const at = (xi: Tensor) => L(xs.map((y, j) => (j === k ? xi : y)));
      out[i] = (at(xp) - at(xm)) / (hi - lo);
    }
    return out;
  });
}

/** Central difference of a tensor-valued function along direction `v`: (F(x + eps v) - F(x - eps v)) / 2 eps. */
export function numericDirectional(
  F: (xs: Tensor[]) => Tensor[],
  xs: readonly Tensor[],
  v: readonly Tensor[],
  eps = FD_EPS,
): Float64Array[] {
  const shift = (s: number) =>
    xs.map((x, i) =>
      f64(
        values(x).map((xv, j) => xv + s * values(v[i]!)[j]!),
        x.shape as number[],
      ),
    );
  const hi = F(shift(eps));
  const lo = F(shift(-eps));
  return hi.map((h, i) => values(h).map((hv, j) => (hv - values(lo[i]!)[j]!) / (2 * eps)));
}

/** Normwise closeness: |got_i - want_i| <= tol * max(1, max |want|). Throws with the worst element. */
export function expectAllClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} values, expected ${want.length}`);
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= tol * scale) && (worst < 0 || !(err <= worstErr))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst}: got ${got[worst]}, expected ${want[worst]} (|diff| ${worstErr.toExponential(2)} > ` +
        `${tol} * ${scale.toPrecision(3)})\n` +
        `  got  [${Array.from(got, (x) => x.toPrecision(6)).join(", ")}]\n  want [${Array.from(want, (x) => x.toPrecision(6)).join(", ")}]`,
    );
  }
}

// ------------------------------------------------------------------ the three gradient properties

/** (a) VJP vs central finite differences of L(x) = <u, f(x)>, elementwise for every argument. */
export function checkVjpVsFiniteDifferences({ f, args }: GradSample, seed: number, opts: CheckOptions = {}): void {
  const rand = rng(seed);
  const u = randomLike(f(...args), rand);
  const [, pullback] = vjp(f, ...args);
  const cts = pullback(u) as Tensor[];
  const fd = numericGradient((xs) => dot([f(...xs)], [u]), args, opts.eps);
  cts.forEach((ct, i) => {
    if (ct.shape.join() !== args[i]!.shape.join())
      throw new Error(`cotangent ${i} has shape [${ct.shape}], expected [${args[i]!.shape}]`);
    expectAllClose(values(ct), fd[i]!, opts.tol ?? FD_TOL, `vjp of argument ${i} vs finite differences`);
  });
}

/** (b) Forward and reverse mode agree: <vjp(u), v> == <u, jvp(v)>. */
export function checkJvpVsVjp({ f, args }: GradSample, seed: number, opts: CheckOptions = {}): void {
  const rand = rng(seed);
  const out = f(...args);
  const u = randomLike(out, rand);
  const v = args.map((a) => randomLike(a, rand));
  const [, pullback] = vjp(f, ...args);
  const cts = pullback(u) as Tensor[];
  const [y, tangentOut] = jvp(f, args as never, v) as [Tensor, Tensor];
  expectAllClose(values(y), values(out), 1e-12, "jvp's primal output vs f(x)");
  const [lhs, s1] = dotAndScale(cts, v);
  const [rhs, s2] = dotAndScale([u], [tangentOut]);
  if (!(Math.abs(lhs - rhs) <= (opts.dualTol ?? DUAL_TOL) * Math.max(1, s1, s2))) {
    throw new Error(`<vjp(u), v> = ${lhs} but <u, jvp(v)> = ${rhs} (|diff| ${Math.abs(lhs - rhs).toExponential(2)})`);
  }
}

/**
 * (c) Second order, on L(x) = <u, f(x)> with random u:
 * grad of grad (grad of <w, grad L>, i.e. H w) vs finite differences of grad L
 * along each coordinate, and jvp of grad (H v) vs finite differences of grad L along v.
 */
export function checkSecondOrder({ f, args }: GradSample, seed: number, opts: CheckOptions = {}): void {
  const rand = rng(seed);
  const tol = opts.tol ?? FD_TOL;
  const u = randomLike(f(...args), rand);
  const w = args.map((a) => randomLike(a, rand));
  const v = args.map((a) => randomLike(a, rand));
  const argnums = args.map((_, i) => i);
  const L = (...xs: Tensor[]) => sum(mul(f(...xs), u));
  const gradL = grad(L, { argnums }) as (...xs: Tensor[]) => Tensor[];
  const h = (...xs: Tensor[]) =>
    gradL(...xs)
      .map((g, i) => sum(mul(g, w[i]!)))
      .reduce((p, q) => add(p, q));

  const hw = grad(h, { argnums })(...args) as Tensor[];
  const fdHw = numericGradient((xs) => h(...xs).item(), args, opts.eps);
  hw.forEach((g, i) =>
    expectAllClose(values(g), fdHw[i]!, tol, `grad of grad, argument ${i}, vs finite differences of grad`),
  );

  const [, hv] = jvp(gradL, args as never, v) as [Tensor[], Tensor[]];
  const fdHv = numericDirectional((xs) => gradL(...xs), args, v, opts.eps);
  hv.forEach((t, i) =>
    expectAllClose(values(t), fdHv[i]!, tol, `jvp of grad, argument ${i}, vs finite differences of grad`),
  );
}

// ------------------------------------------------------------------ case tables

/**
 * One row of docs/GRADIENT-CHECKS.md: a primitive (or composite) and how many
 * fast-check runs each property gets (0: the property does not apply).
 */
export interface GradCase {
  readonly name: string;
  readonly sample: fc.Arbitrary<GradSample>;
  readonly runs: { readonly vjp: number; readonly dual: number; readonly second: number };
  readonly opts?: CheckOptions;
}

/** Registers the three properties of each case as vitest tests. */
export function describeGradCases(cases: readonly GradCase[]): void {
  for (const c of cases) {
    describe(c.name, () => {
      if (c.runs.vjp > 0) {
        it(`VJP vs finite differences (${c.runs.vjp} runs)`, () => {
          fc.assert(
            fc.property(c.sample, fc.nat(), (s, seed) => checkVjpVsFiniteDifferences(s, seed, c.opts)),
            { numRuns: c.runs.vjp },
          );
        });
      }
      if (c.runs.dual > 0) {
        it(`JVP vs VJP: <vjp(u), v> == <u, jvp(v)> (${c.runs.dual} runs)`, () => {
          fc.assert(
            fc.property(c.sample, fc.nat(), (s, seed) => checkJvpVsVjp(s, seed, c.opts)),
            { numRuns: c.runs.dual },
          );
        });
      }
      if (c.runs.second > 0) {
        it(`second order: grad of grad and jvp of grad vs finite differences of grad (${c.runs.second} runs)`, () => {
          fc.assert(
            fc.property(c.sample, fc.nat(), (s, seed) => checkSecondOrder(s, seed, c.opts)),
            { numRuns: c.runs.second },
          );
        });
      }
    });
  }
}
