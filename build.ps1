#!/usr/bin/env pwsh
# Build, test and publish the engine. Calls only dotnet (which runs CMake and clang through MSBuild targets).
#   ./build.ps1 build     Release build of the whole solution
#   ./build.ps1 test      the test suite (the same command as README and CI)
#   ./build.ps1 publish   self-contained single-file `engine` for linux-x64 into ./publish (portable native trainer)
#   ./build.ps1 demo      the main job on the embedded default
#   ./build.ps1 pack      the NuGet packages (libraries and the `engine` tool, portable native trainer) into ./nupkgs
param([ValidateSet('build', 'test', 'publish', 'demo', 'pack')][string]$Task = 'build', [string]$Runtime = 'linux-x64')
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot
switch ($Task) {
    'build'   { dotnet build Engine.sln -c Release }
    'test'    { dotnet test Engine.sln -c Release }
    'publish' { dotnet publish src/Engine.Cli -c Release -r $Runtime --self-contained -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:EnginePortableNative=true -o publish }
    'demo'    { dotnet run --project src/Engine.Cli -c Release -- demo }
    'pack'    { dotnet pack Engine.sln -c Release -o nupkgs }
}
exit $LASTEXITCODE
