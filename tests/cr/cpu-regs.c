/* SPDX-License-Identifier: MIT */
/*
 * State: user-mode CPU registers of a task dumped while it computes (not in a system call).
 * One asm block loads distinct patterns into rax, rbx, rcx, rdx, rsi, rbp, r8-r15, MXCSR
 * (flush-to-zero, denormals-are-zero, round toward zero) and the vector registers: xmm0-15,
 * with AVX all of ymm0-15, with AVX-512 (F+BW) all of zmm0-31 and k0-k7. It then spins on a
 * flag in memory, which the SIGUSR2 handler sets (signal delivery saves and restores every
 * register), and stores every register back to memory before anything else runs; the
 * values must be the patterns. The fs base (arch_prctl, the TCB self-pointer at %fs:0 and
 * a __thread variable's address and value) and the gs base are unchanged too.
 */
#include <asm/prctl.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib.h"

enum { VEC_SSE, VEC_AVX, VEC_AVX512 };

#define NGPR 14
static const char *const gpr_names[NGPR] = {"rax", "rbx", "rcx", "rdx", "rsi", "rbp", "r8",
					    "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

struct regs {
	uint64_t gpr_in[NGPR], gpr_out[NGPR];
	unsigned char vec_in[32][64], vec_out[32][64];
	uint64_t k_in[8], k_out[8];
	uint32_t mxcsr_in, mxcsr_out, mxcsr_saved;
	uint64_t saved_rbp;
	int level;
	volatile int flag;
};

static struct regs regs;
static __thread uint64_t tls_word;

static void on_usr2(int sig)
{
	(void)sig;
	regs.flag = 1;
}

#define IRP32                                                                                      \
	".irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,"              \
	"26,27,28,29,30,31\n\t"
#define IRP8 ".irp i,0,1,2,3,4,5,6,7\n\t"

/*
 * rdi holds &regs throughout. rbp may be the frame pointer, so it is not declared as
 * clobbered but saved and put back by hand. zmm16-31 and k0-k7 are not declared either:
 * code built without -mavx512f never uses them.
 */
static void load_spin_store(void)
{
	/* clang-format off */
	asm volatile("mov %%rbp, %c[rbp](%%rdi)\n\t"
		     "stmxcsr %c[mxs](%%rdi)\n\t"
		     "ldmxcsr %c[mxi](%%rdi)\n\t"
		     "cmpl $2, %c[lvl](%%rdi)\n\t"
		     "je 3f\n\t"
		     "cmpl $1, %c[lvl](%%rdi)\n\t"
		     "je 2f\n\t"
		     TEST_IRP16 "movdqu %c[vi]+\\i*64(%%rdi), %%xmm\\i\n\t.endr\n\t"
		     "jmp 4f\n"
		     "2:\n\t"
		     TEST_IRP16 "vmovdqu %c[vi]+\\i*64(%%rdi), %%ymm\\i\n\t.endr\n\t"
		     "jmp 4f\n"
		     "3:\n\t"
		     IRP32 "vmovdqu64 %c[vi]+\\i*64(%%rdi), %%zmm\\i\n\t.endr\n\t"
		     IRP8 "kmovq %c[ki]+\\i*8(%%rdi), %%k\\i\n\t.endr\n"
		     "4:\n\t"
		     TEST_GPRS(TEST_GPR_LOAD)
		     /* Spin until the SIGUSR2 handler sets the flag: the dump lands here. */
		     "5:\n\t"
		     "pause\n\t"
		     "cmpl $0, %c[flag](%%rdi)\n\t"
		     "je 5b\n\t"
		     TEST_GPRS(TEST_GPR_STORE)
		     "stmxcsr %c[mxo](%%rdi)\n\t"
		     "ldmxcsr %c[mxs](%%rdi)\n\t"
		     "mov %c[rbp](%%rdi), %%rbp\n\t"
		     "cmpl $2, %c[lvl](%%rdi)\n\t"
		     "je 7f\n\t"
		     "cmpl $1, %c[lvl](%%rdi)\n\t"
		     "je 6f\n\t"
		     TEST_IRP16 "movdqu %%xmm\\i, %c[vo]+\\i*64(%%rdi)\n\t.endr\n\t"
		     "jmp 8f\n"
		     "6:\n\t"
		     TEST_IRP16 "vmovdqu %%ymm\\i, %c[vo]+\\i*64(%%rdi)\n\t.endr\n\t"
		     "vzeroupper\n\t"
		     "jmp 8f\n"
		     "7:\n\t"
		     IRP32 "vmovdqu64 %%zmm\\i, %c[vo]+\\i*64(%%rdi)\n\t.endr\n\t"
		     IRP8 "kmovq %%k\\i, %c[ko]+\\i*8(%%rdi)\n\t.endr\n\t"
		     "vzeroupper\n"
		     "8:\n\t"
		     :
		     : "D"(&regs),
		       [gi] "i"(offsetof(struct regs, gpr_in)),
		       [go] "i"(offsetof(struct regs, gpr_out)),
		       [vi] "i"(offsetof(struct regs, vec_in)),
		       [vo] "i"(offsetof(struct regs, vec_out)),
		       [ki] "i"(offsetof(struct regs, k_in)),
		       [ko] "i"(offsetof(struct regs, k_out)),
		       [mxi] "i"(offsetof(struct regs, mxcsr_in)),
		       [mxo] "i"(offsetof(struct regs, mxcsr_out)),
		       [mxs] "i"(offsetof(struct regs, mxcsr_saved)),
		       [rbp] "i"(offsetof(struct regs, saved_rbp)),
		       [lvl] "i"(offsetof(struct regs, level)),
		       [flag] "i"(offsetof(struct regs, flag))
		     : "rax", "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "r13",
		       "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		       "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc",
		       "memory");
	/* clang-format on */
}

static void check_vectors(void)
{
	int nregs = regs.level == VEC_AVX512 ? 32 : 16;
	size_t width = regs.level == VEC_AVX512 ? 64 : regs.level == VEC_AVX ? 32 : 16;
	uint64_t got[8], want[8];

	for (int r = 0; r < nregs; r++) {
		if (!memcmp(regs.vec_in[r], regs.vec_out[r], width))
			continue;
		for (size_t q = 0; q < width / 8; q++) {
			memcpy(&got[q], regs.vec_out[r] + q * 8, 8);
			memcpy(&want[q], regs.vec_in[r] + q * 8, 8);
			if (got[q] != want[q])
				test_fail("%s%d bits %zu-%zu: %#" PRIx64 ", expected %#" PRIx64,
					  width == 64	? "zmm"
					  : width == 32 ? "ymm"
							: "xmm",
					  r, q * 64, q * 64 + 63, got[q], want[q]);
		}
	}
	for (int k = 0; regs.level == VEC_AVX512 && k < 8; k++)
		if (regs.k_out[k] != regs.k_in[k])
			test_fail("k%d: %#" PRIx64 ", expected %#" PRIx64, k, regs.k_out[k],
				  regs.k_in[k]);
}

/* Computed from the fs base at each call: the compiler may not reuse an earlier address. */
static __attribute__((noipa)) uint64_t *tls_address(void)
{
	return &tls_word;
}

static void get_bases(unsigned long *fs, unsigned long *gs, unsigned long *fs_self)
{
	if (syscall(SYS_arch_prctl, ARCH_GET_FS, fs) || syscall(SYS_arch_prctl, ARCH_GET_GS, gs))
		test_fail("arch_prctl failed");
	asm volatile("mov %%fs:0, %0" : "=r"(*fs_self));
}

int main(int argc, char **argv)
{
	unsigned long fs, gs, fs_self, fs2, gs2, fs_self2;
	uint64_t seed = 42, tls_value;
	struct sigaction sa;
	uint64_t *tls_addr;

	test_init(argc, argv);
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
		regs.level = VEC_AVX512;
	else if (__builtin_cpu_supports("avx"))
		regs.level = VEC_AVX;
	else
		regs.level = VEC_SSE;
	test_msg("vector registers: %s", regs.level == VEC_AVX512 ? "zmm0-31, k0-7"
					 : regs.level == VEC_AVX  ? "ymm0-15"
								  : "xmm0-15");
	for (int i = 0; i < NGPR; i++)
		regs.gpr_in[i] = test_splitmix(&seed);
	for (int r = 0; r < 32; r++)
		for (int q = 0; q < 8; q++) {
			uint64_t v = test_splitmix(&seed);

			memcpy(regs.vec_in[r] + q * 8, &v, 8);
		}
	for (int k = 0; k < 8; k++)
		regs.k_in[k] = test_splitmix(&seed);
	/* Default 0x1f80 plus DAZ, flush-to-zero and round toward zero. */
	regs.mxcsr_in = 0x1f80 | 0x0040 | 0x8000 | 0x6000;

	tls_addr = tls_address();
	*tls_addr = tls_value = test_splitmix(&seed);
	get_bases(&fs, &gs, &fs_self);
	if (fs_self != fs)
		test_fail("%%fs:0 is %#lx, fs base %#lx", fs_self, fs);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR2, &sa, NULL))
		test_fail("sigaction failed");
	test_ready();
	load_spin_store();

	for (int i = 0; i < NGPR; i++)
		if (regs.gpr_out[i] != regs.gpr_in[i])
			test_fail("%s is %#" PRIx64 ", expected %#" PRIx64, gpr_names[i],
				  regs.gpr_out[i], regs.gpr_in[i]);
	if (regs.mxcsr_out != regs.mxcsr_in)
		test_fail("mxcsr is %#x, expected %#x", regs.mxcsr_out, regs.mxcsr_in);
	check_vectors();
	get_bases(&fs2, &gs2, &fs_self2);
	if (fs2 != fs || fs_self2 != fs_self || gs2 != gs)
		test_fail("fs base %#lx (%%fs:0 %#lx), gs base %#lx; was %#lx (%#lx), %#lx", fs2,
			  fs_self2, gs2, fs, fs_self, gs);
	if (tls_address() != tls_addr || *tls_address() != tls_value)
		test_fail("__thread variable at %p = %#" PRIx64 ", was at %p = %#" PRIx64,
			  (void *)tls_address(), *tls_address(), (void *)tls_addr, tls_value);
	test_pass();
}
