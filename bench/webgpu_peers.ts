/**
 * The peers' benchmark layer (bench/peer_layer.ts: T=1024 D=256 H=512 E=8,
 * top-2 ReLU experts + Switch aux loss) on WebGPU: moeforge (sparse dispatch,
 * its generated WGSL), jax-js (`jax.jit`) and TensorFlow.js
 * (`@tensorflow/tfjs-backend-webgpu`), fwd and fwd+bwd, on ONE GPUDevice.
 *
 * In Node there is no `navigator.gpu`: `sharedWebGPU()` creates one Dawn
 * device (npm `webgpu`; SwiftShader on a machine without a GPU) with the
 * adapter's limits and the features the three libraries ask for, hands it to
 * moeforge (`createWebGPUContext({ device })`) and installs a `navigator.gpu`
 * whose adapter returns that same device, which is how jax-js (`jax.init`)
 * and tfjs (`setBackend("webgpu")`) acquire theirs. All three therefore share
 * one queue; each timed call waits for its own results (the loss, and for
 * fwd+bwd the four gradients, read back), so calls never overlap.
 *
 * Reported: agreement of every library with moeforge cpu (js target, f64
 * sums); times as median [range] of interleaved rounds (each round times
 * every library once, fwd then fwd+bwd); each row's speed-up over the best
 * peer (median of the per-round ratios); host time per call (the synchronous
 * part, before the device works); and moeforge's per-kernel GPU times from
 * timestamp queries. Run alone: `npx tsx bench/webgpu_peers.ts [--quick]`.
 */
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { profileOnWebGPU, runOnWebGPU, webgpuExecutable } from "../backends/webgpu/backend";
import { createWebGPUContext, type WebGPUContext } from "../backends/webgpu/device";
import type { LaunchTime } from "../backends/webgpu/executor";
import { NDArray } from "../dsl/ndarray";
import { Tensor } from "../dsl/tensor";
import type { Program } from "../dsl/program";
import { ensurePeerDeps, relError } from "./cpu_peers";
import {
  PEER_LAYER,
  moeforgeImpl,
  moeforgePrograms,
  peerInputs,
  type LossAndGrads,
  type PeerImpl,
  type PeerInputs,
  type PeerLayerConfig,
} from "./peer_layer";
import { jaxJsImpl, tfjsImpl } from "./peers";
import { toDevice } from "./webgpu";
import { median } from "./stats";

const row = (name: string, value: string) => console.log(`  ${name.padEnd(30)} ${value}`);
const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0]!;

/** The one device of the comparison. */
export interface SharedWebGPU {
  /** moeforge's context on the shared device. */
  readonly ctx: WebGPUContext;
  /** e.g. "google swiftshader (Vulkan, Dawn)". */
  readonly adapter: string;
  /** Dawn's GPU instance and adapter: Dawn crashes when they are collected while the device is in use. */
  readonly keepAlive: readonly unknown[];
}

const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
/** Limits any of the three libraries asks for, requested at the adapter's values. */
const LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxStorageBuffersPerShaderStage",
  "maxStorageTexturesPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
] as const;
const FEATURES = ["shader-f16", "timestamp-query"] as const;

let shared: Promise<SharedWebGPU> | undefined;

/**
 * One Dawn device for moeforge, jax-js and tfjs (see the file comment); made once per process.
 * Throws, saying what is missing, when Dawn finds no adapter.
 * @example const { ctx, adapter } = await sharedWebGPU();
 */
export function sharedWebGPU(): Promise<SharedWebGPU> {
  shared ??= acquireShared();
  shared.catch(() => (shared = undefined)); // a later call may try again
  return shared;
}

async function acquireShared(): Promise<SharedWebGPU> {
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const specifier = "webgpu"; // a variable specifier, as in backends/webgpu/device.ts
  const dawn = (await import(specifier)) as { create(flags: string[]): GPU; globals: object };
  Object.assign(globalThis, dawn.globals); // GPUBufferUsage, GPUMapMode, ...: the peers read them as globals
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter)
    throw new Error(
      `Dawn (npm "webgpu") found no GPU adapter (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? "unset"}); ` +
        "without a GPU install chromium and libvulkan1 (SwiftShader), as scripts/setup.sh does",
    );
  const requiredLimits = Object.fromEntries(LIMITS.map((l) => [l, adapter.limits[l]]));
  const requiredFeatures = FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  // What jax-js and tfjs see as navigator.gpu: the real adapter's description, and the shared device.
  const sharedAdapter = {
    features: adapter.features,
    limits: adapter.limits,
    info: adapter.info,
    isFallbackAdapter: false,
    requestDevice: async () => device,
    requestAdapterInfo: async () => adapter.info,
  };
  const navigatorGpu = {
    requestAdapter: async () => sharedAdapter,
    getPreferredCanvasFormat: () => "rgba8unorm",
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
  };
  const g = globalThis as { navigator?: object };
  // Node 20 has no navigator; jax-js reads navigator.userAgent (Firefox detection), so give it one.
  if (g.navigator) Object.defineProperty(g.navigator, "gpu", { value: navigatorGpu, configurable: true });
  else g.navigator = { gpu: navigatorGpu, userAgent: `Node.js/${process.version}` };
  const ctx = await createWebGPUContext({ device });
  const info = adapter.info;
  const name = [info.vendor, info.architecture, info.device].filter((s) => s).join(" ");
  return { ctx, adapter: `${name} (${info.description || "Dawn"})`, keepAlive: [gpu, adapter] };
}

function hostTensor(shape: number[], data: Float32Array): Tensor {
  return Tensor._concrete(new NDArray("f32", shape, data));
}

/**
 * moeforge on WebGPU: the layer's loss and gradient programs (sparse: argsort
 * dispatch, grouped GEMMs, scatter-add combine) compiled to WGSL, inputs
 * uploaded once, every call's results read back like the peers'.
 */
export async function moeforgeWebGPUImpl(
  cfg: PeerLayerConfig,
  inputs: PeerInputs,
  ctx: WebGPUContext,
): Promise<PeerImpl & { readonly programs: { loss: Program; gradient: Program }; readonly onDevice: Tensor[] }> {
  const { T, D, H, E } = cfg;
  const programs = moeforgePrograms(cfg);
  const { loss, gradient } = programs;
  await webgpuExecutable(loss, ctx).warm();
  await webgpuExecutable(gradient, ctx).warm();
  const onDevice = toDevice(ctx, [
    hostTensor([T, D], inputs.x),
    hostTensor([D, E], inputs.router),
    hostTensor([E, D, H], inputs.w1),
    hostTensor([E, H, D], inputs.w2),
    hostTensor([], new Float32Array([1])), // the loss cotangent
  ]);
  const params = onDevice.slice(0, 4);
  const hostMs = { forward: [] as number[], forwardBackward: [] as number[] };
  const read = async (outs: Tensor[]): Promise<Float32Array[]> => {
    const data = (await Promise.all(outs.map((t) => t.data()))) as Float32Array[];
    outs.forEach((t) => t.dispose());
    return data;
  };
  return {
    name: "moeforge webgpu",
    hostMs,
    programs,
    onDevice,
    forward: async () => {
      const t = performance.now();
      const outs = runOnWebGPU(ctx, loss, params);
      hostMs.forward.push(performance.now() - t);
      return { loss: (await read(outs))[0]![0]! };
    },
    forwardBackward: async () => {
      const t = performance.now();
      const outs = runOnWebGPU(ctx, gradient, onDevice);
      hostMs.forwardBackward.push(performance.now() - t);
      const [l, ...grads] = await read(outs);
      return { loss: l![0]!, grads };
    },
    dispose: () => onDevice.forEach((t) => t.dispose()),
  };
}

/** One implementation's agreement with the reference: relative loss differences and the worst gradient's 2-norm error. */
export interface Agreement {
  readonly name: string;
  readonly fwd: number;
  readonly bwd: number;
  readonly grads: number;
}

/** Agreement beyond these is reported as a disagreement (f32 peers against f64 sums differ by ~1e-5). */
export const AGREEMENT_TOLERANCE = { loss: 1e-4, grads: 1e-3 };

/**
 * The WebGPU implementations that run, each called once (fwd, then fwd+bwd:
 * this also warms them up) and compared with moeforge cpu (js target, f64
 * sums); those that fail are listed with the error's first line.
 */
export async function webgpuImplementations(
  cfg: PeerLayerConfig,
  inputs: PeerInputs,
  ctx: WebGPUContext,
): Promise<{ impls: PeerImpl[]; agreement: Agreement[]; unavailable: { name: string; error: string }[] }> {
  const makers: [string, () => Promise<PeerImpl>][] = [
    ["moeforge webgpu", () => moeforgeWebGPUImpl(cfg, inputs, ctx)],
    ["jax-js webgpu (jit)", () => jaxJsImpl(cfg, inputs, { jit: true, device: "webgpu" })],
    ["tfjs webgpu", () => tfjsImpl(cfg, inputs, "webgpu")],
  ];
  const reference = moeforgeImpl(cfg, inputs, "js");
  const want = { fwd: await reference.forward(), bwd: await reference.forwardBackward() };
  const impls: PeerImpl[] = [];
  const agreement: Agreement[] = [];
  const unavailable: { name: string; error: string }[] = [];
  for (const [name, make] of makers) {
    let impl: PeerImpl | undefined;
    try {
      impl = await make();
      const got: { fwd: LossAndGrads; bwd: LossAndGrads } = {
        fwd: await impl.forward(),
        bwd: await impl.forwardBackward(),
      };
      agreement.push({
        name,
        fwd: relError([got.fwd.loss], [want.fwd.loss]),
        bwd: relError([got.bwd.loss], [want.bwd.loss]),
        grads: Math.max(...want.bwd.grads!.map((g, j) => relError(got.bwd.grads![j]!, g))),
      });
      impls.push(impl);
    } catch (e) {
      impl?.dispose?.();
      unavailable.push({ name, error: firstLine(e) });
    }
  }
  return { impls, agreement, unavailable };
}

/** GPU time per kernel (summed over its launches), median over profiled runs, slowest first. */
export async function kernelProfile(
  ctx: WebGPUContext,
  program: Program,
  inputs: readonly Tensor[],
  runs: number,
): Promise<{ totalMs: number; launches: number; kernels: { kernel: string; comment?: string; ms: number }[] }> {
  const profiles: LaunchTime[][] = [];
  await profileOnWebGPU(ctx, program, inputs); // warm-up
  for (let i = 0; i < runs; i++) profiles.push(await profileOnWebGPU(ctx, program, inputs));
  const perKernel = new Map<string, { comment?: string; ms: number[] }>();
  for (const p of profiles) {
    const sums = new Map<string, number>();
    for (const l of p) {
      sums.set(l.kernel, (sums.get(l.kernel) ?? 0) + l.ms);
      if (!perKernel.has(l.kernel)) perKernel.set(l.kernel, { ...(l.comment ? { comment: l.comment } : {}), ms: [] });
    }
    for (const [k, ms] of sums) perKernel.get(k)!.ms.push(ms);
  }
  const kernels = [...perKernel].map(([kernel, v]) => ({
    kernel,
    ...(v.comment ? { comment: v.comment } : {}),
    ms: median(v.ms),
  }));
  kernels.sort((a, b) => b.ms - a.ms);
  return {
    totalMs: median(profiles.map((p) => p.reduce((s, l) => s + l.ms, 0))),
    launches: profiles[0]!.length,
    kernels,
  };
}

async function timeOnce(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

/** The section `npm run bench` prints: agreement, interleaved rounds, ratios, host times, moeforge's kernels. */
export async function webgpuPeerSection(cfg: PeerLayerConfig, rounds: number, topKernels = 6): Promise<void> {
  ensurePeerDeps();
  const { ctx, adapter } = await sharedWebGPU();
  const { T, D, H, E, K } = cfg;
  console.log(
    `WebGPU: peers' layer T=${T} D=${D} H=${H} E=${E} top-${K}, ReLU experts, loss = mean(out^2) + 0.01 * Switch aux (f32)`,
  );
  row("device (one, shared by all)", adapter);
  const inputs = peerInputs(cfg);
  const { impls, agreement, unavailable } = await webgpuImplementations(cfg, inputs, ctx);
  for (const u of unavailable) row(`${u.name} unavailable`, u.error);
  console.log("  agreement with moeforge cpu (js: f64 sums), relative: loss fwd / loss fwd+bwd / gradients (2-norm)");
  for (const a of agreement) {
    const ok =
      a.fwd <= AGREEMENT_TOLERANCE.loss && a.bwd <= AGREEMENT_TOLERANCE.loss && a.grads <= AGREEMENT_TOLERANCE.grads;
    row(
      a.name,
      `${a.fwd.toExponential(1)} / ${a.bwd.toExponential(1)} / ${a.grads.toExponential(1)}${ok ? "" : "  DISAGREES"}`,
    );
  }
  impls.forEach((impl) => {
    impl.hostMs?.forward.splice(0); // the agreement call compiled and warmed up: not steady state
    impl.hostMs?.forwardBackward.splice(0);
  });
  const fwd = impls.map(() => [] as number[]);
  const bwd = impls.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++)
    for (let i = 0; i < impls.length; i++) {
      fwd[i]!.push(await timeOnce(() => impls[i]!.forward()));
      bwd[i]!.push(await timeOnce(() => impls[i]!.forwardBackward()));
    }
  const peerRows = impls.flatMap((p, i) => (p.name.startsWith("moeforge") ? [] : [i]));
  const bestPeer = (times: number[][]) =>
    peerRows.length === 0 ? undefined : times[0]!.map((_, r) => Math.min(...peerRows.map((i) => times[i]![r]!)));
  const base = { f: bestPeer(fwd), w: bestPeer(bwd) };
  const ratio = (xs: number[], best: number[] | undefined) =>
    best ? median(best.map((b, r) => b / xs[r]!)) : undefined;
  console.log(
    `  time, median [range] of ${rounds} interleaved rounds (results read back); speed-up over the best peer per round (median)`,
  );
  console.log(`  ${"".padEnd(30)} ${"fwd".padEnd(30)} ${"fwd+bwd".padEnd(30)} host ms/call fwd / fwd+bwd`);
  const cell = (xs: number[], best: number[] | undefined) => {
    const x = ratio(xs, best);
    const range = `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}`;
    return `${median(xs).toFixed(0)} ms [${range}]${x === undefined ? "" : `  ${x.toFixed(2)}x`}`;
  };
  impls.forEach((impl, i) => {
    const h = impl.hostMs;
    const host = h ? `${median(h.forward).toFixed(2)} / ${median(h.forwardBackward).toFixed(2)}` : "";
    row(impl.name, `${cell(fwd[i]!, base.f).padEnd(30)} ${cell(bwd[i]!, base.w).padEnd(30)} ${host}`);
  });
  const mf = impls.findIndex((p) => p.name.startsWith("moeforge"));
  if (mf >= 0 && base.f && base.w)
    row(
      "moeforge vs best peer",
      `fwd ${ratio(fwd[mf]!, base.f)!.toFixed(2)}x, fwd+bwd ${ratio(bwd[mf]!, base.w)!.toFixed(2)}x ` +
        "(the #17 target: >= 3x fwd, >= 2.5x fwd+bwd)",
    );
  const mfImpl = impls[mf] as Awaited<ReturnType<typeof moeforgeWebGPUImpl>> | undefined;
  if (mfImpl && ctx.hasTimestamps) {
    for (const [name, program, args] of [
      ["fwd", mfImpl.programs.loss, mfImpl.onDevice.slice(0, 4)],
      ["fwd+bwd", mfImpl.programs.gradient, mfImpl.onDevice],
    ] as const) {
      const p = await kernelProfile(ctx, program, args, Math.max(1, Math.min(rounds, 3)));
      console.log(
        `  moeforge ${name}: ${p.kernels.length} kernels, ${p.launches} launches, GPU ${p.totalMs.toFixed(1)} ms ` +
          "(timestamp queries; a profiled run times each launch in a pass of its own, so the sum can exceed an unprofiled call); slowest:",
      );
      for (const k of p.kernels.slice(0, topKernels))
        row(
          `  ${k.kernel}`,
          `${k.ms.toFixed(1)} ms (${((k.ms / p.totalMs) * 100).toFixed(0)}%)  ${(k.comment ?? "").split("\n")[0]!.slice(0, 70)}`,
        );
    }
  } else if (mfImpl) row("per-kernel times", `the device lacks "timestamp-query"`);
  impls.forEach((p) => p.dispose?.());
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
  await webgpuPeerSection(PEER_LAYER, values.quick ? 1 : 3);
  process.exit(0); // Dawn's threads keep the process alive
}
