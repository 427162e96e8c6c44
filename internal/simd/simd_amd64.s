//go:build amd64 && !purego

#include "textflag.h"

// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// func widenBF16(dst *float32, src *uint16, n int)
// n is a positive multiple of 16.
TEXT ·widenBF16(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX

widenbf16loop:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD 16(SI), Y1
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VMOVDQU   Y0, (DI)
	VMOVDQU   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       widenbf16loop
	VZEROUPPER
	RET

// func widenF16(dst *float32, src *uint16, n int)
// n is a positive multiple of 16.
TEXT ·widenF16(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX

widenf16loop:
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y1
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       widenf16loop
	VZEROUPPER
	RET

// func groupMinMax(x *float32, groups, gs int, lo, hi *float32)
// groups > 0; gs is a positive multiple of 32 (two 16-element steps at least).
TEXT ·groupMinMax(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ groups+8(FP), CX
	MOVQ gs+16(FP), DX
	MOVQ lo+24(FP), DI
	MOVQ hi+32(FP), R8
	SHRQ $4, DX
	MOVL $0x7fc00000, AX
	MOVQ AX, X15                // a quiet NaN

mmgroup:
	VMOVUPS (SI), Y0            // minimum, even steps
	VMOVUPS 32(SI), Y1          // minimum, odd steps
	VMOVAPS Y0, Y2              // maximum
	VMOVAPS Y1, Y3
	VCMPPS  $3, Y0, Y0, Y4      // NaN lanes
	VCMPPS  $3, Y1, Y1, Y5
	ADDQ    $64, SI
	MOVQ    DX, BX
	DECQ    BX

mmstep:
	VMOVUPS (SI), Y6
	VMOVUPS 32(SI), Y7
	VMINPS  Y6, Y0, Y0
	VMAXPS  Y6, Y2, Y2
	VMINPS  Y7, Y1, Y1
	VMAXPS  Y7, Y3, Y3
	VCMPPS  $3, Y6, Y6, Y8
	VCMPPS  $3, Y7, Y7, Y9
	VORPS   Y8, Y4, Y4
	VORPS   Y9, Y5, Y5
	ADDQ    $64, SI
	DECQ    BX
	JNZ     mmstep

	VMINPS       Y1, Y0, Y0
	VMAXPS       Y3, Y2, Y2
	VORPS        Y5, Y4, Y4
	VEXTRACTF128 $1, Y0, X1
	VMINPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMINPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMINPS       X1, X0, X0
	VEXTRACTF128 $1, Y2, X3
	VMAXPS       X3, X2, X2
	VPERMILPS    $0x4e, X2, X3
	VMAXPS       X3, X2, X2
	VPERMILPS    $0xb1, X2, X3
	VMAXPS       X3, X2, X2
	VMOVMSKPS    Y4, AX
	TESTL        AX, AX
	JZ           mmstore
	VMOVAPS      X15, X0

mmstore:
	VMOVSS X0, (DI)
	VMOVSS X2, (R8)
	ADDQ   $4, DI
	ADDQ   $4, R8
	DECQ   CX
	JNZ    mmgroup
	VZEROUPPER
	RET

// packOrder puts the dwords of VPACKUSWB(VPACKSSDW(a, b), VPACKSSDW(c, d))
// back in element order.
DATA packOrder<>+0(SB)/4, $0
DATA packOrder<>+4(SB)/4, $4
DATA packOrder<>+8(SB)/4, $1
DATA packOrder<>+12(SB)/4, $5
DATA packOrder<>+16(SB)/4, $2
DATA packOrder<>+20(SB)/4, $6
DATA packOrder<>+24(SB)/4, $3
DATA packOrder<>+28(SB)/4, $7
GLOBL packOrder<>(SB), RODATA|NOPTR, $32

// QUANT32 turns the 32 floats at (SI) into 32 bytes in Y0, in order:
// VPACKUSWB(VPACKSSDW(...)) saturates each rint((x - bias) / scale) to
// [0, 255] (a NaN or overflow converts to INT32_MIN, so to 0), then the
// unsigned minimum with Y12 clamps to nbins. Y10 = scale, Y11 = bias,
// Y14 = packOrder. Clobbers Y1-Y3.
#define QUANT32 \
	VMOVUPS   (SI), Y0 \
	VMOVUPS   32(SI), Y1 \
	VMOVUPS   64(SI), Y2 \
	VMOVUPS   96(SI), Y3 \
	VSUBPS    Y11, Y0, Y0 \
	VSUBPS    Y11, Y1, Y1 \
	VSUBPS    Y11, Y2, Y2 \
	VSUBPS    Y11, Y3, Y3 \
	VDIVPS    Y10, Y0, Y0 \
	VDIVPS    Y10, Y1, Y1 \
	VDIVPS    Y10, Y2, Y2 \
	VDIVPS    Y10, Y3, Y3 \
	VCVTPS2DQ Y0, Y0 \
	VCVTPS2DQ Y1, Y1 \
	VCVTPS2DQ Y2, Y2 \
	VCVTPS2DQ Y3, Y3 \
	VPACKSSDW Y1, Y0, Y0 \
	VPACKSSDW Y3, Y2, Y2 \
	VPACKUSWB Y2, Y0, Y0 \
	VPERMD    Y0, Y14, Y0 \
	VPMINUB   Y12, Y0, Y0

// func affineQ4(x *float32, groups, gs int, scale, bias *float32, dst *byte)
// groups > 0; gs is a positive multiple of 32.
TEXT ·affineQ4(SB), NOSPLIT, $0-48
	MOVQ         x+0(FP), SI
	MOVQ         groups+8(FP), CX
	MOVQ         gs+16(FP), DX
	MOVQ         scale+24(FP), R8
	MOVQ         bias+32(FP), R9
	MOVQ         dst+40(FP), DI
	SHRQ         $5, DX
	VMOVDQU      packOrder<>(SB), Y14
	MOVL         $0x0f0f0f0f, AX
	MOVQ         AX, X12
	VPBROADCASTD X12, Y12
	VPCMPEQW     Y13, Y13, Y13
	VPSRLW       $8, Y13, Y13  // 0x00ff words

q4group:
	VBROADCASTSS (R8), Y10
	VBROADCASTSS (R9), Y11
	MOVQ         DX, BX

q4step:
	QUANT32
	// Byte pairs (a, b) become a | b<<4 in the low byte of each word.
	VPSRLW       $4, Y0, Y1
	VPOR         Y1, Y0, Y0
	VPAND        Y13, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKUSWB    X1, X0, X0
	VMOVDQU      X0, (DI)
	ADDQ         $128, SI
	ADDQ         $16, DI
	DECQ         BX
	JNZ          q4step
	ADDQ         $4, R8
	ADDQ         $4, R9
	DECQ         CX
	JNZ          q4group
	VZEROUPPER
	RET

// func affineQ8(x *float32, groups, gs int, scale, bias *float32, dst *byte, nb uint32)
// groups > 0; gs is a positive multiple of 32; nb holds nbins in each byte.
TEXT ·affineQ8(SB), NOSPLIT, $0-52
	MOVQ         x+0(FP), SI
	MOVQ         groups+8(FP), CX
	MOVQ         gs+16(FP), DX
	MOVQ         scale+24(FP), R8
	MOVQ         bias+32(FP), R9
	MOVQ         dst+40(FP), DI
	MOVL         nb+48(FP), AX
	SHRQ         $5, DX
	VMOVDQU      packOrder<>(SB), Y14
	MOVQ         AX, X12
	VPBROADCASTD X12, Y12

q8group:
	VBROADCASTSS (R8), Y10
	VBROADCASTSS (R9), Y11
	MOVQ         DX, BX

q8step:
	QUANT32
	VMOVDQU Y0, (DI)
	ADDQ    $128, SI
	ADDQ    $32, DI
	DECQ    BX
	JNZ     q8step
	ADDQ    $4, R8
	ADDQ    $4, R9
	DECQ    CX
	JNZ     q8group
	VZEROUPPER
	RET

// func bf16ToF16(dst, src *uint16, n int) uint32
// n is a positive multiple of 16. Returns nonzero when src held a NaN.
TEXT ·bf16ToF16(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	SHRQ         $4, CX
	VPXOR        Y5, Y5, Y5       // NaN lanes seen
	MOVL         $0x7fff7fff, AX
	MOVQ         AX, X6
	VPBROADCASTD X6, Y6
	MOVL         $0x7f807f80, AX
	MOVQ         AX, X7
	VPBROADCASTD X7, Y7

cvtloop:
	VMOVDQU      (SI), Y0
	VPMOVZXWD    (SI), Y1
	VPMOVZXWD    16(SI), Y2
	VPSLLD       $16, Y1, Y1
	VPSLLD       $16, Y2, Y2
	VCVTPS2PH    $0, Y1, X1
	VCVTPS2PH    $0, Y2, X2
	VINSERTI128  $1, X2, Y1, Y1
	VMOVDQU      Y1, (DI)
	VPAND        Y6, Y0, Y0
	VPCMPGTW     Y7, Y0, Y0
	VPOR         Y0, Y5, Y5
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          cvtloop
	VPMOVMSKB    Y5, AX
	MOVL         AX, ret+24(FP)
	VZEROUPPER
	RET

// func affineScaleBias(lo, hi, scale, bias *float32, n int, nbins float32)
// n is a positive multiple of 8. Per lane, as MLX's CPU kernel:
//   scale = max((hi - lo) / nbins, 1e-7)
//   if |lo| > |hi| { edge = lo } else { edge = hi; scale = -scale }
//   q0 = rint(edge / scale)
//   if q0 != 0 { scale = edge / q0; bias = edge } else { bias = 0 }
TEXT ·affineScaleBias(SB), NOSPLIT, $0-44
	MOVQ         lo+0(FP), SI
	MOVQ         hi+8(FP), DX
	MOVQ         scale+16(FP), DI
	MOVQ         bias+24(FP), R8
	MOVQ         n+32(FP), CX
	SHRQ         $3, CX
	VBROADCASTSS nbins+40(FP), Y15
	MOVL         $0x33d6bf95, AX     // float32(1e-7)
	MOVQ         AX, X14
	VBROADCASTSS X14, Y14
	MOVL         $0x7fffffff, AX
	MOVQ         AX, X13
	VBROADCASTSS X13, Y13            // abs mask
	MOVL         $0x80000000, AX
	MOVQ         AX, X12
	VBROADCASTSS X12, Y12            // sign bit
	VXORPS       Y11, Y11, Y11       // zero

sbloop:
	VMOVUPS   (SI), Y0                // lo
	VMOVUPS   (DX), Y1                // hi
	VANDPS    Y13, Y0, Y2
	VANDPS    Y13, Y1, Y3
	VCMPPS    $0x1e, Y3, Y2, Y4       // |lo| > |hi|
	VSUBPS    Y0, Y1, Y5              // hi - lo
	VDIVPS    Y15, Y5, Y5
	VMAXPS    Y14, Y5, Y5             // scale < eps ? eps : scale
	VBLENDVPS Y4, Y0, Y1, Y6          // edge
	VXORPS    Y12, Y5, Y7
	VBLENDVPS Y4, Y5, Y7, Y5          // mask ? scale : -scale
	VDIVPS    Y5, Y6, Y7
	VROUNDPS  $8, Y7, Y7              // q0, ties to even
	VCMPPS    $4, Y11, Y7, Y8         // q0 != 0 (or NaN)
	VDIVPS    Y7, Y6, Y9
	VBLENDVPS Y8, Y9, Y5, Y5
	VANDPS    Y8, Y6, Y10
	VMOVUPS   Y5, (DI)
	VMOVUPS   Y10, (R8)
	ADDQ      $32, SI
	ADDQ      $32, DX
	ADDQ      $32, DI
	ADDQ      $32, R8
	DECQ      CX
	JNZ       sbloop
	VZEROUPPER
	RET

// func narrowBF16(dst *uint16, src *float32, n int)
// n is a positive multiple of 8. Round to nearest even; a NaN gives 0x7fc0.
TEXT ·narrowBF16(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	SHRQ         $3, CX
	MOVL         $0x7fff, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $1, AX
	MOVQ         AX, X14
	VPBROADCASTD X14, Y14
	MOVL         $0x7fc0, AX
	MOVQ         AX, X13
	VPBROADCASTD X13, Y13

nbloop:
	VMOVDQU      (SI), Y0
	VPSRLD       $16, Y0, Y1
	VPAND        Y14, Y1, Y1
	VPADDD       Y15, Y1, Y1
	VPADDD       Y0, Y1, Y1
	VPSRLD       $16, Y1, Y1
	VCMPPS       $3, Y0, Y0, Y2       // NaN lanes
	VBLENDVPS    Y2, Y13, Y1, Y1
	VEXTRACTI128 $1, Y1, X2
	VPACKUSDW    X2, X1, X1
	VMOVDQU      X1, (DI)
	ADDQ         $32, SI
	ADDQ         $16, DI
	DECQ         CX
	JNZ          nbloop
	VZEROUPPER
	RET

// func q8_0(dst *byte, x *float32, blocks int) int
// blocks > 0. GGUF Q8_0 as gguf-py computes it, per block of 32:
// d = max|x| / 127, q = round-half-away(x * (1/d)), stored as float16 d and
// 32 int8. Returns how many blocks it wrote: it stops at a block with a NaN
// or Inf, or whose d is subnormal (the caller's scalar code handles those).
TEXT ·q8_0(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         blocks+16(FP), CX
	XORQ         R8, R8              // blocks done
	VMOVDQU      packOrder<>(SB), Y15
	MOVL         $0x7fffffff, AX
	MOVQ         AX, X14
	VPBROADCASTD X14, Y14            // abs mask
	MOVL         $0x80000000, AX
	MOVQ         AX, X13
	VPBROADCASTD X13, Y13            // sign bit
	MOVL         $0x3f000000, AX     // 0.5
	MOVQ         AX, X12
	VPBROADCASTD X12, Y12
	MOVL         $0x3f800000, AX     // 1.0
	MOVQ         AX, X11
	VPBROADCASTD X11, Y11

q80block:
	VMOVUPS      (SI), Y0
	VMOVUPS      32(SI), Y1
	VMOVUPS      64(SI), Y2
	VMOVUPS      96(SI), Y3
	VPAND        Y14, Y0, Y4
	VPAND        Y14, Y1, Y5
	VPAND        Y14, Y2, Y6
	VPAND        Y14, Y3, Y7
	VPMAXSD      Y5, Y4, Y4
	VPMAXSD      Y7, Y6, Y6
	VPMAXSD      Y6, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPMAXSD      X5, X4, X4
	VPSHUFD      $0x4e, X4, X5
	VPMAXSD      X5, X4, X4
	VPSHUFD      $0xb1, X4, X5
	VPMAXSD      X5, X4, X4          // X4[0]: max |x| bits
	VMOVD        X4, AX
	CMPL         AX, $0x7f800000
	JAE          q80stop             // NaN or Inf
	TESTL        AX, AX
	JZ           q80zero
	MOVL         $0x42fe0000, BX     // 127.0
	VMOVD        BX, X5
	VDIVSS       X5, X4, X5          // d = amax / 127
	VMOVD        X5, BX
	TESTL        $0x7f800000, BX
	JZ           q80stop             // subnormal d
	VDIVSS       X5, X11, X6         // id = 1 / d
	VCVTPS2PH    $0, X5, X7
	VMOVD        X7, BX
	MOVW         BX, (DI)
	VBROADCASTSS X6, Y6

#define Q80ROUND(R) \
	VMULPS      Y6, R, R \
	VROUNDPS    $11, R, Y8 \
	VSUBPS      Y8, R, Y9 \
	VANDPS      Y14, Y9, Y9 \
	VCMPPS      $13, Y12, Y9, Y9 \
	VANDPS      Y13, R, Y10 \
	VORPS       Y11, Y10, Y10 \
	VANDPS      Y9, Y10, Y10 \
	VADDPS      Y10, Y8, R \
	VCVTTPS2DQ  R, R

	Q80ROUND(Y0)
	Q80ROUND(Y1)
	Q80ROUND(Y2)
	Q80ROUND(Y3)
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD    Y0, Y15, Y0
	VMOVDQU   Y0, 2(DI)
	JMP       q80next

q80zero:
	MOVW    $0, (DI)
	VPXOR   Y0, Y0, Y0
	VMOVDQU Y0, 2(DI)

q80next:
	ADDQ $128, SI
	ADDQ $34, DI
	INCQ R8
	DECQ CX
	JNZ  q80block

q80stop:
	MOVQ R8, ret+24(FP)
	VZEROUPPER
	RET
