/**
 * The cpu backend against its peers on the peers' benchmark layer
 * (bench/peer_layer.ts), in one run: moeforge cpu on the wasm target and on
 * the JS target, jax-js wasm and TensorFlow.js wasm, fwd and fwd+bwd, in
 * interleaved rounds (each round times every library once, so all see the
 * same machine); medians, ranges and per-round ratios. Losses are checked to
 * agree and gradients compared with moeforge's JS target (f64 sums) before
 * timing. Then GEMM throughput: 1024^3 and the layer's grouped GEMMs on the
 * wasm target, against numpy (OpenBLAS) measured here when python3 has it.
 *
 * The peers come from bench/node_modules (bench/package.json), installed on
 * first use.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuThreads } from "../backends/cpu/pool";
import { runBundle } from "../backends/cpu/runtime";
import { cpuTarget } from "../backends/cpu/target";
import { compile } from "../codegen/index";
import type { Contraction } from "../codegen/kernel_ir";
import { matmul, mul, raggedMatmul, spec, sum, trace, vjpProgram, type Tensor } from "../index";
import {
  moeforgeImpl,
  peerInputs,
  type LossAndGrads,
  type PeerImpl,
  type PeerInputs,
  type PeerLayerConfig,
} from "./peer_layer";
import { jaxJsImpl, tfjsImpl } from "./peers";
import { relativeError } from "../testing/random_programs";
import { median } from "./stats";

const here = dirname(fileURLToPath(import.meta.url));
const row = (name: string, value: string) => console.log(`  ${name.padEnd(34)} ${value}`);
const range = (xs: readonly number[], digits = 1) =>
  `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`;

/** Installs bench/'s dependencies (the peers) when any of bench/package.json's is missing. */
export function ensurePeerDeps(): void {
  const manifest = JSON.parse(readFileSync(join(here, "package.json"), "utf8")) as { dependencies: object };
  if (Object.keys(manifest.dependencies).every((name) => existsSync(join(here, "node_modules", name, "package.json"))))
    return;
  console.log("installing bench/ dependencies (jax-js, TensorFlow.js) ...");
  const lock = existsSync(join(here, "package-lock.json"));
  execFileSync("npm", [lock ? "ci" : "install", "--no-audit", "--no-fund"], { cwd: here, stdio: "inherit" });
}

function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
}

/** Relative 2-norm error of `got` against `want` (no noise floor: losses and gradients of any scale). */
export const relError = (got: ArrayLike<number>, want: ArrayLike<number>): number => relativeError(got, want, 1e-150);

/** Every implementation's fwd and fwd+bwd results, and how far each is from the reference (the first). */
export async function checkAgreement(
  impls: readonly PeerImpl[],
): Promise<{ name: string; fwd: number; bwd: number; grads: number }[]> {
  const results: { fwd: LossAndGrads; bwd: LossAndGrads }[] = [];
  for (const impl of impls) results.push({ fwd: await impl.forward(), bwd: await impl.forwardBackward() });
  const ref = results[0]!;
  return impls.map((impl, i) => {
    const r = results[i]!;
    const grads = Math.max(...r.bwd.grads!.map((g, j) => relError(g, ref.bwd.grads![j]!)));
    return { name: impl.name, fwd: relDiff(r.fwd.loss, ref.fwd.loss), bwd: relDiff(r.bwd.loss, ref.bwd.loss), grads };
  });
}

async function timeOnce(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

/** The layer section: agreement, then interleaved timing rounds; returns per-impl medians. */
export async function layerSection(cfg: PeerLayerConfig, rounds: number): Promise<void> {
  const inputs = peerInputs(cfg);
  const impls: PeerImpl[] = [moeforgeImpl(cfg, inputs, "js"), moeforgeImpl(cfg, inputs, "wasm")];
  for (const [name, make] of [
    ["jax-js (eager)", (c: PeerLayerConfig, i: PeerInputs) => jaxJsImpl(c, i, { jit: false })],
    ["jax-js (jit)", (c: PeerLayerConfig, i: PeerInputs) => jaxJsImpl(c, i, { jit: true })],
    ["tfjs", tfjsImpl],
  ] as const) {
    try {
      impls.push(await make(cfg, inputs));
    } catch (e) {
      row(`${name} unavailable`, (e instanceof Error ? e.message : String(e)).split("\n")[0]!);
    }
  }
  const { T, D, H, E, K } = cfg;
  console.log(
    `peers' layer T=${T} D=${D} H=${H} E=${E} top-${K}, ReLU experts, loss = mean(out^2) + 0.01 * Switch aux (f32)`,
  );
  row("cpu target chosen by default", `${cpuTarget().target} (${cpuTarget().reason}); ${cpuThreads()} threads`);
  // The peers sum in f32 with 4-lane SIMD accumulators: on this layer that alone moves mean(out^2) by
  // ~9e-6 relative to an f64 sum (measured by re-summing moeforge's output that way), which is the
  // peers' loss difference below (moeforge's wasm loss equals its js target's, whose sums are f64).
  console.log("  agreement with moeforge cpu (js: f64 sums), relative: loss fwd / loss fwd+bwd / gradients (2-norm)");
  for (const a of await checkAgreement(impls))
    row(a.name, `${a.fwd.toExponential(1)} / ${a.bwd.toExponential(1)} / ${a.grads.toExponential(1)}`);
  const fwd = impls.map(() => [] as number[]);
  const bwd = impls.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++)
    for (let i = 0; i < impls.length; i++) {
      fwd[i]!.push(await timeOnce(() => impls[i]!.forward()));
      bwd[i]!.push(await timeOnce(() => impls[i]!.forwardBackward()));
    }
  // The baseline of the ratios: per round, the faster jax-js configuration (eager or jit).
  const jaxRows = impls.flatMap((p, i) => (p.name.startsWith("jax-js") ? [i] : []));
  const fastest = (times: number[][]) =>
    jaxRows.length === 0 ? undefined : times[0]!.map((_, r) => Math.min(...jaxRows.map((i) => times[i]![r]!)));
  const base = { f: fastest(fwd), w: fastest(bwd) };
  console.log(
    `  time, median [range] of ${rounds} interleaved rounds; speed-up over jax-js at its best per round (median of per-round ratios)`,
  );
  console.log(`  ${"".padEnd(34)} ${"fwd".padEnd(26)} fwd+bwd`);
  impls.forEach((impl, i) => {
    const cell = (xs: number[], base: number[] | undefined) => {
      const ratio = base ? `  ${median(base.map((b, r) => b / xs[r]!)).toFixed(2)}x` : "";
      return `${median(xs).toFixed(1)} ms [${range(xs)}]${ratio}`;
    };
    row(impl.name, `${cell(fwd[i]!, base.f).padEnd(26)} ${cell(bwd[i]!, base.w)}`);
  });
  impls.forEach((p) => p.dispose?.());
}

interface GemmShape {
  readonly name: string;
  readonly flops: number;
  /**
   * One call; returns the milliseconds its GEMM launches took (the GEMM, and the panel packing when
   * it runs; not copying inputs in and outputs out): wall time, and the process's CPU time over them.
   */
  run(): { ms: number; cpuMs: number };
}

/** 1024^3 and the benchmark layer's grouped GEMMs (up and down projections, the up projection's weight gradient), on wasm. */
function gemmShapes(cfg: PeerLayerConfig): GemmShape[] {
  const { T, D, H, E, K } = cfg;
  const M = T * K;
  const sizes = new Int32Array(E).fill(M / E);
  const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
  const shapes: GemmShape[] = [];
  /**
   * A shape timed over its contraction kernels and their panel packs; with `only`, over the contractions
   * of that kind and the pack launched just before each (its B).
   */
  const add = (
    name: string,
    flops: number,
    p: ReturnType<typeof trace>,
    arrays: (Float32Array | Int32Array)[],
    only?: Contraction["kind"],
  ) => {
    const b = compile(p, { target: "wasm" });
    const dims = new Map<string, number>();
    const run = () => {
      const t = { ms: 0, cpuMs: 0 };
      let pack = { ms: 0, cpuMs: 0 };
      runBundle(b, arrays as never, dims, (_launch, kernel, ms, cpuMs) => {
        const packs = kernel.name.includes("pack_panels");
        const counted = only ? kernel.contraction?.kind === only : packs || kernel.contraction !== undefined;
        if (counted && only) [t.ms, t.cpuMs] = [t.ms + pack.ms, t.cpuMs + pack.cpuMs];
        pack = packs ? { ms, cpuMs } : { ms: 0, cpuMs: 0 };
        if (!counted) return;
        t.ms += ms;
        t.cpuMs += cpuMs;
      });
      return t;
    };
    shapes.push({ name, flops, run });
  };
  const n = 1024;
  add(
    "matmul 1024^3",
    2 * n ** 3,
    trace((a: Tensor, b: Tensor) => matmul(a, b), spec([n, n]), spec([n, n])),
    [rand(n * n), rand(n * n)],
  );
  for (const [k, nOut] of [
    [D, H],
    [H, D],
  ] as const) {
    const p = trace(
      (x: Tensor, w: Tensor, g: Tensor) => raggedMatmul(x, w, g),
      spec([M, k]),
      spec([E, k, nOut]),
      spec([E], "i32"),
    );
    add(`grouped ${M}x${k}x${nOut} (${E} groups)`, 2 * M * k * nOut, p, [rand(M * k), rand(E * k * nOut), sizes]);
  }
  // The up projection's weight gradient: dw[g] = x_g^T dy_g, [E, D, H] over the groups' rows.
  const loss = trace(
    (x: Tensor, w: Tensor, g: Tensor, c: Tensor) => sum(mul(raggedMatmul(x, w, g), c)),
    spec([M, D]),
    spec([E, D, H]),
    spec([E], "i32"),
    spec([M, H]),
  );
  const arrays = [rand(M * D), rand(E * D * H), sizes, rand(M * H), new Float32Array([1])];
  add(`wgrad ${E}x${D}x${H} over ${M} rows`, 2 * M * D * H, vjpProgram(loss), arrays, "groupedWeightGrad");
  return shapes;
}

/** numpy's GFLOP/s on the same shapes (one BLAS call per group), or why not. */
function numpyCeiling(cfg: PeerLayerConfig): { gflops: number[]; threads: string } | string {
  const { T, D, H, E, K } = cfg;
  const M = T * K;
  const script = `
import time, os, numpy as np
def best(f, reps=5):
    f(); ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]
n = 1024
a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
out = [2 * n**3 / best(lambda: a @ b) / 1e9]
for k, m in ((${D}, ${H}), (${H}, ${D})):
    x = np.random.rand(${M}, k).astype(np.float32); w = np.random.rand(${E}, k, m).astype(np.float32)
    g = ${M} // ${E}
    out.append(2 * ${M} * k * m / best(lambda: [x[e*g:(e+1)*g] @ w[e] for e in range(${E})]) / 1e9)
x = np.random.rand(${M}, ${D}).astype(np.float32); dy = np.random.rand(${M}, ${H}).astype(np.float32)
out.append(2 * ${M} * ${D} * ${H} / best(lambda: [x[e*g:(e+1)*g].T @ dy[e*g:(e+1)*g] for e in range(${E})]) / 1e9)
print(" ".join(str(v) for v in out))
print(os.environ.get("OPENBLAS_NUM_THREADS", "default"))
`;
  try {
    const out = execFileSync("python3", ["-c", script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const [nums, threads] = out.trim().split("\n");
    return { gflops: nums!.split(" ").map(Number), threads: threads! };
  } catch (e) {
    return `python3 with numpy is not available here (${(e instanceof Error ? e.message : String(e)).split("\n")[0]})`;
  }
}

/**
 * GEMM throughput: moeforge wasm (rounds interleaved with numpy's single measurement) and the ratio.
 * Per shape: the GEMM launches' GFLOP/s (the GEMM, and the weight's panel packing when it runs) in
 * wall time, per thread in two ways: wall divided by the threads, and per second of CPU time the
 * process spent in them (what a thread computes while it runs: on a loaded machine the wall time
 * also counts waiting for a core); and end to end (runBundle: with copying the inputs in and a fresh
 * output array out, whose first touch of new pages is slow in some VMs).
 */
export function gemmSection(cfg: PeerLayerConfig, rounds: number): void {
  const threads = cpuThreads();
  console.log(`GEMMs, f32, moeforge cpu (wasm, ${threads} threads) vs numpy/OpenBLAS measured here`);
  const shapes = gemmShapes(cfg);
  const kernels = shapes.map(() => [] as number[]);
  const cpu = shapes.map(() => [] as number[]);
  const calls = shapes.map(() => [] as number[]);
  shapes.forEach((s) => s.run()); // warm-up
  for (let r = 0; r < rounds; r++)
    shapes.forEach((s, i) => {
      const t = performance.now();
      const { ms, cpuMs } = s.run();
      kernels[i]!.push(ms);
      cpu[i]!.push(cpuMs);
      calls[i]!.push(performance.now() - t);
    });
  const numpy = numpyCeiling(cfg);
  if (typeof numpy === "string") row("numpy", numpy);
  shapes.forEach((s, i) => {
    const gf = kernels[i]!.map((t) => s.flops / t / 1e6);
    const call = median(calls[i]!.map((t) => s.flops / t / 1e6));
    const perCpu = median(cpu[i]!.map((t) => s.flops / t / 1e6));
    const np = typeof numpy === "string" ? undefined : numpy.gflops[i];
    const vs = np ? `; numpy ${np.toFixed(1)} GFLOP/s -> ${((median(gf) / np) * 100).toFixed(0)}% of it` : "";
    row(
      s.name,
      `${median(gf).toFixed(1)} GFLOP/s [${range(gf)}] = ${(median(gf) / threads).toFixed(1)} per thread` +
        ` (${perCpu > 0 ? `${perCpu.toFixed(1)} per CPU-second; ` : ""}end to end ${call.toFixed(1)})${vs}`,
    );
  });
}
