/**
 * Run-time checks through the public API, on every backend that runs here:
 * out-of-range indices (take, gather via take along an axis, scatterAdd,
 * bincount) and bad raggedMatmul group sizes fail with the interpreter's own
 * message on cpu and webgpu (on by default), pass silently with
 * `jit(f, { checks: false })`, and good inputs give the interpreter's values.
 */
import { describe, expect, it } from "vitest";
import { grad, jit, ops, tensor, type Tensor } from "../../index";
import type { BackendName } from "../../backends/registry";
import { mulberry32, randomFloats, relativeError } from "../../testing/random_programs";
import { webgpuForTests } from "../webgpu/test_device";

const gpu = await webgpuForTests();
const backends: BackendName[] = ["cpu", ...(gpu ? (["webgpu"] as const) : [])];

type Fn = (...xs: Tensor[]) => Tensor;

const jits = new Map<string, Fn>();
/** One jit per function, backend and checks setting, so kernels compile once (SwiftShader compiles slowly). */
function jitted(f: Fn, backend: BackendName, checks: boolean): Fn {
  const key = `${f.name}|${backend}|${checks}`;
  let j = jits.get(key);
  if (!j) jits.set(key, (j = jit(f, { backend, ...(checks ? {} : { checks: false }) })));
  return j;
}

/** Runs `f` on `backend` and reads the result: its values, or the error message (sync or on read). */
async function outcome(f: Fn, args: Tensor[], backend: BackendName, checks = true): Promise<number[] | string> {
  try {
    const out = jitted(f, backend, checks)(...args);
    return Array.from(await out.data());
  } catch (e) {
    return (e as Error).message.split("\n")[0]!; // the interpreter adds the user's call site on a second line
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
