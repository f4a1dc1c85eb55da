# shellcheck shell=bash
# Shared by run.sh and size.sh (sourced, not run). Installs what is missing, non-interactively.

# The firmware's target: thumbv7m (the default in .cargo/config.toml) or, to check the v6-M build
# under the same Cortex-M3 machine, thumbv6m-none-eabi.
TARGET=${TARGET:-thumbv7m-none-eabi}
BIN=embassy-qemu

die() {
    echo "error: $*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "missing $*, and no apt-get to install them"
    # --no-remove: never take away what the machine already has (a package that conflicts).
    local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends
        --no-remove "$@")
    # Refresh the package lists only when apt does not know the packages (a fresh image has
    # none) or when installing from the current lists fails (stale lists).
    if ! apt-cache show "$@" >/dev/null 2>&1; then
        as_root apt-get update
    fi
    if ! as_root "${install[@]}"; then
        as_root apt-get update
        as_root "${install[@]}" && return 0
        qemu_from_backports "$@" && return 0
        die "apt-get could not install $* without removing packages; install them yourself"
    fi
}

# The machine image of this workplace carries QEMU's tools (qemu-utils) from bookworm-backports,
# and Debian's own qemu-system-arm 7.2 conflicts with them. Take qemu-system-arm from the same
# suite instead, with the tools it shares files with, rather than removing what the machine has.
qemu_from_backports() {
    case " $* " in *" qemu-system-arm "*) ;; *) return 1 ;; esac
    dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q '~bpo12' || return 1
    local list=/etc/apt/sources.list.d/bookworm-backports.list
    if [ ! -f "$list" ]; then
        echo "note: adding $list to match the installed qemu-utils"
        echo "deb http://deb.debian.org/debian bookworm-backports main" | as_root tee "$list" >/dev/null
    fi
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        --no-remove -t bookworm-backports "$@" qemu-utils
}

# ensure_tools COMMAND...: the Rust target, plus each named host command (qemu-system-arm,
# arm-none-eabi-size) installed from Debian when missing.
ensure_tools() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup) first"
    if command -v rustup >/dev/null 2>&1; then
        if ! rustup target list --installed | grep -qx "$TARGET"; then
            rustup target add "$TARGET"
        fi
    elif [ ! -d "$(rustc --print target-libdir --target "$TARGET" 2>/dev/null)" ]; then
        die "the Rust standard library for $TARGET is not installed, and there is no rustup"
    fi
    local cmd packages=()
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 && continue
        case "$cmd" in
            qemu-system-arm) packages+=(qemu-system-arm) ;;
            arm-none-eabi-size) packages+=(binutils-arm-none-eabi) ;;
            *) die "do not know how to install $cmd" ;;
        esac
    done
    if [ "${#packages[@]}" -gt 0 ]; then
        apt_install "${packages[@]}"
    fi
}

# The release ELF that `cargo build --release` just wrote (run from this directory).
firmware_elf() {
    echo "${CARGO_TARGET_DIR:-target}/$TARGET/release/$BIN"
}
