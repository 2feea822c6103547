/**
 * The cpu backend's one arena cache (memory.ts), shared by both of its
 * runtimes under one byte budget, and the public calls over it. An arena
 * belongs to one bundle: a bundle that is garbage-collected gives its arenas
 * back at once. Dropped blocks are only freed once every thread that saw them
 * has collected (worker threads never do on their own), so past a few MiB of
 * dropped bytes the cache makes every thread collect.
 */
import type { KernelBundle } from "../../codegen/kernel_ir";
import { collectGarbage } from "../gc";
import { ArenaCache, type Arena, type ArenaBuffer, type BlockKind, type CpuMemoryStats } from "./memory";
import { workerPool } from "./pool";

/**
 * Dropped blocks stay allocated until every thread's collector has run (the main thread's too: the JS heap
 * does not count them as pressure); collect everywhere once this many bytes are waiting.
 */
const COLLECT_AFTER_BYTES = 32 * 2 ** 20;
let waitingBytes = 0;

/** All arenas of all bundles, under one budget. */
const cache = new ArenaCache(
  undefined,
  (bytes) => {
    waitingBytes += bytes;
    if (waitingBytes < Math.min(COLLECT_AFTER_BYTES, cache.budgetBytes / 4)) return;
    waitingBytes = 0;
    collectGarbage();
    workerPool()?.collect();
  },
  (block) => workerPool()?.forget(block.id),
);

/** Each bundle's arenas, by bound dims. */
const byBundle = new WeakMap<KernelBundle, Map<string, Arena>>();

/** A bundle that is garbage-collected gives its arenas back at once (not when the budget evicts them). */
const bundleGone = new FinalizationRegistry<Map<string, Arena>>((arenas) => {
  for (const a of [...arenas.values()]) cache.evict(a);
});

/**
 * The arena of `bundle` for the bound dims `dims` (made from `buffers()` when
 * it is not cached), of memory of `kind`; it becomes the most recently used.
 */
export function arenaFor(
  bundle: KernelBundle,
  dims: ReadonlyMap<string, number>,
  kind: BlockKind,
  buffers: () => readonly ArenaBuffer[],
): Arena {
  let arenas = byBundle.get(bundle);
  if (!arenas) {
    byBundle.set(bundle, (arenas = new Map()));
    bundleGone.register(bundle, arenas);
  }
  const key = [...dims].map(([k, v]) => `${k}=${v}`).join(",");
  return cache.arena(arenas, key, kind, buffers);
}

/**
 * What the cpu backend's buffer cache holds: bytes of cached arenas (one per
 * program and bound dims) and of idle blocks kept for reuse, under its budget.
 * @example cpuMemoryStats().arenaBytes + cpuMemoryStats().idleBytes <= cpuMemoryStats().budgetBytes
 */
export function cpuMemoryStats(): CpuMemoryStats {
  return cache.stats();
}

/**
 * Sets the byte budget of the cpu backend's buffer cache (default 512 MiB, or
 * MOEFORGE_CPU_MEMORY_BYTES): buffers of programs not run recently are freed
 * past it. A program whose buffers alone exceed it still runs. 0 keeps only
 * the buffers of the program running now.
 * @example setCpuMemoryBudget(64 * 2 ** 20);
 */
export function setCpuMemoryBudget(bytes: number): void {
  if (!Number.isFinite(bytes) || bytes < 0)
    throw new RangeError(`setCpuMemoryBudget: ${bytes} must be a byte count >= 0`);
  cache.budgetBytes = bytes;
}

/** Frees every cached buffer of the cpu backend now (the next run of each program allocates again). */
export function clearCpuMemory(): void {
  cache.clear();
}
