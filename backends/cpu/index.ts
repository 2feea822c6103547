/** Registers the `cpu` backend (JS kernels over typed arrays). */
import { registerBackend } from "../registry";
import { cpuBackend } from "./backend";

registerBackend(cpuBackend);

export { cpuBackend, cpuBundle } from "./backend";
export { runBundle, cpuMemoryStats, setCpuMemoryBudget, clearCpuMemory } from "./runtime";
export type { CpuMemoryStats } from "./memory";
export { cpuTarget, type CpuTarget, type CpuTargetChoice } from "./target";
