/* Stands in for MLX's core library (libmlx) in the bridge tests: the fake
 * libmlxc built with FAKE_NEEDS_CORE links against it, like the real
 * libmlxc.so has NEEDED libmlx.so without an RPATH. */
__attribute__((visibility("default"))) int fake_core_answer(void) { return 42; }
