/**
 * WGSL code testing a float for NaN by its bits: WGSL lets compilers assume
 * finite math, so `x != x` may fold to false (SwiftShader's does). f16 widens
 * to f32 exactly, NaN included.
 */
export function wgslIsNan(x: string, t: "f32" | "f16"): string {
  return t === "f32"
    ? `((bitcast<u32>(${x}) & 0x7fffffffu) > 0x7f800000u)`
    : `((bitcast<u32>(f32(${x})) & 0x7fffffffu) > 0x7f800000u)`;
}
