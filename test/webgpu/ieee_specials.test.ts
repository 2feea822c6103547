/**
 * IEEE special values on WebGPU equal the interpreter's. WGSL lets compilers
 * assume finite math (SwiftShader folds NaN tests, and its log/exp builtins
 * return finite values for 0, negative and infinite inputs), so the emitter
 * routes float ops through bit-pattern helpers. Table-driven: every unary,
 * binary and comparison primitive of the primitive tables that takes f32, on
 * inputs made of Inf, -Inf, NaN, 0, -0, negatives, overflowing magnitudes,
 * plus the composites of the issue (log, exp(x - max x), softmax, logsumexp).
 */
import { describe, expect, it } from "vitest";
import { BINARY_PRIMS, COMPARE_PRIMS, UNARY_PRIMS } from "../../dsl/primitives/params";
import { PRIMITIVES } from "../../dsl/primitives/registry";
import { bind } from "../../dsl/trace";
import { grad, jit, ops, tensor, type Tensor } from "../../index";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();

const SPECIALS = [Infinity, -Infinity, NaN, 0, -0, -1, 1, 0.5, -2.5, 100, -100, 1e30, -1e30, 3e38];
/** Every ordered pair of a smaller set (binary ops). */
const PAIR_VALUES = [Infinity, -Infinity, NaN, 0, -0, -1, 1, 2.5, 100];
const PAIRS_A = PAIR_VALUES.flatMap((a) => PAIR_VALUES.map(() => a));
const PAIRS_B = PAIR_VALUES.flatMap(() => PAIR_VALUES);

/** The primitives of `names` whose shape rule accepts f32 operands of the given arity. */
function f32Prims<P extends string>(names: readonly P[], arity: number): P[] {
  const aval = { shape: [1], dtype: "f32" as const };
  return names.filter((p) => {
    try {
      (PRIMITIVES as unknown as Record<string, { abstractEval: (i: unknown[], p: object) => unknown }>)[
        p
      ]!.abstractEval(Array(arity).fill(aval), {});
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Mismatches between `got` and `want`: non-finite values must be equal (NaN, or Inf of the same sign),
 * finite ones finite and, where `valueChecked(i)`, close.
 */
function mismatches(
  label: string,
  inputs: readonly string[],
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  valueChecked: (i: number) => boolean = () => true,
) {
  const out: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i]!, want[i]!];
    const same = Number.isFinite(w)
      ? Number.isFinite(g) && (!valueChecked(i) || Math.abs(g - w) <= 1e-5 * Math.max(1, Math.abs(w)))
      : Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w));
    if (!same) out.push(`${label}(${inputs[i]}) = ${g}, interpreter ${w}`);
  }
  return out;
}

/** "-0" for negative zero (String(-0) is "0"). */
const show = (x: number) => (Object.is(x, -0) ? "-0" : String(x));

async function compareOnWebGPU(
  fn: (...xs: Tensor[]) => Tensor[],
  args: Tensor[],
  labels: readonly string[],
  inputs: readonly string[],
  valueChecked?: (label: string, i: number) => boolean,
) {
  const gpu = jit(fn, { backend: "webgpu" })(...args);
  const ref = jit(fn, { backend: "interp" })(...args);
  const bad: string[] = [];
  for (const [k, r] of ref.entries()) {
    const label = labels[k]!;
    const checked = valueChecked && ((i: number) => valueChecked(label, i));
    bad.push(...mismatches(label, inputs, await gpu[k]!.data(), r.dataSync(), checked));
  }
  return bad;
}

describe.runIf(ctx)("IEEE special values on WebGPU equal the interpreter", () => {
  it("every f32 unary primitive on Inf, -Inf, NaN, 0, negatives and overflowing inputs", async () => {
    const prims = f32Prims(UNARY_PRIMS, 1);
    expect(prims.length).toBeGreaterThan(10);
    const x = tensor(SPECIALS, [SPECIALS.length]);
    const fn = (v: Tensor) => prims.map((p) => bind(p, [v], {} as never));
    // sin/cos past |x| = 1e5 use WGSL's builtins (finite, not f32-accurate: no Payne-Hanek reduction).
    const accurate = (p: string, i: number) => !((p === "sin" || p === "cos") && Math.abs(SPECIALS[i]!) > 1e5);
    const bad = await compareOnWebGPU(fn, [x], prims, SPECIALS.map(show), accurate);
    expect(bad).toEqual([]);
  });

  it("every f32 binary and comparison primitive on every pair of special values", async () => {
    const prims = [...f32Prims(BINARY_PRIMS, 2), ...f32Prims(COMPARE_PRIMS, 2)];
    expect(prims.length).toBeGreaterThan(12);
    const [a, b] = [tensor(PAIRS_A, [PAIRS_A.length]), tensor(PAIRS_B, [PAIRS_B.length])];
    const fn = (u: Tensor, v: Tensor) => prims.map((p) => ops.cast(bind(p, [u, v], {} as never), "f32"));
    const labels = PAIRS_A.map((u, i) => `${show(u)}, ${show(PAIRS_B[i]!)}`);
    const bad = await compareOnWebGPU(fn, [a, b], prims, labels);
    expect(bad).toEqual([]);
  });

  it("the composites of the issue: log, exp(x - max x), softmax and logsumexp", async () => {
    const fn = (z: Tensor, inf: Tensor, masked: Tensor) => [
      ops.log(z),
      ops.exp(ops.sub(inf, ops.max(inf))),
      ops.softmax(inf),
      ops.logsumexp(masked, -1),
    ];
    const args = [
      tensor([0, -1]),
      tensor([1, Infinity]),
      tensor([
        [-Infinity, -Infinity],
        [0, -Infinity],
      ]),
    ] as const;
    const gpu = jit(fn, { backend: "webgpu" })(...args);
    const want = [
      [-Infinity, NaN],
      [0, NaN],
      [NaN, NaN],
      [-Infinity, 0],
    ];
    for (const [i, w] of want.entries()) expect(Array.from(await gpu[i]!.data())).toEqual(w);
  });

  it("NaN ranks as the largest value in topK, argsort (both orders, short and merge-sorted rows) and argmax", async () => {
    const fn = (v: Tensor) => [...ops.topK(v, 2), ops.argsort(v, -1), ops.argsort(v, -1, true), ops.argmax(v, -1)];
    for (const n of [4, 70]) {
      const row = Array.from({ length: n }, (_, i) => (i === 1 ? NaN : i === 2 ? n : i));
      const [values, idx, up, down, am] = jit(fn, { backend: "webgpu" })(tensor([row]));
      expect(Array.from(await values!.data())).toEqual([NaN, n]);
      expect(Array.from(await idx!.data())).toEqual([1, 2]);
      expect((await up!.data())[n - 1]).toBe(1);
      expect(Array.from((await down!.data()).slice(0, 2))).toEqual([1, 2]);
      expect(Array.from(await am!.data())).toEqual([1]);
    }
  });

  it("the gradient of logsumexp over masked rows is 0 on the masked entries and fully masked rows", async () => {
    const x = tensor([
      [-Infinity, -Infinity],
      [0, -Infinity],
      [0, 0],
    ]);
    const g = jit(
      grad((v: Tensor) => ops.sum(ops.logsumexp(v, -1))),
      { backend: "webgpu" },
    )(x);
    expect(Array.from(await g.data())).toEqual([0, 0, 1, 0, 0.5, 0.5]);
  });
});
