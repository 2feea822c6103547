/**
 * `npm run cuda:tune`: on a machine with an NVIDIA GPU, times the benchmark
 * programs (matmul 1024³, the MoE layer at T=1024 D=256 H=512 E=8 k=2 forward
 * and forward+backward) under several matmul schedules (tile sizes, micro-tile
 * shapes and layouts), checking each against the interpreter, and prints one
 * row per schedule. The CUDA defaults in codegen/schedule.ts come from this. On sm_80+ the TF32
 * tensor-core schedule (`tensorCoreMatmul`, codegen/emit/cuda_tensor_core.ts) is a candidate too; its
 * error is TF32's (~1e-3), and `npm run cuda:tc` checks and times it in more detail.
 *
 * Options: --repeats N (timed runs per program, default 50).
 */
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { compile } from "../codegen/compile";
import type { ScheduleKnobs } from "../codegen/schedule";
import { evalProgram, bindDims } from "../dsl/trace";
import { matmul, trace, type Program, type Tensor } from "../index";
import { BENCH_MOE, moeInputs, moePrograms } from "../bench/moe_layer";
import { mulberry32, randomFloats, relativeError } from "../testing/random_programs";
import { cudaMachineProfile, nvidiaGpus } from "../backends/cuda/device";
import { buildCudaRunnersAsync, runCudaRunner } from "../backends/cuda/runner";

type MatmulKnobs = Pick<ScheduleKnobs, "tileM" | "tileN" | "tileK" | "microM" | "microN" | "stridedMicroTile">;

const CANDIDATES: MatmulKnobs[] = [
  { tileM: 64, tileN: 64, tileK: 16, microM: 4, microN: 4, stridedMicroTile: false },
  { tileM: 64, tileN: 64, tileK: 16, microM: 4, microN: 4, stridedMicroTile: true },
  { tileM: 64, tileN: 64, tileK: 32, microM: 4, microN: 4, stridedMicroTile: true },
  { tileM: 128, tileN: 64, tileK: 16, microM: 8, microN: 4, stridedMicroTile: true },
  { tileM: 64, tileN: 128, tileK: 16, microM: 4, microN: 8, stridedMicroTile: true },
  { tileM: 128, tileN: 128, tileK: 8, microM: 8, microN: 8, stridedMicroTile: true },
  { tileM: 128, tileN: 128, tileK: 16, microM: 8, microN: 8, stridedMicroTile: true },
  { tileM: 128, tileN: 128, tileK: 16, microM: 8, microN: 8, stridedMicroTile: false },
  { tileM: 64, tileN: 64, tileK: 16, microM: 8, microN: 8, stridedMicroTile: true },
  { tileM: 128, tileN: 64, tileK: 16, microM: 8, microN: 8, stridedMicroTile: true },
  { tileM: 64, tileN: 64, tileK: 8, microM: 4, microN: 4, stridedMicroTile: true },
  { tileM: 32, tileN: 64, tileK: 16, microM: 2, microN: 4, stridedMicroTile: true },
  { tileM: 64, tileN: 32, tileK: 32, microM: 4, microN: 2, stridedMicroTile: true },
  { tileM: 64, tileN: 64, tileK: 32, microM: 8, microN: 4, stridedMicroTile: true },
];

interface Bench {
  readonly name: string;
  readonly program: Program;
  readonly inputs: readonly Tensor[];
}

function benches(): Bench[] {
  const rng = mulberry32(17);
  const [a, b] = [randomFloats(rng, "f32", [1024, 1024]), randomFloats(rng, "f32", [1024, 1024])];
  const { forward, gradient } = moePrograms(BENCH_MOE);
  const xs = moeInputs(BENCH_MOE);
  return [
    { name: "matmul 1024^3", program: trace((x: Tensor, y: Tensor) => matmul(x, y), a, b), inputs: [a, b] },
    { name: "MoE fwd", program: forward, inputs: xs },
    { name: "MoE fwd+bwd", program: gradient, inputs: [...xs, randomFloats(rng, "f32", [])] },
  ];
}

/** A schedule to time: its knobs over the CUDA defaults (and the device, which tensor cores need). */
interface Candidate {
  readonly label: string;
  readonly knobs: Partial<ScheduleKnobs>;
}

const label = (k: MatmulKnobs) =>
  `${k.tileM}x${k.tileN}x${k.tileK} micro ${k.microM}x${k.microN} ${k.stridedMicroTile ? "strided" : "blocked"}`;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { repeats: { type: "string", default: "50" } } });
  const repeats = Number(values.repeats);
  if (!Number.isInteger(repeats) || repeats < 1)
    throw new Error(`cuda:tune: --repeats ${values.repeats}: expected an integer >= 1`);
  if (nvidiaGpus().length === 0) {
    console.log("cuda:tune: no GPU: skipped");
    return 0;
  }
  const bs = benches();
  const want = bs.map((b) => evalProgram(b.program, b.inputs).map((t) => t.dataSync()));
  // One executable per candidate (its three bundles), built in parallel.
  const limit = Math.max(1, cpus().length);
  const device = cudaMachineProfile();
  const tensorCores = (device?.computeCapability ?? 0) >= 80;
  const candidates: Candidate[] = [
    ...(tensorCores ? [{ label: "TF32 tensor cores (mma m16n8k8)", knobs: { tensorCoreMatmul: true } }] : []),
    ...CANDIDATES.map((k) => ({ label: label(k), knobs: k })),
  ];
  const built = await Promise.all(
    candidates.slice(0, limit).map(async ({ label, knobs }) => ({
      label,
      runners: await buildCudaRunnersAsync(
        bs.map((b) => compile(b.program, { target: "cuda", knobs, ...(device ? { device } : {}) })),
      ),
    })),
  );
  console.log(["schedule".padEnd(40), ...bs.map((b) => b.name.padStart(16)), "max rel err".padStart(12)].join("  "));
  for (const { label, runners } of built) {
    let worst = 0;
    const cells = bs.map((b, i) => {
      const { outputs, forwardMs } = runCudaRunner(
        runners[i]!,
        bindDims(b.program, b.inputs, b.name),
        b.inputs.map((t) => t.dataSync()),
        { repeats },
      );
      outputs.forEach((o, j) => (worst = Math.max(worst, relativeError(o, want[i]![j]!))));
      const extra = i === 0 && forwardMs ? ` ${((2 * 1024 ** 3) / (forwardMs * 1e6) / 1000).toFixed(1)}T` : "";
      return `${forwardMs?.toFixed(3)} ms${extra}`.padStart(16);
    });
    console.log([label.padEnd(40), ...cells, worst.toExponential(2).padStart(12)].join("  "));
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`cuda:tune: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  },
);
