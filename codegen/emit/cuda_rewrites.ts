/**
 * CUDA's fix-up as a kernel-IR rewrite, run before the final verify and the
 * renderer (as WGSL's are, wgsl_rewrites.ts):
 * - f16 is a storage type only: every f16 value computes in f32. A load of an
 *   f16 element is widened at once, a cast to f16 rounds to half and widens
 *   again, a store to an f16 buffer or shared array narrows; variables,
 *   constants and operations of type f16 become f32. Afterwards the only f16
 *   expressions are those loads and casts, which the renderer spells with
 *   `__half2float` and `__float2half` (its `__half` type, cuda_types.ts).
 * The kernel the bundle keeps is not rewritten; only the rendered one is.
 */
import { cast, mapBody, type Expr, type Stmt } from "../kernel_ir";
import { usesType } from "./c_style";
import type { KernelRewrite } from "./prepare";

/** f16 values compute in f32; f16 remains only at loads, rounding casts and stores. */
export const f16ComputesInF32: KernelRewrite = (kernel) => {
  const halves = new Set([...kernel.params, ...kernel.shared].filter((x) => x.type === "f16").map((x) => x.name));
  if (!usesType(kernel, "f16")) return kernel;
  const widen = (e: Expr): Expr => {
    if (e.type !== "f16") return e;
    switch (e.kind) {
      case "load":
      case "sharedLoad":
        return cast(e, "f32");
      case "cast":
        return cast(e, "f32"); // the inner cast rounds to half
      default:
        return { ...e, type: "f32" } as Expr;
    }
  };
  const narrow = (s: Stmt): Stmt[] => {
    switch (s.kind) {
      case "let":
        return [s.type === "f16" ? { ...s, type: "f32" } : s];
      case "store":
      case "atomicAdd":
      case "sharedStore": {
        const name = s.kind === "sharedStore" ? s.array : s.buffer;
        return [halves.has(name) ? { ...s, value: cast(s.value, "f16") } : s];
      }
      default:
        return [s];
    }
  };
  return { ...kernel, body: mapBody(kernel.body, widen, narrow) };
};

/** The CUDA renderer's rewrites, in order. */
export const CUDA_REWRITES: readonly KernelRewrite[] = [f16ComputesInF32];
