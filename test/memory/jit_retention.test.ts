/**
 * A jit caches one program per argument shape; the program must not keep the
 * arguments it was traced with alive (each equation keeps its call-site stack,
 * whose frames keep their closures' variables: tracing used to close over the
 * arguments, so every shape's first batch stayed in memory with the cache).
 */
import { describe, expect, it } from "vitest";
import { jit, ops, zeros, type Tensor } from "../../index";
import { collectGarbage } from "../../backends/gc";

describe("jit", () => {
  it("keeps no argument of a traced call alive", async () => {
    const f = jit((a: Tensor) => ops.mul(a, 2), { backend: "interp" });
    const refs: WeakRef<object>[] = [];
    const call = (b: number) => {
      const z = zeros([b, 1000]);
      f(z);
      refs.push(new WeakRef(z._value().data));
    };
    for (let b = 1; b <= 4; b++) call(b);
    expect(f.cacheSize).toBe(4);
    // WeakRef targets stay alive until the end of the job; a full run of the suite (other files' work
    // in this worker) once left one alive after a single collection, so collect a few times, each in
    // its own job: a real retention survives every one of them.
    const collected = () => refs.every((r) => r.deref() === undefined);
    for (let round = 0; round < 3 && !collected(); round++) {
      await new Promise((r) => setTimeout(r, 10));
      expect(collectGarbage()).toBe(true);
    }
    expect(refs.map((r) => r.deref() === undefined)).toEqual([true, true, true, true]);
  });
});
