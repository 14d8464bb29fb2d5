using System.Diagnostics;
using Engine.Interop.Cuda;

namespace Engine.Kernels.Tests;

/// <summary>A fact that runs only where a CUDA driver and a GPU are present, and says why it skipped.</summary>
public sealed class RequiresCudaFactAttribute : FactAttribute
{
    public RequiresCudaFactAttribute()
    {
        var availability = CudaLibrary.Availability;
        if (!availability.IsAvailable) Skip = $"no CUDA GPU here: {availability.Reason}";
    }
}

/// <summary>A fact that needs clang-14 (CI installs it; see .ci/run).</summary>
public sealed class RequiresClangFactAttribute : FactAttribute
{
    public RequiresClangFactAttribute()
    {
        if (!ClangCuda.IsInstalled) Skip = "clang-14 is not installed";
    }
}

/// <summary>Compiles kernels/cuda/*.cu to PTX exactly as Engine.Kernels.csproj does.</summary>
public static class ClangCuda
{
    public static readonly bool IsInstalled = Probe();

    public static string KernelDirectory
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) dir = dir.Parent;
            return Path.Combine(dir?.FullName ?? throw new DirectoryNotFoundException("Engine.sln not found above the test binaries"), "kernels", "cuda");
        }
    }

    /// <summary>The PTX text of <c>kernels/cuda/{name}.cu</c>, or the compiler's error output.</summary>
    public static (int ExitCode, string Ptx, string Errors) Compile(string name)
    {
        string output = Path.Combine(Path.GetTempPath(), $"engine-{name}-{Guid.NewGuid():N}.ptx");
        var info = new ProcessStartInfo("clang-14")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = KernelDirectory,
        };
        foreach (var arg in "-x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc -nocudalib -O3 -Xclang -target-feature -Xclang +ptx75 -S".Split(' '))
            info.ArgumentList.Add(arg);
        info.ArgumentList.Add(Path.Combine(KernelDirectory, name + ".cu"));
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
