/**
 * The WebGPU buffer pool's policy, on a stand-in device (no GPU needed):
 * reuse by size class, destruction of free buffers past the budget, and a
 * garbage collection asked for (rate-limited) when live bytes pass it.
 */
import { describe, expect, it } from "vitest";
import { BufferPool } from "../../backends/webgpu/buffers";

/** A device that only creates buffers (all the pool uses). */
function fakeDevice() {
  const made: { size: number; destroyed: boolean }[] = [];
  const device = {
    limits: { maxStorageBufferBindingSize: 2 ** 27 },
    createBuffer({ size, usage }: GPUBufferDescriptor) {
      const b = { size, usage, destroyed: false, destroy: () => void (b.destroyed = true) };
      made.push(b);
      return b;
    },
  };
  return { device: device as unknown as GPUDevice, made };
}

describe("webgpu buffer pool", () => {
  it("reuses a returned buffer for a request of the same size class", () => {
    const { device, made } = fakeDevice();
    const pool = new BufferPool(device, 2 ** 20, () => false);
    const a = pool.acquire(4000);
    expect(a.size).toBe(4096);
    pool.release(a);
    expect(pool.acquire(3700)).toBe(a); // 3700 and 4000 bytes share the 4096 class
    expect(pool.acquire(5000).size).toBe(5120);
    expect(made.length).toBe(2);
    expect(pool.stats()).toMatchObject({ liveBytes: 4096 + 5120, freeBytes: 0, created: 2 });
  });

  it("destroys free buffers past the budget, and asks for a collection when live bytes pass it", () => {
    const { device, made } = fakeDevice();
    let collections = 0;
    const pool = new BufferPool(device, 64 * 1024, () => (collections++, true));
    const held = Array.from({ length: 8 }, () => pool.acquire(8192)); // exactly the budget
    held.forEach((b) => pool.release(b));
    expect(pool.stats()).toMatchObject({ liveBytes: 0, freeBytes: 64 * 1024 });
    pool.acquire(16 * 1024); // another class: two free 8 KiB buffers must go to fit the budget
    expect(made.filter((b) => b.destroyed).length).toBe(2);
    expect(pool.stats().freeBytes + pool.stats().liveBytes).toBeLessThanOrEqual(64 * 1024);
    expect(collections).toBe(0);
    // Live past the budget: a collection is asked for, at most once per budget/4 (16 KiB) of new buffers.
    // 40 more 4 KiB buffers: the first 12 fit (live 16 -> 64 KiB, free ones destroyed to make room), the other
    // 28 are past the budget: a collection at the first, then at every 4th.
    for (let i = 0; i < 40; i++) pool.acquire(4096);
    expect(collections).toBe(7);
    expect(pool.stats().collections).toBe(collections);
  });
});
