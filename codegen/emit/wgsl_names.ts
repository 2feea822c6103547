/**
 * WGSL's reserved words, for the shared identifier sanitiser (`identifier` in
 * c_style.ts). Kernel IR names come from lowering (Program variable names, loop
 * counters); WGSL rejects its keywords and reserved words as identifiers.
 */
import { identifier, wordSet } from "./c_style";

// WGSL keywords, reserved words, and the predeclared names the emitted code relies on
// (WGSL spec sections 15.1-15.2; type and builtin-function names shadowed by a
// local would break the code that follows it).
export const WGSL_RESERVED = wordSet(
  "alias break case const const_assert continue continuing default diagnostic discard else enable false fn for if let loop " +
    "override requires return struct switch true var while " +
    "NULL Self abstract active alignas alignof as asm asm_fragment async attribute auto await become binding_array cast catch " +
    "class co_await co_return co_yield coherent column_major common compile compile_fragment concept const_cast consteval " +
    "constexpr constinit crate debugger decltype delete demote demote_to_helper do dynamic_cast enum explicit export extends " +
    "extern external fallthrough filter final finally friend from fxgroup get goto groupshared highp impl implements import " +
    "inline instanceof interface layout lowp macro macro_rules match mediump meta mod module move mut mutable namespace new nil " +
    "noexcept noinline nointerpolation non_coherent noncoherent noperspective null nullptr of operator package packoffset " +
    "partition pass patch pixelfragment precise precision premerge priv protected pub public readonly ref regardless register " +
    "reinterpret_cast require resource restrict self set shared sizeof smooth snorm static static_assert static_cast std " +
    "subroutine super target template this thread_local throw trait try type typedef typeid typename typeof union unless " +
    "unorm unsafe unsized use using varying virtual volatile wgsl where with writeonly yield " +
    // predeclared types and functions used by emitted code
    "bool f16 f32 i32 u32 vec2 vec3 vec4 array atomic ptr sampler texture_2d " +
    "abs acos all any asin atan atan2 bitcast ceil clamp cos cosh exp exp2 floor fma fract inverseSqrt log log2 max min mix " +
    "pow round select sign sin sinh sqrt step tan tanh trunc atomicAdd atomicLoad atomicStore workgroupBarrier storageBarrier " +
    "main",
);

/**
 * A valid, readable WGSL identifier for a kernel-IR name (see `identifier`).
 * @example wgslIdent("x.grad") === "x_grad"; wgslIdent("filter") === "filter_"
 */
export function wgslIdent(name: string): string {
  return identifier(name, WGSL_RESERVED);
}
