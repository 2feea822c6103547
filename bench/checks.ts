/**
 * The cost of the run-time checks (indices of take/scatterAdd/bincount,
 * raggedMatmul group sizes) on the benchmark MoE layer: the same programs run
 * with the checks compiled in (the default) and with `checks: false`, in
 * interleaved rounds, on cpu and, when a device is present, webgpu (forward
 * only there: SwiftShader is slow). Prints rows; asserts nothing.
 */
import { cpuBackend } from "../backends/cpu/backend";
import type { BackendName, RunOptions } from "../backends/registry";
import type { Program, Tensor } from "../index";
import { mulberry32, randomFloats } from "../testing/random_programs";
import { BENCH_MOE, moeInputs, moePrograms } from "./moe_layer";
import { median } from "./stats";

type Runner = (p: Program, xs: readonly Tensor[], options: RunOptions) => Promise<unknown>;

/** Median times with and without checks, measured in alternating order so both see the same machine. */
async function compare(run: Runner, p: Program, xs: readonly Tensor[], rounds: number) {
  await run(p, xs, {}); // warm-up: compile both variants
  await run(p, xs, { checks: false });
  const on: number[] = [];
  const off: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [acc, options] of [
      [on, {}],
      [off, { checks: false }],
    ] as const) {
      const t = performance.now();
      await run(p, xs, options);
      acc.push(performance.now() - t);
    }
  }
  return { on: median(on), off: median(off) };
}

/** Prints the checks' cost per backend: `row(name, value)` formats a line. */
export async function benchChecks(
  row: (name: string, value: string) => void,
  options: { rounds: number; webgpu: boolean },
): Promise<void> {
  const { forward, gradient } = moePrograms(BENCH_MOE);
  const xs = moeInputs(BENCH_MOE);
  const gradInputs = [...xs, randomFloats(mulberry32(2), "f32", [])];
  const show = (name: string, t: { on: number; off: number }) =>
    row(
      name,
      `${t.on.toFixed(1)} ms checked / ${t.off.toFixed(1)} ms unchecked  (${(((t.on - t.off) / t.off) * 100).toFixed(1)}%)`,
    );
  const cpu: Runner = async (p, ins, o) => cpuBackend.run(p, ins, o);
  show("cpu MoE fwd", await compare(cpu, forward, xs, options.rounds));
  show("cpu MoE fwd+bwd", await compare(cpu, gradient, gradInputs, options.rounds));
  if (!options.webgpu) return;
  const { getBackend } = await import("../backends/registry");
  const { initWebGPU } = await import("../backends/webgpu/index");
  await initWebGPU();
  const name: BackendName = "webgpu";
  // Reading the output waits for the submission and its check flag (one 12-byte copy and map per call).
  const gpu: Runner = async (p, ins, o) =>
    Promise.all(
      getBackend(name)
        .run(p, ins, o)
        .map((t) => t.data()),
    );
  show("webgpu MoE fwd (incl. readback)", await compare(gpu, forward, xs, options.rounds));
}
