#!/usr/bin/env bash
# Fuzzes one target with AFL++ through SharpFuzz: builds Engine.Fuzz, instruments the engine's assemblies and
# YamlDotNet in a copy of the build, and runs afl-fuzz at the lowest priority from the committed corpus.
# usage: tests/Engine.Fuzz/fuzz.sh TARGET SECONDS [OUT_DIR]
# needs: Debian afl++, and the SharpFuzz.CommandLine dotnet tool (dotnet tool install --tool-path DIR SharpFuzz.CommandLine)
set -euo pipefail
target=$1 seconds=$2 out=${3:-/tmp/engine-fuzz}
root=$(cd "$(dirname "$0")/../.." && pwd)
sharpfuzz=${SHARPFUZZ:-sharpfuzz}
# One build at a time: two targets started together would otherwise race for the same obj/ files.
mkdir -p "$root/tests/Engine.Fuzz/obj"
flock "$root/tests/Engine.Fuzz/obj/fuzz-build.lock" dotnet build "$root/tests/Engine.Fuzz" -c Release -v q -nologo
bin="$out/bin"
rm -rf "$bin" && mkdir -p "$out" && cp -r "$root/tests/Engine.Fuzz/bin/Release/net10.0" "$bin"
for assembly in Engine.Core.dll Engine.Merge.dll Engine.Training.dll YamlDotNet.dll; do "$sharpfuzz" "$bin/$assembly"; done
# dotnet is not an AFL binary; several instances share two cores; crashes are exceptions, not core dumps.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
nice -n 19 afl-fuzz -V "$seconds" -i "$root/tests/fuzz-corpus/$target" -o "$out/$target" -t 10000 -m none \
    -- dotnet "$bin/Engine.Fuzz.dll" "$target"
