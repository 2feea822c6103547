import { NDArray } from "../dsl/ndarray";
import { allocArray, isFloat } from "../dsl/dtype";
import { add, mul, sum } from "../dsl/ops";
import { flatten, unflatten } from "../dsl/pytree";
import { Tensor } from "../dsl/tensor";
import { grad, jvp, vjp } from "./api";

export interface CheckGradsOptions {
  /** Highest derivative order to check (1 or 2). Default 1. */
  order?: 1 | 2;
  /** "fwd" checks jvp against finite differences; "rev" checks vjp against jvp and finite differences. Default both. */
  modes?: readonly ("fwd" | "rev")[];
  /** Central-difference step. Default 1e-6 for f64, 1e-3 for f32. */
  eps?: number;
  rtol?: number;
  atol?: number;
  /** Random directions per check. Default 2. */
  directions?: number;
  /** Seed for the random directions. */
  seed?: number;
}

/** A small deterministic PRNG for directions (independent of moeforge's random keys). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomLike(t: Tensor, rand: () => number): Tensor {
  const arr = allocArray(t.dtype, t._value().size);
  for (let i = 0; i < arr.length; i++) arr[i] = rand() * 2 - 1;
  return Tensor._concrete(new NDArray(t.dtype, t._value().shape, arr));
}

function dot(a: readonly Tensor[], b: readonly Tensor[]): number {
  let s = 0;
  a.forEach((x, i) => {
    const xa = x._value().data;
    const ya = b[i]!._value().data;
    for (let j = 0; j < xa.length; j++) s += xa[j]! * ya[j]!;
  });
  return s;
}

function leavesOf(x: unknown): Tensor[] {
  return flatten<Tensor>(x)[0];
}

function close(what: string, got: number, want: number, rtol: number, atol: number): void {
  if (!(Math.abs(got - want) <= atol + rtol * Math.max(Math.abs(got), Math.abs(want)))) {
    throw new Error(
      `checkGrads: ${what}: got ${got}, expected ${want} (|diff| ${Math.abs(got - want).toExponential(3)}, rtol ${rtol}, atol ${atol})`,
    );
  }
}

/**
 * Checks a function's derivatives numerically, like JAX's check_grads:
 * forward mode against central finite differences, and reverse mode through
 * the identity <u, J v> = <J^T u, v> plus finite differences, in random
 * directions; with `order: 2`, the same checks on the derivative itself.
 * Use f64 arguments for tight tolerances. Throws a descriptive error on mismatch.
 * @example checkGrads((x) => x.tanh().sum(), [tensor([0.3, -1.2], undefined, "f64")]);
 */
export function checkGrads(
  f: (...args: Tensor[]) => unknown,
  args: readonly Tensor[],
  options: CheckGradsOptions = {},
): void {
  const f64 = args.every((a) => a.dtype === "f64");
  const { order = 1, modes = ["fwd", "rev"], eps = f64 ? 1e-6 : 1e-3, directions = 2, seed = 0 } = options;
  const rtol = options.rtol ?? (f64 ? 1e-5 : 2e-2);
  const atol = options.atol ?? (f64 ? 1e-7 : 1e-3);
  args.forEach((a, i) => {
    if (!(a instanceof Tensor)) throw new TypeError(`checkGrads: argument ${i} must be a Tensor`);
    if (!isFloat(a.dtype))
      throw new TypeError(`checkGrads: argument ${i} has dtype ${a.dtype}; only float arguments can be checked`);
  });
  const rand = mulberry32(seed);
  const outLeaves = leavesOf(f(...args));
  for (let d = 0; d < directions; d++) {
    const v = args.map((a) => randomLike(a, rand));
    // Central difference of <u, f(x + t v)> for a random u gives a scalar to compare.
    const u = outLeaves.map((o) => (isFloat(o.dtype) ? randomLike(o, rand) : o));
    const floatIdx = outLeaves.flatMap((o, i) => (isFloat(o.dtype) ? [i] : []));
    const proj = (ts: Tensor[]) =>
      dot(
        floatIdx.map((i) => ts[i]!),
        floatIdx.map((i) => u[i]!),
      );
    const at = (s: number) => leavesOf(f(...args.map((a, i) => add(a, mul(v[i]!, s)))));
    const fd = (proj(at(eps)) - proj(at(-eps))) / (2 * eps);
    if (modes.includes("fwd")) {
      const [, tOut] = jvp(f as never, args as never, v);
      close(`jvp vs finite differences (direction ${d})`, proj(leavesOf(tOut)), fd, rtol, atol);
    }
    if (modes.includes("rev")) {
      const [, back] = (vjp as (f: unknown, ...a: Tensor[]) => [unknown, (ct: unknown) => unknown[]])(f, ...args);
      const cts = back(unflatten(flatten<Tensor>(f(...args))[1], u));
      const vjpDot = dot(cts as Tensor[], v);
      close(`vjp vs finite differences (direction ${d})`, vjpDot, fd, rtol, atol);
      if (modes.includes("fwd")) {
        const [, tOut] = jvp(f as never, args as never, v);
        close(`<vjp(u), v> vs <u, jvp(v)> (direction ${d})`, vjpDot, proj(leavesOf(tOut)), rtol, atol);
      }
    }
  }
  if (order >= 2) {
    // Second order: check the directional derivative of the gradient of <u, f>.
    const w = args.map((a) => randomLike(a, rand));
    const u = outLeaves.map((o) => randomLike(o, rand));
    const scalarF = (...xs: Tensor[]) => {
      const outs = leavesOf(f(...xs));
      return outs.map((o, i) => sum(mul(o, u[i]!))).reduce((p, q) => add(p, q));
    };
    const argnums = args.map((_, i) => i);
    const g = (...xs: Tensor[]) => {
      const gs = grad(scalarF, { argnums })(...xs) as Tensor[];
      return gs.map((gi, i) => sum(mul(gi, w[i]!))).reduce((p, q) => add(p, q));
    };
    checkGrads(g, args, { ...options, order: 1, modes: modes.includes("fwd") ? modes : ["rev"], seed: seed + 1 });
  }
}
