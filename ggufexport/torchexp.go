package ggufexport

import "math"

// torchExp is exp(x) for a float32 x as convert_hf_to_gguf.py computes it
// (torch.exp on a float32 CPU tensor, which torch 2.11's x86 wheels hand to
// MKL's vsExp): the correctly rounded float32, except for the bfloat16
// inputs (a float32 whose low 16 bits are zero) where MKL's AVX-512 result
// is the other neighbour, measured once over all 65,536 bfloat16 inputs
// (torch 2.11.0, MKL 2024.2, AVX-512; mklExpBF16). For other float32
// inputs MKL differs from the correctly rounded value in about 1% of
// cases (inputs within ~0.05 ulp of a rounding tie), by 1 ulp; those are
// not reproduced.
func torchExp(x float32) float32 {
	if b := math.Float32bits(x); b&0xffff == 0 {
		if r, ok := mklExpBF16[uint16(b>>16)]; ok {
			return math.Float32frombits(r)
		}
	}
	return float32(math.Exp(float64(x)))
}

// mklExpBF16 maps the bfloat16 inputs (bits) whose torch.exp differs from
// float32(math.Exp) to torch's float32 result (bits).
var mklExpBF16 = map[uint16]uint32{
	0x3380: 0x3f800000, // exp(5.9604645e-08) = 1, correctly rounded 1.0000001
	0x3ad9: 0x3f80364b, // exp(0.0016555786) = 1.0016569, correctly rounded 1.001657
	0x3b49: 0x3f8064a8, // exp(0.0030670166) = 1.0030718, correctly rounded 1.0030717
	0x3b4e: 0x3f80672a, // exp(0.0031433105) = 1.0031483, correctly rounded 1.0031482
	0x3b61: 0x3f8070b2, // exp(0.0034332275) = 1.0034392, correctly rounded 1.0034391
	0x3df0: 0x3f8fea0e, // exp(0.1171875) = 1.1243303, correctly rounded 1.1243302
	0x3e43: 0x3f9ad9b8, // exp(0.19042969) = 1.2097692, correctly rounded 1.2097694
	0x3ec1: 0x3fba9a5f, // exp(0.37695312) = 1.457836, correctly rounded 1.4578359
	0x3ed7: 0x3fc2cbbe, // exp(0.41992188) = 1.5218427, correctly rounded 1.5218426
	0x3f7a: 0x4029f0a5, // exp(0.9765625) = 2.6553128, correctly rounded 2.655313
	0x3fb6: 0x4084a2e6, // exp(1.421875) = 4.144885, correctly rounded 4.1448846
	0x404c: 0x41c1d280, // exp(3.1875) = 24.227783, correctly rounded 24.227781
	0x4070: 0x422a1596, // exp(3.75) = 42.52108, correctly rounded 42.521084
	0x4079: 0x4243c40f, // exp(3.890625) = 48.941463, correctly rounded 48.941467
	0x407f: 0x425701ba, // exp(3.984375) = 53.751686, correctly rounded 53.751682
	0x40ac: 0x4357f09c, // exp(5.375) = 215.93988, correctly rounded 215.93987
	0x40e1: 0x448d6e35, // exp(7.03125) = 1131.444, correctly rounded 1131.4441
	0x40e5: 0x44a04303, // exp(7.15625) = 1282.0941, correctly rounded 1282.094
	0x4226: 0x5d6a3d77, // exp(41.5) = 1.0549236e+18, correctly rounded 1.05492355e+18
	0x425d: 0x67513937, // exp(55.25) = 9.8803e+23, correctly rounded 9.8802995e+23
	0x4279: 0x6c60105a, // exp(62.25) = 1.0835064e+27, correctly rounded 1.0835065e+27
	0x428f: 0x730e4a5e, // exp(71.5) = 1.1273415e+31, correctly rounded 1.1273413e+31
	0xbae9: 0x3f7f8b9b, // exp(-0.0017776489) = 0.99822396, correctly rounded 0.9982239
	0xbafa: 0x3f7f831f, // exp(-0.0019073486) = 0.9980945, correctly rounded 0.99809444
	0xbafe: 0x3f7f8120, // exp(-0.0019378662) = 0.99806404, correctly rounded 0.998064
	0xbb03: 0x3f7f7d22, // exp(-0.0019989014) = 0.9980031, correctly rounded 0.99800307
	0xbb17: 0x3f7f692d, // exp(-0.0023040771) = 0.9976986, correctly rounded 0.99769855
	0xbb1c: 0x3f7f6430, // exp(-0.002380371) = 0.9976225, correctly rounded 0.99762243
	0xbb24: 0x3f7f5c35, // exp(-0.0025024414) = 0.9975007, correctly rounded 0.99750066
	0xbb33: 0x3f7f4d3e, // exp(-0.0027313232) = 0.9972724, correctly rounded 0.99727243
	0xbb3a: 0x3f7f4643, // exp(-0.0028381348) = 0.99716586, correctly rounded 0.9971659
	0xbb55: 0x3f7f2b58, // exp(-0.003250122) = 0.9967551, correctly rounded 0.9967552
	0xbc0d: 0x3f7dce6b, // exp(-0.008605957) = 0.99143094, correctly rounded 0.991431
	0xbc42: 0x3f7cfc94, // exp(-0.01184082) = 0.98822904, correctly rounded 0.988229
	0xbc69: 0x3f7c6298, // exp(-0.014221191) = 0.9858794, correctly rounded 0.9858795
	0xbc9d: 0x3f7b23f5, // exp(-0.019165039) = 0.9810174, correctly rounded 0.9810175
	0xbc9e: 0x3f7b1c1c, // exp(-0.01928711) = 0.98089767, correctly rounded 0.9808977
	0xbcc5: 0x3f79eacd, // exp(-0.024047852) = 0.976239, correctly rounded 0.97623897
	0xbd0e: 0x3f7746ef, // exp(-0.03466797) = 0.9659261, correctly rounded 0.96592605
	0xbd11: 0x3f771895, // exp(-0.03540039) = 0.96521884, correctly rounded 0.9652189
	0xbd95: 0x3f6e0951, // exp(-0.072753906) = 0.92982966, correctly rounded 0.9298296
	0xbdc2: 0x3f68dcf7, // exp(-0.09472656) = 0.90962166, correctly rounded 0.9096216
	0xbe0d: 0x3f5f11b9, // exp(-0.13769531) = 0.8713642, correctly rounded 0.8713641
	0xbf52: 0x3ee16e39, // exp(-0.8203125) = 0.44029406, correctly rounded 0.44029403
	0xbf67: 0x3ecfad25, // exp(-0.90234375) = 0.40561786, correctly rounded 0.4056179
}
