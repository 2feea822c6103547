/**
 * Bad bindings on WebGPU (test/codegen/bad_bindings.ts): T = 0 where T >= 1,
 * a name bound to two sizes, an expression dim of another size; each an
 * error when the program is bound, naming the dim, the input and its readers.
 */
import { describe, expect, it } from "vitest";
import { webgpuBackend } from "../../backends/webgpu/index";
import { BAD_BINDINGS } from "../codegen/bad_bindings";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();

describe.runIf(ctx)("webgpu: bad bindings are errors at bind time", () => {
  for (const c of BAD_BINDINGS)
    it(c.name, async () => {
      await expect(async () => webgpuBackend.run(c.program, c.inputs())).rejects.toThrow(c.message);
    });
});
