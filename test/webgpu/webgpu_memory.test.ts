/**
 * WebGPU memory stays bounded with no manual ownership: outputs dropped
 * unread, from one jit or from fresh jits, give their buffers back under the
 * pool's budget (a collection is asked for when live bytes pass it), counted
 * on the device itself (buffers created minus destroyed); `dispose()` and
 * `using` free at once, even in a loop that never awaits.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jit, ops, setWebGPUMemoryBudget, tensor, webgpuMemoryStats, type Tensor } from "../../index";
import { countDeviceCalls, type DeviceCounts, webgpuForTests } from "./test_device";

const ctx = await webgpuForTests();

const MiB = 2 ** 20;
const double = () => (a: Tensor) => ops.mul(a, 2);

describe.runIf(ctx)("webgpu memory", () => {
  const budget = 8 * MiB;
  let counts: DeviceCounts;
  let x: Tensor;
  beforeAll(() => {
    setWebGPUMemoryBudget(budget);
    const counter = countDeviceCalls(ctx!.device);
    counts = counter.counts;
    afterAll(() => {
      counter.restore();
      setWebGPUMemoryBudget(1024 * MiB);
    });
    x = jit(double(), { backend: "webgpu" })(tensor(new Float32Array(MiB / 4).fill(1), [MiB / 4])); // 1 MiB of twos
  });

  it("live GPU bytes plateau over 300 calls whose outputs are dropped unread", async () => {
    const f = jit(double(), { backend: "webgpu" });
    const start = counts.live;
    counts.peak = start;
    for (let i = 0; i < 300; i++) {
      f(x);
      await ctx!.device.queue.onSubmittedWorkDone();
    }
    // 300 MiB of outputs went through; the device held the budget plus a few in flight at most.
    expect(counts.peak - start, `peak ${(counts.peak / MiB).toFixed(1)} MiB`).toBeLessThanOrEqual(budget + 4 * MiB);
    const s = webgpuMemoryStats(ctx!);
    expect(s.liveBytes + s.freeBytes).toBeLessThanOrEqual(budget + 4 * MiB);
    expect(s.collections).toBeGreaterThan(0);
    const last = f(x); // still correct after all the recycling
    expect((await last.data()).slice(0, 3)).toEqual(new Float32Array([4, 4, 4]));
  });

  it("live GPU bytes plateau over 100 fresh jits (new programs, their constants and uniforms)", async () => {
    const start = counts.live;
    counts.peak = start;
    for (let i = 0; i < 100; i++) {
      jit((a: Tensor) => ops.add(ops.mul(a, 3), tensor([i])), { backend: "webgpu" })(x);
      await ctx!.device.queue.onSubmittedWorkDone();
    }
    expect(counts.peak - start, `peak ${(counts.peak / MiB).toFixed(1)} MiB`).toBeLessThanOrEqual(budget + 4 * MiB);
  });

  it("dispose() and `using` free at once: a loop that never awaits reuses one buffer", async () => {
    const f = jit(double(), { backend: "webgpu" });
    f(x).dispose(); // first call: the executable's uniforms and pipelines
    const created = counts.buffers;
    const live = webgpuMemoryStats(ctx!).liveBytes;
    for (let i = 0; i < 50; i++) {
      using y = f(x);
      void y;
    }
    expect(counts.buffers - created).toBe(0);
    expect(webgpuMemoryStats(ctx!).liveBytes).toBe(live);
    const y = f(x);
    y.dispose();
    y.dispose(); // idempotent
    await expect(y.data()).rejects.toThrow(/released \(dispose\(\) or releaseWebGPU\(\)\)/);
    tensor([1, 2]).dispose(); // host tensors: nothing to free
  });
});
