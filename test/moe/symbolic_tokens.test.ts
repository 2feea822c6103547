/**
 * One trace for every token count: the benchmark MoE layer, a capacity-factor
 * layer, moe.moeLayer (top-2 SwiGLU + a shared expert) and expert choice are
 * traced once with a named token dim T; their forward and gradient programs
 * run at T = 1, 7, 300 and 1024 on the interpreter and the cpu backend and
 * equal the programs traced at that T. compile() for wgsl and cuda gives one
 * bundle whose buffer sizes and launch grids read T and nothing else.
 * (WebGPU runs the same programs at the same T in test/webgpu/symbolic_tokens.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import "../../codegen/emit/cuda";
import { getBackend, type Program, type Tensor } from "../../index";
import { evalProgram } from "../../dsl/trace";
import { bundleNames, expectSameAsConcrete, inputsAt, symbolicCases, tracePrograms } from "./symbolic_layers";

const TOKEN_COUNTS = [1, 7, 300, 1024];
const interp = (p: Program, xs: readonly Tensor[]) => evalProgram(p, xs);
const cpu = (p: Program, xs: readonly Tensor[]) => getBackend("cpu").run(p, xs);

describe("MoE layers traced once with a symbolic token count", () => {
  for (const c of symbolicCases()) {
    it(`${c.name}: forward and gradient at T = ${TOKEN_COUNTS.join(", ")} on interp and cpu equal the concrete traces`, async () => {
      const sym = tracePrograms(c, "T");
      expect(sym.forward.inputs[0]!.shape).toEqual(["T", 8]);
      for (const T of TOKEN_COUNTS) {
        const conc = tracePrograms(c, T);
        for (const [kind, gradient] of [
          ["forward", false],
          ["gradient", true],
        ] as const) {
          const inputs = inputsAt(c, T, gradient);
          const what = `${c.name}, ${kind}, T = ${T}`;
          await expectSameAsConcrete(interp, sym[kind], conc[kind], inputs, `${what}, interp`);
          await expectSameAsConcrete(cpu, sym[kind], conc[kind], inputs, `${what}, cpu`);
        }
      }
    });

    it(`${c.name}: one wgsl and one cuda bundle whose buffer sizes and grids are expressions of T only`, () => {
      const sym = tracePrograms(c, "T");
      for (const program of [sym.forward, sym.gradient])
        for (const target of ["wgsl", "cuda"] as const) {
          const b = compile(program, { target });
          expect(b.dims).toEqual(["T"]);
          const names = bundleNames(b);
          expect(new Set(names)).toEqual(new Set(["T"]));
          // sizes really scale with T: the token buffers are T * dModel
          expect(b.buffers.some((x) => typeof x.size !== "number")).toBe(true);
        }
    });
  }
});
