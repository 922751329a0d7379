#!/bin/bash
# Builds a hybrid BIOS + UEFI boot ISO (GRUB, multiboot v1) around one kernel.
# Host tool: qemu/mkiso.sh KERNEL_ELF OUT_ISO [CMDLINE]
# Reproducible: the same inputs give the same ISO bytes (see SOURCE_DATE_EPOCH).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "mkiso.sh: $*" >&2; exit 1; }

[ $# -ge 2 ] && [ $# -le 3 ] || die "usage: $0 KERNEL_ELF OUT_ISO [CMDLINE]"
kernel=$1 out=$2 cmdline=${3-}
[ -f "$kernel" ] || die "no kernel file: $kernel"
# GRUB script would expand or split on these; the kernel cmdline is plain words.
case $cmdline in
    *[\'\"\\\$\;\|\&\<\>\{\}\#]* | *$'\n'*) die "unsupported character in CMDLINE: $cmdline" ;;
esac
for platform in i386-pc x86_64-efi; do
    [ -d "/usr/lib/grub/$platform" ] || die "missing /usr/lib/grub/$platform (grub-pc-bin / grub-efi-amd64-bin)"
done
for tool in grub-mkrescue xorriso mformat cc; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done

# 1980-01-01: the earliest date FAT (efi.img), ISO 9660 and GRUB's UUID all hold.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-315532800}
# Only what grub.cfg.in uses (plus dependencies); keeps the ISO at ~4 MiB.
modules="multiboot normal serial terminal configfile"
timeout=${GRUB_TIMEOUT:-1}  # menu wait in seconds; 0 boots at once
[[ $timeout =~ ^[0-9]+$ ]] || die "GRUB_TIMEOUT must be a number of seconds"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkiso.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/root/boot/grub"
cp "$kernel" "$tmp/root/boot/mpvisor.elf"
tmpl=$(<"$here/grub.cfg.in")
tmpl=${tmpl//@CMDLINE@/"$cmdline"}
tmpl=${tmpl//@TIMEOUT@/"$timeout"}
printf '%s\n' "$tmpl" >"$tmp/root/boot/grub/grub.cfg"
find "$tmp/root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# grub-mkrescue names the ISO volume (and the `search --fs-uuid` line baked into
# its core images) after time(NULL) and ignores SOURCE_DATE_EPOCH; xorriso and
# mtools honour it. Pin time() for grub-mkrescue alone (the shim drops itself
# from LD_PRELOAD so the tools it runs keep a real clock).
cat >"$tmp/fixtime.c" <<'EOF'
#include <stdlib.h>
#include <time.h>
__attribute__((constructor)) static void drop(void) { unsetenv("LD_PRELOAD"); }
time_t time(time_t *t) {
    time_t v = (time_t)strtoll(getenv("SOURCE_DATE_EPOCH"), NULL, 10);
    if (t) *t = v;
    return v;
}
EOF
cc -shared -fPIC -O2 -o "$tmp/fixtime.so" "$tmp/fixtime.c" 2>"$tmp/cc.log" ||
    { cat "$tmp/cc.log" >&2; die "cannot build the time() shim"; }

# File dates in the ISO come from grub-mkrescue's scratch copies: pin them too.
printf '#!/bin/sh\nexec xorriso "$@" --set_all_file_dates "=$SOURCE_DATE_EPOCH"\n' >"$tmp/xorriso"
# ... and the FAT serial of efi.img, which mformat otherwise draws at random.
mkdir "$tmp/bin"
printf '#!/bin/sh\nexec %q -N 4d505653 "$@"\n' "$(command -v mformat)" >"$tmp/bin/mformat"
chmod +x "$tmp/xorriso" "$tmp/bin/mformat"

mkdir -p "$(dirname "$out")"
if ! PATH="$tmp/bin:$PATH" LD_PRELOAD="$tmp/fixtime.so" grub-mkrescue --xorriso="$tmp/xorriso" \
        --locales= --fonts= --themes= --install-modules="$modules" \
        -o "$tmp/out.iso" "$tmp/root" >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2
    die "grub-mkrescue failed"
fi
# grub-mkrescue quietly drops a platform whose tools are missing: insist on both.
eltorito=$(xorriso -indev "$tmp/out.iso" -report_el_torito plain 2>/dev/null)
for want in BIOS UEFI; do
    grep -q "El Torito boot img : *[0-9]* *$want " <<<"$eltorito" ||
        { cat "$tmp/log" >&2; die "ISO has no $want boot image"; }
done
mv "$tmp/out.iso" "$out"
