/**
 * `npm run cuda:tc`: the device check of the CUDA tensor-core schedule (TF32 mma, `tensorCoreMatmul`),
 * one command on a machine with an sm_80+ NVIDIA GPU, sized to finish in about 3 minutes:
 * 1. compiles the cases of scripts/cuda_tc_plan.ts (small grouped GEMMs with tails and their gradient,
 *    the benchmark MoE layer forward and forward + backward, a 1024^3 matmul, a large grouped GEMM) under
 *    the f32 FMA schedule (the default) and the tensor-core one, building both executables in parallel;
 * 2. runs both on the same inputs: each against the interpreter (FMA: rtol 1e-4; TF32: 5e-3), the large
 *    grouped GEMM's TF32 result against the FMA one; times both (mean of --repeats forwards, whole bundle);
 * 3. reports TFLOP/s against the GPU's f32 and TF32 peaks, and, when PyTorch imports, PyTorch eager
 *    (bench/torch_moe.py) and cuBLAS f32 / TF32 (bench/torch_gemm.py) on the same shapes.
 * Exit codes: 0 all match (or no GPU: skipped); 1 a mismatch or a failed build/run; 2 nvcc missing.
 *
 * Options: --repeats N (default 20), --build-only (compile both executables, run nothing: works without a
 * GPU), --archs sm_90 (default native; sm_90 with --build-only), --peak-tf32 X / --peak-f32 X (TFLOP/s, for
 * GPUs scripts/cuda_tc_plan.ts does not know), --no-torch.
 */
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { compile } from "../codegen/compile";
import { cudaDeviceProfile } from "../codegen/device";
import { isFloat } from "../dsl/dtype";
import { bindDims, evalProgram } from "../dsl/trace";
import { cudaMachineProfile, nvidiaGpus } from "../backends/cuda/device";
import { findNvcc } from "../backends/cuda/nvcc";
import { buildCudaRunnersAsync, runCudaRunner, type CudaRunner } from "../backends/cuda/runner";
import { relativeError } from "../testing/random_programs";
import { parseTorch, peakFor, RTOL, schedules, tcCases, throughput, type TcCase } from "./cuda_tc_plan";

type Outputs = ReturnType<typeof runCudaRunner>["outputs"];

function options() {
  const { values } = parseArgs({
    options: {
      repeats: { type: "string", default: "20" },
      "build-only": { type: "boolean", default: false },
      archs: { type: "string" },
      "peak-tf32": { type: "string" },
      "peak-f32": { type: "string" },
      "no-torch": { type: "boolean", default: false },
    },
  });
  const repeats = Number(values.repeats);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`cuda:tc: --repeats ${values.repeats}: expected >= 1`);
  const buildOnly = values["build-only"]!;
  return {
    repeats,
    buildOnly,
    archs: values.archs?.split(",") ?? [buildOnly ? "sm_90" : "native"],
    peakTf32: values["peak-tf32"] === undefined ? undefined : Number(values["peak-tf32"]),
    peakF32: values["peak-f32"] === undefined ? undefined : Number(values["peak-f32"]),
    torch: !values["no-torch"],
  };
}

/** Worst relative error of float outputs against `want`; integers must be equal (Infinity otherwise). */
function worstError(got: Outputs, want: readonly ArrayLike<number>[], floats: readonly boolean[]): number {
  let worst = 0;
  want.forEach((w, i) => {
    const g = got[i]!;
    if (floats[i]) worst = Math.max(worst, relativeError(g, w));
    else if (Array.from(w).some((x, j) => x !== g[j])) worst = Infinity;
  });
  return worst;
}

/** The PyTorch peers' measurements (empty when PyTorch or a GPU is missing), printed as they come. */
function torchPeers(): Map<string, number> {
  const all = new Map<string, number>();
  for (const script of ["bench/torch_moe.py", "bench/torch_gemm.py"]) {
    const r = spawnSync("python3", [script, "--reps", "20"], { encoding: "utf8", timeout: 120_000 });
    if (r.status !== 0) {
      console.log(`cuda:tc: ${script} did not run (${(r.stderr || r.error?.message || "").trim().split("\n").pop()})`);
      continue;
    }
    process.stdout.write(r.stdout);
    for (const [k, v] of parseTorch(r.stdout)) all.set(k, v);
  }
  return all;
}

async function main(): Promise<number> {
  const opts = options();
  const gpus = nvidiaGpus();
  if (gpus.length === 0 && !opts.buildOnly) {
    console.log("cuda:tc: no GPU: skipped (run it on an sm_80+ NVIDIA GPU, or use --build-only to compile here)");
    return 0;
  }
  if (!findNvcc()) {
    console.error("cuda:tc: nvcc was not found; install the CUDA toolkit or set NVCC=/path/to/nvcc");
    return 2;
  }
  const device = opts.buildOnly ? cudaDeviceProfile(9, 0) : cudaMachineProfile();
  if (!device?.computeCapability || device.computeCapability < 80) {
    console.log(
      `cuda:tc: the GPU's compute capability (${device?.computeCapability ?? "unknown"}) is below 8.0: skipped`,
    );
    return 0;
  }
  const gpu = gpus[0] ?? "no GPU (build only)";
  const known = peakFor(gpu);
  const peak = { f32: opts.peakF32 ?? known?.f32, tf32: opts.peakTf32 ?? known?.tf32 };
  console.log(`cuda:tc: ${gpu}; sm_${device.computeCapability}; archs ${opts.archs.join(",")}`);
  const cases = tcCases();
  const sched = schedules(device);
  const started = Date.now();
  const [fma, tf32] = await Promise.all(
    (["fma", "tf32"] as const).map((s) =>
      buildCudaRunnersAsync(
        cases.map((c) => compile(c.program, sched[s])),
        { archs: opts.archs },
      ),
    ),
  );
  console.log(`cuda:tc: built both executables in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (opts.buildOnly) return 0;
  let bad = 0;
  const times = new Map<string, { fma: number; tf32: number }>();
  for (const [i, c] of cases.entries()) {
    const line = runCase(c, fma![i]!, tf32![i]!, opts.repeats, peak);
    bad += line.ok ? 0 : 1;
    times.set(c.name, line.ms);
  }
  if (opts.torch) reportPeers(torchPeers(), times);
  console.log(`cuda:tc: ${cases.length - bad}/${cases.length} cases match${bad ? `; ${bad} FAILED` : ""}`);
  return bad ? 1 : 0;
}

/** Runs one case under both schedules, checks and prints it. */
function runCase(
  c: TcCase,
  fma: CudaRunner,
  tf32: CudaRunner,
  repeats: number,
  peak: { f32?: number; tf32?: number },
): { ok: boolean; ms: { fma: number; tf32: number } } {
  const dims = bindDims(c.program, c.inputs, c.name);
  const host = c.inputs.map((t) => t.dataSync());
  const floats = c.program.outputs.map((v) => isFloat(v.dtype));
  const a = runCudaRunner(fma, dims, host, { repeats });
  const b = runCudaRunner(tf32, dims, host, { repeats });
  const want = c.oracle === "interpreter" ? evalProgram(c.program, c.inputs).map((t) => t.dataSync()) : undefined;
  const fmaErr = want ? worstError(a.outputs, want, floats) : 0;
  const tcErr = worstError(b.outputs, want ?? a.outputs, floats);
  const ok = fmaErr <= RTOL.fma && tcErr <= RTOL.tf32;
  const ms = { fma: a.forwardMs ?? NaN, tf32: b.forwardMs ?? NaN };
  const rate = c.flops
    ? `; FMA ${throughput(c.flops, ms.fma, peak.f32)}, TF32 ${throughput(c.flops, ms.tf32, peak.tf32)}`
    : "";
  console.log(
    `${ok ? "ok      " : "MISMATCH"} ${c.name}: FMA ${ms.fma.toFixed(3)} ms (err ${fmaErr.toExponential(2)}), ` +
      `TF32 ${ms.tf32.toFixed(3)} ms (err ${tcErr.toExponential(2)} vs ${want ? "interpreter" : "FMA"}), ` +
      `${(ms.fma / ms.tf32).toFixed(2)}x${rate}`,
  );
  return { ok, ms };
}

/** moeforge's times next to the peers' on the same shapes. */
function reportPeers(peers: Map<string, number>, times: Map<string, { fma: number; tf32: number }>): void {
  const pairs: [string, string][] = [
    ["MoE fwd", "MoE layer fwd (T=1024 D=256 H=512 E=8 k=2)"],
    ["MoE fwd+bwd", "MoE layer fwd+bwd"],
    ["cublas matmul 1024^3 f32", "matmul 1024^3"],
    ["cublas matmul 1024^3 tf32", "matmul 1024^3"],
    ["cublas grouped f32", [...times.keys()].find((k) => k.startsWith("grouped GEMM [8192")) ?? ""],
    ["cublas grouped tf32", [...times.keys()].find((k) => k.startsWith("grouped GEMM [8192")) ?? ""],
  ];
  for (const [peer, ours] of pairs) {
    const p = peers.get(peer);
    const t = times.get(ours);
    if (p === undefined || !t) continue;
    console.log(
      `vs torch ${peer} (${p.toFixed(3)} ms): moeforge FMA ${(p / t.fma).toFixed(2)}x, TF32 ${(p / t.tf32).toFixed(2)}x as fast`,
    );
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`cuda:tc: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  },
);
