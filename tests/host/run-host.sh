#!/usr/bin/env bash
# tests/host/run-host.sh: tier 3. Boot an emulated host with real upstream KVM (QEMU, software
# emulation, nested virtualization) and run bothy's integration suite (and benchmarks) inside it.
#
#   tests/host/run-host.sh --arch x86_64 --bothy PATH --payloads DIR --suite DIR
#                          [--bench DIR] [--results FILE] [--timeout SECS] [--with-qemu]
#                          [--shell] [--keep]
#
# Results come back over the host's serial console as "@@RESULT <name> <pass|fail|skip> <reason>"
# lines. They are printed unprefixed (and written to --results FILE); every other console line but
# the host's "@@HOST-ALIVE <uptime>" heartbeat (every 30 s) is printed with a "host| " prefix; the
# whole console goes to $BOTHY_CACHE/logs/host-<time>.log.
#
# Exit status: 0 if the host ran to its end (whatever the tests said: count the @@RESULT lines), or
# if QEMU cannot be installed here (then "@@RESULT tier3 skip ..."); 1 for usage or preparation
# errors; 2 if the host did not boot, timed out, wedged (no console line for BOTHY_HOST_IDLE s),
# stalled (no test or benchmark finished for its timeout + 120 s) or had no /dev/kvm ("@@RESULT host-boot fail" or "@@RESULT host-kvm fail").
#
# The emulator is QEMU from bookworm-backports (10.x), unpacked into the cache: bookworm's QEMU 7.2
# TCG crashes the 6.12 host kernel in about a third of boots (garbage EFLAGS, double faults).
# --bench (or --with-qemu) also puts that QEMU, with its libraries and firmware, into the host
# (/usr/bin, $QEMU), to compare against. Benchmarks are the executable /bench/*.bench files (or,
# without any, every executable file in /bench), run after the suite.
# --shell boots the same host interactively (serial console on this terminal, no timeout; QEMU's
# Ctrl-A X quits); see scripts/host-shell.sh. docs/test-hosts.md describes the whole tier.
#
# Environment: BOTHY_CACHE; BOTHY_TEST_TIMEOUT (per test inside the host, default 300);
# BOTHY_SUITE_FILTER (run only the tests whose name contains it);
# BOTHY_BENCH_TIMEOUT (per benchmark, default 600); BOTHY_HOST_MEM (MiB, default 4096);
# BOTHY_HOST_CPUS (default 2); BOTHY_HOST_APPEND (extra host kernel parameters);
# BOTHY_HOST_QEMU (emulator binary to use instead); BOTHY_BENCH_QEMU (QEMU to copy into the host);
# BOTHY_SUITE_VERBOSE=1 (print every test's whole output); BOTHY_HOST_IDLE (seconds without any
# console line, once the host is up, after which it counts as wedged and is stopped: default 180,
# more than 30, the host's heartbeat; 0: wait for --timeout).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/scripts/lib.sh"

usage() { # [STATUS]
	sed -n '5,7p' "$0" | sed 's/^# \{0,3\}//' >&2
	echo "(see the comments at the top of $0 and docs/test-hosts.md)" >&2
	exit "${1:-1}"
}

arch=x86_64 bothy='' payloads='' suite='' bench='' results='' timeout=600 shell_mode='' keep='' with_qemu=''
while [ $# -gt 0 ]; do
	case $1 in
	--arch)		arch=${2:?--arch needs a value}; shift 2 ;;
	--bothy)	bothy=${2:?--bothy needs a path}; shift 2 ;;
	--payloads)	payloads=${2:?--payloads needs a directory}; shift 2 ;;
	--suite)	suite=${2:?--suite needs a directory}; shift 2 ;;
	--bench)	bench=${2:?--bench needs a directory}; shift 2 ;;
	--results)	results=${2:?--results needs a file}; shift 2 ;;
	--timeout)	timeout=${2:?--timeout needs seconds}; shift 2 ;;
	--shell)	shell_mode=1; shift ;;
	--with-qemu)	with_qemu=1; shift ;;
	--keep)		keep=1; shift ;;
	-h|--help)	usage 0 ;;
	*)		echo "run-host.sh: unknown argument '$1'" >&2; usage ;;
	esac
done

# ---------------------------------------------------------------------------------------------
# Per-architecture facts. A new architecture adds one case here (and its guest in guest-assets.sh).
#   k_suite/k_debarch/k_metas  where the host kernel comes from (first metapackage whose kernel
#                              package carries all of k_need is used)
#   k_image                    the kernel image inside the package (a glob)
#   k_need                     files that must be in the package (the KVM modules)
#   host_modules               modules the host loads, in order (dependencies are added);
#   host_modargs               "module args" lines appended to insmod
#   qemu_bin/qemu_pkg/qemu_suite/qemu_data   the emulator that runs the host: binary, Debian
#                              package, the suite it is taken from (unpacked into the cache, not
#                              installed) and its firmware packages; the system's $qemu_pkg is the
#                              fallback
#   qemu_machine               the emulator's machine flags
#   console                    the host's serial console device
#   bench_firmware/bench_check the firmware files the QEMU copied into the host (--bench) needs,
#                              and the flags that check it starts under KVM
case $arch in
x86_64)
	k_suite=bookworm-backports
	k_debarch=amd64
	k_metas="linux-image-cloud-amd64 linux-image-amd64"
	k_image='boot/vmlinuz-*'
	k_need="kvm.ko kvm-amd.ko irqbypass.ko"
	host_modules="irqbypass kvm kvm_amd tun"
	host_modargs="kvm_amd nested=0"
	qemu_bin="qemu-system-x86_64"
	qemu_pkg="qemu-system-x86"
	qemu_suite=bookworm-backports	# QEMU 10: bookworm's 7.2 TCG crashes Linux 6.12 in ~1/3 of boots
	qemu_data="qemu-system-data seabios"
	qemu_machine=(-M q35 -cpu max -accel tcg)
	console=ttyS0
	bench_firmware="bios-microvm.bin qboot.rom bios-256k.bin bios.bin pvh.bin linuxboot.bin
		linuxboot_dma.bin multiboot.bin multiboot_dma.bin kvmvapic.bin efi-virtio.rom"
	bench_check="-accel kvm -M microvm -cpu host -m 64 -nodefaults -no-user-config -display none"
	;;
aarch64)
	# KVM is built into Debian's arm64 kernels; tun is the one module (the virtio-net tests' tap).
	# 6.12 (backports) has the SMCCC filter, writable ID registers and the firmware bitmap
	# registers (shared/PLATFORM.md).
	k_suite=bookworm-backports
	k_debarch=arm64
	k_metas="linux-image-arm64"
	k_image='boot/vmlinuz-*'
	k_need=""
	host_modules="tun"
	host_modargs=""
	qemu_bin="qemu-system-aarch64"
	qemu_pkg="qemu-system-arm"
	qemu_suite=bookworm-backports
	qemu_data="qemu-system-data"
	# virtualization=on: EL2 for the host kernel, so it runs KVM; pauth-impdef: QEMU's cheap
	# pointer-authentication hash (the architected one costs TCG dearly, and KVM does not care).
	qemu_machine=(-M virt,virtualization=on,gic-version=3 -cpu max,pauth-impdef=on -accel tcg)
	console=ttyAMA0
	bench_firmware=""
	bench_check="-accel kvm -M virt,gic-version=3 -cpu host -m 64 -nodefaults -no-user-config -display none"
	;;
*)
	die "unsupported architecture '$arch' (supported: x86_64, aarch64; riscv64 adds a case here)"
	;;
esac
# The emulator runs here, so its packages are this machine's architecture.
build_debarch=$(dpkg --print-architecture)
cpus=${BOTHY_HOST_CPUS:-2}
mem=${BOTHY_HOST_MEM:-4096}

# ---------------------------------------------------------------------------------------------
# Arguments.
[ -n "$bothy" ] || { [ -n "$shell_mode" ] || die "--bothy PATH is required"; }
if [ -n "$bothy" ]; then
	[ -f "$bothy" ] || die "--bothy $bothy: no such file (build it with: make STATIC=1)"
	[ -x "$bothy" ] || die "--bothy $bothy is not executable"
fi
if [ -z "$shell_mode" ]; then
	[ -n "$suite" ] || die "--suite DIR is required"
fi
[ -z "$suite" ] || [ -d "$suite" ] || die "--suite $suite: no such directory"
[ -z "$bench" ] || [ -d "$bench" ] || die "--bench $bench: no such directory"
if [ -n "$payloads" ] && [ ! -d "$payloads" ]; then
	warn "--payloads $payloads: no such directory; the host gets an empty /payloads"
	payloads=
fi
case $timeout in ''|*[!0-9]*) die "--timeout wants whole seconds, got '$timeout'" ;; esac
idle=${BOTHY_HOST_IDLE:-180}
case $idle in ''|*[!0-9]*) die "BOTHY_HOST_IDLE wants whole seconds, got '$idle'" ;; esac
for v in BOTHY_TEST_TIMEOUT BOTHY_BENCH_TIMEOUT; do
	case ${!v:-1} in ''|*[!0-9]*) die "$v wants whole seconds, got '${!v}'" ;; esac
done
# The longest a host may go without finishing a test or benchmark: each ends within its own
# timeout (the host's `timeout` then prints its @@RESULT), so past that plus a margin something
# the host cannot kill holds it (a process blocked in its kernel) while the heartbeat goes on.
stall=${BOTHY_TEST_TIMEOUT:-300}
[ -z "$bench" ] || [ "${BOTHY_BENCH_TIMEOUT:-600}" -le "$stall" ] || stall=${BOTHY_BENCH_TIMEOUT:-600}
stall=$((stall + 120))
# A limit within the host's 30 s heartbeat would stop a healthy host between two beats.
[ "$idle" -eq 0 ] || [ "$idle" -gt 30 ] ||
	die "BOTHY_HOST_IDLE=$idle: must be more than the host's 30 s heartbeat (or 0: no watchdog)"

mkdir -p "$BOTHY_CACHE/logs"
[ -z "$results" ] || : >"$results" || die "cannot write $results"

result() { # NAME STATUS REASON: print a result line here (not from the host)
	local line="@@RESULT $1 $2 $3"
	echo "$line"
	[ -z "$results" ] || echo "$line" >>"$results"
}

t_start=$(now)

# ---------------------------------------------------------------------------------------------
# The emulator. QEMU from $qemu_suite, unpacked into the cache and run against this system's
# libraries (the package's library dependencies are installed from the system's own suites);
# else the system's QEMU; BOTHY_HOST_QEMU=/path overrides both. QEMU is the one thing this tier
# cannot do without: if there is none, skip loudly (exit 0), do not fail.
skip_tier3() {
	echo "######################################################################"
	echo "## SKIP tier 3 ($arch): $1"
	echo "## No test host ran; no tier-3 test ran."
	echo "######################################################################"
	result tier3 skip "$1"
	exit 0
}

# emulator_from_suite: prints the path of $qemu_bin unpacked from $qemu_suite (or fails).
emulator_from_suite() {
	local ver libs debs d root
	ver=$(apt_private "$qemu_suite" "$build_debarch" apt-cache show --no-all-versions "$qemu_pkg" 2>/dev/null |
		sed -n 's/^Version: //p') || return 1
	[ -n "$ver" ] || return 1
	root=$BOTHY_CACHE/$arch/emulator/$qemu_pkg-${ver//:/_}
	libs=$(apt_private "$qemu_suite" "$build_debarch" apt-cache show --no-all-versions "$qemu_pkg" |
		sed -n 's/^Depends: //p' | tr ',' '\n' | sed 's/|.*//; s/(.*//; s/ //g' | grep '^lib')
	# shellcheck disable=SC2086
	(need_pkgs $libs) >&2 || { warn "cannot install the libraries $qemu_pkg $ver needs"; return 1; }
	if [ ! -x "$root/usr/bin/$qemu_bin" ]; then
		# shellcheck disable=SC2086
		debs=$(apt_download "$qemu_suite" "$build_debarch" "$qemu_pkg" $qemu_data) || return 1
		rm -rf "$root.tmp"
		for d in $debs; do deb_extract "$d" "$root.tmp"; done
		rm -rf "$root.tmp/usr/share/doc" "$root.tmp/usr/share/man" "$root"
		mv "$root.tmp" "$root"
	fi
	"$root/usr/bin/$qemu_bin" -version >/dev/null 2>&1 ||
		{ warn "$root/usr/bin/$qemu_bin does not run here"; return 1; }
	echo "$root/usr/bin/$qemu_bin"
}

qemu_fwdirs=()
if [ -n "${BOTHY_HOST_QEMU:-}" ]; then
	qemu=$BOTHY_HOST_QEMU
	[ -x "$qemu" ] || die "BOTHY_HOST_QEMU=$qemu is not executable"
elif qemu=$(emulator_from_suite); then
	qroot=${qemu%/usr/bin/*}
	for d in "$qroot/usr/share/qemu" "$qroot/usr/share/seabios"; do
		[ -d "$d" ] && qemu_fwdirs+=("$d")
	done
else
	warn "no $qemu_pkg from $qemu_suite; falling back to the system's (older QEMU TCG may crash the host kernel)"
	if ! command -v "$qemu_bin" >/dev/null 2>&1; then
		(need_pkgs "$qemu_pkg") || true
		command -v "$qemu_bin" >/dev/null 2>&1 ||
			skip_tier3 "$qemu_bin is not available and $qemu_pkg could not be installed"
	fi
	qemu=$(command -v "$qemu_bin")
fi
qemu_L=()
for d in "${qemu_fwdirs[@]}"; do qemu_L+=(-L "$d"); done
log "emulator: $("$qemu" -version | head -n 1) ($qemu)"
need_pkgs busybox-static cpio xz-utils zstd dpkg

# ---------------------------------------------------------------------------------------------
# The host kernel and the cached base initramfs (busybox, KVM modules, /init).
hostdir=$BOTHY_CACHE/$arch/host
mkdir -p "$hostdir"
kdeb=
for meta in $k_metas; do
	kpkg=$(apt_kernel_dep "$k_suite" "$k_debarch" "$meta") || continue
	deb=$(apt_download "$k_suite" "$k_debarch" "$kpkg") || continue
	kmissing=
	if [ ! -e "$deb.checked" ]; then
		listing=$(dpkg-deb -c "$deb") || die "cannot read $deb"
		for f in $k_need; do
			grep -qE "/${f//./\\.}(\.xz|\.zst|\.gz)?\$" <<<"$listing" || kmissing="$kmissing $f"
		done
	fi
	if [ -z "$kmissing" ]; then
		touch "$deb.checked"
		kdeb=$deb
		break
	fi
	warn "$kpkg lacks$kmissing; trying the next flavour"
done
[ -n "$kdeb" ] || die "no host kernel with$k_need found in $k_suite ($k_metas)"

host_init=$(cat <<'EOF'
#!/bin/sh
# bothy test host init (busybox). Generated by tests/host/run-host.sh.
export PATH=/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ip link set lo up 2>/dev/null
up() { cut -d' ' -f1 /proc/uptime; }
. /etc/bothy-host.conf
echo "@@HOST-UP $(up) $(uname -r)"
# Heartbeat: a line every 30 s while the host lives, so the runner can tell a quiet test (the suite
# prints nothing while a test runs) from a wedged host (no line at all for BOTHY_HOST_IDLE s).
# Not in shell mode: that console is someone's terminal.
hb=
if [ "$BOTHY_HOST_MODE" != shell ]; then
	(while sleep 30; do echo "@@HOST-ALIVE $(up)"; done) </dev/null &
	hb=$!
fi
modfail=
while read -r m args; do
	[ -n "$m" ] || continue
	err=$(insmod "/lib/modules/$m.ko" $args 2>&1) || modfail="$modfail $m($(echo ${err#insmod: }))"
done </lib/modules/load-order
end() {
	[ -z "$hb" ] || kill "$hb" 2>/dev/null
	echo "@@HOST-DONE $(up)"
	sync
	poweroff -f
	sleep 5
}
if [ ! -c /dev/kvm ]; then
	why="no /dev/kvm after loading the KVM modules"
	[ -n "$modfail" ] && why="$why; insmod failed:$modfail"
	[ "$BOTHY_HOST_ARCH" != x86_64 ] || grep -qwE 'svm|vmx' /proc/cpuinfo ||
		why="$why; the CPU shows neither svm nor vmx"
	echo "@@RESULT host-kvm fail $why"
	echo "@@HOST-NOKVM"
	[ "$BOTHY_HOST_MODE" = shell ] || end
else
	[ "$BOTHY_HOST_MODE" = shell ] || echo "@@RESULT host-kvm pass /dev/kvm ready at $(up)s on $(uname -r)"
fi
export BOTHY=/bin/bothy GUEST_KERNEL=/guest/vmlinuz GUEST_INITRD=/guest/initramfs.cpio.gz
export PAYLOADS=/payloads BOTHY_TEST_TIMEOUT BOTHY_SUITE_VERBOSE BOTHY_SUITE_FILTER BOTHY_HOST_ARCH
for q in /usr/bin/qemu-system-*; do [ -x "$q" ] && export QEMU="$q"; done
if [ -n "$BOTHY_QEMU_CHECK" ] && [ -n "${QEMU:-}" ]; then
	q=$QEMU
	if out=$(echo quit | timeout 60 $q $BOTHY_QEMU_CHECK -S -monitor stdio -serial none 2>&1); then
		[ "$BOTHY_HOST_MODE" = shell ] || echo "@@RESULT host-qemu pass $($q -version | head -n 1) starts with $BOTHY_QEMU_CHECK"
	else
		echo "@@RESULT host-qemu fail $(echo "$out" | tail -n 3 | tr '\n' ' ' | cut -c1-200)"
	fi
fi
if [ "$BOTHY_HOST_MODE" = shell ]; then
	cat /etc/motd
	setsid cttyhack sh -l
	end
fi
# Keep one idle VM for the whole run: KVM flips kernel static keys (preempt notifiers, LAPIC
# state) when the first VM appears and the last goes away, and the host's live text patching of
# those sites under QEMU TCG occasionally leaves a stray int3 that panics the host. With a VM
# always there, the keys stay on. (The payload halts after its one write and idles.)
pin=
if [ -x "$BOTHY" ] && [ -r /payloads/hello.elf ]; then
	"$BOTHY" run --kernel /payloads/hello.elf --console none --memory 8M </dev/null >/dev/null 2>&1 &
	pin=$!
fi
if [ -x /suite/run-suite.sh ]; then
	/suite/run-suite.sh /suite
else
	/usr/local/bin/run-suite.sh /suite
fi
if [ -d /bench ]; then
	# Benchmarks: the executable /bench/*.bench files; without any, every executable file.
	benches=$(ls /bench/*.bench 2>/dev/null)
	[ -n "$benches" ] || benches=$(ls /bench/* 2>/dev/null)
	for b in $benches; do
		[ -f "$b" ] && [ -x "$b" ] || continue
		name=bench-${b##*/}
		name=${name%.sh}
		name=${name%.bench}
		echo "=== $name"
		t0=$(up)
		# TERM at the limit, KILL 30 s later (busybox timeout has no -k): a benchmark that ignores
		# TERM must not hold the host until the runner's stall watchdog.
		(cd /bench && timeout -s KILL $((BOTHY_BENCH_TIMEOUT + 30)) timeout "$BOTHY_BENCH_TIMEOUT" "$b" </dev/null 2>&1)
		st=$?
		secs=$(awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }')
		case $st in
		0)	echo "@@RESULT $name pass ran in ${secs}s" ;;
		77)	echo "@@RESULT $name skip exit status 77 (see its output)" ;;
		124|137|143) echo "@@RESULT $name fail timed out after ${BOTHY_BENCH_TIMEOUT}s" ;;
		*)	echo "@@RESULT $name fail exit status $st after ${secs}s" ;;
		esac
	done
fi
[ -z "$pin" ] || kill "$pin" 2>/dev/null
end
EOF
)

busybox_static bookworm "$k_debarch"
kkey=$(printf '%s\n' "${kdeb##*/}" "$host_modules" "$host_modargs" "$host_init" "$BUSYBOX_ID" |
	sha256sum | cut -c1-16)
if [ ! -s "$hostdir/base.cpio.gz" ] || [ "$(cat "$hostdir/.key" 2>/dev/null)" != "$kkey" ]; then
	t0=$(now)
	tmpk=$(mktemp -d "${TMPDIR:-/tmp}/bothy-hostk.XXXXXX")
	dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$tmpk" --wildcards "./$k_image" './lib/modules/*' ||
		die "cannot unpack $kdeb"
	# shellcheck disable=SC2206
	kimgs=("$tmpk"/$k_image)
	[ -s "${kimgs[0]}" ] || die "no $k_image in $kdeb"
	kver=${kimgs[0]##*/vmlinuz-}
	kver=${kver##*/vmlinux-}
	kver=${kver##*/Image-}
	root=$tmpk/root
	busybox_root "$root" "$BUSYBOX"
	# shellcheck disable=SC2086
	kmod_install "$tmpk/lib/modules/$kver" "$root/lib/modules" $host_modules
	while read -r m a; do
		[ -n "$m" ] && sed -i "s/^$m\$/$m $a/" "$root/lib/modules/load-order"
	done <<<"$host_modargs"
	printf '%s\n' "$host_init" >"$root/init"
	chmod 0755 "$root/init"
	cpio_pack "$root" "$hostdir/base.cpio.gz" gzip
	install -m 0644 "${kimgs[0]}" "$hostdir/vmlinuz"
	echo "$kver" >"$hostdir/kernel-version"
	echo "$kkey" >"$hostdir/.key"
	mods=$(tr '\n' ' ' <"$root/lib/modules/load-order")
	rm -rf "$tmpk"
	log "host kernel $kver prepared in $(elapsed "$t0") s (modules: $mods)"
fi
kver=$(cat "$hostdir/kernel-version")

# The guest the tests boot inside the host.
eval "$("$repo/scripts/guest-assets.sh" "$arch" | grep -E '^GUEST_(KERNEL|INITRD)=')"
[ -s "${GUEST_KERNEL:-}" ] && [ -s "${GUEST_INITRD:-}" ] || die "guest assets missing"

# ---------------------------------------------------------------------------------------------
# QEMU for the benchmarks (cached, keyed by the installed binary): the host machine's own binary,
# its shared libraries and the firmware it loads. No debootstrap: seconds, not minutes.
qemu_cpio=
if [ -n "$bench" ] || [ -n "$with_qemu" ]; then
	bench_qemu=${BOTHY_BENCH_QEMU:-$qemu}
	[ -x "$bench_qemu" ] || die "BOTHY_BENCH_QEMU=$bench_qemu is not executable"
	qkey=$( (stat -L -c '%n %s %Y' "$bench_qemu"; echo "$bench_firmware") | sha256sum | cut -c1-16)
	qemu_cpio=$hostdir/qemu-$qkey.cpio
	if [ ! -s "$qemu_cpio" ]; then
		t0=$(now)
		tmpq=$(mktemp -d "${TMPDIR:-/tmp}/bothy-hostq.XXXXXX")
		copy_with_libs "$bench_qemu" "$tmpq" "/usr/bin/$qemu_bin"
		# The firmware it loads, all in /usr/share/qemu (the first directory QEMU searches). Taken
		# from the emulator's own unpacked data when that is the binary, else from the system's.
		fwdirs=(/usr/share/qemu /usr/share/seabios /usr/lib/ipxe/qemu)
		[ "$bench_qemu" = "$qemu" ] && fwdirs=("${qemu_fwdirs[@]}" "${fwdirs[@]}")
		for fw in $bench_firmware; do
			for d in "${fwdirs[@]}"; do
				if [ -e "$d/$fw" ]; then
					install -D -m 0644 "$(readlink -f "$d/$fw")" "$tmpq/usr/share/qemu/$fw"
					break
				fi
			done
			[ -e "$tmpq/usr/share/qemu/$fw" ] || warn "QEMU firmware $fw not found (${fwdirs[*]})"
		done
		rm -f "$hostdir"/qemu-*.cpio
		cpio_pack "$tmpq" "$qemu_cpio" none
		rm -rf "$tmpq"
		log "QEMU bundle ($(du -sh "$qemu_cpio" | cut -f1)) prepared in $(elapsed "$t0") s"
	fi
fi

# ---------------------------------------------------------------------------------------------
# The per-run part of the initramfs: bothy, guest assets, payloads, suite, bench, configuration.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bothy-host.XXXXXX")
cleanup() { [ -n "$keep" ] && log "kept $tmp" || rm -rf "$tmp"; }
trap cleanup EXIT
t0=$(now)
run=$tmp/run
mkdir -p "$run/bin" "$run/guest" "$run/payloads" "$run/suite" "$run/etc" "$run/usr/local/bin"
if [ -n "$bothy" ]; then
	if is_static "$bothy"; then
		install -m 0755 "$bothy" "$run/bin/bothy"
	else
		warn "$bothy is not a static executable; copying its shared libraries too (use make STATIC=1)"
		copy_with_libs "$bothy" "$run" /bin/bothy
	fi
fi
cp "$GUEST_KERNEL" "$run/guest/vmlinuz"
cp "$GUEST_INITRD" "$run/guest/initramfs.cpio.gz"
[ -z "$payloads" ] || cp -a "$payloads/." "$run/payloads/"
# -L: a suite may link shared helpers from elsewhere (tests/integration/aarch64/linux.sh).
[ -z "$suite" ] || cp -aL "$suite/." "$run/suite/"
[ -z "$bench" ] || { mkdir -p "$run/bench"; cp -a "$bench/." "$run/bench/"; }
install -m 0755 "$repo/tests/integration/run-suite.sh" "$run/usr/local/bin/run-suite.sh"
cat >"$run/etc/bothy-host.conf" <<EOF
BOTHY_HOST_MODE=$([ -n "$shell_mode" ] && echo shell || echo suite)
BOTHY_HOST_ARCH=$arch
BOTHY_TEST_TIMEOUT=${BOTHY_TEST_TIMEOUT:-300}
BOTHY_BENCH_TIMEOUT=${BOTHY_BENCH_TIMEOUT:-600}
BOTHY_SUITE_VERBOSE=${BOTHY_SUITE_VERBOSE:-0}
BOTHY_SUITE_FILTER="${BOTHY_SUITE_FILTER:-}"
BOTHY_QEMU_CHECK="$([ -n "$qemu_cpio" ] && echo "$bench_check")"
EOF
cat >"$run/etc/motd" <<EOF

bothy test host ($arch, Linux $kver, real KVM under emulation). Try:
  bothy run --kernel /guest/vmlinuz --initrd /guest/initramfs.cpio.gz
  bothy run --kernel /guest/vmlinuz --initrd /guest/initramfs.cpio.gz --append '-- uname -a'
Files: /bin/bothy, /guest/{vmlinuz,initramfs.cpio.gz}, /payloads, /suite$([ -n "$bench" ] && echo ", /bench")$([ -n "$qemu_cpio" ] && echo ", /usr/bin/$qemu_bin").
'exit' (or Ctrl-A X) powers the host off.

EOF
cpio_pack "$run" "$tmp/run.cpio" none

# Concatenated archives: the kernel unpacks each in turn. Pad each to 4 bytes (newc alignment is
# counted from the start of the whole buffer; the kernel skips zero padding between archives).
initrd=$tmp/initrd
pad4() { local n; n=$(stat -c %s "$1"); head -c $(( (4 - n % 4) % 4 )) /dev/zero; }
{
	cat "$hostdir/base.cpio.gz"; pad4 "$hostdir/base.cpio.gz"
	if [ -n "$qemu_cpio" ]; then cat "$qemu_cpio"; pad4 "$qemu_cpio"; fi
	cat "$tmp/run.cpio"
} >"$initrd"
log "host initramfs: $(du -sh "$initrd" | cut -f1) in $(elapsed "$t0") s (kernel $kver)"

append="console=$console quiet panic=-1 ${BOTHY_HOST_APPEND:-}"
qemu_cmd=("$qemu" "${qemu_L[@]}" "${qemu_machine[@]}" -smp "$cpus" -m "$mem" -nodefaults -no-user-config
	-no-reboot -kernel "$hostdir/vmlinuz" -initrd "$initrd" -append "$append")

if [ -n "$shell_mode" ]; then
	log "booting the test host interactively (Ctrl-A X quits QEMU)"
	"${qemu_cmd[@]}" -display none -serial mon:stdio
	exit $?
fi

# ---------------------------------------------------------------------------------------------
# Boot it, stream the console.
logf=$BOTHY_CACHE/logs/host-$(date +%Y%m%d-%H%M%S)-$$.log
log "booting the $arch test host (timeout ${timeout}s, idle limit ${idle}s); console log: $logf"
t_boot=$(now)
# The watchdog. Once up, the host prints @@HOST-ALIVE every 30 s, so no console line at all for
# $idle s means its kernel froze: QEMU then idles silently and would hold us for the whole
# --timeout. The reader stops QEMU through its timeout wrapper, whose pid the pipeline's first
# subshell leaves in $tmp before exec'ing it: SIGTERM to timeout makes it send TERM and CONT to
# QEMU and KILL 10 s later, as on --timeout, and the pipeline ends as it always does. It notes the
# stop in $tmp/stopped, with the reason, for the verdict below. Before @@HOST-UP only --timeout
# counts: the boot under TCG prints little (quiet) and may take a minute or more. The same stop ends
# a host that stalled: alive, but no "=== " (a test starts) or @@RESULT line for $stall s.
rm -f "$tmp/stopped"
read_t=()	# the reader's read -t: none before @@HOST-UP
progress=''	# $SECONDS at the last sign of progress, once up
# stop_host WHY: stops QEMU once (status 1 if it was stopped already).
stop_host() {
	[ ! -e "$tmp/stopped" ] || return 1
	echo "$1" >"$tmp/stopped"
	printf '%s\n' "run-host.sh: $1; stopping QEMU" >>"$logf"
	log "$1; stopping QEMU"
	kill -TERM "$(cat "$tmp/timeout.pid")" 2>/dev/null
	return 0
}
set +e
{ echo "$BASHPID" >"$tmp/timeout.pid"
	exec timeout -k 10 "$timeout" "${qemu_cmd[@]}" -display none -serial stdio </dev/null 2>&1; } |
	while :; do
		IFS= read -r "${read_t[@]}" line
		st=$?
		if [ "$st" -gt 128 ]; then	# -t ran out
			# read keeps a partial line; log it, or it is lost.
			[ -z "$line" ] || printf '%s\n' "${line//$'\r'/}" >>"$logf"
			# Stopped already and still no end: leave the rest to --timeout.
			stop_host "no console output for ${idle} s (the host wedged)" || break
			continue
		fi
		[ "$st" -eq 0 ] || break	# end of the console
		line=${line//$'\r'/}
		printf '%s\n' "$line" >>"$logf"
		case $line in
		@@RESULT\ *)
			progress=$SECONDS
			echo "$line"
			[ -z "$results" ] || echo "$line" >>"$results" ;;
		@@HOST-UP\ *)
			progress=$SECONDS
			[ "$idle" -eq 0 ] || read_t=(-t "$idle")
			echo "host| $line (booted $(elapsed "$t_boot") s after QEMU start)" ;;
		@@HOST-ALIVE\ *) ;;	# the host's heartbeat: the log has it, the terminal need not
		'=== '*)
			progress=$SECONDS
			echo "host| $line" ;;
		*)	echo "host| $line" ;;
		esac
		# The heartbeat brings the reader here at least every 30 s.
		if [ -n "$progress" ] && [ $((SECONDS - progress)) -gt "$stall" ]; then
			stop_host "no test or benchmark finished for ${stall} s (the host stalled)"
			progress=''
		fi
	done
qst=${PIPESTATUS[0]}
set -e
total=$(elapsed "$t_start")

if grep -q '^@@HOST-NOKVM' "$logf"; then
	grep -q '^@@RESULT host-kvm fail' "$logf" || result host-kvm fail "KVM unavailable in the test host"
	log "FAILED: KVM is not available inside the $arch test host (see $logf)"
	exit 2
fi
if grep -q '^@@HOST-DONE' "$logf"; then
	log "test host ran to the end in $(elapsed "$t_boot") s (whole run ${total} s); log: $logf"
	exit 0
fi
if [ -s "$tmp/stopped" ]; then
	why=$(cat "$tmp/stopped")
elif [ "$qst" -eq 124 ] || [ "$qst" -eq 137 ]; then
	why="timed out after ${timeout}s"
elif grep -q '^@@HOST-UP' "$logf"; then
	why="the host stopped before finishing (QEMU exit status $qst)"
else
	why="the host did not boot (QEMU exit status $qst)"
fi
tail -n 20 "$logf" | sed 's/^/host(last)| /' >&2
result host-boot fail "$why; log: $logf"
log "FAILED: $why"
exit 2
