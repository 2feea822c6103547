/**
 * The MoE layers of test/moe/symbolic_tokens.test.ts, traced once with a
 * symbolic token count T, run on WebGPU at T = 1, 7, 300 and 1024 and equal
 * the programs traced at that T (forward and gradient). One WGSL bundle per
 * program serves every T: compiling its pipelines on SwiftShader is most of
 * the time (tens of seconds per program), running at T = 1024 a few seconds.
 */
import { describe, it } from "vitest";
import { webgpuBackend } from "../../backends/webgpu/index";
import { expectSameAsConcrete, inputsAt, symbolicCases, tracePrograms } from "../moe/symbolic_layers";
import { webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();
const TOKEN_COUNTS = [1, 7, 300, 1024];
const onWebGPU = (p: Parameters<typeof webgpuBackend.run>[0], xs: Parameters<typeof webgpuBackend.run>[1]) =>
  webgpuBackend.run(p, xs);

describe.runIf(ctx)("webgpu: MoE layers traced once with a symbolic token count", () => {
  for (const c of symbolicCases()) {
    it(`${c.name}: forward and gradient at T = ${TOKEN_COUNTS.join(", ")} equal the concrete traces`, async () => {
      const sym = tracePrograms(c, "T");
      for (const T of TOKEN_COUNTS) {
        const conc = tracePrograms(c, T);
        for (const [kind, gradient] of [
          ["forward", false],
          ["gradient", true],
        ] as const)
          await expectSameAsConcrete(
            onWebGPU,
            sym[kind],
            conc[kind],
            inputsAt(c, T, gradient),
            `${c.name}, ${kind}, T = ${T}, webgpu`,
          );
      }
    }, 600_000);
  }
});
