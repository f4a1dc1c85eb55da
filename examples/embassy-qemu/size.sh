#!/usr/bin/env bash
# Prints the flash (text+data) and RAM (data+bss) of the release firmware built with two feature
# sets, and the difference. RAM does not include the stack, which takes the rest.
#
# Usage: size.sh [BASE_FEATURES [FEATURES]]
#   default: probe-direct against probe-breaker, the same sensor loop without and with a
#   consecutive-policy breaker: what the breaker alone adds.
#   size.sh "" breaker: what the whole CI scenario's breaker steps add (mostly their printing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=tools.sh
source ./tools.sh

base=${1-probe-direct}
features=${2-probe-breaker}
ensure_tools arm-none-eabi-size

out=${CARGO_TARGET_DIR:-target}/size
mkdir -p "$out"
cargo build --release --target "$TARGET" --features "$base"
cp "$(firmware_elf)" "$out/baseline.elf"
cargo build --release --target "$TARGET" --features "$features"
cp "$(firmware_elf)" "$out/with-features.elf"

# Berkeley format, second line: text data bss dec hex filename.
read -r b_text b_data b_bss _ < <(arm-none-eabi-size "$out/baseline.elf" | sed -n 2p)
read -r f_text f_data f_bss _ < <(arm-none-eabi-size "$out/with-features.elf" | sed -n 2p)

row() { printf '%-22s %12s %12s %10s %10s %10s\n' "$@"; }
signed() { printf '%+d' "$1"; }
row "build" "flash" "RAM" "text" "data" "bss"
row "${base:-baseline}" $((b_text + b_data)) $((b_data + b_bss)) "$b_text" "$b_data" "$b_bss"
row "+$features" $((f_text + f_data)) $((f_data + f_bss)) "$f_text" "$f_data" "$f_bss"
row "difference" "$(signed $((f_text + f_data - b_text - b_data)))" \
    "$(signed $((f_data + f_bss - b_data - b_bss)))" "$(signed $((f_text - b_text)))" \
    "$(signed $((f_data - b_data)))" "$(signed $((f_bss - b_bss)))"
