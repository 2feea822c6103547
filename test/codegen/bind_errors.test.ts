/**
 * Bad bindings are errors when a program is bound to sizes, on every runtime,
 * naming the dim, the input that bound it and the ops that read that input:
 * a named dim bound to 0 (every named dim is >= 1, and the program was traced
 * for it), one name bound to two sizes, an expression dim (T*2) whose input
 * has another size. Interpreter, cpu backend (default target) and the JS
 * target here; WebGPU in test/webgpu/bind_errors.test.ts; the CUDA backend
 * binds through the same bindDims and its C host launcher checks T >= 1
 * itself (test/codegen/cuda_nvcc.test.ts).
 */
import { describe, expect, it } from "vitest";
import { cpuBackend, cpuBundle } from "../../backends/cpu/backend";
import { getBackend } from "../../index";
import { BAD_BINDINGS } from "./bad_bindings";
import type { ProgramRunner } from "../../testing/random_programs";
import { runCompiled } from "./runners";

const runners: [string, ProgramRunner][] = [
  ["interp", (p, xs) => getBackend("interp").run(p, xs)],
  ["cpu (default target)", (p, xs) => cpuBackend.run(p, xs)],
  ["cpu (JS target)", (p, xs) => runCompiled(cpuBundle(p, "js"), p, xs)],
];

describe("bad bindings are errors at bind time naming the dim, the input and the ops reading it", () => {
  for (const [runtime, run] of runners)
    for (const c of BAD_BINDINGS)
      it(`${runtime}: ${c.name}`, async () => {
        await expect(async () => run(c.program, c.inputs())).rejects.toThrow(c.message);
      });
});
