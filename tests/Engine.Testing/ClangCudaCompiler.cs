using System.Diagnostics;

namespace Engine.Testing;

/// <summary>clang-14 compiling CUDA C to sm_80 PTX with no CUDA SDK, with the flags every build of ours uses
/// (kernels/README.md): the merge kernels (Engine.Kernels.csproj) and the trainer's (native/CMakeLists.txt).</summary>
public static class ClangCudaCompiler
{
    public static readonly bool IsInstalled = Probe();

    /// <summary>A path under the repository root (the folder holding Engine.sln above the test binaries).</summary>
    public static string RepositoryPath(params string[] parts)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) dir = dir.Parent;
        return Path.Combine([dir?.FullName ?? throw new DirectoryNotFoundException("Engine.sln not found above the test binaries"), .. parts]);
    }

    /// <summary>The PTX text of <paramref name="source"/> (a .cu file), or the compiler's error output.</summary>
    public static (int ExitCode, string Ptx, string Errors) Compile(string source)
    {
        string output = Path.Combine(Path.GetTempPath(), $"engine-{Path.GetFileNameWithoutExtension(source)}-{Guid.NewGuid():N}.ptx");
        var info = new ProcessStartInfo("clang-14")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = Path.GetDirectoryName(source)!,
        };
        foreach (var arg in "-x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc -nocudalib -O3 -Xclang -target-feature -Xclang +ptx75 -S".Split(' '))
            info.ArgumentList.Add(arg);
        info.ArgumentList.Add(source);
        info.ArgumentList.Add("-o");
        info.ArgumentList.Add(output);
        using var process = Process.Start(info)!;
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        try
        {
            return (process.ExitCode, File.Exists(output) ? File.ReadAllText(output) : "", errors);
        }
        finally
        {
            File.Delete(output);
        }
    }

    private static bool Probe()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("clang-14", "--version") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}

/// <summary>A fact that needs clang-14 (CI installs it; see .ci/run).</summary>
public sealed class RequiresClangFactAttribute : Xunit.FactAttribute
{
    public RequiresClangFactAttribute()
    {
        if (!ClangCudaCompiler.IsInstalled) Skip = "clang-14 is not installed";
    }
}
