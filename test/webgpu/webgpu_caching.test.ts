/**
 * The WebGPU executor's per-call work: after the first call, a call creates
 * no pipelines and one command encoder, reuses the bind groups of every
 * launch over weights and intermediates (all of them when the caller disposes
 * its outputs, so the pool hands the same buffers back), and gives the
 * interpreter's values, also when the dims change and change back; the same
 * function traced twice shares its pipelines.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grad, jit, ops, type Tensor } from "../../index";
import { runOnWebGPU, webgpuExecutable } from "../../backends/webgpu/index";
import { mulberry32, randomFloats, relativeError } from "../../testing/random_programs";
import { countDeviceCalls, type DeviceCounts, webgpuForTests } from "./test_device";
import { trace, spec } from "../../index";

const ctx = await webgpuForTests();

/** A small MLP loss with several launches (matmul, bias, relu, softmax, reductions). */
const loss = (x: Tensor, w: Tensor, b: Tensor) => {
  const h = ops.relu(ops.add(ops.matmul(x, w), b));
  return ops.add(ops.sum(ops.mul(h, h)), ops.sum(ops.mul(ops.softmax(h, -1), x.sum(-1, true))));
};
const gradient = grad(loss, { argnums: [1, 2] });

describe.runIf(ctx)("webgpu executor caching", () => {
  let counts: DeviceCounts;
  beforeAll(() => {
    const counter = countDeviceCalls(ctx!.device);
    counts = counter.counts;
    afterAll(counter.restore);
  });
  const since = (before: DeviceCounts) =>
    Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v - before[k as keyof DeviceCounts]]));
  type Args = [Tensor, Tensor, Tensor];
  const inputs = (t: number, seed: number): Args => {
    const rng = mulberry32(seed);
    return [randomFloats(rng, "f32", [t, 6]), randomFloats(rng, "f32", [6, 5]), randomFloats(rng, "f32", [5])];
  };
  const onDevice = (xs: Args) => jit((...ts: Tensor[]) => ts, { backend: "webgpu" })(...xs) as Args;

  const f = jit(gradient, { backend: "webgpu" });

  it("a second call creates no pipelines or bind groups, and one command encoder", async () => {
    const ref = jit(gradient, { backend: "interp" });
    const host = inputs(7, 1);
    const args = onDevice(host);
    // First call: pipelines, bind groups, intermediates, readback buffers.
    for (const t of f(...args) as Tensor[]) {
      await t.data();
      t.dispose();
    }
    for (let call = 0; call < 3; call++) {
      const before = { ...counts };
      const [dw, db] = f(...args) as Tensor[];
      const want = ref(...host) as Tensor[];
      expect(relativeError(await dw!.data(), await want[0]!.data())).toBeLessThan(1e-4);
      expect(relativeError(await db!.data(), await want[1]!.data())).toBeLessThan(1e-4);
      dw!.dispose();
      db!.dispose();
      // Readbacks reuse their mappable buffers, and the pool hands the disposed outputs back: no buffers.
      expect(since(before)).toMatchObject({
        pipelines: 0,
        bindGroups: 0,
        buffers: 0,
        encoders: 1 + 2 /* two readbacks */,
      });
    }
  });

  it("cached bind groups and buffers see each call's inputs: new device inputs, and host inputs changed in place", async () => {
    const ref = jit(gradient, { backend: "interp" });
    const check = async (got: Tensor[], host: Args) => {
      const want = ref(...host) as Tensor[];
      for (let i = 0; i < 2; i++) expect(relativeError(await got[i]!.data(), await want[i]!.data())).toBeLessThan(1e-4);
      got.forEach((t) => t.dispose());
    };
    let previous: Float32Array | undefined;
    for (const seed of [8, 9, 10]) {
      // Device inputs of each call disposed afterwards: the next call's inputs get the same buffers back.
      const host = inputs(7, seed);
      const args = onDevice(host);
      const got = f(...args) as Tensor[];
      const dw = (await got[0]!.data()) as Float32Array;
      await check(got, host);
      if (previous) expect(relativeError(dw, previous)).toBeGreaterThan(1e-2); // a stale result would equal it
      previous = dw;
      args.forEach((t) => t.dispose());
    }
    // A host input whose data changes between calls is uploaded again each call.
    const host = inputs(7, 11);
    await check(f(...host) as Tensor[], host);
    const x = host[0]._value().data as Float32Array;
    for (let i = 0; i < x.length; i++) x[i] = -2 * x[i]! + 0.5;
    await check(f(...host) as Tensor[], host);
  });

  it("without dispose, only launches that write a fresh output get a new bind group", async () => {
    const program = trace(gradient, spec([7, 6]), spec([6, 5]), spec([5]));
    const bundle = webgpuExecutable(program, ctx!).bundle;
    const writesOutput = bundle.schedule.filter((l) =>
      Object.values(l.bindings).some((b) => bundle.outputs.includes(b)),
    );
    const args = onDevice(inputs(7, 2));
    f(...args);
    const before = { ...counts };
    f(...args);
    expect(since(before).bindGroups).toBeLessThanOrEqual(writesOutput.length);
    expect(writesOutput.length).toBeLessThan(bundle.schedule.length);
  });

  it("the same function traced again shares every pipeline (sources differ only in variable numbers)", async () => {
    const traceIt = () => trace(gradient, spec([7, 6]), spec([6, 5]), spec([5]));
    const first = traceIt();
    await webgpuExecutable(first, ctx!).warm();
    const second = traceIt(); // new variable ids: the kernels name their buffers differently
    const [a, b] = [first, second].map((p) => webgpuExecutable(p, ctx!).bundle.kernels.map((k) => k.source));
    expect(a).not.toEqual(b);
    const before = { ...counts };
    await webgpuExecutable(second, ctx!).warm();
    const host = inputs(7, 6);
    const got = runOnWebGPU(ctx!, second, onDevice(host));
    expect(since(before).pipelines).toBe(0);
    const want = jit(gradient, { backend: "interp" })(...host) as Tensor[];
    for (let i = 0; i < 2; i++) expect(relativeError(await got[i]!.data(), await want[i]!.data())).toBeLessThan(1e-4);
  });

  it("kernels that differ in more than names get their own pipelines; shared ones give each program's values", async () => {
    const x = randomFloats(mulberry32(7), "f32", [5]);
    const fns = {
      twice: (t: Tensor) => ops.exp(ops.mul(t, 2)),
      thrice: (t: Tensor) => ops.exp(ops.mul(t, 3)), // the factor is a constant buffer: the same kernel
      tanh: (t: Tensor) => ops.tanh(ops.mul(t, 3)),
    };
    const created: Record<string, number> = {};
    for (const [name, fn] of Object.entries(fns)) {
      const before = { ...counts };
      const got = await runOnWebGPU(ctx!, trace(fn, spec([5])), [x])[0]!.data();
      created[name] = since(before).pipelines!;
      const want = await jit(fn, { backend: "interp" })(x).data();
      expect(relativeError(got, want), name).toBeLessThan(1e-6);
    }
    expect(created.tanh).toBe(1);
  });

  it("gives the interpreter's values when the dims change and change back (one program, symbolic T)", async () => {
    const program = trace(gradient, spec(["T", 6]), spec([6, 5]), spec([5]));
    for (const [t, seed] of [
      [7, 3],
      [13, 4],
      [7, 5],
    ] as const) {
      const host = inputs(t, seed);
      const got = runOnWebGPU(ctx!, program, onDevice(host));
      const want = jit(gradient, { backend: "interp" })(...host) as Tensor[];
      for (let i = 0; i < 2; i++) expect(relativeError(await got[i]!.data(), await want[i]!.data())).toBeLessThan(1e-4);
    }
  });
});
