package simd

// AsmBuilt reports whether this build has the vector kernels (amd64
// without the purego tag).
const AsmBuilt = asmBuilt
