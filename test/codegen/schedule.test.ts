/** The scheduling heuristics, in one place: what each target gets. */
import { describe, expect, it } from "vitest";
import "../../codegen/emit/all";
import { getEmitter } from "../../codegen/emit/emitter";
import type { Target } from "../../codegen/kernel_ir";
import { scheduleFor } from "../../codegen/schedule";
import { TARGETS, targetCapabilities } from "../../codegen/targets";

describe("scheduleFor", () => {
  it("the JS target uses no shared memory: serial rows, register tiles, f64 sums, serial scatters", () => {
    const s = scheduleFor("js");
    expect(s.sharedMemory).toBe(false);
    expect(s.reduce(100000).mode).toBe("thread");
    expect(s.scan("T").mode).toBe("thread");
    expect(s.matmul().shared).toBe(false);
    expect(s.accumulator("f32")).toBe("f64");
    expect(s.scatter).toBe("serial");
  });

  it("GPU targets reduce long or symbolic rows with a workgroup and tile matmuls in shared memory", () => {
    for (const t of ["wgsl", "cuda"] as const) {
      const s = scheduleFor(t);
      expect(s.reduce(8).mode).toBe("thread");
      expect(s.reduce(1024)).toEqual({ mode: "workgroup", workgroupSize: 256 });
      expect(s.reduce("T").mode).toBe("workgroup");
      const m = s.matmul();
      expect(m.shared).toBe(true);
      expect(m.workgroupSize).toBe((m.tileM / m.microM) * (m.tileN / m.microN));
      expect(s.accumulator("f32")).toBe("f32");
      expect(s.scatter).toBe("segment");
      expect(scheduleFor(t, { scatter: "atomic" }).scatter).toBe("atomic");
    }
  });

  it("`like` gives another target's schedule; bad knobs are rejected", () => {
    expect(scheduleFor("js", { like: "wgsl" }).sharedMemory).toBe(true);
    expect(() => scheduleFor("wgsl", { knobs: { reduceWorkgroup: 6 } })).toThrow(/power of two/);
    expect(() => scheduleFor("wgsl", { knobs: { tileM: 10, microM: 4 } })).toThrow(/multiples/);
  });
});

describe("target capabilities", () => {
  it("every target has an emitter and a capability record, and the schedule follows the record", () => {
    for (const t of Object.keys(TARGETS) as Target[]) {
      expect(getEmitter(t).target).toBe(t);
      const caps = targetCapabilities(t);
      expect(caps.name).toBe(t);
      const s = scheduleFor(t);
      expect(s.sharedMemory).toBe(caps.sharedMemory);
      expect(s.matmul().shared).toBe(caps.sharedMemory);
      expect(s.accumulator("f32")).toBe(caps.floatAccumulator === "f64" ? "f64" : "f32");
      expect(s.scatter).toBe(caps.threads === "serial" ? "serial" : "segment");
    }
  });

  it("an unknown target is an error naming the known ones", () => {
    expect(() => targetCapabilities("metal" as Target)).toThrow(
      /unknown code-generation target "metal"; expected one of wgsl, cuda, js/,
    );
  });
});
