/**
 * The pieces of `--params` and of dim constraints that need no device: the
 * host runtime's own safetensors reader (the generated module cannot import
 * moeforge's), matching a file's tensors to the model's inputs, `--dims`
 * qualifiers, and the host module's dim check (range, divisor, derived dims).
 */
import { describe, expect, it } from "vitest";
import { atomOf, parseDims, type DynamicDim } from "../../aot/dims";
import { checkDims, ProgramRunner, readSafetensors, type ProgramSpec } from "../../aot/host_runtime";
import { matchWeights } from "../../aot/weights";
import { saveSafetensors, tensor } from "../../index";
import type { TensorSlot } from "../../aot/inputs";

const params = {
  router: tensor([1.5, -2, 3, 4, 5, 6], [3, 2]),
  experts: [{ w: tensor([7, 8], [2]) }, { w: tensor([9, 10], [2]) }],
  steps: tensor([3, -1], [2], "i32"),
  mask: tensor([true, false, true], [3], "bool"),
};

/** Header bytes of a hand-made safetensors buffer. */
function rawSafetensors(header: unknown, data: Uint8Array = new Uint8Array()): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe("the host runtime's safetensors reader", () => {
  it("reads what saveSafetensors writes: names, dtypes, shapes and the data bytes", () => {
    const bytes = saveSafetensors(params);
    // At an odd offset inside a larger buffer: views, not assumptions about alignment.
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    const t = readSafetensors(big.subarray(3), "w");
    expect([...t.keys()].sort()).toEqual(["experts.0.w", "experts.1.w", "mask", "router", "steps"]);
    expect(t.get("router")).toMatchObject({ dtype: "F32", shape: [3, 2] });
    expect(Array.from(new Float32Array(t.get("router")!.bytes.slice().buffer))).toEqual([1.5, -2, 3, 4, 5, 6]);
    expect(Array.from(new Int32Array(t.get("steps")!.bytes.slice().buffer))).toEqual([3, -1]);
    expect(t.get("mask")).toMatchObject({ dtype: "BOOL", shape: [3] });
    expect(Array.from(t.get("mask")!.bytes)).toEqual([1, 0, 1]);
  });

  it("names what is wrong with a broken buffer", () => {
    expect(() => readSafetensors(new Uint8Array(5), "w.st")).toThrow(/w\.st: 5 bytes is too short/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1000n, true);
    expect(() => readSafetensors(huge, "w.st")).toThrow(/header length 1000 does not fit the 16-byte buffer/);
    const notJson = rawSafetensors({});
    notJson.set(new TextEncoder().encode("{x"), 8);
    expect(() => readSafetensors(notJson, "w.st")).toThrow(/the header is not UTF-8 JSON/);
    expect(() => readSafetensors(rawSafetensors([1]), "w.st")).toThrow(/not a JSON object of tensors/);
    expect(() =>
      readSafetensors(rawSafetensors({ a: { dtype: "Q8", shape: [1], data_offsets: [0, 1] } }), "w"),
    ).toThrow(/tensor "a" has dtype "Q8"; expected one of F64, F32/);
    expect(() =>
      readSafetensors(rawSafetensors({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }), "w"),
    ).toThrow(/tensor "a" has shape \[-1\]/);
    expect(() =>
      readSafetensors(rawSafetensors({ a: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }), "w"),
    ).toThrow(/tensor "a" holds 4 bytes .*F32\[2\] needs 8/);
    expect(() =>
      readSafetensors(
        rawSafetensors({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)),
        "w",
      ),
    ).toThrow(/tensor "a" ends at byte 8, past the data \(4 bytes\): a truncated file\?/);
  });
});

const leaves: TensorSlot[] = [
  { path: "params.router", dtype: "f32", shape: [3, 2] },
  { path: "params.experts[0].w", dtype: "f32", shape: [2] },
  { path: "params.experts[1].w", dtype: "f32", shape: [2] },
  { path: "params.steps", dtype: "i32", shape: [2] },
  { path: "params.mask", dtype: "bool", shape: [3] },
  { path: "x", dtype: "f32", shape: ["T", 2] },
];

describe("--params: matching a safetensors file to the model's inputs", () => {
  it("binds tensors by the path inside the argument or by the full path, in input order", () => {
    const w = matchWeights(saveSafetensors(params), leaves, "w.st");
    expect(w.map((b) => [b.name, b.path, b.dtype])).toEqual([
      ["router", "params.router", "f32"],
      ["experts.0.w", "params.experts[0].w", "f32"],
      ["experts.1.w", "params.experts[1].w", "f32"],
      ["steps", "params.steps", "i32"],
      ["mask", "params.mask", "bool"],
    ]);
    const full = matchWeights(saveSafetensors({ params: { router: params.router } }), leaves, "w.st");
    expect(full).toEqual([{ name: "params.router", path: "params.router", dtype: "f32", shape: [3, 2] }]);
  });

  it("rejects a tensor no input takes, of another shape or dtype, feeding a dynamic input, or twice", () => {
    const file = (tree: unknown) => saveSafetensors(tree);
    expect(() => matchWeights(file({ rooter: params.router }), leaves, "w.st")).toThrow(
      /--params w\.st: tensor "rooter" matches no input of the model \(inputs: params\.router, params\.experts\.0\.w/,
    );
    expect(() => matchWeights(file({ router: tensor([1, 2], [2]) }), leaves, "w.st")).toThrow(
      /tensor "router" is F32\[2\]; input params\.router needs F32\[3, 2\]/,
    );
    expect(() => matchWeights(file({ steps: tensor([1, 2], [2]) }), leaves, "w.st")).toThrow(
      /tensor "steps" is F32\[2\]; input params\.steps needs I32\[2\]/,
    );
    expect(() => matchWeights(file({ x: tensor([1, 2], [1, 2]) }), leaves, "w.st")).toThrow(
      /tensor "x" feeds input x, whose shape has the dynamic dim "T"; weights have fixed shapes/,
    );
    expect(() =>
      matchWeights(file({ router: params.router, params: { router: params.router } }), leaves, "w.st"),
    ).toThrow(/tensors "router" and "params\.router" both name input params\.router/);
    const twoArgs: TensorSlot[] = [
      { path: "a.w", dtype: "f32", shape: [2] },
      { path: "b.w", dtype: "f32", shape: [2] },
    ];
    expect(() => matchWeights(file({ w: tensor([1, 2], [2]) }), twoArgs, "w.st")).toThrow(
      /tensor "w" could be a\.w or b\.w; name it by the full path/,
    );
    expect(() => matchWeights(new Uint8Array(3), leaves, "w.st")).toThrow(/--params w\.st: 3 bytes is too short/);
  });
});

describe("--dims constraints and the host module's dim check", () => {
  it("parses ranges and divisors", () => {
    expect(parseDims("T=dynamic:16..4096:%8,D=4")).toEqual(
      new Map<string, unknown>([
        ["T", { kind: "dynamic", min: 16, max: 4096, multipleOf: 8 }],
        ["D", 4],
      ]),
    );
    // The minimum rounds up to the divisor.
    expect(parseDims("T=dynamic:%8").get("T")).toEqual({ kind: "dynamic", min: 8, multipleOf: 8 });
    expect(parseDims("T=dynamic:..100").get("T")).toEqual({ kind: "dynamic", min: 1, max: 100, multipleOf: 1 });
    expect(() => parseDims("T=dynamic:%0")).toThrow(/T divisor: "0" is not a positive integer/);
    expect(() => parseDims("T=dynamic:x8")).toThrow(/"x8" is not MIN\.\.MAX or %K/);
    expect(() => parseDims("T=dynamic:9..15:%8")).toThrow(/no value of T is allowed .*16, above the maximum 15/);
    expect(atomOf("T", parseDims("T=dynamic:%8").get("T") as DynamicDim)).toBe("T_div8");
  });

  it("checks range and divisor and computes the derived dims", () => {
    const ranges = { T: { min: 8, max: 64, multipleOf: 8 }, S: { min: 1, max: 5 } };
    const derived = { T_div8: { op: "floorDiv", args: ["T", 8] } } as const;
    expect(checkDims({ T: 24, S: 5 }, ranges, derived, "m")).toEqual({ T: 24, S: 5, T_div8: 3 });
    expect(() => checkDims({ T: 20, S: 1 }, ranges, derived, "m")).toThrow(
      /m: dim T = 20; it must be a multiple of 8 .*pad to 24/,
    );
    expect(() => checkDims({ T: 72, S: 1 }, ranges, derived, "m")).toThrow(
      /dim T = 72; it must be an integer in 8\.\.64/,
    );
    expect(() => checkDims({ T: 8, S: 0 }, ranges, derived, "m")).toThrow(/dim S = 0; it must be an integer in 1\.\.5/);
    expect(() => checkDims({ T: 8 }, ranges, derived, "m")).toThrow(/dim S is not given/);
    expect(() => checkDims({ T: 8, S: 1, U: 2 }, ranges, derived, "m")).toThrow(/dim U is not a dynamic dim .*T, S/);
  });
});

describe("the host module checks the programs' size limits per set of dims", () => {
  it("a size past its limit is refused before any buffer is made, naming what and why", () => {
    const made: string[] = [];
    // Just enough of a GPUDevice for a runner whose program has no kernels.
    const device = {
      limits: { minUniformBufferOffsetAlignment: 256, maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30 },
      createBuffer: (d: GPUBufferDescriptor) => (made.push(d.label ?? ""), { destroy() {} }),
      queue: { writeBuffer() {}, submit() {} },
      createCommandEncoder: () => ({ beginComputePass: () => ({ end() {} }), finish: () => ({}) }),
    } as unknown as GPUDevice;
    const spec: ProgramSpec = {
      kernels: [],
      buffers: [{ name: "v1", type: "f32", size: { op: "mul", args: ["T", 4096] }, role: "temp" }],
      schedule: [],
      inputs: [],
      outputs: [],
      limits: [
        {
          size: { op: "mul", args: ["T", 4096] },
          limit: 2 ** 31 - 1,
          what: "buffer v1 elements",
          why: "WGSL index math is i32",
        },
      ],
    };
    const runner = ProgramRunner.create(device, spec, "m forward");
    expect(() => runner.run({ T: 2 ** 20 }, [])).toThrow(
      /m forward: for dims \{"T":1048576\}, buffer v1 elements is 4294967296, more than 2147483647 \(WGSL index math is i32\)/,
    );
    expect(made).toEqual([]);
    runner.run({ T: 2 }, []);
    expect(made).toEqual(["m forward v1", "m forward sizes"]);
  });
});
