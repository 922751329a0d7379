#!/bin/bash
# Builds a hybrid BIOS + UEFI boot ISO (GRUB, multiboot v1) around one kernel.
# Host tool: qemu/mkiso.sh KERNEL_ELF OUT_ISO [CMDLINE] [ENTRY...]
#   ENTRY = "TITLE|CMDLINE|FILE ARGS|FILE ARGS..." adds a menu entry booting
#   the kernel with CMDLINE and one `module /boot/modules/NAME NAME ARGS` line
#   per FILE (copied in as NAME, its file name; GRUB 2 gives a module only the
#   words after the path, so NAME comes first). GRUB_DEFAULT picks the entry
#   booted when the menu times out (0: the plain first one), GRUB_TIMEOUT when.
# Reproducible: the same inputs give the same ISO bytes (see SOURCE_DATE_EPOCH).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "mkiso.sh: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $0 KERNEL_ELF OUT_ISO [CMDLINE] [ENTRY...]"
kernel=$1 out=$2 cmdline=${3-}
entries=("${@:4}")
[ -f "$kernel" ] || die "no kernel file: $kernel"
# GRUB script would expand or split on these; command lines are plain words.
plain() {
    case $2 in
        *[\'\"\\\$\;\|\&\<\>\{\}\#]* | *$'\n'*) die "unsupported character in $1: $2" ;;
    esac
}
plain CMDLINE "$cmdline"
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

mkdir -p "$tmp/root/boot/grub" "$tmp/root/boot/modules"
cp "$kernel" "$tmp/root/boot/mpvisor.elf"
menu=""
for entry in "${entries[@]}"; do
    IFS='|' read -r -a field <<<"$entry"
    [ ${#field[@]} -ge 2 ] || die "ENTRY needs TITLE|CMDLINE[|FILE ARGS...]: $entry"
    plain "ENTRY title" "${field[0]}"
    plain "ENTRY cmdline" "${field[1]}"
    menu+=$'\n'"menuentry \"${field[0]}\" {"$'\n'"    multiboot /boot/mpvisor.elf ${field[1]}"
    for module in "${field[@]:2}"; do
        plain "ENTRY module" "$module"
        read -r file args <<<"$module"
        [ -f "$file" ] || die "no module file: $file"
        name=$(basename "$file")
        if [ -e "$tmp/root/boot/modules/$name" ]; then
            cmp -s "$file" "$tmp/root/boot/modules/$name" || die "two module files named $name"
        fi
        cp "$file" "$tmp/root/boot/modules/$name"
        menu+=$'\n'"    module /boot/modules/$name $name${args:+ $args}"
    done
    menu+=$'\n'"    boot"$'\n'"}"
done
default=${GRUB_DEFAULT:-0}
[[ $default =~ ^[0-9]+$ ]] && [ "$default" -le ${#entries[@]} ] ||
    die "GRUB_DEFAULT must be an entry number from 0 to ${#entries[@]}"
tmpl=$(<"$here/grub.cfg.in")
tmpl=${tmpl//@CMDLINE@/"$cmdline"}
tmpl=${tmpl//@TIMEOUT@/"$timeout"}
tmpl=${tmpl//@DEFAULT@/"$default"}
tmpl=${tmpl//@ENTRIES@/"$menu"}
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
