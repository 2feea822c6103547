import { traceFlatTree } from "../dsl/api";
import { isFloat } from "../dsl/dtype";
import { full } from "../dsl/ops";
import { flatten, treeDefEqual, treeDefKey, unflatten, type TreeDef } from "../dsl/pytree";
import { shapeToString } from "../dsl/shape";
import type { Tensor } from "../dsl/tensor";
import { bind, evalProgram, withCallSite } from "../dsl/trace";
import { jvpProgram } from "./jvp";
import { vjpProgram } from "./vjp";

// `any[]` (not `never[]`): as a contextual type it must not force `never` parameters on an inner `grad(f)` (e.g. `jvp(grad(f), [x], [v])`).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...args: any[]) => unknown;

export interface GradOptions {
  /** Which positional argument(s) to differentiate: a number gives one gradient, an array gives an array. Default 0. */
  argnums?: number | readonly number[];
  /** f returns `[loss, aux]`; aux is returned alongside, undifferentiated. */
  hasAux?: boolean;
}

/**
 * The gradient `grad(f, { argnums })` returns: the type of the differentiated
 * argument (a gradient has its argument's pytree structure, shapes and dtypes),
 * or a tuple of them for a tuple of argnums. Non-literal argnums give the union
 * of the parameter types.
 */
export type GradOutput<F extends Fn, A> = [A] extends [undefined]
  ? Parameters<F>[0]
  : A extends number
    ? number extends A
      ? Parameters<F>[number]
      : Parameters<F>[A]
    : A extends readonly number[]
      ? number extends A["length"]
        ? Parameters<F>[number][]
        : { -readonly [K in keyof A]: A[K] extends number ? Parameters<F>[A[K]] : never }
      : Parameters<F>[number];

/** The `argnums` of an options type (undefined when not given). */
type ArgnumsOf<O> = O extends { readonly argnums: infer A } ? A : undefined;
/** Whether an options type sets `hasAux: true`. */
type HasAux<O> = O extends { readonly hasAux: true } ? true : false;
/** `f`'s aux output under `hasAux` (f returns `[loss, aux]`). */
type AuxOf<F extends Fn> = ReturnType<F> extends readonly [unknown, infer Aux] ? Aux : unknown;
/** `f`'s value: its loss, or `[loss, aux]` with `hasAux`. */
type ValueOf<F extends Fn, O extends GradOptions> =
  HasAux<O> extends true
    ? ReturnType<F> extends readonly [infer L, infer Aux]
      ? [L, Aux]
      : [Tensor, unknown]
    : ReturnType<F>;
/** What `grad(f, options)` returns: the gradient, or `[gradient, aux]` with `hasAux`. */
export type GradResult<F extends Fn, O extends GradOptions> =
  HasAux<O> extends true ? [GradOutput<F, ArgnumsOf<O>>, AuxOf<F>] : GradOutput<F, ArgnumsOf<O>>;

interface FlatArgs {
  leaves: Tensor[];
  tree: TreeDef;
  /** [start, end) of each positional argument's leaves */
  ranges: [number, number][];
}

function flattenArgs(args: readonly unknown[], fname: string): FlatArgs {
  const leaves: Tensor[] = [];
  const ranges: [number, number][] = [];
  args.forEach((a, i) => {
    const [l] = flatten<Tensor>(a, undefined, `${fname}: argument ${i}`);
    ranges.push([leaves.length, leaves.length + l.length]);
    leaves.push(...l);
  });
  const [, tree] = flatten<Tensor>(args, undefined, `${fname}: arguments`);
  return { leaves, tree, ranges };
}

function normArgnums(argnums: number | readonly number[], nargs: number, fname: string): number[] {
  const list = typeof argnums === "number" ? [argnums] : [...argnums];
  for (const a of list) {
    if (!Number.isInteger(a) || a < 0 || a >= nargs)
      throw new RangeError(`${fname}: argnums ${a} is out of range for ${nargs} argument(s)`);
  }
  const repeated = list.find((a, i) => list.indexOf(a) !== i);
  if (repeated !== undefined)
    throw new RangeError(
      `${fname}: argnums [${list.join(", ")}] lists argument ${repeated} twice; list each argument once`,
    );
  return list;
}

/** Splits flat per-leaf results back into the structure of the chosen arguments. */
function regroup(
  flat: FlatArgs,
  args: readonly unknown[],
  nums: readonly number[],
  values: readonly Tensor[],
): unknown[] {
  let at = 0;
  return nums.map((a) => {
    const [s, e] = flat.ranges[a]!;
    const [, def] = flatten<Tensor>(args[a]);
    const part = values.slice(at, at + (e - s));
    at += e - s;
    return unflatten(def, part);
  });
}

/**
 * Value and gradient of a scalar-valued function, in one pass.
 * Returns `[value, grad]`, or `[[value, aux], grad]` with `hasAux`.
 * @example
 * const [loss, g] = valueAndGrad((w, x) => x.matmul(w).square().sum())(w, x);
 */
export function valueAndGrad<F extends Fn, const O extends GradOptions = Record<never, never>>(
  f: F,
  options: O = {} as O,
): (...args: Parameters<F>) => [ValueOf<F, O>, GradOutput<F, ArgnumsOf<O>>] {
  const { argnums = 0, hasAux = false } = options;
  return (...args: Parameters<F>) => {
    try {
      const argList = args as unknown[];
      const nums = normArgnums(argnums, argList.length, "grad");
      const flat = flattenArgs(argList, "grad");
      const wrt = flat.leaves.map(() => false);
      for (const a of nums) {
        const [s, e] = flat.ranges[a]!;
        for (let i = s; i < e; i++) {
          const leaf = flat.leaves[i]!;
          if (!isFloat(leaf.dtype)) {
            throw new TypeError(
              `grad: argument ${a} has a leaf of dtype ${leaf.dtype}; only float inputs can be differentiated (exclude it with argnums)`,
            );
          }
          wrt[i] = true;
        }
      }
      let auxTree: TreeDef | undefined;
      const { program, captures } = traceFlatTree(
        ((...a: unknown[]) => {
          const out = (f as unknown as (...x: unknown[]) => unknown)(...a);
          if (!hasAux) {
            const [leaves] = flatten<Tensor>(out, undefined, "result");
            if (leaves.length > 1)
              throw new TypeError(
                `grad: f returned ${leaves.length} tensors (${leaves.map((l) => `${l.dtype}${shapeToString(l.shape)}`).join(", ")}); ` +
                  `grad needs a single scalar. If the rest is auxiliary output, pass { hasAux: true } to get [grad, aux]`,
              );
            return [out];
          }
          if (!Array.isArray(out) || out.length !== 2) throw new TypeError("grad (hasAux): f must return [loss, aux]");
          const [auxLeaves, def] = flatten<Tensor>(out[1], undefined, "aux");
          auxTree = def;
          return [out[0], ...auxLeaves];
        }) as Fn,
        flat.leaves,
        flat.tree,
      );
      const loss = program.outputs[0]!;
      if (!(loss.shape.length === 0 && isFloat(loss.dtype))) {
        throw new TypeError(
          `grad: f must return a scalar float tensor (shape []), got ${loss.dtype}${shapeToString(loss.shape)}; ` +
            `reduce it (e.g. .sum() or .mean()) or use vjp for non-scalar outputs`,
        );
      }
      const vp = vjpProgram(program, [...wrt, ...captures.map(() => false)]);
      const cts = program.outputs.map((v, i) => full(v.shape, i === 0 ? 1 : 0, v.dtype));
      const res = evalProgram(vp, [...flat.leaves, ...captures, ...cts]);
      const nOut = program.outputs.length;
      const grads = regroup(flat, argList, nums, res.slice(nOut));
      const gradOut = typeof argnums === "number" ? grads[0] : grads;
      const value = hasAux ? [res[0]!, unflatten(auxTree!, res.slice(1, nOut))] : res[0]!;
      return [value, gradOut] as [ValueOf<F, O>, GradOutput<F, ArgnumsOf<O>>];
    } catch (e) {
      return withCallSite(e);
    }
  };
}

/**
 * The gradient of a scalar-valued function with respect to `argnums` (default 0).
 * Works on pytrees, inside other transforms, and on itself (grad of grad).
 * With `hasAux`, returns `[grad, aux]`.
 * @example const dw = grad((w) => loss(w, batch))(w);
 */
export function grad<F extends Fn, const O extends GradOptions = Record<never, never>>(
  f: F,
  options: O = {} as O,
): (...args: Parameters<F>) => GradResult<F, O> {
  const vg = valueAndGrad(f, options);
  return (...args: Parameters<F>) => {
    const [value, g] = vg(...args);
    return (options.hasAux ? [g, (value as [Tensor, unknown])[1]] : g) as GradResult<F, O>;
  };
}

/**
 * Reverse mode for any output: returns `[out, pullback]`; `pullback(ct)` takes a
 * cotangent with out's structure and returns one cotangent per primal.
 * @example const [y, back] = vjp(f, x, w); const [dx, dw] = back(onesLike(y));
 */
/** A primal's cotangent from `vjp`: its own type, or null for a non-float primal. */
type Cotangents<P extends readonly unknown[]> = { -readonly [K in keyof P]: P[K] | null };

export function vjp<F extends Fn>(
  f: F,
  ...primals: Parameters<F>
): [ReturnType<F>, (ct: ReturnType<F>) => Cotangents<Parameters<F>>] {
  try {
    const flat = flattenArgs(primals as unknown[], "vjp");
    const { program, captures } = traceFlatTree(f, flat.leaves, flat.tree);
    const inputs = [...flat.leaves, ...captures];
    const outs = evalProgram(program, inputs);
    const out = unflatten(program.outTree!, outs);
    const wrt = [...flat.leaves.map((l) => isFloat(l.dtype)), ...captures.map(() => false)];
    const vp = vjpProgram(program, wrt);
    const pullback = (ct: unknown) => {
      try {
        const [ctLeaves] = flatten<Tensor>(ct, undefined, "vjp cotangent");
        if (ctLeaves.length !== outs.length)
          throw new TypeError(`vjp: cotangent has ${ctLeaves.length} leaves, the output has ${outs.length}`);
        ctLeaves.forEach((c, i) => {
          const o = outs[i]!;
          if (c.dtype !== o.dtype || c.shape.length !== o.shape.length || c.shape.some((d, j) => d !== o.shape[j])) {
            throw new TypeError(
              `vjp: cotangent ${i} is ${c.dtype}${shapeToString(c.shape)}, expected ${o.dtype}${shapeToString(o.shape)}`,
            );
          }
        });
        const res = evalProgram(vp, [...inputs, ...ctLeaves]).slice(outs.length);
        // Non-float primals get no cotangent (null).
        let r = 0;
        const perLeaf = flat.leaves.map((l) => (isFloat(l.dtype) ? res[r++]! : null));
        return (primals as unknown[]).map((a, i) => {
          const [s, e] = flat.ranges[i]!;
          const [, def] = flatten<Tensor>(a);
          return unflatten(def, perLeaf.slice(s, e));
        });
      } catch (e) {
        return withCallSite(e);
      }
    };
    return [out as ReturnType<F>, pullback as (ct: ReturnType<F>) => Cotangents<Parameters<F>>];
  } catch (e) {
    return withCallSite(e);
  }
}

/**
 * Forward mode: `[out, tangentOut]` for primals and tangents (arrays with one
 * entry per argument, same structures).
 * @example const [y, dy] = jvp(f, [x], [v]);
 */
export function jvp<F extends Fn>(
  f: F,
  primals: Parameters<F>,
  tangents: readonly unknown[],
): [ReturnType<F>, ReturnType<F>] {
  try {
    const flat = flattenArgs(primals as unknown[], "jvp");
    const [tLeaves, tTree] = flatten<Tensor>(tangents, undefined, "jvp tangents");
    if (!treeDefEqual(tTree, flat.tree))
      throw new TypeError(
        `jvp: the tangents have structure ${treeDefKey(tTree)}, the primals ${treeDefKey(flat.tree)}; ` +
          `pass one tangent per primal, in the same structure`,
      );
    if (tLeaves.length !== flat.leaves.length)
      throw new TypeError(`jvp: ${tLeaves.length} tangent leaves for ${flat.leaves.length} primal leaves`);
    tLeaves.forEach((t, i) => {
      const p = flat.leaves[i]!;
      if (t.dtype !== p.dtype || t.shape.length !== p.shape.length || t.shape.some((d, j) => d !== p.shape[j])) {
        throw new TypeError(
          `jvp: tangent ${i} is ${t.dtype}${shapeToString(t.shape)}, expected ${p.dtype}${shapeToString(p.shape)} like its primal`,
        );
      }
    });
    const { program, captures } = traceFlatTree(f, flat.leaves, flat.tree);
    const mask = [...flat.leaves.map((l) => isFloat(l.dtype)), ...captures.map(() => false)];
    const jp = jvpProgram(program, mask);
    const res = evalProgram(jp, [...flat.leaves, ...captures, ...tLeaves.filter((_, i) => mask[i])]);
    const n = program.outputs.length;
    return [unflatten(program.outTree!, res.slice(0, n)), unflatten(program.outTree!, res.slice(n))] as [
      ReturnType<F>,
      ReturnType<F>,
    ];
  } catch (e) {
    return withCallSite(e);
  }
}

/**
 * Hessian-vector product of a scalar function of one argument: H(x) v,
 * computed as forward-over-reverse (jvp of grad).
 */
export function hessianVectorProduct<F extends (x: never) => Tensor>(
  f: F,
): (x: Parameters<F>[0], v: Parameters<F>[0]) => Parameters<F>[0] {
  return (x, v) => jvp(grad(f), [x] as never, [v])[1] as Parameters<F>[0];
}

/**
 * A function with a user-defined reverse-mode rule (like jax.custom_vjp).
 * `fwd(...primals)` returns `[out, residuals]`; `bwd(residuals, ct)` returns one
 * cotangent per primal (null for none). The function's value and its kernels
 * come from `fn`; only its gradient uses the rules.
 * @example
 * // straight-through estimator
 * const roundSte = customVjp((x) => round(x), (x) => [round(x), null], (_r, g) => [g]);
 */
export function customVjp<P extends Tensor[], R = unknown>(
  fn: (...primals: P) => Tensor,
  fwd: (...primals: P) => [Tensor, NoInfer<R>],
  bwd: (residuals: R, ct: Tensor) => readonly (Tensor | null | undefined)[],
): (...primals: P) => Tensor {
  const name = fn.name || "anonymous";
  return (...primals: P) => {
    try {
      primals.forEach((p, i) => {
        if (!(p && typeof p === "object" && "_node" in p))
          throw new TypeError(`customVjp "${name}": argument ${i} must be a Tensor`);
      });
      const { program, captures } = traceFlatTree(fn as Fn, primals, flatten(primals)[1]);
      if (program.outputs.length !== 1)
        throw new TypeError(
          `customVjp "${name}": fn must return a single Tensor, got ${program.outputs.length} outputs`,
        );
      return bind("customVjpCall", [...primals, ...captures], {
        program,
        nPrimals: primals.length,
        captures,
        fwd: fwd as never,
        bwd: bwd as never,
        name,
      });
    } catch (e) {
      return withCallSite(e);
    }
  };
}
