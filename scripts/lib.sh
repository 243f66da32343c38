# shellcheck shell=bash
# scripts/lib.sh: helpers shared by bothy's shell scripts (bash). Source it:
#   . "$(dirname "$0")/lib.sh"          (or a path relative to the repository root)
#
# Provides:
#   log/warn/die                 messages on stderr, prefixed with the script's name
#   BOTHY_CACHE                  download/build cache, default ~/.cache/bothy
#   need_pkgs PKG...             apt-get install the missing Debian packages (apt-get update at most once)
#   debian_mirror / debian_security_mirror
#                                archive URIs read from the system's apt sources (never hard-coded)
#   apt_private SUITE ARCH CMD ARGS...
#                                run apt-get/apt-cache against a private configuration for SUITE/ARCH
#                                (the system's apt sources and state are never modified)
#   apt_download SUITE ARCH PKG...
#                                download .debs into the cache; prints their paths, one a line
#   apt_kernel_dep SUITE ARCH METAPKG
#                                prints the versioned linux-image-* package a kernel metapackage depends on
#   deb_extract DEB DIR          unpack a .deb (dpkg-deb -x) into DIR
#   kmod_install MODROOT DEST MOD...
#                                copy kernel modules (MOD and their dependencies, read from each module's
#                                modinfo "depends=" field) decompressed into DEST, and write DEST/load-order
#   busybox_static SUITE DEBARCH sets BUSYBOX (a static busybox for DEBARCH: this machine's own, or
#                                busybox-static of DEBARCH from SUITE unpacked into the cache) and
#                                BUSYBOX_ID (its version or package file, for cache keys)
#   copy_with_libs BINARY ROOT   copy a dynamic executable and the shared libraries ldd lists into ROOT
#   cpio_pack DIR OUT [gzip|none] pack DIR as a newc cpio archive (owner root)
#
# Environment knobs: BOTHY_CACHE, BOTHY_DEBIAN_MIRROR, BOTHY_DEBIAN_SECURITY_MIRROR,
# BOTHY_APT_MAX_AGE (seconds before private package lists are refreshed, default 86400).

BOTHY_CACHE=${BOTHY_CACHE:-${HOME:-/root}/.cache/bothy}
export BOTHY_CACHE

_bothy_prog=${0##*/}

log()  { printf '%s: %s\n' "$_bothy_prog" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$_bothy_prog" "$*" >&2; }
die()  { printf '%s: error: %s\n' "$_bothy_prog" "$*" >&2; exit 1; }

# Seconds since the epoch, with sub-second precision where date(1) has it.
now() { date +%s.%N 2>/dev/null || date +%s; }
# elapsed START: seconds since START (from now()), one decimal.
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

_apt_updated=

# need_pkgs PKG...: install whichever of the Debian packages are missing.
need_pkgs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] ||
		die "missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
	log "installing Debian packages: ${missing[*]}"
	local aptopts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
	# An empty package cache (fresh container) needs an update before anything installs.
	if [ -z "$_apt_updated" ] && ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
		apt-get -q -o DPkg::Lock::Timeout=600 update >&2 || die "apt-get update failed"
		_apt_updated=1
	fi
	if ! DEBIAN_FRONTEND=noninteractive apt-get install "${aptopts[@]}" "${missing[@]}" >&2; then
		[ -n "$_apt_updated" ] && return 1
		log "install failed; running apt-get update once and retrying"
		apt-get -q -o DPkg::Lock::Timeout=600 update >&2 || die "apt-get update failed"
		_apt_updated=1
		DEBIAN_FRONTEND=noninteractive apt-get install "${aptopts[@]}" "${missing[@]}" >&2 ||
			return 1
	fi
}

# _apt_source_uris: "URI SUITE" pairs of every deb source the system's apt reads
# (one-line .list files and deb822 .sources files).
_apt_source_uris() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk '$1 == "deb" {
			i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			print $i, $(i + 1) }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk 'function flush() {
			if (deb && enabled) for (u in uris) for (s in suites) print u, s
			delete uris; delete suites; deb = 0; enabled = 1 }
		BEGIN { enabled = 1 }
		/^[ \t]*$/ { flush(); next }
		/^#/ { next }
		{ key = tolower($1) }
		key == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
		key == "enabled:" { enabled = (tolower($2) != "no") }
		key == "uris:" { for (i = 2; i <= NF; i++) uris[$i] = 1 }
		key == "suites:" { for (i = 2; i <= NF; i++) suites[$i] = 1 }
		END { flush() }' "$f"
	done
}

# debian_mirror: the Debian archive URI the system already uses (e.g. http://HOST/debian).
debian_mirror() {
	if [ -n "${BOTHY_DEBIAN_MIRROR:-}" ]; then echo "${BOTHY_DEBIAN_MIRROR%/}"; return; fi
	local u
	u=$(_apt_source_uris | awk '$2 ~ /^(bookworm|trixie|forky|bullseye|sid|stable|testing|unstable|oldstable)(-updates|-backports)?$/ { print $1; exit }')
	[ -n "$u" ] || die "cannot find a Debian archive in /etc/apt/sources.list(.d); set BOTHY_DEBIAN_MIRROR=http://HOST/debian"
	echo "${u%/}"
}

# debian_security_mirror: the Debian security archive URI the system uses.
debian_security_mirror() {
	if [ -n "${BOTHY_DEBIAN_SECURITY_MIRROR:-}" ]; then echo "${BOTHY_DEBIAN_SECURITY_MIRROR%/}"; return; fi
	local u
	u=$(_apt_source_uris | awk '$2 ~ /-security$/ { print $1; exit }')
	[ -n "$u" ] || u="$(debian_mirror)-security"
	echo "${u%/}"
}

# _apt_dir SUITE ARCH: create the private apt tree for SUITE/ARCH and print its path.
# SUITE "bookworm" (or any release codename) also gets its -updates and -security suites.
_apt_dir() {
	local suite=$1 arch=$2 d mirror sec keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	d=$BOTHY_CACHE/apt/$suite-$arch
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/empty" || die "cannot create $d"
	[ -e "$d/status" ] || : >"$d/status"
	[ -r "$keyring" ] || need_pkgs debian-archive-keyring
	mirror=$(debian_mirror) || exit 1
	case $suite in
	*-*)	printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" ;;
	*)	sec=$(debian_security_mirror) || exit 1
		printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" "$keyring" "$mirror" "$suite-updates"
		printf 'deb [signed-by=%s] %s %s-security main\n' "$keyring" "$sec" "$suite" ;;
	esac >"$d/sources.list.new"
	if cmp -s "$d/sources.list.new" "$d/sources.list"; then
		rm -f "$d/sources.list.new"
	else
		mv "$d/sources.list.new" "$d/sources.list"
		rm -f "$d/updated"
	fi
	echo "$d"
}

# _apt_opts DIR ARCH: the private-configuration options (one per line).
_apt_opts() {
	local d=$1 arch=$2
	printf '%s\n' -q \
		-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=$d/empty" \
		-o "Dir::Etc::Preferences=$d/empty/none" -o "Dir::Etc::PreferencesParts=$d/empty" \
		-o "Dir::State::Lists=$d/lists" -o "Dir::State::status=$d/status" \
		-o "Dir::Cache=$d/cache" -o "Dir::Cache::pkgcache=pkgcache.bin" -o "Dir::Cache::srcpkgcache=" \
		-o "APT::Architecture=$arch" -o "APT::Architectures=$arch" \
		-o "APT::Sandbox::User=root" -o "Acquire::Languages=none"
}

# _apt_update DIR ARCH [force]: refresh the private lists when missing, stale, or forced.
_apt_update() {
	local d=$1 arch=$2 force=${3:-} age max=${BOTHY_APT_MAX_AGE:-86400}
	if [ -z "$force" ] && [ -e "$d/updated" ]; then
		age=$(( $(date +%s) - $(stat -c %Y "$d/updated") ))
		[ "$age" -lt "$max" ] && return 0
	fi
	log "updating private package lists for ${d##*/} ($(debian_mirror))"
	local opts
	mapfile -t opts < <(_apt_opts "$d" "$arch")
	apt-get "${opts[@]}" update >&2 || die "apt-get update (private lists ${d##*/}) failed"
	touch "$d/updated"
}

# apt_private SUITE ARCH apt-get|apt-cache ARGS...: run an apt command on the private lists.
apt_private() {
	local suite=$1 arch=$2 cmd=$3 d opts
	shift 3
	need_pkgs apt
	d=$(_apt_dir "$suite" "$arch") || exit 1
	(
		flock 9
		_apt_update "$d" "$arch"
	) 9>"$d/lock.bothy" || exit 1
	mapfile -t opts < <(_apt_opts "$d" "$arch")
	"$cmd" "${opts[@]}" "$@"
}

# apt_kernel_dep SUITE ARCH METAPKG: print the linux-image-<version> package METAPKG depends on.
apt_kernel_dep() {
	local suite=$1 arch=$2 meta=$3 dep
	dep=$(apt_private "$suite" "$arch" apt-cache show --no-all-versions "$meta" 2>/dev/null |
		awk '/^Depends:/ { sub(/^Depends:/, ""); n = split($0, a, ","); for (i = 1; i <= n; i++) {
			split(a[i], w, " "); if (w[1] ~ /^linux-image-[0-9]/) { print w[1]; exit } } }')
	[ -n "$dep" ] || { warn "no linux-image-<version> dependency of $meta in $suite/$arch"; return 1; }
	echo "$dep"
}

# apt_download SUITE ARCH PKG...: download the candidate .deb of each PKG into
# $BOTHY_CACHE/debs/SUITE-ARCH (kept there: later calls are free) and print the paths.
apt_download() {
	local suite=$1 arch=$2 d dest p ver a f tries
	shift 2
	d=$(_apt_dir "$suite" "$arch") || exit 1
	dest=$BOTHY_CACHE/debs/$suite-$arch
	mkdir -p "$dest"
	local opts
	for p in "$@"; do
		for tries in 1 2; do
			(
				flock 9
				_apt_update "$d" "$arch" "$([ "$tries" = 2 ] && echo force)"
			) 9>"$d/lock.bothy" || exit 1
			mapfile -t opts < <(_apt_opts "$d" "$arch")
			read -r ver a < <(apt-cache "${opts[@]}" show --no-all-versions "$p" 2>/dev/null |
				awk '/^Version:/ { v = $2 } /^Architecture:/ { a = $2 } END { if (v) print v, a }')
			if [ -z "${ver:-}" ]; then
				[ "$tries" = 1 ] && continue
				die "package $p not found in $suite ($arch) at $(debian_mirror)"
			fi
			f=$dest/${p}_${ver//:/%3a}_$a.deb
			if [ -s "$f" ]; then echo "$f"; break; fi
			log "downloading $p $ver ($suite/$arch)"
			if (cd "$dest" && apt-get "${opts[@]}" download "$p=$ver" >&2) && [ -s "$f" ]; then
				echo "$f"
				break
			fi
			[ "$tries" = 2 ] && die "downloading $p ($suite/$arch) failed"
		done
	done
}

# deb_extract DEB DIR
deb_extract() {
	mkdir -p "$2" && dpkg-deb -x "$1" "$2" || die "cannot unpack $1"
}

# _ko_cat FILE: a module's bytes, decompressed.
_ko_cat() {
	case $1 in
	*.xz)	xz -dc "$1" ;;
	*.zst)	zstd -dcq "$1" ;;
	*.gz)	gzip -dc "$1" ;;
	*)	cat "$1" ;;
	esac
}

# kmod_install MODROOT DEST MOD...: MODROOT is lib/modules/<version> of an unpacked kernel package.
# Modules that are built in (modules.builtin) are skipped; missing ones are reported and skipped.
# DEST gets <name>.ko files and DEST/load-order (dependencies first). Prints nothing on success.
kmod_install() {
	local root=$1 dest=$2 m
	shift 2
	mkdir -p "$dest"
	: >"$dest/load-order"
	local -A path=() seen=()
	local f n
	while IFS= read -r f; do
		n=${f##*/}; n=${n%%.ko*}; n=${n//-/_}
		path[$n]=$f
	done < <(find "$root" -name '*.ko*' -type f)
	_kmod_visit() {
		local name=${1//-/_} deps d
		[ -n "${seen[$name]:-}" ] && return 0
		seen[$name]=1
		if [ -z "${path[$name]:-}" ]; then
			if grep -qE "/${name//_/[-_]}\.ko\$" "$root/modules.builtin" 2>/dev/null; then
				return 0
			fi
			warn "kernel module $name not found in ${root##*/} (skipped)"
			return 0
		fi
		_ko_cat "${path[$name]}" >"$dest/$name.ko" || die "cannot decompress ${path[$name]}"
		deps=$(tr '\0' '\n' <"$dest/$name.ko" | sed -n 's/^depends=//p' | head -n 1)
		for d in ${deps//,/ }; do _kmod_visit "$d"; done
		echo "$name" >>"$dest/load-order"
	}
	for m in "$@"; do _kmod_visit "$m"; done
	unset -f _kmod_visit
}

# copy_with_libs BINARY ROOT [DESTPATH]: copy BINARY to ROOT/DESTPATH (default: same path) and
# every shared library ldd reports, with the dynamic loader, into ROOT at their paths.
copy_with_libs() {
	local bin=$1 root=$2 dst=${3:-$1} l
	install -D -m 0755 "$bin" "$root$dst" || die "cannot copy $bin"
	{ ldd "$bin" 2>/dev/null || true; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
	while read -r l; do
		[ -e "$root$l" ] && continue
		mkdir -p "$root${l%/*}"
		cp -L "$l" "$root$l" || die "cannot copy $l"
	done
}

# is_static ELF: true if the executable has no program interpreter.
is_static() {
	local out
	out=$(LC_ALL=C ldd "$1" 2>&1) || true
	case $out in *'not a dynamic executable'*|*'statically linked'*) return 0 ;; esac
	return 1
}

# busybox_static SUITE DEBARCH: sets BUSYBOX and BUSYBOX_ID (not in a subshell: call it directly).
busybox_static() {
	local suite=$1 debarch=$2 deb dir
	if [ "$debarch" = "$(dpkg --print-architecture)" ]; then
		need_pkgs busybox-static
		BUSYBOX=/bin/busybox
		BUSYBOX_ID=$(dpkg-query -W -f='${Version}' busybox-static)
		return 0
	fi
	deb=$(apt_download "$suite" "$debarch" busybox-static) || die "cannot download busybox-static ($suite/$debarch)"
	dir=$BOTHY_CACHE/busybox/${deb##*/}
	if [ ! -x "$dir/bin/busybox" ]; then
		rm -rf "$dir.tmp"
		deb_extract "$deb" "$dir.tmp"
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
	fi
	BUSYBOX=$dir/bin/busybox
	BUSYBOX_ID=${deb##*/}
}

# busybox_root DIR [BUSYBOX]: install a static busybox (default this machine's) with its applet
# links and the usual directories into DIR.
busybox_root() {
	local root=$1 bb=${2:-/bin/busybox} a
	mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/dev" "$root/proc" \
		"$root/sys" "$root/tmp" "$root/run" "$root/root" "$root/etc"
	install -m 0755 "$bb" "$root/bin/busybox"
	# A foreign-architecture busybox cannot list its applets here: use this machine's list.
	for a in $("$bb" --list-full 2>/dev/null || busybox --list-full); do
		[ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
	done
	# The kernel opens /dev/console before /init runs; make sure it exists.
	[ -e "$root/dev/console" ] || mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
}

# cpio_pack DIR OUT [gzip|none]: newc archive of DIR, files owned by root.
cpio_pack() {
	local dir=$1 out=$2 comp=${3:-gzip}
	need_pkgs cpio
	(
		cd "$dir" || exit 1
		find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet
	) | if [ "$comp" = gzip ]; then gzip -6n; else cat; fi >"$out.tmp" || die "cpio of $dir failed"
	mv "$out.tmp" "$out"
}
