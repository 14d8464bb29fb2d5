using System.Runtime.InteropServices;

namespace Engine.Interop.Nccl;

/// <summary>Finds <c>libnccl.so.2</c> at run time, in this order: the file or folder named by
/// <c>ENG_NCCL_PATH</c>; the default loader (<c>LD_LIBRARY_PATH</c>, the ldconfig cache: a system NCCL); then the
/// folders Python wheels install NCCL into (<c>nvidia/nccl/lib</c> of nvidia-nccl-cu12, <c>nvidia/cu13/lib</c>
/// of the CUDA 13 wheels) under the usual site-packages folders (<see cref="PythonPackageFolders"/>). A library is
/// taken only if it exports <c>ncclCommInitRank</c>. When none is found, <see cref="Load"/> throws one line naming
/// every place it looked and why each failed.</summary>
public static class NcclLibrary
{
    /// <summary>The environment variable that names the library (a file, or the folder holding it).</summary>
    public const string PathVariable = "ENG_NCCL_PATH";

    /// <summary>The library's soname, one of the places probed when <see cref="PathVariable"/> is not set (by the default loader).</summary>
    public const string FileName = "libnccl.so.2";

    /// <summary>Where Python wheels keep NCCL, below a site-packages folder.</summary>
    public static readonly IReadOnlyList<string> WheelFolders = ["nvidia/nccl/lib", "nvidia/cu13/lib"];

    /// <summary>The site-packages folders searched for wheels, as patterns (<c>*</c> matches within one folder name;
    /// <c>~</c> is the home folder; <c>$VIRTUAL_ENV</c> and <c>$CONDA_PREFIX</c> are skipped when unset).</summary>
    public static readonly IReadOnlyList<string> PythonPackageFolders =
    [
        "$VIRTUAL_ENV/lib/python3*/site-packages",
        "$CONDA_PREFIX/lib/python3*/site-packages",
        "/usr/lib/python3*/dist-packages",
        "/usr/local/lib/python3*/dist-packages",
        "/usr/local/lib/python3*/site-packages",
        "/opt/*/.venv/lib/python3*/site-packages",
        "~/.local/lib/python3*/site-packages",
    ];

    private static readonly Lazy<(nint Handle, string Path, string Error)> Loaded =
        new(() => Probe(Places(Environment.GetEnvironmentVariable(PathVariable), PythonPackageFolders)), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Loads NCCL (once per process; the import resolver that hands it to the imports is installed when this
    /// assembly loads); returns the path it loaded.</summary>
    /// <exception cref="NcclException">no NCCL in any place searched (the message names each).</exception>
    public static string Load()
    {
        var (handle, path, error) = Loaded.Value;
        if (handle == 0) throw new NcclException(error);
        return path;
    }

    /// <summary>The NCCL handle for NCCL's import name once <see cref="Load"/> found it; 0 otherwise.</summary>
    internal static nint ResolveImport(string name) =>
        name == NcclImports.Library && Loaded.IsValueCreated ? Loaded.Value.Handle : 0;

    /// <summary>Every place to look, in order: a description for the error message and the library path to try
    /// (null when the place holds nothing to try, e.g. an unset variable or a missing folder; the description then
    /// says so).
    /// A bare file name (<see cref="FileName"/>) means the default loader.</summary>
    public static IReadOnlyList<(string Place, string? Library)> Places(string? pathVariable, IEnumerable<string> packageFolders)
    {
        var places = new List<(string, string?)>();
        if (string.IsNullOrEmpty(pathVariable)) places.Add(($"{PathVariable} (unset)", null));
        else places.Add(($"{PathVariable}={pathVariable}", Directory.Exists(pathVariable) ? System.IO.Path.Combine(pathVariable, FileName) : pathVariable));
        places.Add(("the default loader", FileName));
        foreach (string pattern in packageFolders)
        {
            string? expanded = ExpandVariables(pattern);
            if (expanded is null) continue;
            var roots = Glob(expanded);
            if (roots.Count == 0) places.Add(($"{pattern} (no such folder)", null));
            foreach (string root in roots)
                foreach (string wheel in WheelFolders)
                {
                    string folder = System.IO.Path.Combine(root, wheel);
                    places.Add(Directory.Exists(folder) ? (folder, System.IO.Path.Combine(folder, FileName)) : ($"{folder} (no such folder)", null));
                }
        }
        return places;
    }

    /// <summary>Tries the places in order; the first library that loads and exports <c>ncclCommInitRank</c> wins.
    /// Otherwise the handle is 0 and the error is one line naming every place and what was wrong there.</summary>
    public static (nint Handle, string Path, string Error) Probe(IReadOnlyList<(string Place, string? Library)> places)
    {
        var tried = new List<string>();
        foreach (var (place, library) in places)
        {
            if (library is null)
            {
                tried.Add(place);
                continue;
            }
            bool defaultLoader = library == FileName;
            if (!defaultLoader && !File.Exists(library))
            {
                tried.Add($"{library} (no such file)");
                continue;
            }
            if (!NativeLibrary.TryLoad(library, out nint handle))
            {
                tried.Add(defaultLoader ? $"{place} ({FileName} not found by it)" : $"{library} (exists but does not load)");
                continue;
            }
            if (!NativeLibrary.TryGetExport(handle, "ncclCommInitRank", out _))
            {
                NativeLibrary.Free(handle);
                tried.Add($"{(defaultLoader ? place : library)} (loads but is not NCCL: no ncclCommInitRank)");
                continue;
            }
            return (handle, library, "");
        }
        return (0, "", $"NCCL ({FileName}) not found; looked in: {string.Join("; ", tried)}. Install NCCL (a system package, or pip install nvidia-nccl-cu12) or set {PathVariable} to the library");
    }

    private static string? ExpandVariables(string pattern)
    {
        if (pattern.StartsWith('~'))
            pattern = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + pattern[1..];
        if (!pattern.StartsWith('$')) return pattern;
        int slash = pattern.IndexOf('/');
        string value = Environment.GetEnvironmentVariable(pattern[1..slash]) ?? "";
        return value.Length == 0 ? null : value + pattern[slash..];
    }

    /// <summary>The existing folders matching an absolute <paramref name="pattern"/> whose segments may hold <c>*</c>.</summary>
    internal static List<string> Glob(string pattern)
    {
        var current = new List<string> { "/" };
        foreach (string segment in pattern.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = new List<string>();
            foreach (string folder in current)
            {
                if (!segment.Contains('*'))
                {
                    string child = System.IO.Path.Combine(folder, segment);
                    if (Directory.Exists(child)) next.Add(child);
                    continue;
                }
                try
                {
                    next.AddRange(Directory.GetDirectories(folder, segment).Order(StringComparer.Ordinal));
                }
                catch (Exception e) when (e is UnauthorizedAccessException or IOException)
                {
                    // An unreadable folder holds nothing we can load; the others are still searched.
                }
            }
            current = next;
        }
        return current;
    }
}
