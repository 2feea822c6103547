/**
 * The public ops. Each validates its operands (numpy broadcasting, dtype
 * agreement, axes), then binds primitives. Composite ops (softmax, logsumexp,
 * gelu, oneHot, topK values, ...) are written here in terms of primitives, so
 * their derivatives and kernels come for free.
 */
import { NDArray } from "./ndarray";
import { assertDType, castScalar, isFloat, type DType } from "./dtype";
import type { Program } from "./program";
import type { BinaryPrim, ComparePrim, UnaryPrim } from "./primitives/params";
import {
  ShapeError,
  broadcastShapes,
  keepDimsShape,
  normAxes,
  normAxis,
  sameShape,
  shapeToString,
  checkDim,
  inferredDim,
  numelDim,
  type Dim,
  type Shape,
} from "./shape";
import { dimAdd, dimMul, dimToString, requireConcrete } from "./dims";
import { Tensor, installTensorOps, type Operand } from "./tensor";
import { atCallSite, bind } from "./trace";

export type { Operand };

/** Runs an op body, adding the user's call site to any error it throws. */
const op = atCallSite;

function checkTensor(x: unknown, opName: string, what = "operand"): Tensor {
  if (x instanceof Tensor) return x;
  if (Array.isArray(x))
    throw new TypeError(
      `${opName}: ${what} is a JS array; wrap arrays with tensor(), e.g. tensor(${JSON.stringify(x).slice(0, 40).replaceAll(",", ", ")})`,
    );
  throw new TypeError(`${opName}: ${what} must be a Tensor, got ${x === null ? "null" : typeof x}`);
}

const scalarCache = new Map<string, Tensor>();

/** A 0-d constant tensor (cached: constants are immutable). */
export function scalar(value: number, dtype: DType = "f32"): Tensor {
  const v = castScalar(value, dtype);
  const key = `${dtype}:${Object.is(v, -0) ? "-0" : v}`;
  let t = scalarCache.get(key);
  if (!t) {
    t = Tensor._concrete(NDArray.scalar(dtype, v));
    if (scalarCache.size < 4096) scalarCache.set(key, t);
  }
  return t;
}

function toTensor(x: Operand, dtype: DType, opName: string): Tensor {
  if (typeof x === "number") return scalar(x, dtype);
  return checkTensor(x, opName);
}

/** Broadcasts to a shape, binding nothing when the shape already matches. */
function broadcastIfNeeded(x: Tensor, shape: Shape): Tensor {
  return sameShape(x.shape, shape) ? x : bind("broadcastTo", [x], { shape });
}

/** Converts two operands to tensors of one dtype and one broadcast shape. */
function coerce(opName: string, a: Operand, b: Operand): [Tensor, Tensor] {
  if (typeof a === "number" && typeof b === "number") return [scalar(a), scalar(b)];
  const dtype = (typeof a === "number" ? (b as Tensor) : (a as Tensor)).dtype;
  const ta = toTensor(a, typeof b === "number" ? dtype : checkTensor(b, opName).dtype, opName);
  const tb = toTensor(b, ta.dtype, opName);
  if (ta.dtype !== tb.dtype) {
    throw new TypeError(
      `${opName}: operand dtypes ${ta.dtype} and ${tb.dtype} differ; cast one operand (e.g. x.cast("${ta.dtype}"))`,
    );
  }
  const shape = broadcastShapes(ta.shape, tb.shape, opName);
  return [broadcastIfNeeded(ta, shape), broadcastIfNeeded(tb, shape)];
}

function binary(prim: BinaryPrim, a: Operand, b: Operand): Tensor {
  return op(() => bind(prim, coerce(prim, a, b), {}));
}

function compare(prim: ComparePrim, a: Operand, b: Operand): Tensor<Shape, "bool"> {
  return op(() => bind(prim, coerce(prim, a, b), {})) as Tensor<Shape, "bool">;
}

function unary(prim: UnaryPrim, x: Tensor): Tensor {
  return op(() => bind(prim, [checkTensor(x, prim)], {}));
}

// ------------------------------------------------------------- elementwise

/** Elementwise a + b with numpy broadcasting. @example add(x, 1) */
export const add = (a: Operand, b: Operand): Tensor => binary("add", a, b);
/** Elementwise a - b. */
export const sub = (a: Operand, b: Operand): Tensor => binary("sub", a, b);
/** Elementwise a * b. */
export const mul = (a: Operand, b: Operand): Tensor => binary("mul", a, b);
/** Elementwise a / b (integer division truncates for i32). */
export const div = (a: Operand, b: Operand): Tensor => binary("div", a, b);
/** Elementwise max; at ties the gradient goes to `a`. */
export const maximum = (a: Operand, b: Operand): Tensor => binary("maximum", a, b);
/** Elementwise min; at ties the gradient goes to `a`. */
export const minimum = (a: Operand, b: Operand): Tensor => binary("minimum", a, b);
/** Elementwise a ** b (floats). */
export const pow = (a: Operand, b: Operand): Tensor => binary("pow", a, b);
/** Elementwise remainder with the sign of a (C fmod / JS %). */
export const rem = (a: Operand, b: Operand): Tensor => binary("rem", a, b);

export const neg = (x: Tensor): Tensor => unary("neg", x);
export const exp = (x: Tensor): Tensor => unary("exp", x);
export const log = (x: Tensor): Tensor => unary("log", x);
export const log1p = (x: Tensor): Tensor => unary("log1p", x);
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
export const rsqrt = (x: Tensor): Tensor => unary("rsqrt", x);
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
export const sigmoid = (x: Tensor): Tensor => unary("sigmoid", x);
export const abs = (x: Tensor): Tensor => unary("abs", x);
export const sign = (x: Tensor): Tensor => unary("sign", x);
export const sin = (x: Tensor): Tensor => unary("sin", x);
export const cos = (x: Tensor): Tensor => unary("cos", x);
/**
 * The error function, `erf(x) = 2/sqrt(pi) * integral from 0 to x of exp(-t^2) dt` (floats;
 * f64 to ~1e-15). Its derivative is `2/sqrt(pi) * exp(-x^2)`.
 * @example erf(tensor([0, 0.5, -1])) // [0, 0.5205, -0.8427]
 */
export const erf = (x: Tensor): Tensor => unary("erf", x);
export const logicalNot = (x: Tensor): Tensor<Shape, "bool"> => unary("logicalNot", x) as Tensor<Shape, "bool">;

export const equal = (a: Operand, b: Operand) => compare("equal", a, b);
export const notEqual = (a: Operand, b: Operand) => compare("notEqual", a, b);
export const less = (a: Operand, b: Operand) => compare("less", a, b);
export const lessEqual = (a: Operand, b: Operand) => compare("lessEqual", a, b);
export const greater = (a: Operand, b: Operand) => compare("greater", a, b);
export const greaterEqual = (a: Operand, b: Operand) => compare("greaterEqual", a, b);
export const logicalAnd = (a: Operand, b: Operand) => compare("logicalAnd", a, b);
export const logicalOr = (a: Operand, b: Operand) => compare("logicalOr", a, b);

/** x * x. */
export const square = (x: Tensor): Tensor => mul(x, x);
/** 1 / x. */
export const reciprocal = (x: Tensor): Tensor => div(1, x);
/** max(x, 0); the derivative at 0 is 0. */
export const relu = (x: Tensor): Tensor => op(() => where(greater(x, 0), x, 0));
/** x * sigmoid(x) (a.k.a. swish). */
export const silu = (x: Tensor): Tensor => mul(x, sigmoid(x));
/** log(1 + exp(x)), computed stably. */
export const softplus = (x: Tensor): Tensor => add(log1p(exp(neg(abs(x)))), relu(x));
/**
 * GELU. By default the tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)));
 * with `{ approximate: false }` the exact x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))).
 * @example gelu(x); gelu(x, { approximate: false })
 */
export const gelu = (x: Tensor, options: { readonly approximate?: boolean } = {}): Tensor =>
  op(() =>
    (options.approximate ?? true)
      ? mul(mul(x, 0.5), add(1, tanh(mul(add(x, mul(mul(x, square(x)), 0.044715)), Math.sqrt(2 / Math.PI)))))
      : mul(mul(x, 0.5), add(1, erf(mul(x, Math.SQRT1_2)))),
  );
/** Rounds toward zero (|x| < 2^31). */
export const trunc = (x: Tensor): Tensor => cast(cast(x, "i32"), x.dtype);
/** Clamps x to [lo, hi]. */
export const clip = (x: Tensor, lo: number, hi: number): Tensor => minimum(maximum(x, lo), hi);

/** Elementwise select: cond ? a : b, with broadcasting; a and b may be numbers. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  return op(() => {
    checkTensor(cond, "where", "condition");
    if (cond.dtype !== "bool") throw new TypeError(`where: condition has dtype ${cond.dtype}, expected bool`);
    const [ta, tb] = coerce("where", a, b);
    const shape = broadcastShapes(cond.shape, ta.shape, "where");
    return bind(
      "select",
      [broadcastIfNeeded(cond, shape), broadcastIfNeeded(ta, shape), broadcastIfNeeded(tb, shape)],
      {},
    );
  });
}

/** Converts to another dtype (float -> int truncates; nonzero -> true). */
export function cast<D extends DType>(x: Tensor, dtype: D): Tensor<Shape, D> {
  return op(() => {
    assertDType(dtype, "cast");
    return checkTensor(x, "cast").dtype === dtype ? x : bind("cast", [x], { dtype });
  }) as Tensor<Shape, D>;
}

/** Identity in value; zero derivative. */
export const stopGradient = <T extends Tensor>(x: T): T =>
  op(() => bind("stopGradient", [checkTensor(x, "stopGradient")], {})) as T;

// ------------------------------------------------------------- creation helpers used by rules

/** A tensor of `shape` filled with `value` (named dims allowed while tracing). */
export function full(shape: Shape, value: number, dtype: DType = "f32"): Tensor {
  return op(() => {
    if (typeof value !== "number" && typeof value !== "boolean")
      throw new TypeError(
        `full: the fill value must be a number or boolean, got ${typeof value} (${JSON.stringify(value)})`,
      );
    return broadcastIfNeeded(scalar(Number(value), dtype), shape);
  });
}
export const zerosLike = (x: Tensor): Tensor => full(x.shape, 0, x.dtype);
export const onesLike = (x: Tensor): Tensor => full(x.shape, 1, x.dtype);
export const fullLike = (x: Tensor, value: number): Tensor => full(x.shape, value, x.dtype);

// ------------------------------------------------------------- shape ops

/** Reshapes (one dim may be -1: inferred). */
export function reshape(x: Tensor, dims: readonly Dim[]): Tensor {
  return op(() => {
    checkTensor(x, "reshape");
    const shape = dims.map((d) => (d === -1 ? d : checkDim(d, "reshape")));
    const infer = shape.filter((d) => d === -1).length;
    if (infer > 1) throw new ShapeError(`reshape: at most one -1 in ${shapeToString(shape)}`);
    let target = shape;
    if (infer === 1) {
      const d = inferredDim(
        x.shape,
        shape.filter((d) => d !== -1),
      );
      if (d === undefined)
        throw new ShapeError(
          `reshape: cannot infer -1 in ${shapeToString(shape)} from ${shapeToString(x.shape)}: ` +
            `${dimToString(numelDim(x.shape))} elements are not a whole multiple of ${dimToString(numelDim(shape.filter((d) => d !== -1)))}`,
        );
      target = shape.map((s) => (s === -1 ? d : s));
    }
    return sameShape(x.shape, target) ? x : bind("reshape", [x], { shape: target });
  });
}

/** Permutes axes; default reverses them. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  return op(() => {
    const r = checkTensor(x, "transpose").shape.length;
    const p = perm ? perm.map((a) => normAxis(a, r, "transpose")) : Array.from({ length: r }, (_, i) => r - 1 - i);
    return p.every((a, i) => a === i) && p.length === r ? x : bind("transpose", [x], { perm: p });
  });
}

/** numpy broadcast_to. */
export function broadcastTo(x: Tensor, target: readonly Dim[]): Tensor {
  return op(() => {
    const shape = target.map((d) => checkDim(d, "broadcastTo"));
    broadcastShapes(checkTensor(x, "broadcastTo").shape, shape, "broadcastTo");
    return broadcastIfNeeded(x, shape);
  });
}

/** Inserts a size-1 axis at `axis` (negative counts from the end of the result). */
export function expandDims(x: Tensor, axis: number): Tensor {
  return op(() => {
    const r = checkTensor(x, "expandDims").shape.length;
    const a = normAxis(axis, r + 1, "expandDims");
    return bind("reshape", [x], { shape: [...x.shape.slice(0, a), 1, ...x.shape.slice(a)] });
  });
}

/** Removes size-1 axes (all of them, or those given). */
export function squeeze(x: Tensor, axis?: number | readonly number[]): Tensor {
  return op(() => {
    const r = checkTensor(x, "squeeze").shape.length;
    const axes = axis === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normAxes(axis, r, "squeeze");
    for (const a of axes)
      if (x.shape[a] !== 1)
        throw new ShapeError(`squeeze: axis ${a} of ${shapeToString(x.shape)} has size ${x.shape[a]}, expected 1`);
    return reshape(
      x,
      x.shape.filter((_, i) => !axes.includes(i)),
    );
  });
}

/** Joins tensors along an existing axis. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  return op(() => {
    if (!Array.isArray(xs) || xs.length === 0) throw new ShapeError("concat: expected a non-empty array of tensors");
    xs.forEach((x, i) => checkTensor(x, "concat", `operand ${i}`));
    const a = normAxis(axis, xs[0]!.shape.length, "concat");
    return xs.length === 1 ? xs[0]! : bind("concat", xs, { axis: a });
  });
}

/** Joins tensors along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  return op(() => {
    if (!Array.isArray(xs) || xs.length === 0) throw new ShapeError("stack: expected a non-empty array of tensors");
    xs.forEach((x, i) => checkTensor(x, "stack", `element ${i}`));
    const mismatch = xs.findIndex((x) => !sameShape(x.shape, xs[0]!.shape));
    if (mismatch > 0)
      throw new ShapeError(
        `stack: tensor ${mismatch} has shape ${shapeToString(xs[mismatch]!.shape)}, tensor 0 has ` +
          `${shapeToString(xs[0]!.shape)}; stack needs equal shapes`,
      );
    const a = normAxis(axis, xs[0]!.shape.length + 1, "stack");
    return concat(
      xs.map((x) => expandDims(x, a)),
      a,
    );
  });
}

/**
 * Static slice: `starts[i] <= j < limits[i]` on each axis. Negative values count
 * from the end; a missing or null limit means "to the end".
 */
export function slice(x: Tensor, starts: readonly number[], limits?: readonly (Dim | null)[]): Tensor {
  return op(() => {
    checkTensor(x, "slice");
    const r = x.shape.length;
    if (starts.length > r || (limits && limits.length > r))
      throw new ShapeError(`slice: more bounds than dims of ${shapeToString(x.shape)}`);
    const s: Dim[] = [];
    const l: Dim[] = [];
    x.shape.forEach((d, i) => {
      const st = starts[i] ?? 0;
      const li = limits?.[i] ?? null;
      const norm = (v: number): Dim => (v < 0 ? dimAdd(d, v) : v);
      s.push(norm(st));
      l.push(li === null ? d : typeof li === "number" ? norm(li) : checkDim(li, "slice"));
    });
    return bind("slice", [x], { starts: s, limits: l });
  });
}

/** Pads with a constant: `widths[i] = [before, after]`. */
export function pad(x: Tensor, widths: readonly (readonly [number, number])[], value = 0): Tensor {
  return op(() => {
    checkTensor(x, "pad");
    if (widths.length !== x.shape.length)
      throw new ShapeError(`pad: need one [before, after] pair per dim of ${shapeToString(x.shape)}`);
    const lo = widths.map((w) => w[0]);
    const hi = widths.map((w) => w[1]);
    const padded = bind("pad", [x], { lo, hi });
    if (value === 0) return padded;
    const mask = bind("pad", [onesLike(x)], { lo, hi });
    return add(padded, mul(sub(1, mask), value));
  });
}

// ------------------------------------------------------------- reductions

function reduceWith(
  name: string,
  x: Tensor,
  axis: number | readonly number[] | undefined,
  keepdims: boolean,
  f: (x: Tensor, axes: number[]) => Tensor,
): Tensor {
  return op(() => {
    checkTensor(x, name);
    const axes = normAxes(axis, x.shape.length, name);
    const y = axes.length === 0 ? x : f(x, axes);
    return keepdims ? reshape(y, keepDimsShape(x.shape, axes)) : y;
  });
}

/** Sum over axes (all when omitted), numpy-style. */
export const sum = (x: Tensor, axis?: number | readonly number[], keepdims = false): Tensor =>
  reduceWith("sum", x, axis, keepdims, (t, axes) =>
    bind("reduceSum", [t.dtype === "bool" ? cast(t, "i32") : t], { axes }),
  );

/** Mean over axes. */
export function mean(x: Tensor, axis?: number | readonly number[], keepdims = false): Tensor {
  return reduceWith("mean", x, axis, keepdims, (t, axes) => {
    if (!isFloat(t.dtype)) throw new TypeError(`mean: dtype ${t.dtype} is not a float dtype; cast first`);
    const dims = axes.map((a) => t.shape[a]!);
    const s = bind("reduceSum", [t], { axes });
    if (dims.every((d) => typeof d === "number"))
      return div(
        s,
        (dims as number[]).reduce((a, b) => a * b, 1),
      );
    return div(s, bind("reduceSum", [onesLike(t)], { axes }));
  });
}

function extremum(
  prim: "reduceMax" | "reduceMin",
  name: string,
  x: Tensor,
  axis: number | readonly number[] | undefined,
  keepdims: boolean,
): Tensor {
  return reduceWith(name, x, axis, keepdims, (t, axes) => {
    let y = t;
    for (const a of [...axes].reverse()) y = bind(prim, [y], { axis: a });
    return y;
  });
}

/** Max over axes; the gradient goes to one arg-max (the lowest index at ties). */
export const max = (x: Tensor, axis?: number | readonly number[], keepdims = false): Tensor =>
  extremum("reduceMax", "max", x, axis, keepdims);
/** Min over axes; the gradient goes to one arg-min (the lowest index at ties). */
export const min = (x: Tensor, axis?: number | readonly number[], keepdims = false): Tensor =>
  extremum("reduceMin", "min", x, axis, keepdims);

/** Index of the maximum along `axis` (i32; ties to the lower index). */
export function argmax(x: Tensor, axis = -1, keepdims = false): Tensor<Shape, "i32"> {
  return op(() => {
    const a = normAxis(axis, checkTensor(x, "argmax").shape.length, "argmax");
    const y = bind("argmax", [x], { axis: a });
    return keepdims ? expandDims(y, a) : y;
  }) as Tensor<Shape, "i32">;
}

/** Index of the minimum along `axis` (i32; ties to the lower index). */
export function argmin(x: Tensor, axis = -1, keepdims = false): Tensor<Shape, "i32"> {
  return op(() => {
    const a = normAxis(axis, checkTensor(x, "argmin").shape.length, "argmin");
    const y = bind("argmin", [x], { axis: a });
    return keepdims ? expandDims(y, a) : y;
  }) as Tensor<Shape, "i32">;
}

/** log(sum(exp(x))) over axes, computed stably. */
export function logsumexp(x: Tensor, axis?: number | readonly number[], keepdims = false): Tensor {
  return op(() => {
    // Shift by the max where it is finite (like scipy and JAX): a row of -Inf (fully masked) shifts
    // by 0 instead of computing -Inf - -Inf = NaN, and its sum of exps is 0.
    const rowMax = max(x, axis, true);
    const m = stopGradient(where(less(abs(rowMax), Infinity), rowMax, 0));
    const total = sum(exp(sub(x, m)), axis, true);
    // log(0) = -Inf is the value of a fully masked row; its gradient is 0 (every input is -Inf:
    // moving one by a finite amount changes nothing), so that row takes log(1) on the
    // differentiated path and -Inf is selected in, instead of 1/0 * 0 = NaN.
    const empty = equal(total, 0);
    const s = where(empty, -Infinity, add(log(where(empty, 1, total)), m));
    return keepdims ? s : squeeze(s, normAxes(axis, x.shape.length, "logsumexp"));
  });
}

/** softmax along `axis` (default last). */
export function softmax(x: Tensor, axis = -1): Tensor {
  return op(() => {
    const e = exp(sub(x, stopGradient(max(x, axis, true))));
    return div(e, sum(e, axis, true));
  });
}

/** log(softmax(x)) along `axis`, computed stably. */
export const logSoftmax = (x: Tensor, axis = -1): Tensor => op(() => sub(x, logsumexp(x, axis, true)));

/** Inclusive prefix sum along `axis`. */
export function cumsum(x: Tensor, axis = -1, reverse = false): Tensor {
  return op(() =>
    bind("cumsum", [x], { axis: normAxis(axis, checkTensor(x, "cumsum").shape.length, "cumsum"), reverse }),
  );
}

// ------------------------------------------------------------- linear algebra

/** numpy matmul: batched, leading dims broadcast, 1-D operands promoted and squeezed. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return op(() => {
    checkTensor(a, "matmul");
    checkTensor(b, "matmul");
    if (a.shape.length === 0 || b.shape.length === 0)
      throw new ShapeError(
        `matmul: operands must have rank >= 1, got ${shapeToString(a.shape)} and ${shapeToString(b.shape)}`,
      );
    if (a.dtype !== b.dtype)
      throw new TypeError(`matmul: operand dtypes ${a.dtype} and ${b.dtype} differ; cast one operand first`);
    const a2 = a.shape.length === 1 ? reshape(a, [1, a.shape[0]!]) : a;
    const b2 = b.shape.length === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
    const ka = a2.shape[a2.shape.length - 1];
    const kb = b2.shape[b2.shape.length - 2];
    if (ka !== kb)
      throw new ShapeError(
        `matmul: inner dims differ: ${shapeToString(a.shape)} @ ${shapeToString(b.shape)} (${ka} vs ${kb})`,
      );
    const batch = broadcastShapes(a2.shape.slice(0, -2), b2.shape.slice(0, -2), "matmul (batch dims)");
    const a3 = broadcastIfNeeded(a2, [...batch, ...a2.shape.slice(-2)]);
    const b3 = broadcastIfNeeded(b2, [...batch, ...b2.shape.slice(-2)]);
    let y = bind("matmul", [a3, b3], {});
    if (a.shape.length === 1) y = squeeze(y, -2);
    if (b.shape.length === 1) y = squeeze(y, -1);
    return y;
  });
}

/**
 * Grouped GEMM: rows of `x` [M,K] come in contiguous groups of sizes
 * `groupSizes` (i32 [G], summing to M); group g is multiplied by `w[g]` [K,N].
 */
export function raggedMatmul(x: Tensor, w: Tensor, groupSizes: Tensor): Tensor {
  return op(() =>
    bind(
      "raggedMatmul",
      [
        checkTensor(x, "raggedMatmul", "x"),
        checkTensor(w, "raggedMatmul", "w"),
        checkTensor(groupSizes, "raggedMatmul", "groupSizes"),
      ],
      {},
    ),
  );
}

// ------------------------------------------------------------- indexing

/** numpy take: selects entries along `axis` by i32 indices (any shape). */
export function take(x: Tensor, indices: Tensor, axis = 0): Tensor {
  return op(() =>
    bind("take", [checkTensor(x, "take"), checkTensor(indices, "take", "indices")], {
      axis: normAxis(axis, x.shape.length, "take"),
    }),
  );
}

/** numpy take_along_axis: `indices` has x's rank; other dims broadcast against x. */
export function gather(x: Tensor, indices: Tensor, axis: number): Tensor {
  return op(() => {
    checkTensor(x, "gather");
    checkTensor(indices, "gather", "indices");
    const a = normAxis(axis, x.shape.length, "gather");
    if (indices.shape.length !== x.shape.length) {
      throw new ShapeError(
        `gather: indices ${shapeToString(indices.shape)} must have the operand's rank ${x.shape.length} (${shapeToString(x.shape)})`,
      );
    }
    const target = x.shape.map((d, i) => (i === a ? indices.shape[a]! : d));
    broadcastShapes(indices.shape, target, "gather (indices vs operand)");
    return bind("gather", [x, broadcastIfNeeded(indices, target)], { axis: a });
  });
}

/** numpy add.at along an axis: a copy of `operand` with `updates` added at `indices` (repeats accumulate). */
export function scatterAdd(operand: Tensor, indices: Tensor, updates: Tensor, axis = 0): Tensor {
  return op(() =>
    bind(
      "scatterAdd",
      [
        checkTensor(operand, "scatterAdd"),
        checkTensor(indices, "scatterAdd", "indices"),
        checkTensor(updates, "scatterAdd", "updates"),
      ],
      {
        axis: normAxis(axis, operand.shape.length, "scatterAdd"),
      },
    ),
  );
}

/** One-hot encoding: shape `[...indices.shape, n]`. */
export function oneHot<D extends DType = "f32">(indices: Tensor, n: number, dtype: D = "f32" as D): Tensor<Shape, D> {
  return op(() => {
    checkTensor(indices, "oneHot", "indices");
    if (indices.dtype !== "i32") throw new TypeError(`oneHot: indices have dtype ${indices.dtype}, expected i32`);
    requireConcrete(n, "oneHot", "the depth n sizes the last axis of the one-hot output");
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`oneHot: n = ${n} must be a positive integer`);
    const shape = [...indices.shape, n];
    const classes = bind("iota", [], { shape, axis: shape.length - 1, dtype: "i32" });
    return cast(equal(broadcastTo(expandDims(indices, -1), shape), classes), dtype);
  }) as Tensor<Shape, D>;
}

/**
 * The k largest entries along the last axis, descending, ties to the lower index: [values, indices].
 * NaN ranks as the largest value (like `max` and `argmax`), so a NaN is never dropped.
 * @example topK(tensor([[1, NaN, 3, 2]]), 2) // values [[NaN, 3]], indices [[1, 2]]
 */
export function topK(x: Tensor, k: number): [Tensor, Tensor<Shape, "i32">] {
  return op(() => {
    const idx = bind("topKIndices", [checkTensor(x, "topK")], { k });
    return [bind("gather", [x, idx], { axis: x.shape.length - 1 }), idx as Tensor<Shape, "i32">];
  });
}

function alongLast(x: Tensor, axis: number, name: string, f: (t: Tensor) => Tensor): Tensor {
  const r = x.shape.length;
  const a = normAxis(axis, r, name);
  if (a === r - 1) return f(x);
  const perm = Array.from({ length: r }, (_, i) => (i === a ? r - 1 : i === r - 1 ? a : i));
  return transpose(f(transpose(x, perm)), perm);
}

/**
 * Stable argsort along `axis` (i32). NaN ranks as the largest value: last ascending (numpy, JAX),
 * first descending (torch, XLA's top-k); NaNs keep their index order.
 * @example argsort(tensor([2, NaN, 1])) // [2, 0, 1]; argsort(x, -1, true) gives [1, 0, 2]
 */
export function argsort(x: Tensor, axis = -1, descending = false): Tensor<Shape, "i32"> {
  return op(() =>
    alongLast(checkTensor(x, "argsort"), axis, "argsort", (t) => bind("argsort", [t], { descending })),
  ) as Tensor<Shape, "i32">;
}

/** Stable sort along `axis`; differentiable in the values. NaN sorts as the largest value (see `argsort`). */
export function sort(x: Tensor, axis = -1, descending = false): Tensor {
  return op(() =>
    alongLast(checkTensor(x, "sort"), axis, "sort", (t) =>
      bind("gather", [t, bind("argsort", [t], { descending })], { axis: t.shape.length - 1 }),
    ),
  );
}

/** Counts of each value in [0, length) of a 1-D i32 tensor. */
export function bincount(x: Tensor, length: Dim): Tensor<Shape, "i32"> {
  return op(() => bind("bincount", [checkTensor(x, "bincount")], { length })) as Tensor<Shape, "i32">;
}

// ------------------------------------------------------------- einsum

/**
 * Einstein summation for one or two operands, e.g. "ij,jk->ik", "bij,bjk->bik",
 * "td,edh->teh", "ij->ji", "ij->". Lowered to transpose/reshape/matmul.
 */
export function einsum(spec: string, ...operands: Tensor[]): Tensor {
  return op(() => {
    const m = /^\s*([a-zA-Z]*)\s*(?:,\s*([a-zA-Z]*)\s*)?(?:->\s*([a-zA-Z]*)\s*)?$/.exec(spec);
    if (!m) throw new Error(`einsum: cannot parse "${spec}"; expected e.g. "ij,jk->ik"`);
    const ins = m[2] === undefined ? [m[1]!] : [m[1]!, m[2]];
    if (ins.length !== operands.length)
      throw new Error(`einsum: "${spec}" names ${ins.length} operand(s), got ${operands.length}`);
    const counts = new Map<string, number>();
    for (const s of ins) for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
    const out =
      m[3] ??
      [...counts.keys()]
        .filter((c) => counts.get(c) === 1)
        .sort()
        .join("");
    const sizes = new Map<string, Dim>();
    ins.forEach((s, i) => {
      const x = checkTensor(operands[i], "einsum");
      if (s.length !== x.shape.length)
        throw new ShapeError(`einsum: operand ${i} "${s}" has rank ${x.shape.length} (${shapeToString(x.shape)})`);
      if (new Set(s).size !== s.length)
        throw new Error(`einsum: repeated label in "${s}" (diagonals) is not supported`);
      [...s].forEach((c, j) => {
        const d = x.shape[j]!;
        const prev = sizes.get(c);
        if (prev !== undefined && prev !== d && prev !== 1 && d !== 1)
          throw new ShapeError(`einsum: label "${c}" has sizes ${prev} and ${d}`);
        if (prev === undefined || prev === 1) sizes.set(c, d);
      });
    });
    for (const c of out) if (!sizes.has(c)) throw new Error(`einsum: output label "${c}" is not in any input`);
    // Sum out labels that appear in one operand only and not in the output.
    const reduced = ins.map((s, i) => {
      const drop = [...s].flatMap((c, j) => (!out.includes(c) && counts.get(c) === 1 ? [j] : []));
      const t = drop.length ? sum(operands[i]!, drop) : operands[i]!;
      return { t, labels: [...s].filter((_, j) => !drop.includes(j)).join("") };
    });
    const permuteTo = (t: Tensor, from: string, to: string) =>
      transpose(
        t,
        [...to].map((c) => from.indexOf(c)),
      );
    if (reduced.length === 1) return permuteTo(reduced[0]!.t, reduced[0]!.labels, out);
    const [A, B] = reduced as [{ t: Tensor; labels: string }, { t: Tensor; labels: string }];
    const batch = [...out].filter((c) => A.labels.includes(c) && B.labels.includes(c));
    const contr = [...A.labels].filter((c) => B.labels.includes(c) && !out.includes(c));
    const freeA = [...A.labels].filter((c) => !B.labels.includes(c));
    const freeB = [...B.labels].filter((c) => !A.labels.includes(c));
    const merged = (labels: string[]): Dim => {
      const ds = labels.map((c) => sizes.get(c)!);
      return dimMul(...ds);
    };
    const bshape = batch.map((c) => sizes.get(c)!);
    const a3 = reshape(
      broadcastTo(permuteTo(A.t, A.labels, [...batch, ...freeA, ...contr].join("")), [
        ...bshape,
        ...freeA.map((c) => sizes.get(c)!),
        ...contr.map((c) => sizes.get(c)!),
      ]),
      [merged(batch), merged(freeA), merged(contr)],
    );
    const b3 = reshape(
      broadcastTo(permuteTo(B.t, B.labels, [...batch, ...contr, ...freeB].join("")), [
        ...bshape,
        ...contr.map((c) => sizes.get(c)!),
        ...freeB.map((c) => sizes.get(c)!),
      ]),
      [merged(batch), merged(contr), merged(freeB)],
    );
    const y = reshape(bind("matmul", [a3, b3], {}), [
      ...bshape,
      ...freeA.map((c) => sizes.get(c)!),
      ...freeB.map((c) => sizes.get(c)!),
    ]);
    return permuteTo(y, [...batch, ...freeA, ...freeB].join(""), out);
  });
}

export type { Program };

// The methods of `Tensor` (a.add(b), x.sum(), ...) call these.
installTensorOps({
  abs,
  add,
  argmax,
  broadcastTo,
  cast,
  div,
  equal,
  exp,
  expandDims,
  gather,
  gelu,
  greater,
  less,
  log,
  logSoftmax,
  logsumexp,
  matmul,
  max,
  maximum,
  mean,
  min,
  minimum,
  mul,
  neg,
  pow,
  relu,
  reshape,
  sigmoid,
  silu,
  softmax,
  sqrt,
  square,
  squeeze,
  sub,
  sum,
  take,
  tanh,
  transpose,
});
