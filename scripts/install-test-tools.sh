#!/usr/bin/env bash
# Installs what the test suite needs and is idempotent, so `npm test` works on a fresh machine:
#   - qemu-utils (qemu-img, qemu-io: an independent VHDX implementation), rsync (bench anchor),
#     iproute2 (network namespaces for the host tests): Debian packages, needs root.
#   - PowerShell 7.6.9 as a .NET tool in .tools/pwsh (the Hyper-V driver's real path runs on it).
#   - Pester 5.7.1 from NuGet into .tools/nuget (unit tests of the ps/ scripts).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"

need_apt=()
command -v qemu-img >/dev/null 2>&1 || need_apt+=(qemu-utils)
command -v rsync >/dev/null 2>&1 || need_apt+=(rsync)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-tools: missing ${need_apt[*]} and not root; install them with apt-get" >&2
    exit 1
  fi
  echo "install-test-tools: apt-get install ${need_apt[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2
fi

if [ ! -x "$tools/pwsh/pwsh" ]; then
  echo "install-test-tools: dotnet tool install PowerShell 7.6.9 -> $tools/pwsh" >&2
  dotnet tool install --tool-path "$tools/pwsh" PowerShell --version 7.6.9 >&2
fi

if [ ! -d "$tools/nuget/pester/5.7.1" ]; then
  echo "install-test-tools: restoring Pester 5.7.1 -> $tools/nuget" >&2
  proj="$tools/pester-restore"
  mkdir -p "$proj"
  cat > "$proj/pester-restore.csproj" <<'XML'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Pester" Version="[5.7.1]" /></ItemGroup>
</Project>
XML
  dotnet restore "$proj/pester-restore.csproj" --packages "$tools/nuget" >&2
fi
