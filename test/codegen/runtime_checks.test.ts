/**
 * Run-time checks through the public API, on every backend that runs here:
 * out-of-range indices (take, gather via take along an axis, scatterAdd,
 * bincount) and bad raggedMatmul group sizes fail with the interpreter's own
 * message on cpu (both its wasm and js targets) and webgpu (on by default),
 * pass with `jit(f, { checks: false })` without touching memory outside the
 * buffers, and good inputs give the interpreter's values.
 */
import { describe, expect, it } from "vitest";
import { grad, jit, ops, tensor, type Tensor } from "../../index";
import type { BackendName } from "../../backends/registry";
import { mulberry32, randomFloats, relativeError } from "../../testing/random_programs";
import { webgpuForTests } from "../webgpu/test_device";

const gpu = await webgpuForTests();
/** Where a program runs: a backend, or the cpu backend on one of its two targets. */
type Where = Exclude<BackendName, "cpu"> | "cpu-wasm" | "cpu-js";
const backends: Where[] = ["cpu-wasm", "cpu-js", ...(gpu ? (["webgpu"] as const) : [])];

type Fn = (...xs: Tensor[]) => Tensor;

const jits = new Map<string, Fn>();
/** One jit per function, backend and checks setting, so kernels compile once (SwiftShader compiles slowly). */
function jitted(f: Fn, where: Where, checks: boolean): Fn {
  const key = `${f.name}|${where}|${checks}`;
  let j = jits.get(key);
  const backend = where.startsWith("cpu") ? "cpu" : (where as BackendName);
  if (!j) jits.set(key, (j = jit(f, { backend, ...(checks ? {} : { checks: false }) })));
  return j;
}

/** Runs `f` on `where` and reads the result: its values, or the error message (sync or on read). */
async function outcome(f: Fn, args: Tensor[], where: Where, checks = true): Promise<number[] | string> {
  const saved = process.env.MOEFORGE_CPU_TARGET;
  if (where.startsWith("cpu-")) process.env.MOEFORGE_CPU_TARGET = where.slice(4); // read by every cpu run
  try {
    const out = jitted(f, where, checks)(...args);
    return Array.from(await out.data());
  } catch (e) {
    return (e as Error).message.split("\n")[0]!; // the interpreter adds the user's call site on a second line
  } finally {
    if (saved === undefined) delete process.env.MOEFORGE_CPU_TARGET;
    else process.env.MOEFORGE_CPU_TARGET = saved;
  }
}

const rng = mulberry32(7);
const x32 = () => randomFloats(rng, "f32", [3, 2]);
const i32 = (xs: number[]) => tensor(xs, undefined, "i32");

const takeRows: Fn = (x, i) => ops.take(x, i);
const takeCols: Fn = (x, i) => ops.take(x, i, 1);
const scatter: Fn = (x, i, u) => ops.scatterAdd(x, i, u);
const counts: Fn = (i) => ops.bincount(i, 3);
const ragged: Fn = (x, w, gs) => ops.raggedMatmul(x, w, gs);

const bad: [string, Fn, () => Tensor[]][] = [
  ["take past the end", takeRows, () => [x32(), i32([0, 7])]],
  ["take of a negative index", takeRows, () => [x32(), i32([-1, 0])]],
  ["take along axis 1", takeCols, () => [x32(), i32([2])]],
  ["scatterAdd past the end", scatter, () => [x32(), i32([0, 5]), randomFloats(rng, "f32", [2, 2])]],
  ["bincount past the length", counts, () => [i32([0, 4, 1])]],
  [
    "raggedMatmul sizes summing to less than M",
    ragged,
    () => [randomFloats(rng, "f32", [6, 2]), randomFloats(rng, "f32", [3, 2, 2]), i32([1, 1, 1])],
  ],
  [
    "raggedMatmul with a negative size",
    ragged,
    () => [randomFloats(rng, "f32", [6, 2]), randomFloats(rng, "f32", [3, 2, 2]), i32([4, -2, 4])],
  ],
  [
    "raggedMatmul sizes summing to more than M",
    ragged,
    () => [randomFloats(rng, "f32", [6, 2]), randomFloats(rng, "f32", [3, 2, 2]), i32([6, 0, 1])],
  ],
];

describe("run-time checks are on by default and fail like the interpreter", () => {
  for (const [what, f, args] of bad) {
    it(what, async () => {
      const inputs = args();
      const want = await outcome(f, inputs, "interp");
      expect(typeof want).toBe("string");
      for (const b of backends) expect([b, await outcome(f, inputs, b)]).toEqual([b, want]);
    });
  }

  it("the gradient of raggedMatmul checks its group sizes too", async () => {
    const loss: Fn = (x, w, gs) => grad((w2: Tensor) => ops.sum(ops.raggedMatmul(x, w2, gs)))(w);
    const inputs = [randomFloats(rng, "f32", [6, 2]), randomFloats(rng, "f32", [3, 2, 2]), i32([2, 2, 1])];
    const want = await outcome(loss, inputs, "interp");
    expect(want).toMatch(/groupSizes sum to 5, expected the row count 6/);
    for (const b of backends) expect([b, await outcome(loss, inputs, b)]).toEqual([b, want]);
  });
});

describe("checks: false", () => {
  it("skips the checks (bad indices are clamped or skipped, never a crash)", async () => {
    const x = x32();
    for (const b of backends) {
      const got = await outcome(takeRows, [x, i32([0, 7])], b, false);
      // Clamped into range: index 7 reads row 2.
      expect([b, got]).toEqual([b, Array.from(await ops.take(x, i32([0, 2])).data())]);
      expect([b, typeof (await outcome(counts, [i32([0, 4, 1])], b, false))]).toEqual([b, "object"]);
    }
  });

  it("bad group sizes keep every raggedMatmul tile inside the rows (rows past M are dropped)", async () => {
    // Sizes [6, 0, 1] for 6 rows: group 2 would start at row 6. Clamped into [0, M) it is empty,
    // so the values are those of sizes [6, 0, 0] (the wasm GEMM wrote row 6 into the next buffer).
    const x = randomFloats(rng, "f32", [6, 2]);
    const w = randomFloats(rng, "f32", [3, 2, 2]);
    const dw: Fn = (x, w, gs) => grad((w2: Tensor) => ops.sum(ops.mul(ops.raggedMatmul(x, w2, gs), x)))(w);
    for (const f of [ragged, dw]) {
      const want = await outcome(f, [x, w, i32([6, 0, 0])], "interp");
      for (const b of backends) {
        const got = await outcome(f, [x, w, i32([6, 0, 1])], b, false);
        expect([b, f.name, relativeError(got as number[], want as number[]) < 1e-5]).toEqual([b, f.name, true]);
      }
    }
  });
});

describe("good inputs give the interpreter's values with the checks compiled in", () => {
  const good: [string, Fn, () => Tensor[]][] = [
    ["take", takeRows, () => [x32(), i32([2, 0, 1, 2])]],
    ["scatterAdd", scatter, () => [x32(), i32([2, 0, 2]), randomFloats(rng, "f32", [3, 2])]],
    ["bincount", counts, () => [i32([0, 2, 2, 1, 0])]],
    [
      "raggedMatmul",
      ragged,
      () => [randomFloats(rng, "f32", [6, 2]), randomFloats(rng, "f32", [3, 2, 2]), i32([3, 0, 3])],
    ],
  ];
  for (const [what, f, args] of good) {
    it(what, async () => {
      const inputs = args();
      const want = await outcome(f, inputs, "interp");
      expect(Array.isArray(want)).toBe(true);
      for (const b of backends) {
        const got = await outcome(f, inputs, b);
        expect(Array.isArray(got)).toBe(true);
        expect([b, relativeError(got as number[], want as number[])]).toEqual([b, expect.any(Number)]);
        expect(relativeError(got as number[], want as number[])).toBeLessThan(1e-5);
      }
    });
  }
});
