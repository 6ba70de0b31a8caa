#!/usr/bin/env bash
# Fetches the Linux guests the integration tests and `vx86 bench linux` boot: Debian's stock
# kernels (linux-image-amd64 and linux-image-686-pae, each resolved to the real
# linux-image-6.1.*-* package) and busybox-static for amd64 and i386, then builds one
# initramfs per architecture (cpio newc, gzip; written by `vx86 initramfs`) whose /init is
# scripts/linux-init.sh.
#
# Result, per architecture ARCH in x86_64 and i386:
#   $VX86_GUESTS/ARCH/vmlinuz            the kernel (bzImage)
#   $VX86_GUESTS/ARCH/busybox            busybox, statically linked
#   $VX86_GUESTS/ARCH/initramfs.cpio.gz  the initramfs
# VX86_GUESTS defaults to .cache/guests (git ignores .cache). A second run reuses what is
# there; delete the folder to fetch afresh.
#
# On a host without apt, put vmlinuz and busybox for each architecture in that layout
# yourself (from Debian's packages named below: `dpkg-deb -x` or `ar x` + `tar`), then run
# this script again: it only builds the initramfs.
set -euo pipefail
cd "$(dirname "$0")/.."

guests=${VX86_GUESTS:-.cache/guests}
debs="$guests/debs"
mkdir -p "$guests/x86_64" "$guests/i386" "$debs"

# arch dir, Debian architecture, kernel metapackage
targets=("x86_64 amd64 linux-image-amd64" "i386 i386 linux-image-686-pae")

have_files() {
    [ -s "$guests/$1/vmlinuz" ] && [ -s "$guests/$1/busybox" ]
}

need_apt=no
for t in "${targets[@]}"; do
    set -- $t
    have_files "$1" || need_apt=yes
done

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "fetch-linux-guests: '$*' needs root" >&2
        return 1
    fi
}

if [ "$need_apt" = yes ]; then
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
        cat >&2 <<EOF
fetch-linux-guests: apt-get and dpkg-deb are not available on this host.
Provide the guests by hand, then run this script again (it then only builds the initramfs):
  $guests/x86_64/vmlinuz   /boot/vmlinuz-6.1.*-amd64 from Debian 12's linux-image-6.1.*-amd64
                           (the package linux-image-amd64 depends on), architecture amd64
  $guests/x86_64/busybox   /bin/busybox from Debian 12's busybox-static, amd64
  $guests/i386/vmlinuz     /boot/vmlinuz-6.1.*-686-pae from linux-image-6.1.*-686-pae
                           (the package linux-image-686-pae depends on), architecture i386
  $guests/i386/busybox     /bin/busybox from Debian 12's busybox-static, i386
Set VX86_GUESTS to use another folder than .cache/guests.
EOF
        exit 1
    fi
    if ! dpkg --print-foreign-architectures | grep -qx i386; then
        as_root dpkg --add-architecture i386
    fi
    if ! apt-cache show linux-image-686-pae:i386 >/dev/null 2>&1 ||
        ! apt-cache show linux-image-amd64:amd64 >/dev/null 2>&1; then
        # A mirror in the middle of a sync fails some index files; the packages are usually
        # known all the same (checked when they are resolved below), so go on, once retried.
        as_root apt-get update -qq || as_root apt-get update -qq ||
            echo "fetch-linux-guests: apt-get update reported errors; trying with the lists it has" >&2
    fi
fi

# Downloads package $1 (name:arch) into $debs unless a .deb of it is there; prints its path.
download() {
    local name=${1%%:*} arch=${1##*:}
    local ver file
    ver=$(apt-cache policy "$1" | awk '/Candidate:/ {print $2}')
    if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
        echo "fetch-linux-guests: apt knows no package $1 (is Debian's main archive in the sources?)" >&2
        return 1
    fi
    # apt-get download names files NAME_VERSION_ARCH.deb with ':' in the version as %3a.
    file="$debs/${name}_${ver//:/%3a}_${arch}.deb"
    if [ ! -s "$file" ]; then
        # apt drops privileges to _apt when it can; a folder it cannot write makes it warn.
        (cd "$debs" && apt-get download -q "$1" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
    fi
    [ -s "$file" ] || { echo "fetch-linux-guests: download of $1 failed" >&2; return 1; }
    echo "$file"
}

for t in "${targets[@]}"; do
    set -- $t
    dir=$1 arch=$2 meta=$3
    if have_files "$dir"; then
        continue
    fi
    real=$(apt-cache depends "$meta:$arch" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    real=${real%%:*}
    if [ -z "$real" ]; then
        echo "fetch-linux-guests: cannot resolve $meta:$arch to a linux-image-6.1.* package" >&2
        exit 1
    fi
    echo "fetch-linux-guests: $meta ($arch) -> $real, busybox-static"
    kdeb=$(download "$real:$arch")
    bdeb=$(download "busybox-static:$arch")
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    dpkg-deb -x "$kdeb" "$tmp/k"
    dpkg-deb -x "$bdeb" "$tmp/b"
    cp "$(ls "$tmp"/k/boot/vmlinuz-* | head -n1)" "$guests/$dir/vmlinuz"
    cp "$tmp/b/bin/busybox" "$guests/$dir/busybox"
    rm -rf "$tmp"
    trap - EXIT
done

init=scripts/linux-init.sh
for t in "${targets[@]}"; do
    set -- $t
    out="$guests/$1/initramfs.cpio.gz"
    if [ -s "$out" ] && [ "$out" -nt "$init" ] && [ "$out" -nt "$guests/$1/busybox" ]; then
        continue
    fi
    echo "fetch-linux-guests: building $out"
    if [ -n "${VX86:-}" ]; then
        "$VX86" initramfs --busybox "$guests/$1/busybox" --init "$init" -o "$out"
    else
        cargo run --quiet --release --bin vx86 -- \
            initramfs --busybox "$guests/$1/busybox" --init "$init" -o "$out"
    fi
done
echo "fetch-linux-guests: guests ready in $guests"
