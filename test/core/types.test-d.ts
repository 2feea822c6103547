/**
 * Type tests: `tsc --noEmit -p .` (part of `npm test`) compiles this file.
 * Each `@ts-expect-error` line must fail to type-check: if moeforge's types
 * stopped rejecting it, the directive itself becomes an error ("unused
 * @ts-expect-error") and tsc fails. The lines without it prove that the valid
 * versions are accepted, with the expected result types.
 * Nothing here runs (vitest only picks up `*.test.ts`).
 */
import { dims, ones, zeros, type Dim, type Tensor } from "../../index";

/** Compile-time equality of two types (true only when each is assignable to the other). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_ok?: T): void {}

const x23 = zeros([2, 3]);
const x34 = zeros([3, 4]);
const x54 = zeros([5, 4]);

// ---- matmul: inner dims -------------------------------------------------------
const y24 = x23.matmul(x34);
assertType<Equal<typeof y24, Tensor<[2, 4], "f32">>>();
// @ts-expect-error inner dims 3 vs 5 differ
x23.matmul(x54);
// @ts-expect-error matrix @ vector with the wrong length
x23.matmul(zeros([4]));
x23.matmul(zeros([3])); // matrix @ vector of the right length

// batched: leading dims broadcast, inner dims checked
const yb = zeros([5, 1, 2, 3]).matmul(zeros([7, 3, 4]));
assertType<Equal<typeof yb, Tensor<[5, 7, 2, 4], "f32">>>();
// @ts-expect-error batch dims 5 and 4 do not broadcast
zeros([5, 2, 3]).matmul(zeros([4, 3, 2]));
// @ts-expect-error batched inner dims differ
zeros([5, 2, 3]).matmul(zeros([5, 2, 2]));

// named dims: equal names agree, different literal sizes do not
const yn = zeros(["T", 8]).matmul(zeros([8, "H"]));
assertType<Equal<typeof yn, Tensor<["T", "H"], "f32">>>();
// @ts-expect-error a named dim never equals a different name
zeros(["T", "D"]).matmul(zeros(["H", 4]));

// ---- rank ------------------------------------------------------------------------
function takesMatrix(m: Tensor<readonly [number, number], "f32">): Tensor<readonly [number, number], "f32"> {
  return m;
}
takesMatrix(x23);
// @ts-expect-error a rank-3 tensor is not a matrix
takesMatrix(zeros([2, 3, 4]));
// @ts-expect-error a rank-1 tensor is not a matrix
takesMatrix(zeros([6]));
// @ts-expect-error matmul of a scalar (rank 0) is rejected
zeros([]).matmul(x23);

// ---- dtypes ------------------------------------------------------------------------
const i23 = zeros([2, 3], "i32");
// @ts-expect-error f32 + i32 needs an explicit cast
x23.add(i23);
// @ts-expect-error i32 @ f32 needs an explicit cast
i23.matmul(x34);
// @ts-expect-error an f32 tensor is not an i32 tensor
const asInt: Tensor<readonly [2, 3], "i32"> = x23;
const cast = x23.add(i23.cast("f32")); // the valid version: cast first
assertType<Equal<typeof cast, Tensor<[2, 3], "f32">>>();
const ii = i23.mul(i23); // i32 with i32 is fine
assertType<Equal<typeof ii, Tensor<[2, 3], "i32">>>();

// ---- elementwise broadcasting ------------------------------------------------------
const b1 = x23.add(zeros([3]));
assertType<Equal<typeof b1, Tensor<[2, 3], "f32">>>();
const b2 = zeros([4, 1, 3]).mul(zeros([5, 1]));
assertType<Equal<typeof b2, Tensor<[4, 5, 3], "f32">>>();
const b3 = x23.mul(2).sub(1); // JS numbers keep the shape
assertType<Equal<typeof b3, Tensor<readonly [2, 3], "f32">>>();
// @ts-expect-error [2,3] and [4] do not broadcast
x23.add(zeros([4]));
// @ts-expect-error [2,3] and [3,2] do not broadcast
x23.sub(zeros([3, 2]));
// @ts-expect-error [4,1,3] and [5,2] do not broadcast (3 vs 2)
zeros([4, 1, 3]).maximum(zeros([5, 2]));

// ---- reshape keeps the element count ----------------------------------------------
const r = x23.reshape([3, 2]);
assertType<Equal<typeof r, Tensor<readonly [3, 2], "f32">>>();
x23.reshape([6]);
x23.reshape([1, 6, 1]);
zeros([4096, 64]).reshape([64, 64, 64]); // large literal sizes are multiplied exactly
// @ts-expect-error 6 elements cannot become 8
x23.reshape([4, 2]);
// @ts-expect-error 6 elements cannot become 5
x23.reshape([5]);
// @ts-expect-error 4096*64 elements cannot become 64*64*63
zeros([4096, 64]).reshape([64, 64, 63]);
// named dims: the literal parts multiply equally and the names match
ones(["T", 4]).reshape([2, "T", 2]);
// @ts-expect-error "T" cannot become "S"
ones(["T", 4]).reshape(["S", 4]);
// @ts-expect-error [T,4] has 4T elements, not 2T
ones(["T", 4]).reshape(["T", 2]);

// ---- dim expressions: accepted statically, checked at trace time ---------------------
const T2 = dims.mul("T", 2);
ones([T2, 4]).matmul(zeros([4, 3]));
ones(["T", 4]).reshape([T2, 2]);
const lead: Dim = ones(["T", 4]).shape[0];
ones([dims.add(lead, 1)]).add(ones([1]));
// @ts-expect-error literal inner dims still clash next to an expression
ones([T2, 4]).matmul(zeros([5, 3]));

void asInt;
