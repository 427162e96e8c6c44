//go:build amd64 && !purego

#include "textflag.h"

// The K-quant scale searches of gguf/kquant, eight groups at a time: lane g
// of every vector belongs to group g, and element i of all eight groups is
// the vector at byte offset 32*i (the callers transpose). Each lane performs
// the scalar code's float32 operations in the scalar code's order, so each
// lane's result is the scalar result bit for bit. No fused multiply-adds.

// ROUNDCLAMP is nearest_int(R) clamped to [0, Y15] on int32 lanes, with
// Y14 = 12582912.0f, Y13 = 0x007fffff, Y12 = 0x00400000, Y11 = 0.
#define ROUNDCLAMP(R) \
	VADDPS  Y14, R, R \
	VPAND   Y13, R, R \
	VPSUBD  Y12, R, R \
	VPMAXSD Y11, R, R \
	VPMINSD Y15, R, R

// The candidate loop of qkx8: QKXSCALED(OFF) sets Y5 = x and Y6 =
// iscale*(x-min) for the vector at byte offset OFF; QKXFASTROUND rounds Y6
// (VROUNDPS, nearest even) and clamps it to [0, nmax] as floats (Y11 = 0,
// Y9 = nmax; -0 becomes +0); QKXSUMS(OFF) stores the quants Y6 to aux and
// adds w*l, w*l*l and w*l*x to Y2, Y3, Y4.
#define QKXSCALED(OFF) \
	VMOVUPS OFF(SI)(BX*1), Y5 \
	VSUBPS  Y1, Y5, Y6 \
	VMULPS  Y6, Y0, Y6

#define QKXFASTROUND \
	VROUNDPS $0, Y6, Y6 \
	VMAXPS   Y11, Y6, Y6 \
	VMINPS   Y9, Y6, Y6

#define QKXSUMS(OFF) \
	VMOVUPS Y6, OFF(R8)(BX*1) \
	VMULPS  OFF(DX)(BX*1), Y6, Y7 \
	VADDPS  Y7, Y2, Y2 \
	VMULPS  Y6, Y7, Y8 \
	VADDPS  Y8, Y3, Y3 \
	VMULPS  Y5, Y7, Y8 \
	VADDPS  Y8, Y4, Y4

// func qkx8(x, w *float32, l, aux *int32, n, iters, nmax int, rmin, rdelta float32, mad int, scale, vmin *float32, wrule int)
//
// make_qkx2_quants / make_qkx3_quants (kquant.makeQKXQuants) on eight groups
// of n elements, n even: x and w are n vectors each; l receives the best
// quants (n vectors of int32; float while searching), aux is n vectors of
// scratch; scale and vmin receive
// each group's scale and its final min (the caller negates it). iters is the
// number of candidate scales (nstep+1, or 0 when nstep < 1), candidate k
// being (rmin + rdelta*k + nmax) / (max - min). mad != 0 sums weighted
// absolute errors instead of squared ones. wrule 1 first sets the weights
// w to sqrtf(sum of x*x / n) + |x| (Q4_K and Q5_K without an importance
// matrix), wrule 2 to |x| (Q2_K); 0 takes them as given.
//
// Stack: 0 min after the clamp to <= 0, 32 max, 64 sum of w, 96 sum of w*x,
// 128 best error, 160 the candidate's "D > 0" mask, 192 nmax as float,
// 224 the min before the clamp, 256 2^22.
//
// A candidate whose |iscale*(x-min)| is below 2^22 for every element of
// every group (bounded through the range of x: correctly rounded operations
// are monotone) rounds with VROUNDPS and clamps as floats, which there is
// nearest_int's result; any other runs nearest_int's bit trick.
TEXT ·qkx8(SB), NOSPLIT, $288-96
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DX
	MOVQ l+16(FP), DI
	MOVQ aux+24(FP), R8
	MOVQ n+32(FP), R13
	SHLQ $5, R13                   // end offset
	MOVQ iters+40(FP), R9
	MOVQ mad+64(FP), R10
	MOVQ scale+72(FP), R11
	MOVQ vmin+80(FP), R12

	MOVQ         nmax+48(FP), AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15          // nmax (int32)
	MOVL         $0x4b400000, AX   // 12582912.0f
	MOVQ         AX, X14
	VPBROADCASTD X14, Y14
	MOVL         $0x007fffff, AX
	MOVQ         AX, X13
	VPBROADCASTD X13, Y13
	MOVL         $0x00400000, AX
	MOVQ         AX, X12
	VPBROADCASTD X12, Y12
	VXORPS       Y11, Y11, Y11     // 0
	MOVL         $0x7fffffff, AX
	MOVQ         AX, X10
	VPBROADCASTD X10, Y10          // |.| mask
	VCVTDQ2PS    Y15, Y9
	VMOVUPS      Y9, 192(SP)       // nmax as float

	MOVQ wrule+88(FP), AX
	CMPQ AX, $1
	JEQ  qkxwrms
	CMPQ AX, $2
	JEQ  qkxwabs
	JMP  qkxweighted

qkxwrms:
	VXORPS Y0, Y0, Y0              // sum of x*x, in order
	XORQ   BX, BX

qkxwsum:
	VMOVUPS (SI)(BX*1), Y5
	VMULPS  Y5, Y5, Y5
	VADDPS  Y5, Y0, Y0
	ADDQ    $32, BX
	CMPQ    BX, R13
	JLT     qkxwsum
	MOVQ    n+32(FP), AX
	VCVTSI2SSQ AX, X5, X5
	VBROADCASTSS X5, Y5
	VDIVPS  Y5, Y0, Y0
	VSQRTPS Y0, Y0                 // av_x
	XORQ    BX, BX

qkxwset:
	VANDPS  (SI)(BX*1), Y10, Y5
	VADDPS  Y5, Y0, Y5             // av_x + |x|
	VMOVUPS Y5, (DX)(BX*1)
	ADDQ    $32, BX
	CMPQ    BX, R13
	JLT     qkxwset
	JMP     qkxweighted

qkxwabs:
	XORQ BX, BX

qkxwabsloop:
	VANDPS  (SI)(BX*1), Y10, Y5
	VMOVUPS Y5, (DX)(BX*1)
	ADDQ    $32, BX
	CMPQ    BX, R13
	JLT     qkxwabsloop

qkxweighted:
	// min, max (strict comparisons keep the first of equal values), the sum
	// of w and of w*x, starting from element 0 as the scalar code does.
	VMOVUPS (SI), Y1
	VMOVUPS Y1, Y2
	VMOVUPS (DX), Y3
	VMULPS  (SI), Y3, Y4
	MOVQ    $32, BX

qkxrange:
	CMPQ      BX, R13
	JGE       qkxranged
	VMOVUPS   (SI)(BX*1), Y5
	VMOVUPS   (DX)(BX*1), Y6
	VCMPPS    $1, Y1, Y5, Y7       // x < min
	VBLENDVPS Y7, Y5, Y1, Y1
	VCMPPS    $1, Y5, Y2, Y7       // max < x
	VBLENDVPS Y7, Y5, Y2, Y2
	VADDPS    Y6, Y3, Y3
	VMULPS    Y5, Y6, Y7
	VADDPS    Y7, Y4, Y4
	ADDQ      $32, BX
	JMP       qkxrange

qkxranged:
	VMOVUPS      Y1, 224(SP)
	MOVL         $0x4a800000, AX   // 2^22
	MOVQ         AX, X7
	VBROADCASTSS X7, Y7
	VMOVUPS      Y7, 256(SP)
	VCMPPS    $1, Y1, Y11, Y7      // 0 < min: min = 0
	VBLENDVPS Y7, Y11, Y1, Y1
	VMOVUPS   Y1, 0(SP)
	VMOVUPS   Y2, 32(SP)
	VMOVUPS   Y3, 64(SP)
	VMOVUPS   Y4, 96(SP)

	// The first fit: iscale = nmax/(max-min), scale = 1/iscale.
	VSUBPS       Y1, Y2, Y5
	VDIVPS       Y5, Y9, Y0        // iscale
	MOVL         $0x3f800000, AX   // 1.0f
	MOVQ         AX, X6
	VBROADCASTSS X6, Y6
	VDIVPS       Y0, Y6, Y6        // scale
	VMOVUPS      Y6, (R11)
	VMOVUPS      Y1, (R12)
	XORQ         BX, BX

qkxfirst:
	VMOVUPS   (SI)(BX*1), Y5
	VSUBPS    Y1, Y5, Y5
	VMULPS    Y5, Y0, Y5
	ROUNDCLAMP(Y5)
	VCVTDQ2PS Y5, Y5
	VMOVUPS   Y5, (DI)(BX*1)
	ADDQ      $32, BX
	CMPQ      BX, R13
	JLT       qkxfirst

	// Its error: Y0 = scale, Y1 = min, quants at DI.
	VMOVUPS Y6, Y0
	MOVQ    DI, CX
	CALL    qkxerr<>(SB)
	VMOVUPS Y2, 128(SP)

	XORQ CX, CX                    // candidate index

qkxstep:
	CMPQ         CX, R9
	JGE          qkxdone
	VCVTSI2SSQ   CX, X5, X5
	VMULSS       rdelta+60(FP), X5, X5
	VADDSS       rmin+56(FP), X5, X5
	VADDSS       192(SP), X5, X5
	VBROADCASTSS X5, Y5
	VMOVUPS      (R12), Y1         // min
	VMOVUPS      32(SP), Y6
	VSUBPS       Y1, Y6, Y6
	VDIVPS       Y6, Y5, Y0        // iscale = (rmin + rdelta*k + nmax) / (max - min)
	VXORPS       Y2, Y2, Y2        // sum of w*l
	VXORPS       Y3, Y3, Y3        // sum of w*l*l
	VXORPS       Y4, Y4, Y4        // sum of w*l*x
	XORQ         BX, BX

	// |iscale| * |max - min| and |iscale| * |xmin - min| below 2^22?
	VANDPS       Y10, Y0, Y7
	VANDPS       Y10, Y6, Y6
	VMULPS       Y6, Y7, Y6
	VMOVUPS      224(SP), Y5
	VSUBPS       Y1, Y5, Y5
	VANDPS       Y10, Y5, Y5
	VMULPS       Y5, Y7, Y5
	VMOVUPS      256(SP), Y7
	VCMPPS       $1, Y7, Y6, Y6
	VCMPPS       $1, Y7, Y5, Y5
	VANDPS       Y5, Y6, Y6
	VMOVMSKPS    Y6, AX
	CMPL         AX, $0xff
	JNE          qkxcand
	VMOVUPS      192(SP), Y9       // nmax as float

qkxcandfast: // as qkxcand, rounding with VROUNDPS
	QKXSCALED(0)
	QKXFASTROUND
	QKXSUMS(0)
	QKXSCALED(32)
	QKXFASTROUND
	QKXSUMS(32)
	ADDQ $64, BX
	CMPQ BX, R13
	JLT  qkxcandfast
	JMP  qkxsums

qkxcand: // two elements a turn (n is even)
	QKXSCALED(0)
	ROUNDCLAMP(Y6)
	VCVTDQ2PS Y6, Y6
	QKXSUMS(0)
	QKXSCALED(32)
	ROUNDCLAMP(Y6)
	VCVTDQ2PS Y6, Y6
	QKXSUMS(32)
	ADDQ      $64, BX
	CMPQ      BX, R13
	JLT       qkxcand

qkxsums:
	VMOVUPS   64(SP), Y5           // sum of w
	VMOVUPS   96(SP), Y6           // sum of w*x
	VMULPS    Y3, Y5, Y7
	VMULPS    Y2, Y2, Y8
	VSUBPS    Y8, Y7, Y7           // D = sumW*sumL2 - sumL*sumL
	VCMPPS    $1, Y7, Y11, Y9      // 0 < D
	VMOVUPS   Y9, 160(SP)
	VMULPS    Y4, Y5, Y8
	VMULPS    Y2, Y6, Y9
	VSUBPS    Y9, Y8, Y8
	VDIVPS    Y7, Y8, Y0           // this scale = (sumW*sumXL - sumX*sumL) / D
	VMULPS    Y6, Y3, Y8
	VMULPS    Y4, Y2, Y9
	VSUBPS    Y9, Y8, Y8
	VDIVPS    Y7, Y8, Y1           // this min = (sumL2*sumX - sumL*sumXL) / D
	VCMPPS    $1, Y1, Y11, Y9      // 0 < this min: min = 0, scale = sumXL/sumL2
	VBLENDVPS Y9, Y11, Y1, Y1
	VDIVPS    Y3, Y4, Y8
	VBLENDVPS Y9, Y8, Y0, Y0

	MOVQ    CX, AX
	MOVQ    R8, CX
	CALL    qkxerr<>(SB)
	MOVQ    AX, CX
	VMOVUPS 128(SP), Y3
	VCMPPS  $1, Y3, Y2, Y4         // error < best
	VANDPS  160(SP), Y4, Y4
	VMOVMSKPS Y4, AX
	TESTL   AX, AX
	JZ      qkxnext
	VBLENDVPS Y4, Y2, Y3, Y3
	VMOVUPS Y3, 128(SP)
	VMOVUPS (R11), Y5
	VBLENDVPS Y4, Y0, Y5, Y5
	VMOVUPS Y5, (R11)
	VMOVUPS (R12), Y5
	VBLENDVPS Y4, Y1, Y5, Y5
	VMOVUPS Y5, (R12)
	XORQ    BX, BX

qkxtake:
	VMOVDQU   (DI)(BX*1), Y5
	VBLENDVPS Y4, (R8)(BX*1), Y5, Y5
	VMOVDQU   Y5, (DI)(BX*1)
	ADDQ      $32, BX
	CMPQ      BX, R13
	JLT       qkxtake

qkxnext:
	INCQ CX
	JMP  qkxstep

qkxdone:
	// Groups with max == min: no quants, scale 0, the clamped min.
	VMOVUPS   0(SP), Y1
	VCMPPS    $0, 32(SP), Y1, Y3
	VMOVMSKPS Y3, AX
	TESTL     AX, AX
	JZ        qkxret
	VMOVUPS   (R11), Y5
	VBLENDVPS Y3, Y11, Y5, Y5
	VMOVUPS   Y5, (R11)
	VMOVUPS   (R12), Y5
	VBLENDVPS Y3, Y1, Y5, Y5
	VMOVUPS   Y5, (R12)
	XORQ      BX, BX

qkxflat:
	VMOVDQU   (DI)(BX*1), Y5
	VBLENDVPS Y3, Y11, Y5, Y5
	VMOVDQU   Y5, (DI)(BX*1)
	ADDQ      $32, BX
	CMPQ      BX, R13
	JLT       qkxflat

qkxret:
	XORQ BX, BX

qkxint:
	VCVTTPS2DQ (DI)(BX*1), Y5      // the quants as int32
	VMOVDQU    Y5, (DI)(BX*1)
	ADDQ       $32, BX
	CMPQ       BX, R13
	JLT        qkxint
	VZEROUPPER
	RET

// QKXDIFF(OFF): Y5 = scale*l + min - x for the vector at byte offset OFF;
// QKXACC(OFF): Y2 += w*Y5 (Y5 the squared or absolute difference).
#define QKXDIFF(OFF) \
	VMULPS OFF(CX)(BX*1), Y0, Y5 \
	VADDPS Y1, Y5, Y5 \
	VSUBPS OFF(SI)(BX*1), Y5, Y5

#define QKXACC(OFF) \
	VMULPS OFF(DX)(BX*1), Y5, Y5 \
	VADDPS Y5, Y2, Y2

// qkxerr: Y2 = the weighted error of quants at CX (float vectors, an even
// number of them) for scale Y0 and min Y1 over x at SI, weights at DX, R13
// bytes; squared differences, or absolute ones when R10 != 0. Clobbers BX,
// Y5.
TEXT qkxerr<>(SB), NOSPLIT|NOFRAME, $0-0
	VXORPS Y2, Y2, Y2
	XORQ   BX, BX
	TESTQ  R10, R10
	JNZ    qkxerrmad

qkxerrsq:
	QKXDIFF(0)
	VMULPS Y5, Y5, Y5
	QKXACC(0)
	QKXDIFF(32)
	VMULPS Y5, Y5, Y5
	QKXACC(32)
	ADDQ   $64, BX
	CMPQ   BX, R13
	JLT    qkxerrsq
	RET

qkxerrmad:
	QKXDIFF(0)
	VANDPS Y10, Y5, Y5
	QKXACC(0)
	QKXDIFF(32)
	VANDPS Y10, Y5, Y5
	QKXACC(32)
	ADDQ   $64, BX
	CMPQ   BX, R13
	JLT    qkxerrmad
	RET

// BETTERFIT(SKIP) is make_qx_quants' "if (suml2 > 0 && sumlx*sumlx >
// best*suml2) { scale = sumlx/suml2; best = scale*sumlx; }" on lanes, with
// Y2 = sumlx, Y3 = suml2, Y11 = 0, best at 64(SP) and the scales at (R11):
// it jumps to SKIP when no lane improves, else leaves the improving lanes'
// mask in Y5 and the new best in Y4 (not yet stored). Clobbers AX, Y6, Y7.
#define BETTERFIT(SKIP) \
	VCMPPS    $1, Y3, Y11, Y5 \
	VMULPS    Y2, Y2, Y6 \
	VMOVUPS   64(SP), Y4 \
	VMULPS    Y3, Y4, Y7 \
	VCMPPS    $1, Y6, Y7, Y6 \
	VANDPS    Y6, Y5, Y5 \
	VMOVMSKPS Y5, AX \
	TESTL     AX, AX \
	JZ        SKIP \
	VDIVPS    Y3, Y2, Y6 \
	VMOVUPS   (R11), Y7 \
	VBLENDVPS Y5, Y6, Y7, Y7 \
	VMOVUPS   Y7, (R11) \
	VMULPS    Y2, Y6, Y6 \
	VBLENDVPS Y5, Y6, Y4, Y4

// func qx8(x, w *float32, l, aux *int32, n, nmax int, scale *float32, sqw int)
//
// make_qx_quants with rmse_type 1 (kquant.makeQXQuants) on eight groups of
// n >= 1 elements laid out as for qkx8, weights w (sqw != 0: first set to
// x*x): l receives nmax + the best quants (0 for a group whose largest |x|
// is below GROUP_MAX_EPS), scale each group's scale (0 for those). The
// candidates are -nmax/vmax, then -(nmax + 0.1*is)/vmax for is = -9..9
// without 0, where vmax is the group's first element of largest magnitude.
// The quants are floats while searching; a candidate with |iscale|*amax
// below 2^22 in every group rounds with VROUNDPS (see qkx8).
//
// Stack: 0 vmax, 32 its magnitude, 64 best, 96 nmax as float, 128 2^22.
TEXT ·qx8(SB), NOSPLIT, $160-64
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DX
	MOVQ l+16(FP), DI
	MOVQ aux+24(FP), R8
	MOVQ n+32(FP), R13
	SHLQ $5, R13
	MOVQ scale+48(FP), R11

	MOVQ         nmax+40(FP), AX
	MOVQ         AX, X10
	VPBROADCASTD X10, Y10          // nmax
	VCVTDQ2PS    Y10, Y9
	VMOVUPS      Y9, 96(SP)
	VPCMPEQD     Y15, Y15, Y15     // -1
	VPADDD       Y15, Y10, Y15     // nmax - 1
	VPXOR        Y9, Y9, Y9
	VPSUBD       Y10, Y9, Y10      // -nmax
	MOVL         $0x4b400000, AX
	MOVQ         AX, X14
	VPBROADCASTD X14, Y14
	MOVL         $0x007fffff, AX
	MOVQ         AX, X13
	VPBROADCASTD X13, Y13
	MOVL         $0x00400000, AX
	MOVQ         AX, X12
	VPBROADCASTD X12, Y12
	VXORPS       Y11, Y11, Y11
	MOVL         $0x7fffffff, AX
	MOVQ         AX, X8
	VPBROADCASTD X8, Y8            // |.| mask
	MOVL         $0x4a800000, AX   // 2^22
	MOVQ         AX, X5
	VBROADCASTSS X5, Y5
	VMOVUPS      Y5, 128(SP)

	MOVQ  sqw+56(FP), AX
	TESTQ AX, AX
	JZ    qxweighted
	XORQ  BX, BX

qxsq:
	VMOVUPS (SI)(BX*1), Y5
	VMULPS  Y5, Y5, Y5
	VMOVUPS Y5, (DX)(BX*1)
	ADDQ    $32, BX
	CMPQ    BX, R13
	JLT     qxsq

qxweighted:
	// vmax: the first element of largest magnitude ("if (ax > amax)").
	VXORPS Y1, Y1, Y1              // vmax
	VXORPS Y2, Y2, Y2              // amax
	XORQ   BX, BX

qxmax:
	VMOVUPS   (SI)(BX*1), Y5
	VANDPS    Y8, Y5, Y6
	VCMPPS    $1, Y6, Y2, Y7       // amax < ax
	VBLENDVPS Y7, Y6, Y2, Y2
	VBLENDVPS Y7, Y5, Y1, Y1
	ADDQ      $32, BX
	CMPQ      BX, R13
	JLT       qxmax
	VMOVUPS   Y1, 0(SP)
	VMOVUPS   Y2, 32(SP)

	// The first candidate, -nmax/vmax, is taken as it is.
	VXORPS    Y0, Y0, Y0
	VSUBPS    96(SP), Y0, Y0
	VDIVPS    Y1, Y0, Y0
	VCVTDQ2PS Y10, Y9              // -nmax as float (kept in Y9 and Y1)
	VCVTDQ2PS Y15, Y1              // nmax - 1 as float
	MOVQ      DI, CX
	CALL      qxsums<>(SB)
	VDIVPS    Y3, Y2, Y4           // sumlx/suml2
	VCMPPS    $4, Y11, Y3, Y5      // suml2 != 0
	VANDPS    Y5, Y4, Y4
	VMOVUPS   Y4, (R11)
	VMULPS    Y2, Y4, Y4           // best = scale*sumlx
	VMOVUPS   Y4, 64(SP)

	MOVQ $-9, R9

qxstep:
	CMPQ         R9, $10
	JGE          qxdone
	TESTQ        R9, R9
	JZ           qxnext
	VCVTSI2SSQ   R9, X5, X5
	MOVL         $0x3dcccccd, AX   // 0.1f
	MOVQ         AX, X6
	VMULSS       X6, X5, X5        // 0.1*is
	VMOVSS       96(SP), X6
	VADDSS       X5, X6, X5        // nmax + 0.1*is
	VBROADCASTSS X5, Y5
	VXORPS       Y0, Y0, Y0
	VSUBPS       Y5, Y0, Y0        // -(nmax + 0.1*is)
	VDIVPS       0(SP), Y0, Y0     // / vmax
	MOVQ         R8, CX
	CALL         qxsums<>(SB)
	BETTERFIT(qxnext)
	VMOVUPS      Y4, 64(SP)
	XORQ         BX, BX

qxtake:
	VMOVUPS   (DI)(BX*1), Y6
	VBLENDVPS Y5, (R8)(BX*1), Y6, Y6
	VMOVUPS   Y6, (DI)(BX*1)
	ADDQ      $32, BX
	CMPQ      BX, R13
	JLT       qxtake

qxnext:
	INCQ R9
	JMP  qxstep

qxdone:
	// l = int(l) + nmax; groups below GROUP_MAX_EPS: l = 0, scale = 0.
	MOVL         $0x26901d7d, AX   // 1e-15f
	MOVQ         AX, X6
	VBROADCASTSS X6, Y6
	VCMPPS       $14, 32(SP), Y6, Y5 // eps > amax
	VMOVUPS      (R11), Y7
	VBLENDVPS    Y5, Y11, Y7, Y7
	VMOVUPS      Y7, (R11)
	VPXOR        Y9, Y9, Y9
	VPSUBD       Y10, Y9, Y9       // nmax
	XORQ         BX, BX

qxoffset:
	VCVTTPS2DQ (DI)(BX*1), Y6
	VPADDD     Y9, Y6, Y6
	VBLENDVPS  Y5, Y11, Y6, Y6
	VMOVDQU    Y6, (DI)(BX*1)
	ADDQ       $32, BX
	CMPQ       BX, R13
	JLT        qxoffset
	VZEROUPPER
	RET

// qxsums: for iscale Y0, the quants clamp(nearest_int(iscale*x), -nmax,
// nmax-1) stored as floats at CX, Y2 = sum of w*x*l and Y3 = sum of w*l*l
// (in that order of operations), over x at SI, w at DX, R13 bytes. With
// |iscale|*amax (amax at 40(SP) here, the caller's 32(SP)) below 2^22 in
// every group it rounds with VROUNDPS and clamps to Y9, Y1 (floats);
// otherwise nearest_int's bit trick and Y10, Y15 (int32). Clobbers AX, BX,
// Y5-Y7.
TEXT qxsums<>(SB), NOSPLIT|NOFRAME, $0-0
	VXORPS    Y2, Y2, Y2
	VXORPS    Y3, Y3, Y3
	XORQ      BX, BX
	VANDPS    Y8, Y0, Y5
	VMULPS    40(SP), Y5, Y5
	VMOVUPS   136(SP), Y6          // 2^22
	VCMPPS    $1, Y6, Y5, Y5
	VMOVMSKPS Y5, AX
	CMPL      AX, $0xff
	JEQ       qxsumsfast

qxsumsloop:
	VMOVUPS   (SI)(BX*1), Y5
	VMULPS    Y5, Y0, Y6
	VADDPS    Y14, Y6, Y6
	VPAND     Y13, Y6, Y6
	VPSUBD    Y12, Y6, Y6
	VPMAXSD   Y10, Y6, Y6
	VPMINSD   Y15, Y6, Y6
	VCVTDQ2PS Y6, Y6
	VMOVUPS   Y6, (CX)(BX*1)
	VMOVUPS   (DX)(BX*1), Y7
	VMULPS    Y5, Y7, Y5           // w*x
	VMULPS    Y6, Y5, Y5           // *l
	VADDPS    Y5, Y2, Y2
	VMULPS    Y6, Y7, Y7           // w*l
	VMULPS    Y6, Y7, Y7           // *l
	VADDPS    Y7, Y3, Y3
	ADDQ      $32, BX
	CMPQ      BX, R13
	JLT       qxsumsloop
	RET

qxsumsfast:
	VMOVUPS  (SI)(BX*1), Y5
	VMULPS   Y5, Y0, Y6
	VROUNDPS $0, Y6, Y6
	VMAXPS   Y9, Y6, Y6            // l > -nmax ? l : -nmax
	VMINPS   Y1, Y6, Y6            // l < nmax-1 ? l : nmax-1
	VMOVUPS  Y6, (CX)(BX*1)
	VMOVUPS  (DX)(BX*1), Y7
	VMULPS   Y5, Y7, Y5
	VMULPS   Y6, Y5, Y5
	VADDPS   Y5, Y2, Y2
	VMULPS   Y6, Y7, Y7
	VMULPS   Y6, Y7, Y7
	VADDPS   Y7, Y3, Y3
	ADDQ     $32, BX
	CMPQ     BX, R13
	JLT      qxsumsfast
	RET

// func transpose8(dst, src *uint32, blocks, srcRow, srcBlock, dstRow, dstBlock int)
//
// Transposes blocks 8x8 blocks of 32-bit values: block b's row r is the 8
// values at src + b*srcBlock + r*srcRow, and its column r goes to
// dst + b*dstBlock + r*dstRow.
TEXT ·transpose8(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	MOVQ srcRow+24(FP), AX
	MOVQ dstRow+40(FP), DX
	LEAQ (AX)(AX*2), R8            // 3*srcRow
	LEAQ (DX)(DX*2), R9            // 3*dstRow

tr8block:
	MOVQ       SI, R10
	VMOVUPS    (R10), Y0
	VMOVUPS    (R10)(AX*1), Y1
	VMOVUPS    (R10)(AX*2), Y2
	VMOVUPS    (R10)(R8*1), Y3
	LEAQ       (R10)(AX*4), R10
	VMOVUPS    (R10), Y4
	VMOVUPS    (R10)(AX*1), Y5
	VMOVUPS    (R10)(AX*2), Y6
	VMOVUPS    (R10)(R8*1), Y7
	VUNPCKLPS  Y1, Y0, Y8          // r0[0] r1[0] r0[1] r1[1] (per 128-bit half)
	VUNPCKHPS  Y1, Y0, Y9
	VUNPCKLPS  Y3, Y2, Y10
	VUNPCKHPS  Y3, Y2, Y11
	VUNPCKLPS  Y5, Y4, Y12
	VUNPCKHPS  Y5, Y4, Y13
	VUNPCKLPS  Y7, Y6, Y14
	VUNPCKHPS  Y7, Y6, Y15
	VSHUFPS    $0x44, Y10, Y8, Y0  // column 0 (and 4) of rows 0-3
	VSHUFPS    $0xee, Y10, Y8, Y1  // column 1
	VSHUFPS    $0x44, Y11, Y9, Y2  // column 2
	VSHUFPS    $0xee, Y11, Y9, Y3  // column 3
	VSHUFPS    $0x44, Y14, Y12, Y4 // rows 4-7
	VSHUFPS    $0xee, Y14, Y12, Y5
	VSHUFPS    $0x44, Y15, Y13, Y6
	VSHUFPS    $0xee, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	MOVQ       DI, R10
	VMOVUPS    Y8, (R10)
	VMOVUPS    Y9, (R10)(DX*1)
	VMOVUPS    Y10, (R10)(DX*2)
	VMOVUPS    Y11, (R10)(R9*1)
	LEAQ       (R10)(DX*4), R10
	VMOVUPS    Y12, (R10)
	VMOVUPS    Y13, (R10)(DX*1)
	VMOVUPS    Y14, (R10)(DX*2)
	VMOVUPS    Y15, (R10)(R9*1)
	ADDQ       srcBlock+32(FP), SI
	ADDQ       dstBlock+48(FP), DI
	DECQ       CX
	JNZ        tr8block
	VZEROUPPER
	RET

// func allFinite(x *float32, n int) bool
// n is a positive multiple of 8: whether no value is a NaN or an infinity
// (exponent bits all ones).
TEXT ·allFinite(SB), NOSPLIT, $0-17
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	SHRQ         $3, CX
	MOVL         $0x7f800000, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15
	VPXOR        Y0, Y0, Y0

finiteloop:
	VPAND    (SI), Y15, Y1
	VPCMPEQD Y15, Y1, Y1
	VPOR     Y1, Y0, Y0
	ADDQ     $32, SI
	DECQ     CX
	JNZ      finiteloop
	VPTEST   Y0, Y0
	SETEQ    ret+16(FP)
	VZEROUPPER
	RET

// func quantRound(l *byte, x *float32, n int, dm, d float32, lo, hi, off int)
// n is a positive multiple of 16: l[i] = clamp(nearest_int((x[i]+dm)/d),
// lo, hi) + off, the result between 0 and 255.
TEXT ·quantRound(SB), NOSPLIT, $0-56
	MOVQ         l+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	SHRQ         $4, CX
	VBROADCASTSS dm+24(FP), Y8
	VBROADCASTSS d+28(FP), Y9
	MOVQ         lo+32(FP), AX
	MOVQ         AX, X10
	VPBROADCASTD X10, Y10
	MOVQ         hi+40(FP), AX
	MOVQ         AX, X11
	VPBROADCASTD X11, Y11
	MOVQ         off+48(FP), AX
	MOVQ         AX, X12
	VPBROADCASTD X12, Y12
	MOVL         $0x4b400000, AX
	MOVQ         AX, X13
	VPBROADCASTD X13, Y13
	MOVL         $0x007fffff, AX
	MOVQ         AX, X14
	VPBROADCASTD X14, Y14
	MOVL         $0x00400000, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15

qrloop:
	VADDPS       (SI), Y8, Y0
	VADDPS       32(SI), Y8, Y1
	VDIVPS       Y9, Y0, Y0
	VDIVPS       Y9, Y1, Y1
	VADDPS       Y13, Y0, Y0
	VADDPS       Y13, Y1, Y1
	VPAND        Y14, Y0, Y0
	VPAND        Y14, Y1, Y1
	VPSUBD       Y15, Y0, Y0
	VPSUBD       Y15, Y1, Y1
	VPMAXSD      Y10, Y0, Y0
	VPMAXSD      Y10, Y1, Y1
	VPMINSD      Y11, Y0, Y0
	VPMINSD      Y11, Y1, Y1
	VPADDD       Y12, Y0, Y0
	VPADDD       Y12, Y1, Y1
	VPACKSSDW    Y1, Y0, Y0        // a0-3 b0-3 | a4-7 b4-7
	VPERMQ       $0xd8, Y0, Y0     // a0-7 b0-7
	VEXTRACTI128 $1, Y0, X1
	VPACKUSWB    X1, X0, X0
	VMOVDQU      X0, (DI)
	ADDQ         $64, SI
	ADDQ         $16, DI
	DECQ         CX
	JNZ          qrloop
	VZEROUPPER
	RET

// Row offsets of IQ4Table (32 bytes each).
#define IQ_TH7 0
#define IQ_TH3 32
#define IQ_TH11 64
#define IQ_T3 96
#define IQ_T4 128
#define IQ_KVLO 160
#define IQ_KVHI 192
#define IQ_V0 224
#define IQ_I8 256
#define IQ_I4 288
#define IQ_I2 320
#define IQ_I1 352
#define IQ_EPS 384
#define IQ_ABS 416

// func iq4fit8(x, w *float32, n int, tab *uint32, scale *float32)
//
// quantize_row_iq4_nl_impl's scale search (kquant.iq4Fit) on eight groups
// of n elements (n even), laid out as for qkx8: scale receives each
// group's d (0 when its largest |x| is below GROUP_MAX_EPS). tab is an
// IQ4Table: the level of a value is found by ggml's best_index_int8 as a
// four-step bisection over the thresholds, then looked up.
//
// Stack: 0 vmax, 32 amax, 64 best.
TEXT ·iq4fit8(SB), NOSPLIT, $96-40
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DX
	MOVQ n+16(FP), R13
	SHLQ $5, R13
	MOVQ tab+24(FP), R8
	MOVQ scale+32(FP), R11

	// vmax: the first element of largest magnitude.
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	XORQ   BX, BX

iqmax:
	VMOVUPS   (SI)(BX*1), Y5
	VANDPS    IQ_ABS(R8), Y5, Y6
	VCMPPS    $1, Y6, Y2, Y7       // amax < ax
	VBLENDVPS Y7, Y6, Y2, Y2
	VBLENDVPS Y7, Y5, Y1, Y1
	ADDQ      $32, BX
	CMPQ      BX, R13
	JLT       iqmax
	VMOVUPS   Y1, 0(SP)
	VMOVUPS   Y2, 32(SP)

	// d = -vmax/v0, id = 1/d
	VXORPS       Y0, Y0, Y0
	VSUBPS       Y1, Y0, Y0        // -vmax
	VDIVPS       IQ_V0(R8), Y0, Y0
	MOVL         $0x3f800000, AX
	MOVQ         AX, X6
	VBROADCASTSS X6, Y6
	VDIVPS       Y0, Y6, Y0        // id
	CALL         iqsums<>(SB)
	VXORPS       Y4, Y4, Y4
	VCMPPS       $1, Y3, Y4, Y5    // 0 < sumq2
	VDIVPS       Y3, Y2, Y6
	VANDPS       Y5, Y6, Y6        // d
	VMOVUPS      Y6, (R11)
	VMULPS       Y2, Y6, Y6        // best = d*sumqx
	VMOVUPS      Y6, 64(SP)

	MOVQ $-7, R9

iqstep:
	CMPQ         R9, $8
	JGE          iqdone
	VCVTSI2SSQ   R9, X5, X5
	VADDSS       IQ_V0(R8), X5, X5 // itry + v0
	VBROADCASTSS X5, Y5
	VDIVPS       0(SP), Y5, Y0     // id = (itry + v0)/vmax
	CALL         iqsums<>(SB)
	VXORPS       Y11, Y11, Y11
	BETTERFIT(iqnext)
	VMOVUPS      Y4, 64(SP)

iqnext:
	INCQ R9
	JMP  iqstep

iqdone:
	VMOVUPS   IQ_EPS(R8), Y6
	VCMPPS    $14, 32(SP), Y6, Y5  // eps > amax
	VMOVUPS   (R11), Y7
	VXORPS    Y4, Y4, Y4
	VBLENDVPS Y5, Y4, Y7, Y7
	VMOVUPS   Y7, (R11)
	VZEROUPPER
	RET

// iqsums: for id Y0, Y2 = sum of w*q*x and Y3 = sum of w*q*q with q the
// level of id*x, over x at SI, w at DX, R13 bytes, table at R8. Clobbers
// BX, Y5-Y11.
TEXT iqsums<>(SB), NOSPLIT|NOFRAME, $0-0
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   BX, BX

iqsumsloop:
	VMOVUPS   (SI)(BX*1), Y5
	VMULPS    Y5, Y0, Y6           // v = id*x
	VCMPPS    $13, IQ_TH7(R8), Y6, Y7 // v >= th[7]
	VPAND     IQ_I8(R8), Y7, Y8    // n
	VMOVUPS   IQ_TH3(R8), Y9
	VBLENDVPS Y7, IQ_TH11(R8), Y9, Y9 // th[n+3]
	VCMPPS    $13, Y9, Y6, Y9
	VPAND     IQ_I4(R8), Y9, Y9
	VPADDD    Y9, Y8, Y8
	VPSRLD    $2, Y8, Y9
	VPERMPS   IQ_T3(R8), Y9, Y9    // th[n+1]
	VCMPPS    $13, Y9, Y6, Y9
	VPAND     IQ_I2(R8), Y9, Y9
	VPADDD    Y9, Y8, Y8
	VPSRLD    $1, Y8, Y9
	VPERMPS   IQ_T4(R8), Y9, Y9    // th[n]
	VCMPPS    $13, Y9, Y6, Y9
	VPAND     IQ_I1(R8), Y9, Y9
	VPADDD    Y9, Y8, Y8           // the level's index
	VPERMPS   IQ_KVLO(R8), Y8, Y9
	VPERMPS   IQ_KVHI(R8), Y8, Y10
	VPSLLD    $28, Y8, Y8
	VBLENDVPS Y8, Y10, Y9, Y9      // q
	VMULPS    (DX)(BX*1), Y9, Y10  // w*q
	VMULPS    Y5, Y10, Y11         // *x
	VADDPS    Y11, Y2, Y2
	VMULPS    Y9, Y10, Y10         // *q
	VADDPS    Y10, Y3, Y3
	ADDQ      $32, BX
	CMPQ      BX, R13
	JLT       iqsumsloop
	RET

#define IQ_I15 448

// IQINDEX(V, R, T1) sets R to the level index of the values in V
// (bisection over the IQ4Table at R8; a NaN gives 15). Clobbers T1, Y12.
#define IQINDEX(V, R, T1) \
	VCMPPS    $13, IQ_TH7(R8), V, Y12 \
	VPAND     IQ_I8(R8), Y12, R \
	VMOVUPS   IQ_TH3(R8), T1 \
	VBLENDVPS Y12, IQ_TH11(R8), T1, T1 \
	VCMPPS    $13, T1, V, T1 \
	VPAND     IQ_I4(R8), T1, T1 \
	VPADDD    T1, R, R \
	VPSRLD    $2, R, T1 \
	VPERMPS   IQ_T3(R8), T1, T1 \
	VCMPPS    $13, T1, V, T1 \
	VPAND     IQ_I2(R8), T1, T1 \
	VPADDD    T1, R, R \
	VPSRLD    $1, R, T1 \
	VPERMPS   IQ_T4(R8), T1, T1 \
	VCMPPS    $13, T1, V, T1 \
	VPAND     IQ_I1(R8), T1, T1 \
	VPADDD    T1, R, R \
	VCMPPS    $3, V, V, T1 \
	VBLENDVPS T1, IQ_I15(R8), R, R

// func iq4index(l *byte, x *float32, n int, id float32, tab *uint32)
// n is a positive multiple of 16: l[i] = the level index of id*x[i]
// (ggml's best_index_int8 on the IQ4Table's levels).
TEXT ·iq4index(SB), NOSPLIT, $0-40
	MOVQ         l+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	SHRQ         $4, CX
	VBROADCASTSS id+24(FP), Y0
	MOVQ         tab+32(FP), R8

iqidxloop:
	VMULPS       (SI), Y0, Y1
	VMULPS       32(SI), Y0, Y2
	IQINDEX(Y1, Y3, Y5)
	IQINDEX(Y2, Y4, Y5)
	VPACKSSDW    Y4, Y3, Y3
	VPERMQ       $0xd8, Y3, Y3
	VEXTRACTI128 $1, Y3, X4
	VPACKUSWB    X4, X3, X3
	VMOVDQU      X3, (DI)
	ADDQ         $64, SI
	ADDQ         $16, DI
	DECQ         CX
	JNZ          iqidxloop
	VZEROUPPER
	RET
