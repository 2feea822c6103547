/**
 * WGSL helpers that give the interpreter's (JavaScript's) results for IEEE
 * special values. WGSL lets compilers assume finite math, and SwiftShader's
 * builtins do: log(0) is -88.03 instead of -Inf, log(-1) is 0 instead of NaN,
 * exp(NaN) is Inf, tanh/sigmoid of NaN are finite, `NaN != x` is false. Each
 * helper classifies its operands by their bits (which no fast-math rewrite
 * can fold away) and calls the builtin only on the inputs it is defined for.
 * f16 values widen to f32 exactly, so both types share the bit tests.
 */
import { wgslIsNan } from "./wgsl_nan";

export type WgslFloat = "f32" | "f16";

/** Helper names; the prelude emits each as `mf_<name>`. */
export type WgslIeeeHelper = `${"exp" | "log" | "log1p" | "pow" | "tanh" | "sigmoid" | "ne"}_${WgslFloat}`;

/** `x` is +Inf or -Inf (by its bits). */
const isInf = (x: string, t: WgslFloat) =>
  `((bitcast<u32>(${t === "f32" ? x : `f32(${x})`}) & 0x7fffffffu) == 0x7f800000u)`;
/** The sign bit of `x` is set (-0 and -Inf included). */
const signBit = (x: string, t: WgslFloat) => `((bitcast<u32>(${t === "f32" ? x : `f32(${x})`}) & 0x80000000u) != 0u)`;
/** A non-finite constant of type t from its f32 bits (WGSL rejects non-finite constant expressions). */
const special = (bits: string, t: WgslFloat) => (t === "f32" ? `mf_f32_bits(${bits})` : `f16(mf_f32_bits(${bits}))`);
const nan = (t: WgslFloat) => special("0x7fc00000u", t);
const inf = (t: WgslFloat) => special("0x7f800000u", t);

const exp = (t: WgslFloat) => `fn mf_exp_${t}(x: ${t}) -> ${t} {
  if (${wgslIsNan("x", t)}) { return x; }
  return exp(x);
}`;

const log = (t: WgslFloat) => `fn mf_log_${t}(x: ${t}) -> ${t} {
  if (${wgslIsNan("x", t)}) { return x; }
  if (x == 0.0) { return -${inf(t)}; }
  if (${signBit("x", t)}) { return ${nan(t)}; }
  if (${isInf("x", t)}) { return x; }
  return log(x);
}`;

// log(1 + x) without cancellation for small x. (The classic log(u) * x / (u - 1) trick is
// undone by GPU compilers that reassociate u - 1 into x, so small x use the Taylor series,
// whose x^6/6 remainder is below f32 precision for |x| < 0.01.)
const log1p = (t: WgslFloat) => `fn mf_log1p_${t}(x: ${t}) -> ${t} {
  if (${wgslIsNan("x", t)}) { return x; }
  if (x == -1.0) { return -${inf(t)}; }
  if (x < -1.0) { return ${nan(t)}; }
  if (${isInf("x", t)}) { return x; }
  if (abs(x) < 0.01) { return x * (1.0 - x * (0.5 - x * (1.0 / 3.0 - x * (0.25 - x * 0.2)))); }
  return log(1.0 + x);
}`;

// Math.pow (ECMAScript Number::exponentiate): NaN exponents give NaN (even for a base of 1),
// |a| = 1 with an infinite exponent gives NaN, signed zeros and infinities keep the sign for
// odd integer exponents, a negative base with a non-integer exponent gives NaN.
const pow = (t: WgslFloat) => `fn mf_pow_${t}(a: ${t}, b: ${t}) -> ${t} {
  if (${wgslIsNan("b", t)}) { return b; }
  if (b == 0.0) { return 1.0; }
  if (${wgslIsNan("a", t)}) { return a; }
  let m = abs(a);
  if (${isInf("b", t)}) {
    if (m == 1.0) { return ${nan(t)}; }
    return select(0.0, ${inf(t)}, (m > 1.0) == (b > 0.0));
  }
  let negative = ${signBit("a", t)};
  let odd = trunc(b) == b && trunc(b * 0.5) != b * 0.5;
  if (m == 0.0 || ${isInf("a", t)}) {
    let r = select(0.0, ${inf(t)}, (m == 0.0) == (b < 0.0));
    return select(r, -r, negative && odd);
  }
  if (negative && trunc(b) != b) { return ${nan(t)}; }
  let r = pow(m, b);
  return select(r, -r, negative && odd);
}`;

// Clamped: SwiftShader's tanh returns NaN for |x| > ~88; tanh(±15) is already ±1 in f32.
const tanh = (t: WgslFloat) => `fn mf_tanh_${t}(x: ${t}) -> ${t} {
  if (${wgslIsNan("x", t)}) { return x; }
  return tanh(clamp(x, -15.0, 15.0));
}`;

const sigmoid = (t: WgslFloat) => `fn mf_sigmoid_${t}(x: ${t}) -> ${t} {
  if (${wgslIsNan("x", t)}) { return x; }
  return 1.0 / (1.0 + exp(-x));
}`;

// x != y is true when either side is NaN (compilers assuming finite math fold it to an ordered compare).
const ne = (t: WgslFloat) => `fn mf_ne_${t}(a: ${t}, b: ${t}) -> bool {
  return ${wgslIsNan("a", t)} || ${wgslIsNan("b", t)} || a != b;
}`;

const MAKERS = { exp, log, log1p, pow, tanh, sigmoid, ne } as const;

/** The source of each IEEE helper; all of them call `mf_f32_bits` or none (see `IEEE_DEPENDS`). */
export const IEEE_SOURCES: Readonly<Record<WgslIeeeHelper, string>> = Object.fromEntries(
  Object.entries(MAKERS).flatMap(([name, make]) => (["f32", "f16"] as const).map((t) => [`${name}_${t}`, make(t)])),
) as Record<WgslIeeeHelper, string>;

/** Whether an IEEE helper's source uses `mf_f32_bits` (for the prelude's dependency order). */
export const usesF32Bits = (h: WgslIeeeHelper): boolean => IEEE_SOURCES[h].includes("mf_f32_bits");
