/**
 * The pipeline cache's key (`canonicalWgsl`): sources that differ only in the
 * Program's variable numbering (a second trace of the same function) get one
 * key; sources that differ in anything else (types, literals, which names are
 * the same) get different keys.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/index";
import { canonicalWgsl } from "../../backends/webgpu/pipelines";
import { moeforgePrograms } from "../../bench/peer_layer";

const kernels = () =>
  compile(moeforgePrograms({ T: 16, D: 8, H: 12, E: 4, K: 2 }).gradient, { target: "wgsl" }).kernels.map(
    (k) => k.source,
  );

describe("canonicalWgsl", () => {
  it("gives every kernel of a second trace of the MoE layer's gradient the first trace's key", () => {
    const [a, b] = [kernels(), kernels()];
    expect(a.filter((s, i) => s !== b[i]!).length).toBeGreaterThan(0); // the raw sources differ
    expect(a.map(canonicalWgsl)).toEqual(b.map(canonicalWgsl));
  });

  it("drops comments and renumbers buffers (v<id>) and values (t<id>_<n>) by first appearance", () => {
    expect(canonicalWgsl("// %7 = exp %3\nlet t7_0 = exp(v3[i]);")).toBe("\nlet t0_0 = exp(v1[i]);");
  });

  it("keeps what changes the shader: types, literals, and which names are the same", () => {
    expect(canonicalWgsl("let t1_0: f32 = v2[0];")).not.toBe(canonicalWgsl("let t1_0: i32 = v2[0];"));
    expect(canonicalWgsl("v1[0] = v2[1] * 2.0f;")).not.toBe(canonicalWgsl("v1[0] = v2[1] * 3.0f;"));
    expect(canonicalWgsl("v1[0] = v2[0] + v1[0];")).not.toBe(canonicalWgsl("v1[0] = v2[0] + v2[0];"));
    expect(canonicalWgsl("v1[0] = v10[0];")).not.toBe(canonicalWgsl("v1[0] = v1[0];"));
  });
});
