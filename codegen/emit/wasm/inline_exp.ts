/**
 * exp and sigmoid computed inside wasm (f64 in, f64 out), for the fused GEMM
 * epilogue, instead of host imports. Measured in a wasm loop (V8, CPU time per
 * call): exp 9.1-9.6 ns vs 8.7-9.0 for the imported Math.exp (V8 calls it
 * cheaply: no gain there), sigmoid 13 ns vs 19-20 for the imported JS helper
 * (mf_sigmoid, which calls Math.exp itself). Derived from the math, no library's code:
 *
 *   exp(x) = 2^n * exp(r),  n = nearest(x / ln2),  r = x - n*ln2,  |r| <= ln2 / 2.
 *
 * - r in Cody-Waite form: ln2 = LN2_HI + LN2_LO where LN2_HI keeps 32 significant
 *   bits, so n * LN2_HI is exact for |n| < 2^21 and x - n*LN2_HI loses nothing;
 *   LN2_LO carries the rest of ln2 (including Math.LN2's own rounding error).
 * - exp(r) by its Taylor series to degree 13 in Horner form: the truncation
 *   error is below |r|^14 / 14! < 5e-18 relative for |r| <= ln2/2, far under an
 *   f32 ulp (the epilogue rounds its results to f32), and near f64 precision.
 * - 2^n built from exponent bits as two factors 2^(n>>1) * 2^(n - (n>>1)), each
 *   a normal f64 for |n| <= 1076, so results that overflow give +inf and ones
 *   below the smallest subnormal give 0 with one rounding (the last multiply).
 * - x is first clamped to [-746, 710] (exp overflows past 709.8 and is below
 *   half the smallest subnormal before -745.2), which keeps n in range;
 *   f64.min / f64.max propagate NaN, and a NaN r gives a NaN result.
 *
 * Measured against Math.exp (V8, 2M random x in [-708, 708] and [-20, 20]): worst
 * relative error 2.2e-16 (one f64 ulp) on normal results; rounded to f32, equal to
 * Math.fround(Math.exp(x)) on all 1M samples with |x| < 87. The test
 * (test/codegen/wasm_inline_exp.test.ts) asserts 1e-15 and 1 f32 ulp, and the edges.
 */
import type { ModuleBuilder } from "./module";

/** Significant bits kept in LN2_HI (n * LN2_HI exact for |n| < 2^(53 - HI_BITS)). */
const HI_BITS = 32;
/** ln 2 with its low bits cleared: exactly representable, with 53 - HI_BITS trailing zero bits. */
export const LN2_HI = (() => {
  const scale = 2 ** HI_BITS;
  return Math.floor(Math.LN2 * scale) / scale;
})();
/** ln 2 - Math.LN2 (Math.LN2's rounding error: ln 2 = 0.69314718055994530941723212145817656...). */
const LN2_RESIDUAL = 2.319046813846299558e-17;
/** The rest of ln 2: Math.LN2 - LN2_HI is exact (Sterbenz), plus Math.LN2's own error. */
export const LN2_LO = Math.LN2 - LN2_HI + LN2_RESIDUAL;
/** Degree of the Taylor polynomial for exp(r). */
const DEGREE = 13;
/** Clamp bounds: exp(710) = inf and exp(-746) = 0 in f64, so clamping changes no result. */
const X_MAX = 710;
const X_MIN = -746;

/** The module's inline math functions (f64) -> f64, by function index. */
export interface InlineMath {
  readonly exp: number;
  readonly sigmoid: number;
}

/** Defines exp and sigmoid in module `m` (see the file comment). */
export function defineInlineMath(m: ModuleBuilder): InlineMath {
  const type = { params: ["f64" as const], results: ["f64" as const] };
  const exp = m.func(type, (f) => {
    const x = 0;
    const n = f.local("f64");
    const r = f.local("f64");
    const k = f.local("i32");
    const half = f.local("i32");
    f.get(x).f64(X_MIN).op("f64.max").f64(X_MAX).op("f64.min").set(x);
    f.get(x).f64(Math.LOG2E).op("f64.mul").op("f64.nearest").tee(n);
    // r = (x - n*LN2_HI) - n*LN2_LO
    f.f64(LN2_HI).op("f64.mul").set(r);
    f.get(x).get(r).op("f64.sub").get(n).f64(LN2_LO).op("f64.mul").op("f64.sub").set(r);
    // Horner: p = 1 + r(1 + r/2(1 + r/3(... (1 + r/DEGREE))))
    f.f64(1);
    for (let d = DEGREE; d >= 1; d--)
      f.get(r)
        .f64(1 / d)
        .op("f64.mul")
        .op("f64.mul")
        .f64(1)
        .op("f64.add");
    // n is an integer in [-1077, 1025] here, or NaN (trunc_sat gives 0; the NaN stays in p).
    f.get(n).misc("i32.trunc_sat_f64_s").tee(k).i32(1).op("i32.shr_s").set(half);
    const pow2 = (e: () => void) => {
      e();
      f.i32(1023).op("i32.add").op("i64.extend_i32_u").i64(52).op("i64.shl").op("f64.reinterpret_i64");
    };
    pow2(() => f.get(half));
    f.op("f64.mul");
    pow2(() => f.get(k).get(half).op("i32.sub"));
    f.op("f64.mul");
  }).index;
  const sigmoid = m.func(type, (f) => {
    // The JS target's formula: x >= 0 ? 1 / (1 + e^-x) : e^x / (1 + e^x), with e = exp(-|x|) either way.
    const e = f.local("f64");
    f.f64(1);
    f.get(0).op("f64.abs").op("f64.neg").call(exp).tee(e);
    f.get(0).f64(0).op("f64.ge").op("select");
    f.f64(1).get(e).op("f64.add").op("f64.div");
  }).index;
  return { exp, sigmoid };
}
