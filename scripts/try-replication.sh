#!/usr/bin/env bash
# The README's second example (the first is `npm run demo`, docs/demo.md): the replication engine
# alone, on any Linux machine: make a VHDX (QEMU), replicate it into a replica folder, change it
# like a guest would, send the delta, and check the replica (vmmirror verify + qemu-img).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vmmirror=(node "$root/bin/vmmirror.js")
[ -f "$root/dist/cli/main.js" ] || (cd "$root" && npm run build >/dev/null)
if ! command -v qemu-img >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "try-replication: needs qemu-utils (apt-get install qemu-utils)" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-utils >/dev/null
fi
work="${1:-$(mktemp -d /tmp/vmmirror-try.XXXXXX)}"
mkdir -p "$work"
echo "== working in $work"
qemu-img create -q -f vhdx -o subformat=dynamic "$work/web1.vhdx" 256M
qemu-io -f vhdx -c 'write -P 0x11 0 8M' -c 'write -P 0x22 100M 1M' "$work/web1.vhdx" >/dev/null
echo "== seed (generation 1)"
"${vmmirror[@]}" replicate "$work/web1.vhdx" --to "$work/replica"
qemu-io -f vhdx -c 'write -P 0x33 4M 64k' -c 'write -P 0x44 200M 2M' "$work/web1.vhdx" >/dev/null
echo "== delta after the guest wrote 2 MiB + 64 KiB (generation 2, JSON as PowerShell reads it)"
"${vmmirror[@]}" replicate "$work/web1.vhdx" --to "$work/replica" --json
echo "== verify"
"${vmmirror[@]}" verify "$work/web1.vhdx" --replica "$work/replica"
echo "== QEMU's opinion of the replica"
qemu-img compare "$work/web1.vhdx" "$work/replica/web1.vhdx"
qemu-img check "$work/replica/web1.vhdx"
