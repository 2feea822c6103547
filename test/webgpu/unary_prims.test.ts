/**
 * Every unary primitive (`UNARY_PRIMS`, on its domain from testing/unary_domains.ts)
 * on the webgpu backend equals the interpreter, forward and reverse mode, in f32
 * (WGSL has no f64; its erf, sin and cos are the prelude's f32 algorithms, so the
 * tolerance is f32 rounding, not bit equality).
 */
import { describe, it } from "vitest";
import { webgpuBackend } from "../../backends/webgpu/index";
import { UNARY_PRIMS } from "../../dsl/primitives/params";
import { checkUnaryPrim } from "../../testing/unary_domains";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();

describe.runIf(ctx)("every unary primitive on webgpu equals the interpreter", () => {
  it.each(UNARY_PRIMS)("%s, forward and gradient (f32)", async (p) => {
    await checkUnaryPrim((program, xs) => webgpuBackend.run(program, xs), p, "f32", 1e-5);
  });
});
