/**
 * CUDA C++ spellings of kernel-IR scalar types and literals.
 * Kept apart from the emitter so the host launcher (backends/cuda) uses the
 * same element types and byte sizes as the kernels.
 */
import type { ScalarType } from "../kernel_ir";
import { floatLiteral as sharedFloatLiteral, i32Literal, type FloatSpelling } from "./c_style";

/**
 * C++ types an emitted CUDA expression can have. `long long` is the 64-bit
 * index type. `__half` (f16) is a storage type: the `f16ComputesInF32`
 * rewrite (cuda_rewrites.ts) leaves f16 only at loads, rounding casts and
 * stores, and every f16 value computes in `float`.
 */
export type CudaType = "float" | "int" | "unsigned int" | "bool" | "long long" | "__half";

/** C++ types of buffer and shared-array elements. */
export type CudaStorageType = CudaType;

/**
 * The CUDA type of a kernel-IR value, buffer element or shared-array element
 * of type `t`. `f64` has no kernel target but JS, so it is rejected here with
 * the reason.
 *
 * @example
 * cudaType("f16"); // "__half"
 */
export function cudaType(t: ScalarType, what = "CUDA target"): CudaType {
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

/**
 * The CUDA element type of a buffer or shared array holding `t` (the host
 * launcher's name for `cudaType`).
 *
 * @example
 * cudaStorageType("f16"); // "__half"
 */
export function cudaStorageType(t: ScalarType, what = "CUDA target"): CudaStorageType {
  return cudaType(t, what);
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

/** f32 literals: `0.1f`; NaN and infinities from their bits. */
const CUDA_FLOAT: FloatSpelling = {
  suffix: "f",
  max: 3.4028234663852886e38,
  nonFinite: (x) => (Number.isNaN(x) ? "__int_as_float(0x7fc00000)" : x > 0 ? F32_INF : `(-${F32_INF})`),
};

/**
 * A float literal that reads back as exactly the float32 value `Math.fround(x)`
 * (the shared `floatLiteral` with CUDA's spelling).
 *
 * @example
 * floatLiteral(0.1); // "0.1f"
 */
export function floatLiteral(x: number): string {
  return sharedFloatLiteral(x, CUDA_FLOAT);
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
    case "f16":
      throw new TypeError("CUDA: an f16 constant reached the renderer (f16ComputesInF32 makes it f32)");
    case "i32":
      return i32Literal(value, "", (text) => `(${text})`);
    case "u32":
      return `${value >>> 0}u`;
    case "bool":
      return value ? "true" : "false";
    case "f64":
      return cudaType(t); // throws the f64 error
  }
}
