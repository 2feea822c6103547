/**
 * CUDA C++ spellings of kernel-IR scalar types and literals.
 * Kept apart from the emitter so the host launcher (backends/cuda) uses the
 * same element types and byte sizes as the kernels.
 */
import type { ScalarType } from "../kernel_ir";

/**
 * C++ types an emitted CUDA expression can have. `long long` is the 64-bit
 * index type. f16 is a storage type only: its values compute in `float`.
 */
export type CudaType = "float" | "int" | "unsigned int" | "bool" | "long long";

/** C++ types of buffer and shared-array elements. */
export type CudaStorageType = CudaType | "__half";

/**
 * The CUDA type a kernel-IR value of type `t` computes in. f16 values compute
 * in float (rounded to half when stored). `f64` has no kernel target but JS,
 * so it is rejected here with the reason.
 *
 * @example
 * cudaType("f16"); // "float"
 */
export function cudaType(t: ScalarType, what = "CUDA target"): CudaType {
  return t === "f16" ? "float" : (cudaStorageType(t, what) as CudaType);
}

/**
 * The CUDA element type of a buffer or shared array holding `t`.
 *
 * @example
 * cudaStorageType("f16"); // "__half"
 */
export function cudaStorageType(t: ScalarType, what = "CUDA target"): CudaStorageType {
  switch (t) {
    case "f32":
      return "float";
    case "f16":
      return "__half";
    case "i32":
      return "int";
    case "u32":
      return "unsigned int";
    case "bool":
      return "bool";
    case "f64":
      throw new TypeError(
        `${what}: dtype f64 is not supported by the CUDA target (f64 runs on the interp and cpu backends only); cast to f32 first`,
      );
  }
}

/** Bytes per element of a kernel-IR scalar type in CUDA device memory (bool is one byte, f16 two). */
export function cudaElementBytes(t: ScalarType): number {
  switch (t) {
    case "f32":
    case "i32":
    case "u32":
      return 4;
    case "f16":
      return 2;
    case "bool":
      return 1;
    case "f64":
      return 8;
  }
}

const F32_INF = "__int_as_float(0x7f800000)";
const F32_NAN = "__int_as_float(0x7fc00000)";

/**
 * A float literal that reads back as exactly the float32 value `Math.fround(x)`:
 * the shortest decimal (at most 9 significant digits, which always suffice for
 * f32) whose nearest float32 is that value.
 *
 * @example
 * floatLiteral(0.1); // "0.1f"
 */
export function floatLiteral(x: number): string {
  const f = Math.fround(x);
  if (Number.isNaN(f)) return F32_NAN;
  if (f === Infinity) return F32_INF;
  if (f === -Infinity) return `(-${F32_INF})`;
  if (Object.is(f, -0)) return "(-0.0f)";
  let s = String(f);
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = f.toPrecision(digits);
    if (Math.fround(Number(candidate)) === f) {
      s = String(Number(candidate));
      break;
    }
  }
  const text = /[.e]/.test(s) ? s : `${s}.0`;
  return f < 0 ? `(${text}f)` : `${text}f`;
}

/**
 * A CUDA literal of the given kernel-IR type. i32 values are wrapped to 32 bits
 * like an Int32Array store; INT_MIN is spelled so that it is not a negated overflow.
 *
 * @example
 * literal(-3, "i32"); // "(-3)"
 */
export function literal(value: number, t: ScalarType): string {
  switch (t) {
    case "f32":
      return floatLiteral(value);
    case "f16": // computes in float
      return floatLiteral(value);
    case "i32": {
      const i = value | 0;
      if (i === -2147483648) return "(-2147483647 - 1)";
      return i < 0 ? `(${i})` : String(i);
    }
    case "u32":
      return `${value >>> 0}u`;
    case "bool":
      return value ? "true" : "false";
    case "f64":
      return cudaType(t); // throws the f64 error
  }
}
