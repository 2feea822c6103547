/**
 * The webgpu backend through the public API: `jit(fn, { backend: "webgpu" })`
 * on forward and gradient functions, eager ops on webgpu tensors, device
 * tensors passed between programs without copies, buffer release, and clear
 * errors (f64, compile failures reported on read, released tensors).
 * Results are compared with the interpreter running the same functions.
 */
import { describe, expect, it } from "vitest";
import v8 from "node:v8";
import vm from "node:vm";
import fc from "fast-check";
import { grad, jit, ops, setBackend, getBackend, tensor, trace, spec, type Tensor } from "../../index";
import { emitWgsl } from "../../codegen/emit/wgsl";
import { compile } from "../../codegen/compile";
import {
  profileOnWebGPU,
  releaseWebGPU,
  runWgslBundle,
  webgpuExecutable,
  webgpuValueOf,
} from "../../backends/webgpu/index";
import { eagerProgram } from "../../backends/webgpu/eager";
import { runtimeFor } from "../../backends/webgpu/runtime";
import { evalProgram } from "../../dsl/trace";
import { compareOutputs, mulberry32, randomFloats, relativeError } from "../../testing/random_programs";
import { separateWebGPUForTests, webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();

/** A small MLP-ish loss: relu(x @ w + b) summed with a softmax term. */
const loss = (x: Tensor, w: Tensor, b: Tensor) => {
  const h = ops.relu(ops.add(ops.matmul(x, w), b));
  return ops.add(ops.sum(ops.mul(h, h)), ops.sum(ops.mul(ops.softmax(h, -1), x.sum(-1, true))));
};

describe.runIf(ctx)("webgpu backend", () => {
  it("jit runs forward programs on the device, for sizes 1 and primes (4 shapes per run)", async () => {
    const f = jit(loss, { backend: "webgpu" });
    const ref = jit(loss, { backend: "interp" });
    const shapes = fc.sample(
      fc.tuple(fc.constantFrom(1, 2, 3, 7, 13), fc.constantFrom(1, 5, 11), fc.constantFrom(1, 3, 17)),
      4,
    );
    for (const [k, [t, d, h]] of shapes.entries()) {
      const rng = mulberry32(k);
      const args = [
        randomFloats(rng, "f32", [t, d]),
        randomFloats(rng, "f32", [d, h]),
        randomFloats(rng, "f32", [h]),
      ] as const;
      const y = f(...args);
      expect(y.isDevice).toBe(true);
      await compareOutputs([y], [ref(...args)], 1e-4, `jit forward, shape ${[t, d, h]}`);
    }
  });

  it("jit of grad runs the gradient program on the device", async () => {
    const g = jit(grad(loss, { argnums: [0, 1, 2] }), { backend: "webgpu" });
    const gRef = grad(loss, { argnums: [0, 1, 2] });
    const rng = mulberry32(7);
    const args = [
      randomFloats(rng, "f32", [13, 5]),
      randomFloats(rng, "f32", [5, 7]),
      randomFloats(rng, "f32", [7]),
    ] as const;
    const got = g(...args) as Tensor[];
    const want = gRef(...args) as Tensor[];
    expect(got.every((t) => t.isDevice)).toBe(true);
    await compareOutputs(got, want, 1e-4, "jit of grad");
  });

  it("device tensors feed later programs without a host round trip", async () => {
    const f = jit((x: Tensor) => ops.exp(ops.mul(x, 0.5)), { backend: "webgpu" });
    const x = tensor([
      [0.5, -1, 2],
      [3, 0, -0.25],
    ]);
    const y = f(f(x)); // the inner result stays on the device
    await compareOutputs([y], [ops.exp(ops.mul(ops.exp(ops.mul(x, 0.5)), 0.5))], 1e-4, "f(f(x))");
  });

  it("eager ops on webgpu tensors run on the device; host operands mix in", async () => {
    const toDevice = jit((x: Tensor) => ops.neg(ops.neg(x)), { backend: "webgpu" });
    const hostA = tensor([
      [1, -2, 3],
      [0.5, 4, -1],
    ]);
    const hostB = tensor([2, 0.25, -1]);
    const a = toDevice(hostA);
    const eager = ops.sum(ops.mul(ops.tanh(a), hostB), -1); // a on webgpu, hostB on the host
    expect(eager.isDevice).toBe(true);
    await compareOutputs([eager], [ops.sum(ops.mul(ops.tanh(hostA), hostB), -1)], 1e-4, "eager ops");
    const [values, indices] = ops.topK(a, 2);
    expect(Array.from(await indices.data())).toEqual([2, 0, 1, 0]);
    expect(Array.from(await values.data())).toEqual([3, 1, 4, 0.5]);
  });

  it("eager programs are cached per primitive, params and input signature", () => {
    const avals = [{ shape: [3], dtype: "f32" as const }];
    expect(eagerProgram("exp", avals, {})).toBe(eagerProgram("exp", avals, {}));
    expect(eagerProgram("exp", avals, {})).not.toBe(eagerProgram("exp", [{ shape: [4], dtype: "f32" as const }], {}));
    expect(eagerProgram("reduceSum", [{ shape: [2, 3], dtype: "f32" }], { axes: [0] })).not.toBe(
      eagerProgram("reduceSum", [{ shape: [2, 3], dtype: "f32" }], { axes: [1] }),
    );
  });

  it("a program that returns its input, or one value twice, gives tensors that share a buffer", async () => {
    const f = jit((x: Tensor) => [x, ops.exp(x), ops.exp(x)], { backend: "webgpu" });
    const x = tensor([0, 1, 2]);
    const [same, e1, e2] = f(x) as Tensor[];
    expect(Array.from(await same!.data())).toEqual([0, 1, 2]);
    expect(relativeError(await e1!.data(), [1, Math.E, Math.E ** 2])).toBeLessThan(1e-6);
    expect(Array.from(await e2!.data())).toEqual(Array.from(await e1!.data()));
  });

  it("releaseWebGPU returns the buffer to the pool; the tensor cannot be read afterwards", async () => {
    const f = jit((x: Tensor) => ops.mul(x, 3), { backend: "webgpu" });
    const y = f(tensor(new Array(1000).fill(1), [1000]));
    await y.data();
    const before = runtimeFor(ctx!).pool.heldBytes;
    releaseWebGPU(y);
    expect(runtimeFor(ctx!).pool.heldBytes).toBeGreaterThan(before);
    expect(webgpuValueOf(y)!.isReleased).toBe(true);
    await expect(y.data()).rejects.toThrow(/released/);
    expect(() => f(y)).toThrow(/released/);
    expect(() => releaseWebGPU(tensor([1]))).toThrow(/does not live on the webgpu backend/);
  });

  it("buffers of unreachable webgpu tensors return to the pool when they are garbage-collected", async () => {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const f = jit((x: Tensor) => ops.mul(x, 3), { backend: "webgpu" });
    const pool = runtimeFor(ctx!).pool;
    const run = async () => {
      const y = f(tensor(new Array(50_000).fill(1), [50_000])); // 200 kB, dropped when this returns
      expect((await y.data())[0]).toBe(3);
    };
    await run();
    const before = pool.heldBytes;
    for (let i = 0; i < 20 && pool.heldBytes <= before; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(pool.heldBytes - before).toBeGreaterThanOrEqual(200_000);
  });

  it("profileOnWebGPU times every launch with timestamp queries", async () => {
    const p = trace(loss, spec([7, 5]), spec([5, 3]), spec([3]));
    const rng = mulberry32(2);
    const inputs = [randomFloats(rng, "f32", [7, 5]), randomFloats(rng, "f32", [5, 3]), randomFloats(rng, "f32", [3])];
    if (!ctx!.hasTimestamps) {
      expect(() => profileOnWebGPU(ctx!, p, inputs)).toThrow(/timestamp-query/);
      return;
    }
    const times = await profileOnWebGPU(ctx!, p, inputs);
    expect(times.map((t) => t.kernel)).toEqual(webgpuExecutable(p, ctx!).bundle.schedule.map((l) => l.kernel));
    for (const t of times) expect(t.ms).toBeGreaterThanOrEqual(0);
  });

  it("setBackend('webgpu') makes it the default for jit", async () => {
    setBackend("webgpu");
    try {
      expect(getBackend().name).toBe("webgpu");
      const y = jit((x: Tensor) => ops.add(x, 1))(tensor([1, 2]));
      expect(y.isDevice).toBe(true);
      expect(Array.from(await y.data())).toEqual([2, 3]);
    } finally {
      setBackend("interp");
    }
  });

  it("f64 programs fail at compile time, naming the problem", () => {
    const f = jit((x: Tensor) => ops.exp(x), { backend: "webgpu" });
    expect(() => f(tensor([1, 2], [2], "f64"))).toThrow(/f64|64-bit/);
  });

  it("f16 programs need the shader-f16 feature: a clear error without it, interpreter results with it", async () => {
    const f = jit((x: Tensor) => ops.mul(ops.exp(x), 2), { backend: "webgpu" });
    const x = tensor([0.5, 1, -2], [3], "f16");
    if (!ctx!.hasF16) {
      expect(() => f(x)).toThrow(/lacks the "shader-f16" feature/);
    } else {
      await compareOutputs([f(x)], [ops.mul(ops.exp(x), 2)], 2e-3, "f16 program");
    }
  });

  it("bundles compiled with index checks fail like the interpreter on an out-of-range index", async () => {
    const p = trace((x: Tensor, i: Tensor) => ops.take(x, i), spec([3]), spec([2], "i32"));
    const bundle = compile(p, { target: "wgsl", checks: true });
    expect(bundle.checks).toBeDefined();
    const x = { type: "f32" as const, data: [1, 2, 3] };
    const [ok] = await runWgslBundle(ctx!, bundle, [x, { type: "i32", data: [2, 0] }]);
    expect(Array.from(ok!)).toEqual([3, 1]);
    let interpError = "";
    try {
      evalProgram(p, [tensor([1, 2, 3]), tensor([0, 7], [2], "i32")]);
    } catch (e) {
      interpError = (e as Error).message.split("\n")[0]!;
    }
    expect(interpError).toMatch(/7/);
    await expect(runWgslBundle(ctx!, bundle, [x, { type: "i32", data: [0, 7] }])).rejects.toThrow(interpError);
  });

  it("a bundle whose first kernel clears the check flag: a failed run does not fail the next", async () => {
    const p = trace((x: Tensor, i: Tensor) => ops.take(ops.sum(x, 1), i), spec([2, 3]), spec([2], "i32"));
    const bundle = compile(p, { target: "wgsl" });
    expect(bundle.kernels.map((k) => k.name)).not.toContain("k_clear_checks");
    const x = { type: "f32" as const, data: [1, 2, 3, 4, 5, 6] };
    for (let round = 0; round < 2; round++) {
      await expect(runWgslBundle(ctx!, bundle, [x, { type: "i32", data: [0, 2] }])).rejects.toThrow(/index 2/);
      const [ok] = await runWgslBundle(ctx!, bundle, [x, { type: "i32", data: [1, 0] }]);
      expect(Array.from(ok!)).toEqual([15, 6]);
    }
  });

  it("a shader the device rejects is reported when the result is read", async () => {
    const p = trace((x: Tensor) => ops.exp(x), spec([4]));
    const bundle = compile(p, { target: "wgsl" });
    const broken = {
      ...bundle,
      kernels: bundle.kernels.map((k) => ({ ...k, source: k.source.replace(/exp\(/, "no_such_function(") })),
    };
    await expect(runWgslBundle(ctx!, broken, [{ type: "f32", data: [1, 2, 3, 4] }])).rejects.toThrow(
      /failed to compile[\s\S]*no_such_function/,
    );
    expect(emitWgsl(bundle.kernels[0]!)).toBe(bundle.kernels[0]!.source);
  });

  it("a lost device makes later launches fail with a clear error", async () => {
    const other = await separateWebGPUForTests({});
    const p = trace((x: Tensor) => ops.exp(x), spec([4]));
    const bundle = compile(p, { target: "wgsl" });
    other!.device.destroy();
    await other!.device.lost;
    await expect(runWgslBundle(other!, bundle, [{ type: "f32", data: [1, 2, 3, 4] }])).rejects.toThrow(
      /device was lost/,
    );
  });
});
