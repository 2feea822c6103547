/**
 * Helper functions the WGSL emitter prepends to a kernel when its body needs
 * them: the intrinsics of the kernel IR (Threefry-2x32, bits -> uniform) and
 * the scalar functions whose WGSL builtins differ from the interpreter
 * (log1p is missing, pow is undefined for negative bases, integer division by
 * zero returns the dividend, non-finite literals are rejected by the compiler)
 * and, in `wgsl_ieee.ts`, the float functions whose builtins assume finite math.
 */
import { IEEE_SOURCES, usesF32Bits, type WgslIeeeHelper } from "./wgsl_ieee";
import { wgslIsNan } from "./wgsl_nan";

export { wgslIsNan };

/** Names of the prelude helpers; the emitter collects the ones a kernel uses. */
export type WgslHelper =
  | "f32_bits"
  | "threefry2x32"
  | "bits_to_uniform"
  | WgslIeeeHelper
  | "div_i32"
  | "div_u32"
  | "max_f32"
  | "min_f32"
  | "max_f16"
  | "min_f16"
  | "sincos_reduced"
  | "sin"
  | "cos"
  | "rt_f32"
  | "rt_f16"
  | "rt_i32"
  | "rt_u32"
  | "rt_bool";

// Identity functions: an operation whose operands are all literals is a WGSL const-expression,
// and const-expressions that overflow (1 << 31, 65536 * 65537, exp(100.0)) are compile errors.
// Passing one literal through a function makes the operation a run-time one, like the other targets.
const runtime = (t: string) => `fn mf_rt_${t}(x: ${t}) -> ${t} {\n  return x;\n}`;

// max/min that return NaN when either side is NaN, like Math.max and the interpreter's
// reductions (WGSL's max/min may return the other operand). NaN is tested on the bits,
// which no fast-math rewrite can fold away.
const extremum = (op: "max" | "min", t: "f32" | "f16") => {
  return `fn mf_${op}_${t}(a: ${t}, b: ${t}) -> ${t} {
  if (${wgslIsNan("a", t)} || ${wgslIsNan("b", t)}) { return a + b; }
  return ${op}(a, b);
}`;
};

const SOURCES: Readonly<Record<WgslHelper, string>> = {
  max_f32: extremum("max", "f32"),
  min_f32: extremum("min", "f32"),
  max_f16: extremum("max", "f16"),
  min_f16: extremum("min", "f16"),
  sincos_reduced: `// sin and cos to f32 precision. WGSL only promises an absolute error of 2^-11 for its
// builtins (SwiftShader's are ~2e-4 off); the interpreter computes in f64. Cody-Waite
// reduction by pi/2 in three parts, then the Cephes sinf/cosf polynomials on [-pi/4, pi/4].
fn mf_sincos_reduced(x: f32) -> vec3<f32> {
  let k = round(x * 0.63661977236758134);
  let r = ((x - k * 1.5703125) - k * 4.837512969970703125e-4) - k * 7.54978995489188216e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  return vec3<f32>(s, c, f32(i32(k) & 3));
}`,
  sin: `fn mf_sin(x: f32) -> f32 {
  if ((bitcast<u32>(x) & 0x7fffffffu) >= 0x7f800000u) { return mf_f32_bits(0x7fc00000u); }
  if (abs(x) > 1e5) { return sin(x); } // past the reduction's range: the builtin (finite, not f32-accurate)
  let v = mf_sincos_reduced(x);
  let q = i32(v.z);
  if (q == 0) { return v.x; }
  if (q == 1) { return v.y; }
  if (q == 2) { return -v.x; }
  return -v.y;
}`,
  cos: `fn mf_cos(x: f32) -> f32 {
  if ((bitcast<u32>(x) & 0x7fffffffu) >= 0x7f800000u) { return mf_f32_bits(0x7fc00000u); }
  if (abs(x) > 1e5) { return cos(x); } // past the reduction's range: the builtin (finite, not f32-accurate)
  let v = mf_sincos_reduced(x);
  let q = i32(v.z);
  if (q == 0) { return v.y; }
  if (q == 1) { return -v.x; }
  if (q == 2) { return -v.y; }
  return v.x;
}`,
  f32_bits: `// An f32 from its bits at run time (WGSL rejects infinite and NaN constant expressions).
fn mf_f32_bits(bits: u32) -> f32 {
  var b = bits;
  return bitcast<f32>(b);
}`,
  threefry2x32: `// Threefry-2x32 with 20 rounds (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"),
// word for word the interpreter's dsl/primitives/random.ts.
fn mf_rotl(x: u32, r: u32) -> u32 {
  return (x << r) | (x >> (32u - r));
}
fn mf_threefry2x32(k0: u32, k1: u32, c0: u32, c1: u32) -> vec2<u32> {
  var ks = array<u32, 3>(k0, k1, k0 ^ k1 ^ 0x1bd11bdau);
  var rot = array<u32, 8>(13u, 15u, 26u, 6u, 17u, 29u, 16u, 24u);
  var x0 = c0 + k0;
  var x1 = c1 + k1;
  for (var g = 0u; g < 5u; g++) {
    let base = (g % 2u) * 4u;
    for (var r = 0u; r < 4u; r++) {
      x0 += x1;
      x1 = mf_rotl(x1, rot[base + r]);
      x1 ^= x0;
    }
    x0 += ks[(g + 1u) % 3u];
    x1 += ks[(g + 2u) % 3u] + g + 1u;
  }
  return vec2<u32>(x0, x1);
}`,
  bits_to_uniform: `// The top 24 bits of a draw as a float in [0, 1) (exact in f32).
fn mf_bits_to_uniform(bits: u32) -> f32 {
  return f32(bits >> 8u) * 5.9604644775390625e-8;
}`,
  ...IEEE_SOURCES,
  div_i32: `// Integer division truncating toward zero; x / 0 = 0 like the interpreter (WGSL would return x).
fn mf_div_i32(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  return a / b;
}`,
  rt_f32: runtime("f32"),
  rt_f16: runtime("f16"),
  rt_i32: runtime("i32"),
  rt_u32: runtime("u32"),
  rt_bool: runtime("bool"),
  div_u32: `fn mf_div_u32(a: u32, b: u32) -> u32 {
  if (b == 0u) { return 0u; }
  return a / b;
}`,
};

/** Helpers a helper calls (emitted before it). */
const DEPENDS: Partial<Record<WgslHelper, readonly WgslHelper[]>> = {
  sin: ["sincos_reduced", "f32_bits"],
  cos: ["sincos_reduced", "f32_bits"],
  ...Object.fromEntries(
    (Object.keys(IEEE_SOURCES) as WgslIeeeHelper[]).filter(usesF32Bits).map((h) => [h, ["f32_bits"]]),
  ),
};

/**
 * The WGSL source of the helpers in `used`, with their dependencies, each once,
 * in a fixed order (so equal kernels give equal source and share a pipeline).
 * @example wgslPrelude(new Set(["pow_f32"])) // mf_f32_bits, then mf_pow_f32
 */
export function wgslPrelude(used: ReadonlySet<WgslHelper>): string {
  const all = new Set<WgslHelper>();
  const add = (h: WgslHelper) => {
    for (const d of DEPENDS[h] ?? []) add(d);
    all.add(h);
  };
  used.forEach(add);
  return (Object.keys(SOURCES) as WgslHelper[])
    .filter((h) => all.has(h))
    .map((h) => SOURCES[h])
    .join("\n\n");
}
