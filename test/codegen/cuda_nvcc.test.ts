/**
 * Generated CUDA compiles with nvcc (sm_80 and sm_90, -Werror all-warnings),
 * and the device prelude computes what the interpreter computes (checked by
 * running the prelude's helpers on the host: they are __host__ __device__).
 * Skipped, loudly, only when nvcc is not installed.
 */
import fc from "fast-check";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cudaSource } from "../../codegen/emit/cuda";
import { CUDA_PRELUDE } from "../../codegen/emit/cuda_prelude";
import { floatLiteral } from "../../codegen/emit/cuda_types";
import { cudaBundleSource } from "../../backends/cuda/bundle";
import { nvidiaGpus } from "../../backends/cuda/device";
import { fromHalfBits, toHalfBits } from "../../dsl/half";
import {
  compileCuda,
  HOST_WARNINGS_AS_ERRORS,
  compileCudaSync,
  DEFAULT_ARCHS,
  findNvcc,
  formatDiagnostics,
} from "../../backends/cuda/nvcc";
import { buildCudaRunners, runCudaRunner, type CudaRunner } from "../../backends/cuda/runner";
import { threefry2x32 } from "../../dsl/primitives/random";
import { tensor } from "../../dsl/creation";
import * as ops from "../../dsl/ops";
import * as random from "../../dsl/random";
import { handKernels } from "./cuda_hand_kernels";
import { constantBundle, matmulReduceBundle, mixedBundle } from "./cuda_hand_bundles";
import { compile } from "../../codegen/compile";
import "../../codegen/emit/cuda";
import { BAD_BINDINGS } from "./bad_bindings";

const NVCC = findNvcc();
if (!NVCC) {
  console.warn(
    "\n" +
      "!".repeat(78) +
      "\n!!! nvcc NOT FOUND: SKIPPING the CUDA compile tests (test/codegen/cuda_nvcc.test.ts).\n" +
      "!!! Install the CUDA toolkit or set NVCC=/path/to/nvcc to run them.\n" +
      "!".repeat(78) +
      "\n",
  );
}

/** Compiles one translation unit for every default arch (in parallel) and fails with nvcc's diagnostics. */
export async function expectCompiles(source: string, what: string): Promise<void> {
  const results = await Promise.all(
    DEFAULT_ARCHS.map((arch) => compileCuda(source, { archs: [arch], extraFlags: HOST_WARNINGS_AS_ERRORS })),
  );
  results.forEach((r, i) => {
    if (!r.ok) throw new Error(`${what} does not compile for ${DEFAULT_ARCHS[i]}:\n${formatDiagnostics(r, source)}`);
  });
}

describe.skipIf(!NVCC)("nvcc: hand-built kernels and bundles", () => {
  it("every hand-built kernel compiles for sm_80 and sm_90 with -Werror all-warnings", async () => {
    const kernels = handKernels();
    await expectCompiles(cudaSource(kernels), `${kernels.length} hand-built kernels`);
  });

  it("hand-built bundles (host launcher + kernels) compile together in one translation unit", async () => {
    const cu = [
      cudaBundleSource(matmulReduceBundle, { prefix: "mm" }).cu,
      cudaBundleSource(mixedBundle, { prefix: "mixed" }).cu,
      cudaBundleSource(constantBundle, { prefix: "konst" }).cu,
    ].join("\n");
    await expectCompiles(cu, "3 hand-built bundles");
  });

  it("nvcc failures come back as diagnostics with line numbers", () => {
    const bad = `${CUDA_PRELUDE}\n__global__ void k(float* y) { int unused = 1; y[0] = 1.0f; }\n`;
    const r = compileCudaSync(bad, { archs: ["sm_80"] });
    expect(r.ok).toBe(false);
    expect(r.diagnostics).toContainEqual(
      expect.objectContaining({ severity: "error", code: "177-D", line: bad.split("\n").length - 1 }),
    );
    expect(formatDiagnostics(r, bad)).toContain("int unused = 1;");
  });
});

describe.skipIf(!NVCC)("nvcc: the runner executable", () => {
  const dir = mkdtempSync(join(tmpdir(), "moeforge-cuda-test-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // One executable for the bundles (as cuda:check builds them); `cube` is compiled from a program
  // over T (f32[T,T,T]), so its launcher carries the bundle's size limits.
  let constant: CudaRunner | undefined;
  let mixed: CudaRunner | undefined;
  let cube: CudaRunner | undefined;
  beforeAll(() => {
    const cubeBundle = compile(BAD_BINDINGS.find((c) => c.name.startsWith("T^3"))!.program, { target: "cuda" });
    [constant, mixed, cube] = buildCudaRunners([constantBundle, mixedBundle, cubeBundle], {
      archs: ["sm_80"],
      cacheDir: dir,
    });
  });

  it("runs a bundle on a GPU, or fails with the CUDA runtime's reason where there is none", () => {
    const runner = constant!;
    if (nvidiaGpus().length > 0) {
      const { outputs } = runCudaRunner(runner, new Map(), []);
      expect(Array.from(outputs[0]!)).toEqual([1.5, -0, NaN, -Infinity]);
    } else {
      expect(() => runCudaRunner(runner, new Map(), [])).toThrow(
        /CUDA runner failed \(exit 1\): creating a CUDA stream: .+/,
      );
    }
  });

  it("reads the whole input file (dims and every input) before it needs the GPU; a truncated file is reported", () => {
    const dims = new Map([
      ["N", 5],
      ["T", 2],
      ["D", 3],
    ]);
    const inputs = [new Float32Array(6).fill(0.5), new Int32Array([1, 0]), new Uint8Array([1, 0, 1, 1, 0])];
    if (nvidiaGpus().length === 0) {
      // Parsing succeeded when the failure is the CUDA runtime's, not the file's.
      expect(() => runCudaRunner(mixed!, dims, inputs)).toThrow(
        /CUDA runner failed \(exit 1\): creating a CUDA stream/,
      );
    }
    const file = join(dir, "truncated.bin");
    const header = Buffer.alloc(8 * 5 + 8);
    [3, 5, 2, 3, 12].forEach((x, i) => header.writeBigInt64LE(BigInt(x), 8 * i)); // 3 dims, then input 0 claims 12 bytes
    writeFileSync(file, Buffer.concat([header.subarray(0, 40), Buffer.alloc(4)]));
    const r = spawnSync(mixed!.executable, [String(mixed!.index), file, join(dir, "out.bin")], { encoding: "utf8" });
    expect([r.status, r.stderr.trim()]).toEqual([2, "bad input file: input 0 is truncated"]);
  });

  it("checks input sizes before running", () => {
    const runner = mixed!;
    const dims = new Map([
      ["N", 5],
      ["T", 2],
      ["D", 3],
    ]);
    expect(() => runCudaRunner(runner, dims, [new Float32Array(6), new Int32Array(3), new Uint8Array(5)])).toThrow(
      /input 1 \(idx\) has 3 elements, expected 2/,
    );
    expect(() => runCudaRunner(runner, new Map([["N", 5]]), [])).toThrow(/got 0 inputs, the bundle takes 3/);
  });

  it("the host launcher checks the bundle's size limits before it needs the GPU, naming the dim and the ops", () => {
    const T = 2 ** 18; // T^3 = 2^54 elements: past the 2^53 - 1 that CUDA sizes are exact to
    expect(() => runCudaRunner(cube!, new Map([["T", T]]), [new Float32Array(T)])).toThrow(
      new RegExp(
        /_create: with T = 262144, the element count of buffer \w+ \(output, \[T\*T\*T\], /.source +
          /written by kernel \w+ \(reshape, broadcastTo, mul.*\) is 18014398509481984, more than 9007199254740991/
            .source,
      ),
    );
  });

  it("the host launcher rejects a named dim of 0 (T >= 1) before it needs the GPU, naming the dim", () => {
    const dims = new Map([
      ["N", 5],
      ["T", 0],
      ["D", 3],
    ]);
    expect(() => runCudaRunner(mixed!, dims, [new Float32Array(0), new Int32Array(0), new Uint8Array(5)])).toThrow(
      /_create: dim T = 0 violates T >= 1/,
    );
  });
});

// ---- the prelude on the host, against the interpreter ----

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const i32 = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.constantFrom(0, -1, 1, -(2 ** 31), 2 ** 31 - 1),
  fc.integer({ min: -9, max: 9 }),
);
const f32 = fc.oneof(
  fc.float({ noDefaultInfinity: true }),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e-40, 88.8, -104),
);

function floatBits(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0]!;
}

function fromBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0]!;
}

/** f32 `bits` equal `want` within `ulps` units in the last place (NaN matches NaN). */
function sameFloat(bits: number, want: number, ulps = 0): boolean {
  const got = fromBits(bits);
  if (Number.isNaN(want) || Number.isNaN(got)) return Number.isNaN(want) && Number.isNaN(got);
  return Object.is(got, Math.fround(want)) || Math.abs(bits - floatBits(want)) <= ulps;
}

/** Runs a host program that includes the prelude and prints one integer per line. */
function runHost(body: string): number[] {
  const dir = mkdtempSync(join(tmpdir(), "moeforge-prelude-"));
  try {
    const exe = join(dir, "prelude_check");
    const src = [
      CUDA_PRELUDE,
      "#include <cstdio>",
      "#include <cstring>",
      "[[maybe_unused]] static unsigned int bits_of(float x) { unsigned int u; memcpy(&u, &x, 4); return u; }",
      "int main() {",
      body,
      "  return 0;",
      "}\n",
    ].join("\n");
    const r = compileCudaSync(src, { archs: ["sm_80"], mode: "executable", output: exe });
    if (!r.ok) throw new Error(`prelude host check does not compile:\n${formatDiagnostics(r, src)}`);
    const run = spawnSync(exe, { encoding: "utf8", maxBuffer: 64 << 20 });
    if (run.status !== 0) throw new Error(`prelude host check failed: ${run.stderr}`);
    return run.stdout.trim().split("\n").map(Number);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Host C float literals (the emitter's spelling of non-finite values is device-only). */
const floatsC = (xs: readonly number[]) =>
  xs
    .map((x) =>
      Number.isNaN(x) ? "NAN" : x === Infinity ? "INFINITY" : x === -Infinity ? "-INFINITY" : floatLiteral(x),
    )
    .join(", ");

describe.skipIf(!NVCC)("the CUDA prelude computes what the interpreter computes (run on the host)", () => {
  it("threefry2x32, random bits and bitsToUniform are bit-identical (64 random keys/counters + a 9-element draw)", () => {
    const quads = fc.sample(fc.tuple(u32, u32, u32, u32), { numRuns: 64, seed: 7 });
    const key = random.key(123456789);
    const [k0, k1] = Array.from(key.dataSync());
    const n = 9;
    // The two words of draw i>>1: what random.bits reads for element i.
    const threefryWord = (half: 0 | 1) => `mf_threefry2x32_${half}(${k0! >>> 0}u, ${k1! >>> 0}u, 0u, i >> 1)`;
    const got = runHost(`
  const unsigned int q[][4] = {${quads.map((q) => `{${q.map((x) => `${x}u`).join(", ")}}`).join(", ")}};
  for (const auto& x : q) { const uint2 w = mf_threefry2x32(x[0], x[1], x[2], x[3]); printf("%u\\n%u\\n", w.x, w.y); }
  for (unsigned int i = 0; i < ${n}u; i++) {
    const unsigned int w = (i & 1) ? ${threefryWord(1)} : ${threefryWord(0)};
    printf("%u\\n%u\\n", w, bits_of(mf_bits_to_uniform(w)));
  }`);
    const want = quads.flatMap(([a, b, c, d]) => threefry2x32(a, b, c, d));
    const bits = Array.from(random.bits(key, [n]).dataSync(), (x) => x >>> 0);
    const uniform = Array.from(random.uniform(key, [n]).dataSync(), floatBits);
    bits.forEach((b, i) => want.push(b, uniform[i]!));
    expect(got).toEqual(want);
  });

  it("integer division and remainder (by zero, by -1, INT_MIN) match the interpreter (200 pairs)", () => {
    const pairs = fc.sample(fc.tuple(i32, i32), { numRuns: 200, seed: 11 });
    const a = pairs.map((p) => p[0]);
    const b = pairs.map((p) => p[1]);
    const got = runHost(`
  const int a[] = {${a.map((x) => (x === -(2 ** 31) ? "(-2147483647 - 1)" : String(x))).join(", ")}};
  const int b[] = {${b.map((x) => (x === -(2 ** 31) ? "(-2147483647 - 1)" : String(x))).join(", ")}};
  for (int i = 0; i < ${pairs.length}; i++) printf("%d\\n%d\\n%d\\n", mf_div(a[i], b[i]), mf_rem(a[i], b[i]), mf_sign(a[i]));`);
    const ta = tensor(a, [a.length], "i32");
    const tb = tensor(b, [b.length], "i32");
    const [q, r, s] = [ops.div(ta, tb), ops.rem(ta, tb), ops.sign(ta)].map((t) => Array.from(t.dataSync()));
    expect(got).toEqual(a.flatMap((_, i) => [q![i], r![i], s![i]]));
  });

  it("float max/min (NaN), sign, sigmoid and truthiness match the interpreter (200 pairs)", () => {
    const pairs = fc.sample(fc.tuple(f32, f32), { numRuns: 200, seed: 5 });
    const a = pairs.map((p) => Math.fround(p[0]));
    const b = pairs.map((p) => Math.fround(p[1]));
    const printed = [
      "bits_of(mf_max(a[i], b[i]))",
      "bits_of(mf_min(a[i], b[i]))",
      "bits_of(mf_sign(a[i]))",
      "bits_of(mf_sigmoid(a[i]))",
      "(int)mf_to_bool(a[i])",
    ].join(", ");
    const got = runHost(`
  const float a[] = {${floatsC(a)}};
  const float b[] = {${floatsC(b)}};
  for (int i = 0; i < ${pairs.length}; i++)
    printf("%u\\n%u\\n%u\\n%u\\n%d\\n", ${printed});`);
    const ta = tensor(a, [a.length], "f32");
    const tb = tensor(b, [b.length], "f32");
    const [max, min, sign, sigmoid] = [ops.maximum(ta, tb), ops.minimum(ta, tb), ops.sign(ta), ops.sigmoid(ta)].map(
      (t) => Array.from(t.dataSync()),
    );
    const truthy = Array.from(ops.cast(ta, "bool").dataSync());
    const bothZero = (i: number) => a[i] === 0 && b[i] === 0; // JS and fmaxf may pick different signs of zero
    const mismatches: string[] = [];
    a.forEach((_, i) => {
      const row = got.slice(5 * i, 5 * i + 5);
      const check = (what: string, bits: number, want: number, ulps = 0) => {
        if (!sameFloat(bits, want, ulps))
          mismatches.push(`${what}(${a[i]}, ${b[i]}): got bits ${bits.toString(16)}, want ${want}`);
      };
      check("max", row[0]!, bothZero(i) ? fromBits(row[0]!) : max![i]!);
      check("min", row[1]!, bothZero(i) ? fromBits(row[1]!) : min![i]!);
      check("sign", row[2]!, sign![i]!);
      check("sigmoid", row[3]!, sigmoid![i]!, 1); // libm expf and Math.exp may differ in the last bit
      if (row[4] !== truthy[i]) mismatches.push(`bool(${a[i]}): got ${row[4]}, want ${truthy[i]}`);
    });
    expect(mismatches).toEqual([]);
  });

  it("toHalfBits / fromHalfBits agree with cuda_fp16's __float2half_rn / __half2float", () => {
    const xs = [
      ...fc.sample(fc.float({ min: -70000, max: 70000 }), { numRuns: 300, seed: 3 }),
      65519.99,
      65520,
      2 ** -25,
      3 * 2 ** -26,
      1e-8,
      -0,
    ];
    const got = runHost(`
  const float x[] = {${floatsC(xs.map(Math.fround))}};
  for (float v : x) { const __half_raw h = __float2half_rn(v); printf("%u\\n", (unsigned int)h.x); }
  for (unsigned int h = 0; h < 65536u; h++) { __half_raw r; r.x = (unsigned short)h; printf("%u\\n", bits_of(__half2float(__half(r)))); }`);
    // Any NaN encoding will do (CUDA gives 0x7fff, toHalfBits a quiet 0x7e00).
    const canon = (h: number) => ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0 ? "NaN" : h);
    expect(got.slice(0, xs.length).map(canon)).toEqual(xs.map((x) => canon(toHalfBits(Math.fround(x)))));
    const widened = got.slice(xs.length);
    const mismatches = widened.filter(
      (bits, h) =>
        !(Number.isNaN(fromHalfBits(h)) ? (bits & 0x7fc00000) === 0x7fc00000 : bits === floatBits(fromHalfBits(h))),
    );
    expect(mismatches).toEqual([]);
  });
});
