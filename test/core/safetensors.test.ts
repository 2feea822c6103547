/**
 * Safetensors: pytrees of tensors round-trip (f32, f16, i32, f64, bool; nested
 * objects and arrays), files in the reference layout written byte by byte here
 * load, and malformed files are refused with the reason.
 */
import { describe, expect, it } from "vitest";
import { SafetensorsError, loadSafetensors, saveSafetensors, tensor, type Tensor } from "../../index";
import { thrown } from "./helpers";

/** A file in the reference layout: u64 LE header length, JSON header, then `data` (already row-major LE). */
function referenceFile(header: object, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  const n = json.length;
  for (let i = 0; i < 8; i++) out[i] = Math.floor(n / 2 ** (8 * i)) & 0xff;
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Little-endian bytes of each value, written by hand (no DataView). */
function f32Bytes(xs: number[]): number[] {
  return xs.flatMap((x) => [...new Uint8Array(new Float32Array([x]).buffer)]);
}
function i32Bytes(xs: number[]): number[] {
  return xs.flatMap((x) => [x & 0xff, (x >> 8) & 0xff, (x >> 16) & 0xff, (x >> 24) & 0xff]);
}

const values = (t: unknown) => Array.from((t as Tensor).dataSync());

describe("safetensors", () => {
  it("round-trips a nested params tree with f32, f16, i32, f64 and bool tensors", () => {
    const params: { embed: Tensor; layers: Record<string, Tensor>[]; step: Tensor } = {
      embed: tensor([0.1, -2.5, 3.25, 1e-3, 7, -8], [2, 3]),
      layers: [
        { w: tensor([1.5, -0.25, 65504, 6.1035156e-5], [2, 2], "f16"), b: tensor([3, -4], [2], "i32") },
        { w: tensor([Math.PI, Math.E], [1, 2], "f64"), mask: tensor([1, 0, 1], [3], "bool") },
      ],
      step: tensor([42], [], "i32"),
    };
    const bytes = saveSafetensors(params);
    const back = loadSafetensors<typeof params>(bytes);
    expect(Object.keys(back)).toEqual(["embed", "layers", "step"]);
    const pairs: [Tensor, Tensor][] = [
      [back.embed, params.embed],
      [back.layers[0]!.w, params.layers[0]!.w],
      [back.layers[0]!.b, params.layers[0]!.b],
      [back.layers[1]!.w, params.layers[1]!.w],
      [back.layers[1]!.mask, params.layers[1]!.mask],
      [back.step, params.step],
    ];
    for (const [got, want] of pairs) {
      expect(got.dtype).toBe(want.dtype);
      expect(got.shape).toEqual(want.shape);
      expect(values(got)).toEqual(values(want));
    }
  });

  it("writes the reference layout: LE header length, padded JSON header, names as paths, aligned data", () => {
    const bytes = saveSafetensors({ a: [tensor([1, 2], [2], "f16")], b: tensor([-1.5], [1]) });
    const n = new DataView(bytes.buffer).getUint32(0, true);
    expect(new DataView(bytes.buffer).getUint32(4, true)).toBe(0);
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header["a.0"]).toEqual({ dtype: "F16", shape: [2], data_offsets: [4, 8] });
    expect(header["b"]).toEqual({ dtype: "F32", shape: [1], data_offsets: [0, 4] });
    expect(bytes.length).toBe(8 + n + 8);
    expect([...bytes.subarray(8 + n)]).toEqual([...f32Bytes([-1.5]), 0x00, 0x3c, 0x00, 0x40]);
  });

  it("loads a file written byte by byte in the reference layout, rebuilding the tree from dotted names", () => {
    const data = new Uint8Array([
      ...f32Bytes([1, -2, 0.5, 4, 5, 6]),
      ...i32Bytes([7, -8]),
      ...[0x00, 0x3c, 0x00, 0xc0], // f16 1, -2
    ]);
    const file = referenceFile(
      {
        __metadata__: { format: "pt" },
        "model.layers.0.weight": { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] },
        "model.layers.1.bias": { dtype: "F16", shape: [2], data_offsets: [32, 36] },
        "model.ids": { dtype: "I32", shape: [2], data_offsets: [24, 32] },
      },
      data,
    );
    const tree = loadSafetensors<{ model: { layers: { weight?: Tensor; bias?: Tensor }[]; ids: Tensor } }>(file);
    expect(Array.isArray(tree.model.layers)).toBe(true);
    expect(tree.model.layers[0]!.weight!.shape).toEqual([2, 3]);
    expect(values(tree.model.layers[0]!.weight)).toEqual([1, -2, 0.5, 4, 5, 6]);
    expect(values(tree.model.layers[1]!.bias)).toEqual([1, -2]);
    expect(tree.model.layers[1]!.bias!.dtype).toBe("f16");
    expect(values(tree.model.ids)).toEqual([7, -8]);
    // An ArrayBuffer (e.g. from fetch) loads the same.
    expect(values(loadSafetensors<typeof tree>(file.slice().buffer).model.ids)).toEqual([7, -8]);
  });

  it("refuses malformed files and unsaveable trees with the reason", () => {
    const ok = { dtype: "F32", shape: [2], data_offsets: [0, 8] };
    const eight = new Uint8Array(8);
    expect(thrown(() => loadSafetensors(new Uint8Array(3)))).toBeInstanceOf(SafetensorsError);
    expect(thrown(() => loadSafetensors(referenceFile({ x: { ...ok, dtype: "BF16" } }, eight))).message).toMatch(
      /tensor "x": dtype "BF16" is not supported; expected one of F64, F32, F16, I32, BOOL/,
    );
    expect(thrown(() => loadSafetensors(referenceFile({ x: { ...ok, shape: [3] } }, eight))).message).toMatch(
      /hold 8 bytes; f32\[3\] needs 12/,
    );
    expect(thrown(() => loadSafetensors(referenceFile({ x: ok }, new Uint8Array(12)))).message).toMatch(
      /cover 8 bytes of data, the file has 12/,
    );
    const bad = referenceFile({ x: ok }, eight);
    bad[0] = 0xff;
    expect(thrown(() => loadSafetensors(bad)).message).toMatch(/header length \d+ does not fit/);
    expect(thrown(() => saveSafetensors(tensor([1]))).message).toMatch(/got a single Tensor; wrap it/);
    expect(thrown(() => saveSafetensors({ "a.b": tensor([1]), a: { b: tensor([2]) } })).message).toMatch(
      /both be named "a.b"/,
    );
  });
});
