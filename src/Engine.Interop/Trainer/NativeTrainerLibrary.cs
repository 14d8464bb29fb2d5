using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Engine.Interop.Trainer;

/// <summary>Which build of the native trainer (<c>libengine_native</c>) this process loads. A local build has one
/// library, compiled for the building machine's CPU. A package (NuGet library or the <c>engine</c> tool) has two,
/// neither using <c>-march=native</c>: <c>libengine_native_v3</c> for x86-64-v3 CPUs (AVX2, FMA, BMI2: Intel
/// Haswell and AMD Excavator onwards) and <c>libengine_native</c> for the x86-64 baseline that every 64-bit x86
/// CPU runs. The v3 library is loaded where the CPU (as the .NET runtime reports it) has those instructions and
/// the file is present; the baseline one otherwise. Both are found by the runtime's ordinary probing: next to the
/// application, or in a package's <c>runtimes/linux-x64/native/</c> folder through the app's deps.json.</summary>
public static class NativeTrainerLibrary
{
    /// <summary>The environment variable that overrides the choice: <c>auto</c> (the default), <c>baseline</c>
    /// (always <c>libengine_native</c>) or <c>v3</c> (the x86-64-v3 library; an error where the CPU or the file
    /// lacks it).</summary>
    public const string VariantVariable = "ENG_NATIVE_ISA";

    /// <summary>The import name of the baseline (or local) library, as <see cref="TrainerImports"/> declares it.</summary>
    public const string BaselineName = TrainerImports.Library;

    /// <summary>The import name of the x86-64-v3 library that packages carry beside the baseline one.</summary>
    public const string V3Name = "engine_native_v3";

    private static readonly object Gate = new();
    private static nint _handle;
    private static string? _loadedName;

    /// <summary>The import name of the library this process loaded (<see cref="BaselineName"/> or
    /// <see cref="V3Name"/>), or null before the first trainer call.</summary>
    public static string? LoadedName
    {
        get { lock (Gate) return _loadedName; }
    }

    /// <summary>Whether this CPU runs x86-64-v3 code, as the .NET runtime reports it (it honours
    /// <c>DOTNET_EnableAVX2=0</c> and the like, which makes them a way to test the fallback).</summary>
    public static bool CpuSupportsV3 =>
        Avx2.IsSupported && Fma.IsSupported && Bmi1.IsSupported && Bmi2.IsSupported && Lzcnt.IsSupported;

    /// <summary>The import names to try, in order, for a <see cref="VariantVariable"/> value and a CPU.</summary>
    /// <exception cref="ArgumentException">The value is none of auto, baseline, v3; or v3 on a CPU without it.</exception>
    public static IReadOnlyList<string> Candidates(string? requested, bool cpuSupportsV3)
    {
        switch (requested?.Trim().ToLowerInvariant())
        {
            case null or "" or "auto":
                return cpuSupportsV3 ? [V3Name, BaselineName] : [BaselineName];
            case "baseline" or "x86-64":
                return [BaselineName];
            case "v3" or "x86-64-v3":
                if (!cpuSupportsV3)
                    throw new ArgumentException($"{VariantVariable}={requested}: this CPU lacks x86-64-v3 (AVX2, FMA, BMI2); use auto or baseline");
                return [V3Name];
            default:
                throw new ArgumentException($"{VariantVariable}={requested}: expected auto, baseline or v3");
        }
    }

    /// <summary>The <see cref="ImportResolver"/> hook: loads the chosen library for the trainer's import name;
    /// 0 for every other name. A bad <see cref="VariantVariable"/> value, or a v3 library asked for and absent, is a
    /// <see cref="DllNotFoundException"/> naming the variable.</summary>
    internal static nint ResolveImport(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != TrainerImports.Library) return 0;
        lock (Gate)
        {
            if (_handle != 0) return _handle;
            IReadOnlyList<string> candidates;
            try
            {
                candidates = Candidates(Environment.GetEnvironmentVariable(VariantVariable), CpuSupportsV3);
            }
            catch (ArgumentException e)
            {
                // Raised at the first trainer call, wherever it is: the type says the library was not loaded, and why.
                throw new DllNotFoundException($"lib{BaselineName} not loaded: {e.Message}", e);
            }
            foreach (var candidate in candidates)
            {
                if (!NativeLibrary.TryLoad(candidate, assembly, searchPath, out nint handle)) continue;
                _handle = handle;
                _loadedName = candidate;
                return handle;
            }
            // Only a v3-only request gets here without the runtime's own probing left to try (and to report).
            if (!candidates.Contains(BaselineName))
                throw new DllNotFoundException($"{VariantVariable}=v3: lib{V3Name} was not found (only packages carry it)");
            return 0;
        }
    }
}
