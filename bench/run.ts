/**
 * `npm run bench`: the generic code-generation path on the benchmark MoE layer
 * (bench/moe_layer.ts: T=1024, D=256, H=512, E=8, top-2, f32).
 *
 * Reports: time to trace + differentiate the layer; interpreter forward and
 * forward+backward; cpu backend (JS kernels) forward and forward+backward and
 * its speed-up over the interpreter (target >= 5x; measured in interleaved
 * rounds, the median of the per-round ratios); compile times per target;
 * a 1024^3 f32 matmul in GFLOP/s on cpu; then each peer's numbers (webgpu:
 * the peers' layer on moeforge, jax-js and tfjs webgpu, bench/webgpu_peers.ts,
 * then bench/webgpu.ts). Timings are medians; nothing here asserts a speed.
 *
 * First (bench/cpu_peers.ts): the peers' layer (T=1024, D=256, H=512, E=8,
 * top-2, ReLU experts) on moeforge cpu (wasm and js targets), jax-js wasm and
 * TensorFlow.js wasm in interleaved rounds with the ratios, and GEMM GFLOP/s
 * against numpy; bench/'s own dependencies (the peers) are installed if missing.
 *
 * Options: `--quick` (fewer repetitions), `--no-webgpu`, `--no-peers` (also the WebGPU peers), `--no-checks`.
 * The WebGPU peers alone: `npx tsx bench/webgpu_peers.ts [--quick]`.
 *
 * Then the cost of the run-time checks (bench/checks.ts).
 */
import { parseArgs } from "node:util";
import { cpuBackend, cpuBundle } from "../backends/cpu/backend";
import { cpuThreads } from "../backends/cpu/pool";
import { compile } from "../codegen/index";
import { evalProgram } from "../dsl/trace";
import { matmul, spec, trace, type Program, type Tensor } from "../index";
import { mulberry32, randomFloats } from "../testing/random_programs";
import { BENCH_MOE, moeInputs, moePrograms } from "./moe_layer";
import { ensurePeerDeps, gemmSection, layerSection } from "./cpu_peers";
import { PEER_LAYER } from "./peer_layer";
import { median } from "./stats";

/** Median wall time of `reps` calls after `warm` untimed ones. */
function time(f: () => unknown, reps: number, warm = 1): number {
  for (let i = 0; i < warm; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    f();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

const ms = (x: number) => `${x.toFixed(1)} ms`;
const row = (name: string, value: string) => console.log(`  ${name.padEnd(44)} ${value}`);

/** A peer backend's benchmark: called after the cpu numbers; prints its own rows. */
export type PeerBench = () => Promise<void>;

/**
 * Hooks for other backends' numbers (one function per peer). The webgpu
 * numbers come from bench/webgpu.ts; a peer without a device prints why.
 */
export const PEERS: Record<string, PeerBench> = {
  webgpu: async () => {
    // Without a GPU, Dawn runs on SwiftShader's Vulkan driver (as scripts/test.sh sets up).
    const swiftshader = "/usr/lib/chromium/vk_swiftshader_icd.json";
    const fs = process.getBuiltinModule?.("node:fs");
    if (!process.env.VK_ICD_FILENAMES && fs?.existsSync(swiftshader)) process.env.VK_ICD_FILENAMES = swiftshader;
    // First the peers' layer on one shared Dawn device: moeforge vs jax-js vs tfjs (bench/webgpu_peers.ts).
    if (!flags["no-peers"]) await (await import("./webgpu_peers")).webgpuPeerSection(PEER_LAYER, quick ? 1 : 3);
    const { benchMoeWebGPU, benchMatmulWebGPU, kernelTimeMoeWebGPU } = await import("./webgpu");
    const reps = quick ? 1 : 3;
    const { forward, forwardBackward } = await benchMoeWebGPU(BENCH_MOE, { reps });
    row(
      `MoE fwd (${forward.device})`,
      `${ms(forward.runMs)}  [host ${ms(forward.hostMs)}/call, codegen ${ms(forward.codegenMs)}, pipelines ${ms(forward.pipelineMs)}]`,
    );
    row(
      "MoE fwd+bwd",
      `${ms(forwardBackward.runMs)}  [host ${ms(forwardBackward.hostMs)}/call, ` +
        `codegen ${ms(forwardBackward.codegenMs)}, pipelines ${ms(forwardBackward.pipelineMs)}]`,
    );
    const gpu = await kernelTimeMoeWebGPU(BENCH_MOE, reps);
    if (gpu)
      row(
        "MoE kernel time fwd / fwd+bwd (timestamps)",
        `${gpu.forwardMs.toFixed(3)} ms / ${gpu.forwardBackwardMs.toFixed(3)} ms`,
      );
    const mm = await benchMatmulWebGPU(1024, { reps });
    row("matmul 1024^3", `${ms(mm.runMs)}  ${mm.gflops?.toFixed(2)} GFLOP/s`);
  },
  // Run-time index and group-size checks: on vs `checks: false` (bench/checks.ts).
  checks: async () => {
    const { benchChecks } = await import("./checks");
    await benchChecks(row, { rounds: quick ? 1 : 3, webgpu: !flags["no-webgpu"] });
  },
};

/** `--quick`, `--no-peers` (the peer layer and GEMM sections), `--no-<peer>` for each of PEERS. */
const flags = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    "no-peers": { type: "boolean", default: false },
    ...Object.fromEntries(
      Object.keys(PEERS).map((name) => [`no-${name}`, { type: "boolean", default: false } as const]),
    ),
  },
}).values as Record<string, boolean>;
const quick = flags.quick!;

function moeSection(): { interpFwd: number; interpBwd: number; cpuFwd: number; cpuBwd: number } {
  const cfg = BENCH_MOE;
  console.log(`MoE layer T=${cfg.T} D=${cfg.D} H=${cfg.H} E=${cfg.E} k=${cfg.K} f32 (generic path)`);
  let programs = moePrograms(cfg);
  const traceMs = time(() => (programs = moePrograms(cfg)), quick ? 1 : 5);
  const { forward, gradient } = programs;
  row(
    "trace + differentiate (vjpProgram)",
    `${ms(traceMs)}  (${forward.eqns.length} fwd / ${gradient.eqns.length} fwd+bwd equations)`,
  );
  const xs = moeInputs(cfg);
  const gradInputs = [...xs, randomFloats(mulberry32(2), "f32", [])];
  for (const target of ["js", "wgsl", "cuda"] as const) {
    for (const [name, p] of [
      ["fwd", forward],
      ["fwd+bwd", gradient],
    ] as const) {
      let kernels = 0;
      const t = time(() => (kernels = compile(p, { target }).kernels.length), quick ? 1 : 3, 0);
      row(`compile ${name} -> ${target}`, `${ms(t)}  (${kernels} kernels)`);
    }
  }
  cpuBundle(forward);
  cpuBundle(gradient);
  // Interleaved rounds (interp, then cpu, on the same inputs): on a shared,
  // noisy machine both sides of each ratio see the same conditions. The
  // speed-up is the median of the per-round ratios, with their range.
  const rounds = quick ? 1 : 3;
  const cpuReps = quick ? 2 : 3;
  const fwd = { interp: [] as number[], cpu: [] as number[], ratio: [] as number[] };
  const bwd = { interp: [] as number[], cpu: [] as number[], ratio: [] as number[] };
  cpuBackend.run(forward, xs); // warm-up: kernels compiled by V8, workers started
  cpuBackend.run(gradient, gradInputs);
  for (let r = 0; r < rounds; r++) {
    for (const [acc, p, inputs] of [
      [fwd, forward, xs],
      [bwd, gradient, gradInputs],
    ] as const) {
      const i = time(() => evalProgram(p, inputs), 1, 0);
      const c = time(() => cpuBackend.run(p, inputs), cpuReps, 0);
      acc.interp.push(i);
      acc.cpu.push(c);
      acc.ratio.push(i / c);
    }
  }
  const [interpFwd, interpBwd, cpuFwd, cpuBwd] = [
    median(fwd.interp),
    median(bwd.interp),
    median(fwd.cpu),
    median(bwd.cpu),
  ];
  const range = (xs: readonly number[]) =>
    xs.length > 1 ? ` [${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}]` : "";
  row(`interp fwd (median of ${rounds})`, ms(interpFwd));
  row(`interp fwd+bwd (median of ${rounds})`, ms(interpBwd));
  row(`cpu fwd (${cpuThreads()} threads)`, ms(cpuFwd));
  row(`cpu fwd+bwd (${cpuThreads()} threads)`, ms(cpuBwd));
  row(
    "cpu speed-up over interp: fwd / fwd+bwd",
    `${median(fwd.ratio).toFixed(1)}x${range(fwd.ratio)} / ${median(bwd.ratio).toFixed(1)}x${range(bwd.ratio)}  ` +
      `(median of per-round ratios; target >= 5x)`,
  );
  return { interpFwd, interpBwd, cpuFwd, cpuBwd };
}

function matmulSection(n = 1024): void {
  const p: Program = trace((a: Tensor, b: Tensor) => matmul(a, b), spec([n, n]), spec([n, n]));
  const rng = mulberry32(3);
  const xs = [randomFloats(rng, "f32", [n, n]), randomFloats(rng, "f32", [n, n])];
  const t = time(() => cpuBackend.run(p, xs), quick ? 1 : 3);
  row(`cpu matmul ${n}^3 f32`, `${ms(t)}  ${((2 * n ** 3) / t / 1e6).toFixed(2)} GFLOP/s`);
}

async function main(): Promise<void> {
  if (!flags["no-peers"]) {
    ensurePeerDeps();
    await layerSection(PEER_LAYER, quick ? 3 : 7);
    gemmSection(PEER_LAYER, quick ? 3 : 5);
  }
  moeSection();
  matmulSection();
  for (const [name, bench] of Object.entries(PEERS)) {
    if (flags[`no-${name}`]) continue;
    console.log(`${name}:`);
    try {
      await bench();
    } catch (e) {
      row(`${name} unavailable`, (e instanceof Error ? e.message : String(e)).split("\n")[0]!);
    }
  }
}

await main();
