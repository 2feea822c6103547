/**
 * Checked numerics on WebGPU: device outputs are checked when read, so
 * `await y.data()` rejects with the NumericsError naming the culprit equation,
 * its op and the user's line; clean outputs read normally and can be passed
 * to further webgpu programs and released.
 */
import { describe, expect, it } from "vitest";
import { NumericsError, jit, ops, releaseWebGPU, tensor, type Tensor } from "../../index";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();

const model = (x: Tensor) => ops.sum(ops.exp(ops.log(ops.mul(x, 2)))); // CULPRIT-LINE

describe.runIf(ctx)("checked numerics on webgpu", () => {
  it("reading an output rejects with the culprit equation, its op and the user's line", async () => {
    const y = jit(model, { backend: "webgpu", checkNumerics: true })(tensor([1, -2, 3]));
    expect(y.isDevice).toBe(true);
    const error = await y.data().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NumericsError);
    expect((error as NumericsError).op).toBe("log");
    expect((error as NumericsError).message).toMatch(/produced NaN \(1 of 3 elements, the first at flat index 1\)/);
    expect((error as NumericsError).site).toMatch(/checked_numerics\.test\.ts:13:\d+$/);
  });

  it("clean outputs read normally, feed another webgpu program and can be released", async () => {
    const y = jit(model, { backend: "webgpu", checkNumerics: true })(tensor([1, 2, 3]));
    expect((await y.data())[0]).toBeCloseTo(12, 4);
    const z = jit((v: Tensor) => ops.mul(v, 2), { backend: "webgpu" })(y);
    expect((await z.data())[0]).toBeCloseTo(24, 4);
    releaseWebGPU(y);
    await expect(y.data()).rejects.toThrow(/released/);
  });
});
