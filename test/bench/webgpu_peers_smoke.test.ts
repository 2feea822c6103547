/**
 * Smoke test of `npm run bench`'s WebGPU comparison (bench/webgpu_peers.ts) on
 * a tiny layer, so the harness cannot rot: moeforge, jax-js (jit) and tfjs all
 * run on the one shared Dawn device, and every library's loss and gradients
 * agree with moeforge cpu (js target, f64 sums). The peers come from
 * bench/node_modules (installed from bench/package-lock.json when missing).
 * Without an adapter this fails in CI (CI=true) and skips loudly elsewhere.
 */
import { describe, expect, it } from "vitest";
import "../../codegen/index";
import { ensurePeerDeps } from "../../bench/cpu_peers";
import { peerInputs } from "../../bench/peer_layer";
import {
  AGREEMENT_TOLERANCE,
  kernelProfile,
  moeforgeWebGPUImpl,
  sharedWebGPU,
  webgpuImplementations,
  type SharedWebGPU,
} from "../../bench/webgpu_peers";

const cfg = { T: 16, D: 8, H: 12, E: 4, K: 2 };

async function device(): Promise<SharedWebGPU | undefined> {
  try {
    return await sharedWebGPU();
  } catch (e) {
    if (process.env.CI) throw e;
    console.warn(`\n*** SKIPPING the WebGPU peers smoke test: ${(e as Error).message}\n`);
    return undefined;
  }
}

const shared = await device();

describe.runIf(shared)("bench WebGPU peers (tiny layer, one shared device)", () => {
  it("moeforge, jax-js and tfjs run on the shared device and agree with moeforge cpu", async () => {
    ensurePeerDeps();
    const { impls, agreement, unavailable } = await webgpuImplementations(cfg, peerInputs(cfg), shared!.ctx);
    expect(unavailable).toEqual([]);
    expect(agreement.map((a) => a.name)).toEqual(["moeforge webgpu", "jax-js webgpu (jit)", "tfjs webgpu"]);
    for (const a of agreement) {
      expect(a.fwd, a.name).toBeLessThan(AGREEMENT_TOLERANCE.loss);
      expect(a.bwd, a.name).toBeLessThan(AGREEMENT_TOLERANCE.loss);
      expect(a.grads, a.name).toBeLessThan(AGREEMENT_TOLERANCE.grads);
    }
    // Every library records the host part of its calls (the bench's host ms/call column).
    for (const impl of impls) {
      expect(impl.hostMs!.forward.length, impl.name).toBe(1);
      expect(impl.hostMs!.forwardBackward.length, impl.name).toBe(1);
    }
    impls.forEach((p) => p.dispose?.());
  });

  it.runIf(shared?.ctx.hasTimestamps)("moeforge's per-kernel GPU times cover every launch", async () => {
    const impl = await moeforgeWebGPUImpl(cfg, peerInputs(cfg), shared!.ctx);
    const p = await kernelProfile(shared!.ctx, impl.programs.loss, impl.onDevice.slice(0, 4), 1);
    expect(p.launches).toBeGreaterThan(1);
    expect(p.kernels.length).toBeGreaterThan(1);
    expect(p.kernels.every((k) => k.ms >= 0)).toBe(true);
    expect(p.totalMs).toBeCloseTo(
      p.kernels.reduce((s, k) => s + k.ms, 0),
      5,
    );
    impl.dispose?.();
  });
});
