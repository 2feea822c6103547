import type { Program } from "../../dsl/program";
import type { Tensor } from "../../dsl/tensor";
import { evalProgram } from "../../dsl/trace";
import type { Backend } from "../registry";

/**
 * The reference interpreter: runs each equation with its primitive's `impl`.
 * f64 programs compute in float64, f32 programs round every result to float32.
 */
export const interpBackend: Backend = {
  name: "interp",
  available: () => true,
  run(program: Program, inputs: readonly Tensor[]): Tensor[] {
    return evalProgram(program, inputs);
  },
};
