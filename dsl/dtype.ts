/** Element types. `f64` runs on the interpreter and cpu backend (gradient checks use it). */
export type DType = "f32" | "f64" | "f16" | "i32" | "bool";
export type FloatDType = "f32" | "f64" | "f16";

export const DTYPES: readonly DType[] = ["f32", "f64", "f16", "i32", "bool"];

export type TypedArrayFor<D extends DType> = D extends "f64"
  ? Float64Array
  : D extends "f32" | "f16"
    ? Float32Array
    : D extends "i32"
      ? Int32Array
      : Uint8Array;

export type AnyTypedArray = Float64Array | Float32Array | Int32Array | Uint8Array;

export function isFloat(d: DType): d is FloatDType {
  return d === "f32" || d === "f64" || d === "f16";
}

export function isDType(x: unknown): x is DType {
  return typeof x === "string" && (DTYPES as readonly string[]).includes(x);
}

export function assertDType(x: unknown, what: string): DType {
  if (!isDType(x))
    throw new TypeError(`${what}: unknown dtype ${JSON.stringify(x)}; expected one of ${DTYPES.join(", ")}`);
  return x;
}

/** Allocates a zeroed typed array for a dtype. f16 is stored as f32 on the host. */
export function allocArray(dtype: DType, n: number): AnyTypedArray {
  switch (dtype) {
    case "f64":
      return new Float64Array(n);
    case "f32":
    case "f16":
      return new Float32Array(n);
    case "i32":
      return new Int32Array(n);
    case "bool":
      return new Uint8Array(n);
  }
}

/** Rounds a JS number to what the dtype can hold (used for literal scalars). */
export function castScalar(x: number, dtype: DType): number {
  switch (dtype) {
    case "f64":
      return x;
    case "f32":
    case "f16":
      return Math.fround(x);
    case "i32":
      return Math.trunc(x) | 0;
    case "bool":
      return x ? 1 : 0;
  }
}
