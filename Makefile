# bothy build (GNU make; the choice and the variants are explained in docs/build.md)
#
#   make                 build/x86_64/bothy (native)
#   make SAN=1           ASan + UBSan variant in build/<arch>-san/
#   make STATIC=1        static binary in build/<arch>-static/ (what the test hosts carry)
#   make ARCH=aarch64    cross build with aarch64-linux-gnu-gcc (likewise riscv64)
#   make check           install what is missing, build, run every test tier
#   make run             build and boot the default guest to a shell

HOST_ARCH := $(shell uname -m)
ARCH ?= $(HOST_ARCH)
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

ifneq ($(ARCH),$(HOST_ARCH))
CROSS ?= $(ARCH)-linux-gnu-
# The target's libjansson and libfdt, unpacked from Debian's packages for ARCH into the cache
# (scripts/cross-sysroot.sh); the cross compiler brings the C library.
ifeq ($(ARCH),aarch64)
CROSS_SYSROOT ?= $(or $(BOTHY_CACHE),$(HOME)/.cache/bothy)/sysroot/$(ARCH)
endif
endif
CC := $(CROSS)gcc

BUILD := build/$(ARCH)$(if $(SAN),-san)$(if $(STATIC),-static)

WARN := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wvla \
	-Wformat=2 -Wno-format-nonliteral -Wundef -Wpointer-arith
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu17 $(WARN) -fstack-protector-strong -fno-strict-aliasing \
	-D_GNU_SOURCE -DBOTHY_VERSION='"$(VERSION)"' -Iinclude -Isrc -MMD -MP
LDLIBS := -ljansson -lpthread
# Device trees: the arm64 machine's, and the unit tests check the arm64 loader and DTB builder on
# any host (ARM64_PURE_SRCS: no KVM, no arm64 headers).
FDT_LIBS := -lfdt
ARCH_LIBS := $(if $(filter aarch64,$(ARCH)),$(FDT_LIBS))
ARM64_PURE_SRCS := src/arch/aarch64/boot.c src/arch/aarch64/fdt.c
ifdef CROSS_SYSROOT
CFLAGS += -I$(CROSS_SYSROOT)/usr/include
LDFLAGS += -L$(CROSS_SYSROOT)/usr/lib/$(ARCH)-linux-gnu -Wl,-rpath-link,$(CROSS_SYSROOT)/usr/lib/$(ARCH)-linux-gnu
SYSROOT_STAMP := $(CROSS_SYSROOT)/.stamp
endif

ifdef SAN
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifdef STATIC
LDFLAGS += -static
endif

# Arch-neutral core, the arch backend, devices. kvm.c is the only file that
# talks to /dev/kvm; unit tests link fake.c in its place.
ARCH_DIR := src/arch/$(ARCH)
CORE_SRCS := $(wildcard src/abi/*.c) $(wildcard src/hcall/*.c) $(wildcard src/core/*.c) $(wildcard src/devices/*.c) $(wildcard src/devices/virtio/*.c) $(wildcard src/backends/*.c) $(wildcard $(ARCH_DIR)/*.c)
KVM_SRCS := src/hv/kvm.c
FAKE_SRCS := src/hv/fake.c
CLI_SRCS := $(wildcard src/cli/*.c)
# The resource manager (bothyd, its client and the VMM's link to it): docs/rpc.md.
RM_SRCS := $(wildcard src/rm/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
CORE_OBJS := $(call obj,$(CORE_SRCS))
KVM_OBJS := $(call obj,$(KVM_SRCS))
FAKE_OBJS := $(call obj,$(FAKE_SRCS))
CLI_OBJS := $(call obj,$(CLI_SRCS))
RM_OBJS := $(call obj,$(RM_SRCS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
UNIT_HELPER_OBJS := $(call obj,$(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))) \
	$(if $(filter aarch64,$(ARCH)),,$(call obj,$(ARM64_PURE_SRCS)))

# Payloads and test tools: native builds, and aarch64 (its test host carries them).
all: $(BUILD)/bothy $(BUILD)/bothyd $(BUILD)/timeit $(BUILD)/rm-bench $(if $(filter $(ARCH),$(HOST_ARCH) aarch64),payloads tools)

$(BUILD)/bothy: $(CLI_OBJS) $(RM_OBJS) $(CORE_OBJS) $(KVM_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(ARCH_LIBS) $(LDLIBS)

# bothyd is the same program: main() dispatches on the name it was started as.
$(BUILD)/bothyd: $(BUILD)/bothy
	ln -f $< $@

# The benchmarks' stopwatch (bench/tools/timeit.c).
$(BUILD)/timeit: bench/tools/timeit.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# The resource manager benchmark's load generator (bench/tools/rm-bench.c): the client library only.
$(BUILD)/rm-bench: bench/tools/rm-bench.c $(call obj,src/rm/client.c src/rm/link.c src/rm/wire.c src/rm/proto.c)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lpthread

# The library an embedder links: core, devices, arch backend, KVM backend.
lib: $(BUILD)/libbothy.a
$(BUILD)/libbothy.a: $(CORE_OBJS) $(KVM_OBJS)
	$(CROSS)ar rcs $@ $^

$(BUILD)/obj/%.o: %.c | $(SYSROOT_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

ifdef SYSROOT_STAMP
$(SYSROOT_STAMP): scripts/cross-sysroot.sh
	scripts/cross-sysroot.sh $(ARCH) $(CROSS_SYSROOT)
	touch $@
endif

# Unit tests: cmocka, against the fake hypervisor; CLI objects minus main().
$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJS) $(RM_OBJS) $(FAKE_OBJS) $(KVM_OBJS) $(filter-out %/main.o,$(CLI_OBJS)) $(UNIT_HELPER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lcmocka $(FDT_LIBS) $(LDLIBS)

unit: $(UNIT_BINS)

# Purpose-built guest payloads (tier 2): their own small makefile.
payloads:
	$(MAKE) -C tests/guests/$(ARCH) O=$(CURDIR)/build/$(ARCH)/payloads

# Host-side test tools: hcall-handler, the VM owner's hypercall handler the hcall tests and bench
# forward to (tests/tools/hcall-handler.c). Static and without the variant's flags (no sanitizers),
# so it runs in the busybox test host; copied beside the payloads, which the host carries as /payloads.
tools: build/$(ARCH)/payloads/hcall-handler build/$(ARCH)/payloads/rm-poke build/$(ARCH)/payloads/runas
build/$(ARCH)/payloads/hcall-handler: $(BUILD)/tools/hcall-handler
	@mkdir -p $(dir $@)
	cp $< $@
# It speaks RM frames, so the framing and codec sources are compiled in with it.
HCALL_HANDLER_SRCS := tests/tools/hcall-handler.c src/rm/wire.c src/rm/proto.c src/rm/link.c
$(BUILD)/tools/hcall-handler: $(HCALL_HANDLER_SRCS) $(wildcard src/rm/*.h src/rm/messages.def)
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu17 $(WARN) -D_GNU_SOURCE -Isrc -static -o $@ $(HCALL_HANDLER_SRCS)
# The resource manager's tests: rm-poke (raw packets to bothyd, replies as hex) and runas (a second
# user in a host without su). Built like hcall-handler.
build/$(ARCH)/payloads/rm-poke: $(BUILD)/tools/rm-poke
	@mkdir -p $(dir $@)
	cp $< $@
$(BUILD)/tools/rm-poke: tests/tools/rm-poke.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu17 $(WARN) -D_GNU_SOURCE -static -o $@ $<
build/$(ARCH)/payloads/runas: $(BUILD)/tools/runas
	@mkdir -p $(dir $@)
	cp $< $@
$(BUILD)/tools/runas: tests/tools/runas.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu17 $(WARN) -D_GNU_SOURCE -static -o $@ $<

# abi-frozen (tests/tools/abi-frozen.c): the arm64 guest ABI's write rules against real KVM. It drives
# bothy's own KVM backend, engine and arm64 register writer, so their sources are compiled in; built
# like hcall-handler, for the arm64 test host only.
ifeq ($(ARCH),aarch64)
tools: build/$(ARCH)/payloads/abi-frozen
endif
ABI_FROZEN_SRCS := tests/tools/abi-frozen.c src/hv/kvm.c src/core/log.c src/abi/abi.c $(wildcard src/abi/arch_*.c) \
	src/arch/aarch64/abi.c
build/$(ARCH)/payloads/abi-frozen: $(BUILD)/tools/abi-frozen
	@mkdir -p $(dir $@)
	cp $< $@
$(BUILD)/tools/abi-frozen: $(ABI_FROZEN_SRCS) $(wildcard src/abi/*.h src/abi/*.def src/hv/*.h src/arch/aarch64/*.h)
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu17 $(WARN) -D_GNU_SOURCE -Iinclude -Isrc -static -o $@ $(ABI_FROZEN_SRCS) -lpthread

# The stock Linux guest's hypercall test (tests/guests/linux/hcall-test.c): a static user program,
# packed as a newc cpio holding /bin/hcall-test that tests/integration/linux-hcall.test appends to the
# guest initramfs (Linux unpacks concatenated archives). Beside the payloads, which the test host
# carries as /payloads; plain flags as for the tools. x86-64 only: it uses the x86 hypercall gate.
ifeq ($(ARCH)-$(HOST_ARCH),x86_64-x86_64)
payloads: build/$(ARCH)/payloads/hcall-linux.cpio.gz
endif
build/$(ARCH)/payloads/hcall-linux.cpio.gz: $(BUILD)/hcall-linux/bin/hcall-test
	chmod 0755 $(BUILD)/hcall-linux/bin
	cd $(BUILD)/hcall-linux && printf 'bin\nbin/hcall-test\n' | cpio -o -H newc -R 0:0 --quiet -O ../hcall-linux.cpio
	@mkdir -p $(dir $@)
	gzip -9nc $(BUILD)/hcall-linux.cpio >$@.tmp
	mv $@.tmp $@
$(BUILD)/hcall-linux/bin/hcall-test: tests/guests/linux/hcall-test.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<

# The virtio tests' programs for the stock Linux guest and the host beside it (docs/test-guests.md):
# virtio-linux.cpio.gz holds /bin/vsock-test (tests/tools/xfer.c: vsock, TCP and Unix streams with a
# checked pattern) and /bin/blk-bench (tests/guests/linux/blk-bench.c); the host gets vsock-host
# (the same xfer program, for bothy's hybrid vsock sockets and the tap's TCP side) and blk-bench,
# to measure the disk image directly. Static, plain flags, like hcall-linux.
# Native, and aarch64 for the arm64 suite's virtio tests.
VIRTIO_LINUX_BINS := $(BUILD)/virtio-linux/bin/vsock-test $(BUILD)/virtio-linux/bin/blk-bench
ifneq ($(filter $(ARCH),$(HOST_ARCH) aarch64),)
payloads: build/$(ARCH)/payloads/virtio-linux.cpio.gz
tools: build/$(ARCH)/payloads/vsock-host build/$(ARCH)/payloads/blk-bench
endif
build/$(ARCH)/payloads/virtio-linux.cpio.gz: $(VIRTIO_LINUX_BINS)
	chmod 0755 $(BUILD)/virtio-linux/bin
	cd $(BUILD)/virtio-linux && printf 'bin\nbin/vsock-test\nbin/blk-bench\n' | cpio -o -H newc -R 0:0 --quiet -O ../virtio-linux.cpio
	@mkdir -p $(dir $@)
	gzip -9nc $(BUILD)/virtio-linux.cpio >$@.tmp
	mv $@.tmp $@
$(BUILD)/virtio-linux/bin/vsock-test: tests/tools/xfer.c tests/tools/parse_size.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -static -o $@ $<
$(BUILD)/virtio-linux/bin/blk-bench: tests/guests/linux/blk-bench.c tests/tools/parse_size.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -static -pthread -o $@ $<
build/$(ARCH)/payloads/vsock-host: $(BUILD)/virtio-linux/bin/vsock-test
	@mkdir -p $(dir $@)
	cp $< $@
build/$(ARCH)/payloads/blk-bench: $(BUILD)/virtio-linux/bin/blk-bench
	@mkdir -p $(dir $@)
	cp $< $@

check:
	./tests/check.sh

run:
	./scripts/run-default.sh

bench:
	./bench/run.sh

clean:
	rm -rf build

.PHONY: all lib unit payloads tools check run bench clean

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Fuzzing (tests/fuzz/run.sh, `make fuzz`): every tests/fuzz/fuzz_*.c is a libFuzzer target, built
# with clang into build/fuzz/<name>. The library sources (core, devices, backends, arch, both
# hypervisor backends) are instrumented and archived once, so a target links only what it uses.
# Native only; no -Werror here, since clang warns about things gcc does not.
FUZZ_CC ?= clang
FUZZ_DIR := build/fuzz
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRCS))
FUZZ_CFLAGS := -std=gnu17 -g -O1 -Wall -Wextra -Wno-gnu-variable-sized-type-not-at-end \
	-fno-omit-frame-pointer -fno-strict-aliasing -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-D_GNU_SOURCE -DBOTHY_VERSION='"$(VERSION)"' -Iinclude -Isrc -MMD -MP
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(CORE_SRCS) $(RM_SRCS) $(FAKE_SRCS) $(KVM_SRCS))

fuzz: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/libbothy-fuzz.a: $(FUZZ_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DIR)/libbothy-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/libbothy-fuzz.a $(LDLIBS)

.PHONY: fuzz

-include $(shell find $(FUZZ_DIR) -name '*.d' 2>/dev/null)
