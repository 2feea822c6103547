/**
 * Child process of cpu_memory.test.ts (run with --expose-gc and two cpu
 * threads): on each cpu target, many fresh jits, then one jit over many batch
 * shapes, each over a few MB, printing the resident set size (MiB) after
 * warm-up and at the end as one JSON line. Without a bound on the worker pool's memory the end is
 * hundreds of MB above the warm-up.
 */
import { jit, ops, zeros, type Tensor } from "../../index";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("cpu_rss_child: run with node --expose-gc");
const rssMiB = () => {
  gc();
  return process.memoryUsage().rss / 2 ** 20;
};
const double = () => (a: Tensor) => ops.mul(a, 2); // a new function each time: a new jit, a new program

const x = zeros([2 ** 20]); // 4 MiB of f32: an arena of 8 MiB per program
const fresh = (n: number) => {
  for (let i = 0; i < n; i++) jit(double(), { backend: "cpu" })(x);
};
// Both cpu targets, one after the other (the target is read at every call): wasm arenas are
// WebAssembly.Memory blocks that every worker instantiates kernels over, JS arenas SharedArrayBuffers.
const result: Record<string, Record<string, number>> = {};
for (const target of ["wasm", "js"]) {
  process.env.MOEFORGE_CPU_TARGET = target;
  fresh(10);
  const warm = rssMiB();
  fresh(60);
  const afterJits = rssMiB();
  const batched = jit(double(), { backend: "cpu" });
  for (let b = 1; b <= 50; b++) batched(zeros([b, 20_000]));
  const afterShapes = rssMiB();
  result[target] = { warm, afterJits, afterShapes };
}
console.log(JSON.stringify(result));
