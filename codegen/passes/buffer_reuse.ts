/**
 * Liveness-based buffer reuse. Each temporary lives from the first launch that
 * binds it to the last; temporaries whose lives do not overlap share a buffer of
 * the same element type and size. Inputs, outputs and constants keep their own
 * buffers. A launch never gets the same buffer for two temporaries (lives are
 * inclusive), so kernels never see aliased read and write params.
 */
import type { BufferDecl, Launch } from "../kernel_ir";

/** A logical buffer to place (the lowering's slots). */
export type SlotInfo = BufferDecl;

export interface BufferAssignment {
  readonly buffers: readonly BufferDecl[];
  /** Slot name -> buffer name. */
  readonly bufferOf: ReadonlyMap<string, string>;
}

/**
 * Places slots into buffers: `in<i>`/`out<i>`/`const<i>` for the program's
 * inputs, outputs and constants, shared `tmp<i>` for temporaries.
 * @example assignBuffers(slots, launches, ["v1"], ["v9"]).buffers.length
 */
export function assignBuffers(
  slots: ReadonlyMap<string, SlotInfo>,
  launches: readonly Launch[],
  inputs: readonly string[],
  outputs: readonly string[],
  /** Temporaries that keep a buffer of their own (e.g. the index-check flag, read after the run). */
  dedicated: readonly string[] = [],
  /** Scratch written by reusable launches (`Launch.reusable`: kept across runs), each in a buffer of its own. */
  kept: readonly string[] = [],
): BufferAssignment {
  const bufferOf = new Map<string, string>();
  const buffers: BufferDecl[] = [];
  const add = (slot: SlotInfo, name: string, role: BufferDecl["role"]) => {
    bufferOf.set(slot.name, name);
    buffers.push({ name, type: slot.type, size: slot.size, role, ...(slot.init ? { init: slot.init } : {}) });
  };
  inputs.forEach((s, i) => add(slots.get(s)!, `in${i}`, "input"));
  outputs.forEach((s, i) => {
    if (!bufferOf.has(s)) add(slots.get(s)!, `out${i}`, "output");
  });
  dedicated.forEach((s, i) => add(slots.get(s)!, i === 0 ? "checks" : `kept${i}`, "temp"));
  kept.forEach((s, i) => add(slots.get(s)!, `panels${i}`, "temp"));
  let nConst = 0;
  for (const slot of slots.values())
    if (slot.role === "const" && !bufferOf.has(slot.name)) add(slot, `const${nConst++}`, "const");

  // Lives of temporaries, in launch indices.
  const life = new Map<string, { first: number; last: number }>();
  launches.forEach((l, i) => {
    for (const slot of Object.values(l.bindings)) {
      if (bufferOf.has(slot)) continue;
      const span = life.get(slot);
      if (span) span.last = i;
      else life.set(slot, { first: i, last: i });
    }
  });
  const key = (s: SlotInfo) => `${s.type}|${JSON.stringify(s.size)}`;
  const free = new Map<string, string[]>();
  const active: { slot: SlotInfo; buffer: string; last: number }[] = [];
  const order = [...life.entries()].sort((a, b) => a[1].first - b[1].first);
  let nTmp = 0;
  for (const [name, span] of order) {
    // Release buffers whose temporaries died before this one is born.
    for (let j = active.length - 1; j >= 0; j--) {
      const a = active[j]!;
      if (a.last < span.first) {
        const list = free.get(key(a.slot)) ?? [];
        list.push(a.buffer);
        free.set(key(a.slot), list);
        active.splice(j, 1);
      }
    }
    const slot = slots.get(name);
    if (!slot) throw new Error(`internal: launch binds unknown buffer ${name}`);
    const reuse = free.get(key(slot))?.pop();
    const buffer = reuse ?? `tmp${nTmp++}`;
    if (!reuse) buffers.push({ name: buffer, type: slot.type, size: slot.size, role: "temp" });
    bufferOf.set(name, buffer);
    active.push({ slot, buffer, last: span.last });
  }
  return { buffers, bufferOf };
}
