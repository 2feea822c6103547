/**
 * Shape polymorphism on WebGPU: random programs traced once with named dims
 * (test/codegen/symbolic_suite.ts; names bound to 1..12, other axes 1..13, at
 * most 4000 elements, SwiftShader runs WGSL on the CPU) run at three bindings
 * each through one compiled WGSL bundle per program and equal the same
 * recipes traced with concrete sizes, forward and gradient.
 *
 * Cases per run: 6 forward + 4 gradient programs, 3 bindings each.
 */
import { describe } from "vitest";
import { webgpuBackend } from "../../backends/webgpu/index";
import type { ProgramRunner } from "../../testing/random_programs";
import { symbolicProgramSuite } from "../codegen/symbolic_suite";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();
const onWebGPU: ProgramRunner = (p, xs) => webgpuBackend.run(p, xs);

describe.runIf(ctx)("webgpu: programs over named dims equal their concrete traces", () => {
  symbolicProgramSuite(onWebGPU, { forward: 6, gradient: 4 });
});
