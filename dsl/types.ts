/**
 * Type-level shape arithmetic. Best effort but real: where shapes are literal
 * tuples, `tsc` rejects mismatched matmul inner dims, non-broadcastable
 * elementwise operands and reshapes that change the element count. Where a
 * shape is not statically known (`Shape`), checks happen at trace time.
 */
import type { Dim, DimExpr, Shape } from "./shape";

/** Is T a tuple of statically known length? */
type IsTuple<T extends Shape> = number extends T["length"] ? false : true;

/** Broadcast of two dims; `never` when both are distinct literals. Dim expressions are checked at trace time. */
export type BroadcastDim<A extends Dim, B extends Dim> = A extends 1
  ? B
  : B extends 1
    ? A
    : A extends DimExpr
      ? B
      : B extends DimExpr
        ? A
        : number extends A
          ? B
          : number extends B
            ? A
            : string extends A
              ? B
              : string extends B
                ? A
                : [A] extends [B]
                  ? A
                  : never;

type BroadcastRev<A extends Shape, B extends Shape> = A extends readonly [
  ...infer AR extends Dim[],
  infer a extends Dim,
]
  ? B extends readonly [...infer BR extends Dim[], infer b extends Dim]
    ? [...BroadcastRev<AR, BR>, BroadcastDim<a, b>]
    : A
  : B;

type HasNever<T extends readonly unknown[]> = T extends readonly [infer H, ...infer R]
  ? [H] extends [never]
    ? true
    : HasNever<R>
  : false;

/** The numpy broadcast of two shapes, or `never` if literal dims clash. */
export type Broadcast<A extends Shape, B extends Shape> =
  IsTuple<A> extends true
    ? IsTuple<B> extends true
      ? HasNever<BroadcastRev<A, B>> extends true
        ? never
        : BroadcastRev<A, B>
      : Shape
    : Shape;

/** Error marker types: they show up in tsc's message. */
export interface ShapeMismatch<Msg extends string, A, B> {
  readonly __shapeError: Msg;
  readonly left: A;
  readonly right: B;
}

/** `unknown` when A and B broadcast, otherwise a readable error type. */
export type CheckBroadcast<A extends Shape, B extends Shape> = [Broadcast<A, B>] extends [never]
  ? ShapeMismatch<"shapes do not broadcast", A, B>
  : unknown;

type Last<S extends Shape> = S extends readonly [...Dim[], infer L extends Dim] ? L : Dim;
type SecondLast<S extends Shape> = S extends readonly [...Dim[], infer L extends Dim, Dim] ? L : Dim;
type Batch<S extends Shape> = S extends readonly [...infer B extends Dim[], Dim, Dim] ? B : Shape;

type DimsAgree<A extends Dim, B extends Dim> = A extends DimExpr
  ? true
  : B extends DimExpr
    ? true
    : number extends A
      ? true
      : number extends B
        ? true
        : string extends A
          ? true
          : string extends B
            ? true
            : [A] extends [B]
              ? [B] extends [A]
                ? true
                : false
              : false;

/** `unknown` when a @ b's inner dims agree and batch dims broadcast (or are not statically known). */
export type CheckMatmul<A extends Shape, B extends Shape> =
  IsTuple<A> extends true
    ? IsTuple<B> extends true
      ? A["length"] extends 0
        ? ShapeMismatch<"matmul needs rank >= 1", A, B>
        : B["length"] extends 0
          ? ShapeMismatch<"matmul needs rank >= 1", A, B>
          : DimsAgree<Last<A>, B["length"] extends 1 ? B[0] & Dim : SecondLast<B>> extends true
            ? [BatchBroadcast<A, B>] extends [never]
              ? ShapeMismatch<"matmul batch dims do not broadcast", A, B>
              : unknown
            : ShapeMismatch<"matmul inner dims differ", A, B>
      : unknown
    : unknown;

/** Broadcast batch dims of two rank >= 2 operands (`[]` when either is a vector). */
type BatchBroadcast<A extends Shape, B extends Shape> = A extends readonly [Dim, Dim, ...Dim[]]
  ? B extends readonly [Dim, Dim, ...Dim[]]
    ? Broadcast<Batch<A>, Batch<B>>
    : []
  : [];

/** Result shape of matmul for matrices and batched matrices (rank >= 2 both). */
export type MatmulShape<A extends Shape, B extends Shape> =
  IsTuple<A> extends true
    ? IsTuple<B> extends true
      ? A extends readonly [Dim, Dim, ...Dim[]]
        ? B extends readonly [Dim, Dim, ...Dim[]]
          ? BatchBroadcast<A, B> extends infer Bt extends readonly Dim[]
            ? [...Bt, SecondLast<A>, Last<B>]
            : Shape
          : Shape
        : Shape
      : Shape
    : Shape;

// ---- element counts, for reshape -------------------------------------------
// Products are computed on decimal digit strings (least significant digit
// first), so any literal sizes work without building huge tuples; named dims
// are compared as a multiset of names.

type DigitChar = "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9";
type Units = {
  "0": [];
  "1": [1];
  "2": [1, 1];
  "3": [1, 1, 1];
  "4": [1, 1, 1, 1];
  "5": [1, 1, 1, 1, 1];
  "6": [1, 1, 1, 1, 1, 1];
  "7": [1, 1, 1, 1, 1, 1, 1];
  "8": [1, 1, 1, 1, 1, 1, 1, 1];
  "9": [1, 1, 1, 1, 1, 1, 1, 1, 1];
};
/** Digits of a non-negative integer literal, least significant first; `never` for anything else. */
type ToDigits<S extends string> = S extends `${infer H extends DigitChar}${infer R}`
  ? R extends ""
    ? [H]
    : [...ToDigits<R>, H]
  : never;
/** A sum of two digits and a carry (0..19) as [digit, carry]. */
type SplitSum<N extends number> = `${N}` extends `1${infer D extends DigitChar}` ? [D, 1] : [`${N}` & DigitChar, 0];
type Head<D extends readonly DigitChar[]> = D extends readonly [infer H extends DigitChar, ...DigitChar[]] ? H : "0";
type Tail<D extends readonly DigitChar[]> = D extends readonly [DigitChar, ...infer R extends DigitChar[]] ? R : [];
type AddDigits<
  A extends readonly DigitChar[],
  B extends readonly DigitChar[],
  C extends 0 | 1 = 0,
> = A extends readonly [] ? (B extends readonly [] ? (C extends 1 ? ["1"] : []) : AddStep<A, B, C>) : AddStep<A, B, C>;
type AddStep<A extends readonly DigitChar[], B extends readonly DigitChar[], C extends 0 | 1> =
  SplitSum<Extract<[...Units[Head<A>], ...Units[Head<B>], ...(C extends 1 ? [1] : [])]["length"], number>> extends [
    infer D extends DigitChar,
    infer C2 extends 0 | 1,
  ]
    ? [D, ...AddDigits<Tail<A>, Tail<B>, C2>]
    : never;
type TimesSmall<
  A extends readonly DigitChar[],
  K extends readonly unknown[],
  Acc extends readonly DigitChar[] = [],
> = K extends readonly [unknown, ...infer R] ? TimesSmall<A, R, AddDigits<Acc, A>> : Acc;
type MulDigits<A extends readonly DigitChar[], B extends readonly DigitChar[]> = B extends readonly [
  infer b extends DigitChar,
  ...infer BR extends DigitChar[],
]
  ? AddDigits<TimesSmall<A, Units[b]>, ["0", ...MulDigits<A, BR>]>
  : [];
type Join<D extends readonly DigitChar[]> = D extends readonly [
  infer H extends DigitChar,
  ...infer R extends DigitChar[],
]
  ? `${Join<R>}${H}`
  : "";
type StripZeros<S extends string> = S extends `0${infer R}`
  ? R extends ""
    ? "0"
    : StripZeros<R>
  : S extends ""
    ? "0"
    : S;

/** Splits a shape into the decimal product of its literal dims and the list of its named dims; `never` if a dim is not a literal. */
type SymbolicCount<
  S extends Shape,
  Acc extends readonly DigitChar[] = ["1"],
  Names extends readonly string[] = [],
> = S extends readonly [infer H, ...infer R extends Shape]
  ? H extends number
    ? number extends H
      ? never
      : [ToDigits<`${H}`>] extends [never]
        ? never
        : SymbolicCount<R, MulDigits<Acc, ToDigits<`${H}`>>, Names>
    : H extends string
      ? string extends H
        ? never
        : SymbolicCount<R, Acc, [...Names, H]>
      : never
  : IsTuple<S> extends true
    ? [StripZeros<Join<Acc>>, Names]
    : never;

type RemoveOne<T extends readonly string[], X extends string> = T extends readonly [
  infer H extends string,
  ...infer R extends string[],
]
  ? [H] extends [X]
    ? R
    : [H, ...RemoveOne<R, X>]
  : never;
type SameNames<A extends readonly string[], B extends readonly string[]> = A extends readonly [
  infer H extends string,
  ...infer R extends string[],
]
  ? [RemoveOne<B, H>] extends [never]
    ? false
    : SameNames<R, RemoveOne<B, H>>
  : B extends readonly []
    ? true
    : false;

/** Static element count of a shape of literal sizes (`number` when any dim is named or unknown). */
export type NumelOf<S extends Shape> = [SymbolicCount<S>] extends [never]
  ? number
  : SymbolicCount<S> extends [`${infer N extends number}`, readonly []]
    ? N
    : number;

/**
 * `unknown` when a reshape keeps the element count (or it is not statically
 * known). With named dims, the literal parts must multiply to the same number
 * and the names must be the same (in any order): `[T, 4] -> [T, 2, 2]`.
 */
export type CheckReshape<From extends Shape, To extends Shape> = [SymbolicCount<From>] extends [never]
  ? unknown
  : [SymbolicCount<To>] extends [never]
    ? unknown
    : SymbolicCount<From> extends [infer A extends string, infer NA extends readonly string[]]
      ? SymbolicCount<To> extends [infer B extends string, infer NB extends readonly string[]]
        ? A extends "0"
          ? B extends "0"
            ? unknown
            : ShapeMismatch<"reshape changes the element count", From, To>
          : [A] extends [B]
            ? SameNames<NA, NB> extends true
              ? unknown
              : ShapeMismatch<"reshape changes the element count", From, To>
            : ShapeMismatch<"reshape changes the element count", From, To>
        : unknown
      : unknown;
