/**
 * WebAssembly opcodes as tables: one name, one encoding. Plain opcodes are one
 * byte; the prefixed families (0xfc misc, 0xfd SIMD128 and relaxed SIMD, 0xfe
 * threads) are a prefix byte then the opcode as unsigned LEB128.
 */

/** Value types. */
export const VALTYPE = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;
export type ValType = keyof typeof VALTYPE;

/** Section ids, in the order sections must appear. */
export const SECTION = {
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
} as const;

/** Import / export kinds. */
export const EXTERNAL = { func: 0x00, table: 0x01, memory: 0x02, global: 0x03 } as const;

/** One-byte opcodes. */
export const OP = {
  unreachable: 0x00,
  nop: 0x01,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  return: 0x0f,
  call: 0x10,
  drop: 0x1a,
  select: 0x1b,
  "local.get": 0x20,
  "local.set": 0x21,
  "local.tee": 0x22,
  "i32.load": 0x28,
  "f32.load": 0x2a,
  "f64.load": 0x2b,
  "i32.load8_u": 0x2d,
  "i32.store": 0x36,
  "f32.store": 0x38,
  "f64.store": 0x39,
  "i32.store8": 0x3a,
  "i32.const": 0x41,
  "i64.const": 0x42,
  "f32.const": 0x43,
  "f64.const": 0x44,
  "i32.eqz": 0x45,
  "i32.eq": 0x46,
  "i32.ne": 0x47,
  "i32.lt_s": 0x48,
  "i32.lt_u": 0x49,
  "i32.gt_s": 0x4a,
  "i32.gt_u": 0x4b,
  "i32.le_s": 0x4c,
  "i32.le_u": 0x4d,
  "i32.ge_s": 0x4e,
  "i32.ge_u": 0x4f,
  "f32.eq": 0x5b,
  "f32.ne": 0x5c,
  "f32.lt": 0x5d,
  "f32.gt": 0x5e,
  "f32.le": 0x5f,
  "f32.ge": 0x60,
  "f64.eq": 0x61,
  "f64.ne": 0x62,
  "f64.lt": 0x63,
  "f64.gt": 0x64,
  "f64.le": 0x65,
  "f64.ge": 0x66,
  "i32.add": 0x6a,
  "i32.sub": 0x6b,
  "i32.mul": 0x6c,
  "i32.div_s": 0x6d,
  "i32.div_u": 0x6e,
  "i32.rem_s": 0x6f,
  "i32.rem_u": 0x70,
  "i32.and": 0x71,
  "i32.or": 0x72,
  "i32.xor": 0x73,
  "i32.shl": 0x74,
  "i32.shr_s": 0x75,
  "i32.shr_u": 0x76,
  "i32.rotl": 0x77,
  "i64.shl": 0x86,
  "f32.abs": 0x8b,
  "f32.neg": 0x8c,
  "f32.sqrt": 0x91,
  "f32.add": 0x92,
  "f32.sub": 0x93,
  "f32.mul": 0x94,
  "f32.div": 0x95,
  "f32.min": 0x96,
  "f32.max": 0x97,
  "f64.abs": 0x99,
  "f64.neg": 0x9a,
  "f64.trunc": 0x9d,
  "f64.nearest": 0x9e,
  "f64.sqrt": 0x9f,
  "f64.add": 0xa0,
  "f64.sub": 0xa1,
  "f64.mul": 0xa2,
  "f64.div": 0xa3,
  "f64.min": 0xa4,
  "f64.max": 0xa5,
  "f32.convert_i32_s": 0xb2,
  "f32.convert_i32_u": 0xb3,
  "f32.demote_f64": 0xb6,
  "f64.convert_i32_s": 0xb7,
  "f64.convert_i32_u": 0xb8,
  "f64.promote_f32": 0xbb,
  "i64.extend_i32_u": 0xad,
  "f64.reinterpret_i64": 0xbf,
} as const;

/** 0xfc-prefixed (saturating truncations). */
export const MISC_OP = {
  "i32.trunc_sat_f32_s": 0,
  "i32.trunc_sat_f32_u": 1,
  "i32.trunc_sat_f64_s": 2,
  "i32.trunc_sat_f64_u": 3,
} as const;

/** 0xfd-prefixed: SIMD128, and relaxed SIMD (0x100 and up). */
export const SIMD_OP = {
  "v128.load": 0x00,
  "v128.load32_splat": 0x09,
  "v128.store": 0x0b,
  "v128.const": 0x0c,
  "f32x4.splat": 0x13,
  "f32x4.extract_lane": 0x1f,
  "f32x4.replace_lane": 0x20,
  // Elementwise kernels' vector loops (vector_kernel.ts).
  "v128.load32_zero": 0x5c,
  "v128.store32_lane": 0x5a,
  "i8x16.shuffle": 0x0d,
  "i32x4.splat": 0x11,
  "i32x4.extract_lane": 0x1b,
  "i32x4.replace_lane": 0x1c,
  "i32x4.eq": 0x37,
  "i32x4.ne": 0x38,
  "i32x4.lt_s": 0x39,
  "i32x4.lt_u": 0x3a,
  "i32x4.gt_s": 0x3b,
  "i32x4.gt_u": 0x3c,
  "i32x4.le_s": 0x3d,
  "i32x4.le_u": 0x3e,
  "i32x4.ge_s": 0x3f,
  "i32x4.ge_u": 0x40,
  "f32x4.eq": 0x41,
  "f32x4.ne": 0x42,
  "f32x4.lt": 0x43,
  "f32x4.gt": 0x44,
  "f32x4.le": 0x45,
  "f32x4.ge": 0x46,
  "v128.not": 0x4d,
  "v128.and": 0x4e,
  "v128.or": 0x50,
  "v128.xor": 0x51,
  "v128.bitselect": 0x52,
  "i16x8.extend_low_i8x16_u": 0x89,
  "i32x4.extend_low_i16x8_u": 0xa9,
  "i32x4.abs": 0xa0,
  "i32x4.neg": 0xa1,
  "i32x4.shl": 0xab,
  "i32x4.shr_s": 0xac,
  "i32x4.shr_u": 0xad,
  "i32x4.add": 0xae,
  "i32x4.sub": 0xb1,
  "i32x4.mul": 0xb5,
  "i32x4.min_s": 0xb6,
  "i32x4.min_u": 0xb7,
  "i32x4.max_s": 0xb8,
  "i32x4.max_u": 0xb9,
  "f32x4.convert_i32x4_s": 0xfa,
  "f32x4.convert_i32x4_u": 0xfb,
  "f32x4.abs": 0xe0,
  "f32x4.neg": 0xe1,
  "f32x4.sqrt": 0xe3,
  "f32x4.add": 0xe4,
  "f32x4.sub": 0xe5,
  "f32x4.mul": 0xe6,
  "f32x4.div": 0xe7,
  "f32x4.min": 0xe8,
  "f32x4.max": 0xe9,
  "f32x4.relaxed_madd": 0x105,
} as const;

/** 0xfe-prefixed (threads). */
export const ATOMIC_OP = {
  "i32.atomic.rmw.add": 0x1e,
} as const;

export type Op = keyof typeof OP;
export type MiscOp = keyof typeof MISC_OP;
export type SimdOp = keyof typeof SIMD_OP;
export type AtomicOp = keyof typeof ATOMIC_OP;

export const PREFIX = { misc: 0xfc, simd: 0xfd, atomic: 0xfe } as const;

/** Block type of a block / loop / if with no result. */
export const BLOCK_EMPTY = 0x40;
/** Function type tag. */
export const FUNC_TYPE = 0x60;
