import { NDArray } from "./ndarray";
import { allocArray, assertDType, type AnyTypedArray, type DType } from "./dtype";
import { full as fullOp } from "./ops";
import { ShapeError, checkDim, numel, shapeToString, type Dim, type Shape } from "./shape";
import { Tensor } from "./tensor";
import { atCallSite, bind } from "./trace";

type Nested = number | boolean | readonly Nested[];

function inferShape(data: Nested, path = "data"): number[] {
  if (!Array.isArray(data)) return [];
  if (data.length === 0) return [0];
  const inner = inferShape(data[0] as Nested, `${path}[0]`);
  data.forEach((d, i) => {
    const s = inferShape(d as Nested, `${path}[${i}]`);
    if (s.length !== inner.length || s.some((x, j) => x !== inner[j])) {
      throw new ShapeError(
        `tensor: ragged nested array: ${path}[${i}] has shape ${shapeToString(s)}, expected ${shapeToString(inner)}`,
      );
    }
  });
  return [data.length, ...inner];
}

function flattenNested(data: Nested, out: number[]): void {
  if (Array.isArray(data)) for (const d of data) flattenNested(d as Nested, out);
  else if (typeof data === "number" || typeof data === "boolean") out.push(Number(data));
  else throw new TypeError(`tensor: element ${JSON.stringify(data)} is not a number or boolean`);
}

function checkShape(shape: readonly number[], what: string): number[] {
  if (!Array.isArray(shape))
    throw new ShapeError(`${what}: shape must be an array of sizes, got ${JSON.stringify(shape)}`);
  return shape.map((d) => {
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0)
      throw new ShapeError(
        `${what}: invalid size ${JSON.stringify(d)} in shape ${JSON.stringify(shape)}; expected non-negative integers`,
      );
    return d;
  });
}

/**
 * Creates a tensor from nested arrays, a number or a typed array.
 * @param shape optional; inferred from nesting, or required for flat data of rank != 1
 * @example tensor([[1, 2], [3, 4]]); tensor([1, 2, 3, 4], [2, 2], "i32")
 */
export function tensor<D extends DType = "f32">(
  data: Nested | AnyTypedArray,
  shape?: readonly number[],
  dtype: D = "f32" as D,
): Tensor<Shape, D> {
  return atCallSite(() => {
    assertDType(dtype, "tensor");
    let flat: ArrayLike<number>;
    let inferred: number[];
    if (ArrayBuffer.isView(data)) {
      flat = data as AnyTypedArray;
      inferred = [flat.length];
    } else {
      const buf: number[] = [];
      inferred = inferShape(data as Nested);
      flattenNested(data as Nested, buf);
      flat = buf;
    }
    const s = shape ? checkShape(shape, "tensor") : inferred;
    if (numel(s) !== flat.length) {
      throw new ShapeError(
        `tensor: ${flat.length} values do not fill shape ${shapeToString(s)} (${numel(s)} elements)`,
      );
    }
    const arr = allocArray(dtype, flat.length);
    if (dtype === "i32") for (let i = 0; i < flat.length; i++) arr[i] = Math.trunc(flat[i]!);
    else if (dtype === "bool") for (let i = 0; i < flat.length; i++) arr[i] = flat[i] ? 1 : 0;
    else arr.set(flat);
    return Tensor._concrete(new NDArray(dtype, s, arr)) as Tensor<Shape, D>;
  });
}

/** Wraps a typed array (copied); dtype from the array type unless given. */
export function fromTypedArray(data: AnyTypedArray, shape: readonly number[], dtype?: DType): Tensor {
  const d: DType =
    dtype ??
    (data instanceof Float64Array
      ? "f64"
      : data instanceof Float32Array
        ? "f32"
        : data instanceof Int32Array
          ? "i32"
          : "bool");
  return tensor(data, shape, d);
}

function shapeArg(shape: readonly Dim[], what: string): Dim[] {
  if (!Array.isArray(shape)) throw new ShapeError(`${what}: shape must be an array, got ${JSON.stringify(shape)}`);
  return shape.map((d) => checkDim(d, what));
}

/** A tensor of zeros (named dims allowed while tracing). */
export function zeros<const S extends readonly Dim[], D extends DType = "f32">(
  shape: S,
  dtype: D = "f32" as D,
): Tensor<S, D> {
  return atCallSite(() => fullOp(shapeArg(shape, "zeros"), 0, dtype)) as never;
}
/** A tensor of ones. */
export function ones<const S extends readonly Dim[], D extends DType = "f32">(
  shape: S,
  dtype: D = "f32" as D,
): Tensor<S, D> {
  return atCallSite(() => fullOp(shapeArg(shape, "ones"), 1, dtype)) as never;
}
/** A tensor filled with `value`. */
export function full<const S extends readonly Dim[], D extends DType = "f32">(
  shape: S,
  value: number,
  dtype: D = "f32" as D,
): Tensor<S, D> {
  return atCallSite(() => fullOp(shapeArg(shape, "full"), value, dtype)) as never;
}

/**
 * `arange(stop)` or `arange(start, stop, step = 1)`; i32 unless a dtype is given.
 * `arange("T")` (a named dim, or a dim expression such as `dims.mul("T", 2)`) gives 0..T-1 while tracing.
 */
export function arange(startOrStop: Dim, stop?: number, step = 1, dtype: DType = "i32"): Tensor {
  return atCallSite(() => {
    if (typeof startOrStop !== "number")
      return bind("iota", [], { shape: [checkDim(startOrStop, "arange")], axis: 0, dtype });
    const [start, end] = stop === undefined ? [0, startOrStop] : [startOrStop, stop];
    if (step === 0) throw new RangeError("arange: step must be nonzero");
    const n = Math.max(0, Math.ceil((end - start) / step));
    const arr = allocArray(dtype, n);
    for (let i = 0; i < n; i++) arr[i] = start + i * step;
    return Tensor._concrete(new NDArray(dtype, [n], arr));
  });
}

/** Identity matrix [n, m]. */
export function eye(n: number, m = n, dtype: DType = "f32"): Tensor {
  return atCallSite(() => {
    checkShape([n, m], "eye");
    const arr = allocArray(dtype, n * m);
    for (let i = 0; i < Math.min(n, m); i++) arr[i * m + i] = 1;
    return Tensor._concrete(new NDArray(dtype, [n, m], arr));
  });
}
